/**
 * Socket server throughput: `mbxmux serve` in a child process (so the clients do not share its event loop),
 * 8 clients on loopback each keeping 256 requests in flight, over a Unix socket (mode 0600, no token) and
 * over TCP (which needs a token: the section writes a token file for the run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectSocket } from '../src/index.js';
import { type BenchContext, dur, type Section, threadsOf } from './section.js';
import { num } from './stats.js';
import { figure } from './figures.js';
import { closedLoopSeries } from './timing.js';

const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const CLIENTS = 8;
const DEPTH = 256;
const DEVICES = 1024;
const OPCODE = 0x4200; // Get Health Info: debug-read, answered by every type-3

export interface SocketRow {
  transport: 'unix' | 'tcp';
  /** measured seconds (after the warm-up) */
  seconds: number;
  reqPerSec: number;
  /** req/s in each consecutive window of the measured time */
  windows: number[];
}

/**
 * Starts `mbxmux serve --quiet --fleet cxl-type3=<devices>` with `args` in its own process and waits for its
 * "listening on" line (socket.fleet starts its slices with this too).
 */
export async function startServer(ctx: BenchContext, args: string[], devices = DEVICES): Promise<{ child: ChildProcess; line: string }> {
  const argv = [CLI, 'serve', '--quiet', '--fleet', `cxl-type3=${devices}`, ...(ctx.workers === undefined ? [] : ['--workers', String(ctx.workers)]), ...args];
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let line = '';
  for await (const chunk of child.stdout!) {
    line += String(chunk);
    if (line.includes('\n')) break;
  }
  if (!line.startsWith('listening on')) throw new Error(`mbxmux serve ${args.join(' ')} did not start: ${line.trim() || '(no output)'}`);
  return { child, line };
}

/** SIGTERM, then waits for the process to exit (a serve process drains and closes on SIGTERM). */
export async function stopServer(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

async function runOne(ctx: BenchContext, transport: 'unix' | 'tcp', dir: string): Promise<SocketRow> {
  const path = join(dir, 'mbxmux.sock');
  const token = randomBytes(32).toString('hex');
  const tokens = join(dir, 'tokens.json');
  writeFileSync(tokens, JSON.stringify({ tokens: [{ name: 'bench', token, maxTier: 'debug-read' }] }), { mode: 0o600 });
  const { child, line } = await startServer(ctx, transport === 'tcp' ? ['--port', '0', '--tokens', tokens] : ['--socket', path]);
  try {
    const where = transport === 'tcp' ? { port: Number(/:(\d+) /.exec(line)?.[1]), token } : { path };
    const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => connectSocket({ ...where, name: `bench${i}`, devices: false })));
    try {
      // 8 × 256 requests in flight, sent to the 8 connections in turn; a rejected request fails the section
      // (every request here is permitted and answerable)
      const ms = dur(ctx, 3000, 800);
      const r = await closedLoopSeries(ms, CLIENTS * DEPTH, (i) => clients[i % CLIENTS]!.send({ device: `mem${i % DEVICES}`, opcode: OPCODE }), dur(ctx, 500, 200));
      return { transport, seconds: ms / 1000, reqPerSec: r.rate, windows: r.windows };
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  } finally {
    await stopServer(child);
  }
}

export const socketSection: Section = {
  id: 'socket',
  title: 'Socket server throughput',
  async run(ctx: BenchContext) {
    const dir = mkdtempSync(join(tmpdir(), 'mbxmux-bench-'));
    const rows: SocketRow[] = [];
    try {
      for (const t of ['unix', 'tcp'] as const) {
        ctx.log(`socket: ${CLIENTS} clients x ${DEPTH} in flight over ${t}`);
        rows.push(await runOne(ctx, t, dir));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return {
      figures: rows.map((r) => figure(`${r.transport} socket`, 'req/s', 'higher', r.windows)),
      tables: [{
        title: `Socket server: ${CLIENTS} clients × ${DEPTH} in flight, loopback, ${DEVICES} type-3, ${threadsOf(ctx)} worker thread(s) (req/s)`,
        head: ['transport', 'req/s', 's'],
        rows: rows.map((r) => [r.transport, num(r.reqPerSec), r.seconds.toFixed(2)]),
        note: 'server in its own process (mbxmux serve); clients share this process; msgpack frames, Get Health Info',
      }],
      data: { clients: CLIENTS, depth: DEPTH, devices: DEVICES, workers: threadsOf(ctx), rows },
    };
  },
};
