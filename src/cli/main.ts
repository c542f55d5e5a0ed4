#!/usr/bin/env node
/**
 * mbxmux command line: devices | send | load | bench. `mbxmux <command> --help` for each.
 * Errors print as one line; bad usage exits 2, failures exit 1.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { rcName } from '../devices/cci/return-codes.js';
import { isMbxError } from '../errors.js';
import { runLoad } from '../harness/load.js';
import { formatLoadTable } from '../harness/report.js';
import { createMux } from '../mux/mux.js';
import type { MuxOptions } from '../mux/types.js';
import { parseTier } from '../policy/tiers.js';
import { isUsage, parseDuration, parseFleetArg, parseHex, parseIntArg, toHex, UsageError } from './args.js';

const COMMON = {
  fleet: { type: 'string' },
  workers: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const HELP: Record<string, string> = {
  main: `usage: mbxmux <command> [options]

commands:
  devices   list the emulated fleet
  send      send one command to one device and print the answer
  load      run a load test and print a latency table
  bench     run the benchmarks (mbxmux vs piscina.run vs postMessage)

common options:
  --fleet SPEC     counts like cxl-type3=1024,cxl-switch=4,nvme=256,mctp-pcc=16, or a JSON fleet file
  --workers N      worker threads (default: CPU count)
  -h, --help       help for a command`,
  devices: `usage: mbxmux devices [--json] [--fleet SPEC] [--workers N]
  lists every device: id, kind, shard (worker), host, serial`,
  send: `usage: mbxmux send <device> <opcode> [--payload HEX] [--json] [--tier T] [--host N] [--timeout MS]
  sends one command, e.g. mbxmux send mem0 0x4000 --json   ->   {"rc":0,"payload":"<hex>"}
  --tier   configuration | debug-read | debug-write | debug-write-full | fabric-destructive (default debug-read)`,
  load: `usage: mbxmux load [--duration 5s] [--warmup 500ms] [--concurrency N] [--mix health=80,log=15,identify=5]
                   [--tier T] [--json FILE] [--fleet SPEC] [--workers N]
  closed-loop load on the fleet; prints p50/p90/p99/p99.9/max, throughput and errors`,
  bench: `usage: mbxmux bench [--seconds N] [--concurrency N] [--workers N] [--json FILE]
  benchmarks mbxmux against piscina.run per command and postMessage per command in one run`,
};

function muxOptions(v: { fleet?: string; workers?: string }): MuxOptions {
  const o: MuxOptions = {};
  const fleet = parseFleetArg(v.fleet);
  if (fleet !== undefined) o.fleet = fleet;
  const workers = parseIntArg(v.workers, '--workers', 1, 256);
  if (workers !== undefined) o.workers = workers;
  return o;
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...COMMON, ...options } as typeof COMMON & T, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function devices(args: string[]): Promise<number> {
  const { values } = parse(args, { json: { type: 'boolean' } });
  if (values.help) return help('devices');
  const mux = await createMux(muxOptions(values as { fleet?: string; workers?: string }));
  try {
    const list = mux.devices();
    if (values.json) console.log(JSON.stringify(list));
    else for (const d of list) console.log(`${d.id.padEnd(10)} ${d.kind.padEnd(11)} shard ${d.shard}  host ${d.host}  serial ${d.serial}${d.reachableVia ? `  via ${d.reachableVia.device} port ${d.reachableVia.port}` : ''}`);
  } finally {
    await mux.close();
  }
  return 0;
}

async function send(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean' }, payload: { type: 'string' }, tier: { type: 'string' }, host: { type: 'string' }, timeout: { type: 'string' },
  });
  if (values.help) return help('send');
  if (positionals.length !== 2) throw new UsageError('send needs <device> <opcode>, e.g. mbxmux send mem0 0x4000');
  const [device, op] = positionals as [string, string];
  const opcode = parseIntArg(op, 'opcode', 0, 0xffff)!;
  const payload = values.payload === undefined ? undefined : parseHex(values.payload as string, '--payload');
  const tier = values.tier === undefined ? 'debug-read' : parseTier(values.tier);
  const host = parseIntArg(values.host as string | undefined, '--host', 0, 65535) ?? 0;
  const timeoutMs = parseIntArg(values.timeout as string | undefined, '--timeout', 0, 3_600_000);
  const mux = await createMux(muxOptions(values as { fleet?: string; workers?: string }));
  try {
    const s = mux.openSession({ tier, host });
    const r = await s.send({ device, opcode, ...(payload ? { payload } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
    if (values.json) console.log(JSON.stringify({ rc: r.rc, payload: toHex(r.payload) }));
    else {
      console.log(`rc 0x${r.rc.toString(16).padStart(2, '0')} ${rcName(r.rc)}${r.vendorStatus ? ` vendor 0x${r.vendorStatus.toString(16)}` : ''}${r.background ? ' (background operation running)' : ''}`);
      console.log(`payload ${r.payload.byteLength} bytes${r.payload.byteLength ? `: ${toHex(r.payload)}` : ''}`);
    }
  } finally {
    await mux.close();
  }
  return 0;
}

async function load(args: string[]): Promise<number> {
  const { values } = parse(args, {
    duration: { type: 'string', default: '5s' }, warmup: { type: 'string', default: '500ms' }, concurrency: { type: 'string' },
    mix: { type: 'string' }, tier: { type: 'string' }, json: { type: 'string' },
  });
  if (values.help) return help('load');
  const durationMs = parseDuration(values.duration as string, '--duration');
  const warmupMs = parseDuration(values.warmup as string, '--warmup');
  const concurrency = parseIntArg(values.concurrency as string | undefined, '--concurrency', 1, 1_000_000) ?? 64;
  const tier = values.tier === undefined ? 'debug-read' : parseTier(values.tier);
  const mo = muxOptions(values as { fleet?: string; workers?: string });
  console.error(`# load: ${concurrency} callers, ${durationMs / 1000}s measured after ${warmupMs / 1000}s warm-up`);
  const { events, result } = runLoad({ durationMs, warmupMs, concurrency, tier, muxOptions: mo, ...(values.mix ? { mix: values.mix as string } : {}) });
  if (process.stderr.isTTY) {
    events.on('progress', (p: { elapsedMs: number; rate: number; p99us: number; errors: number }) => {
      process.stderr.write(`\r# ${(p.elapsedMs / 1000).toFixed(0)}s  ${Math.round(p.rate).toLocaleString('en-US')} req/s  p99 ${p.p99us.toFixed(1)} µs  errors ${p.errors}   `);
    });
  }
  const r = await result;
  if (process.stderr.isTTY) process.stderr.write('\n');
  console.log(formatLoadTable(r));
  if (values.json) {
    const { writeFileSync } = await import('node:fs');
    const { histogram: _h, ...rest } = r;
    writeFileSync(values.json as string, JSON.stringify({ ...rest, percentiles: r.histogram.curve() }, null, 2));
  }
  return 0;
}

async function bench(args: string[]): Promise<number> {
  const mod = (await import(new URL('../../bench/run.js', import.meta.url).href)) as { main: (a: string[]) => Promise<number> };
  return mod.main(args);
}

function help(cmd: string): number {
  console.log(HELP[cmd] ?? HELP['main']);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'devices': return await devices(rest);
      case 'send': return await send(rest);
      case 'load': return await load(rest);
      case 'bench': return await bench(rest);
      case undefined: case '-h': case '--help': case 'help': return help('main');
      default: throw new UsageError(`unknown command "${cmd}"; run mbxmux --help`);
    }
  } catch (e) {
    const msg = isMbxError(e) ? `${e.code}: ${e.message}` : (e as Error).message;
    console.error(`mbxmux ${cmd ?? ''}: ${msg}`.replace(/\s+:/, ':'));
    return isUsage(e) ? 2 : 1;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
