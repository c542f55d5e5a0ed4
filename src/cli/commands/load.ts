import { createWriteStream, openSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { parseSegment } from '../../harness/segment.js';
import { parseEndpoints } from '../../server/endpoints.js';
import { connectFleet, type FleetClient } from '../../server/fleet-client.js';
import { fleetLoadTarget } from '../../server/fleet-target.js';
import { renderHtmlReport } from '../../harness/html.js';
import { runLoad } from '../../harness/load.js';
import type { LoadOptions, LoadProgress, LoadSample } from '../../harness/types.js';
import { describeCommands, parseMix } from '../../harness/mix.js';
import { formatLoadTable, formatUs, loadResultToJSON } from '../../harness/report.js';
import { parseThresholds } from '../../harness/thresholds.js';
import { parseTier } from '../../policy/tiers.js';
import { parseDuration, parseIntArg, UsageError } from '../args.js';
import { type Command, COMMON_HELP, muxOptions, parse } from '../common.js';

/** "100000", "100k", "1.5M" -> requests/s */
export function parseRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text.trim());
  const v = m ? Number(m[1]) * (m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1e3 : 1e6) : NaN;
  if (!(v > 0) || v > 1e9) throw new UsageError(`--rate must be requests per second > 0, e.g. 50000 or 50k (got "${text}")`);
  return v;
}

const OPTIONS = {
  duration: { type: 'string', default: '5s' }, warmup: { type: 'string' }, concurrency: { type: 'string' },
  rate: { type: 'string' }, 'max-in-flight': { type: 'string' }, mix: { type: 'string' }, tier: { type: 'string' },
  host: { type: 'string' }, fm: { type: 'boolean' }, timeout: { type: 'string' }, threshold: { type: 'string', multiple: true },
  json: { type: 'string' }, html: { type: 'string' }, interval: { type: 'string' }, seed: { type: 'string' }, quiet: { type: 'boolean' },
  'no-ramp': { type: 'boolean' }, target: { type: 'string' }, 'token-file': { type: 'string' }, segment: { type: 'string' },
  samples: { type: 'string' }, 'connect-timeout': { type: 'string' },
} as const;

export const load: Command = {
  name: 'load',
  summary: 'run a load test and print a latency table',
  options: OPTIONS,
  help: `usage: mbxmux load [--duration 5s] [--warmup D] [--concurrency N | --rate R [--max-in-flight N]]
                   [--mix health=80,log=15,identify=5] [--tier T] [--host N] [--fm] [--timeout MS]
                   [--threshold EXPR]... [--json FILE] [--html FILE] [--samples FILE] [--interval 100ms]
                   [--fleet SPEC [--slice i/N] [--workers N] | --target ENDPOINTS [--token-file F]] [--segment k/N]
  Load on the fleet (in this process, or the servers of --target); prints p50/p90/p99/p99.9/max, throughput,
  errors, device status and a per-command table.
  --warmup D        unmeasured warm-up first (default 500ms closed loop, 2s open loop)
  --concurrency N   closed loop: N callers, each sends when its previous answer arrived (default 64)
  --rate R          open loop: R requests/s (50000, 50k, 1.5M) whatever the answers do; latency is measured
                    from each request's intended send time (coordinated omission corrected, like wrk2)
  --max-in-flight N open loop: a request due while N are outstanding is dropped (EHARNESS_OVERLOAD; default 65536)
  --no-ramp         open loop: start the warm-up at the full rate (default: ramp up from 10% during --warmup)
  --mix             named commands and relative weights; name@kind limits one to a device kind (health@nvme=10);
                    read / write run on an NVMe I/O queue pair the run creates and deletes (queue 1, or 1 + k
                    for --segment k/N; --tier debug-write; write changes data: --tier debug-write-full)
  --tier            session tier (default debug-read)
  --host N          act for host N: only its devices are loaded (default: a fabric-manager session, every device)
  --fm              a fabric-manager session (the default without --host; with --host N: acting for host N)
  --timeout MS      per-request timeout (default the mux's, 5000)
  --threshold EXPR  pass/fail (repeatable): p99<50us  p999<=2ms  max<1s  errors<1%  dropped==0  rate>=100k
                    requests>1000; scope one to a command or kind: health:p99<1ms, nvme:errors<0.1%.
                    Each prints PASS or FAIL; any FAIL exits 1
  --json FILE       the result (histograms as percentile curves and raw non-zero buckets, mergeable)
  --html FILE       a self-contained HTML report: latency over time, percentile plot, tables
  --interval D      width of the latency-over-time intervals (default 100ms for runs up to 10s, else 1s+)
  --seed N          schedule shuffle seed (default 1)
  --target LIST     load servers instead of an in-process fleet: unix:/path or tcp://host:port, comma-separated
                    (mbxmux serve, typically one --slice i/N each); requests go to the server serving each device
  --token-file F    the token to present to every --target server (a file holding the token alone)
  --connect-timeout D  how long to keep trying to reach every --target server (default 30s)
  --segment k/N     run the k-th of N equal shares of this test (0 <= k < N), as k6 execution segments: N/th of
                    --rate or --concurrency (and --max-in-flight) and every N-th request of the schedule, so N
                    generators with segments 0..N-1 produce exactly the load asked for; merge their --json
                    reports with mbxmux report merge
  --samples FILE    every measured latency as CSV: at_ms,command,kind,device,latency_ns
  --quiet           no live progress line
commands (--mix names):
${describeCommands()}
options of every command:
${COMMON_HELP}`,
  async run(args) {
    const { values } = parse(args, OPTIONS);
    if (values.help) return (console.log(this.help), 0);
    const durationMs = parseDuration(values.duration, '--duration');
    if (durationMs <= 0) throw new UsageError('--duration must be more than 0');
    const warmupMs = parseDuration(values.warmup ?? (values.rate !== undefined ? '2s' : '500ms'), '--warmup');
    if (values.rate !== undefined && values.concurrency !== undefined) {
      throw new UsageError('--concurrency (closed loop) and --rate (open loop) exclude each other');
    }
    if (values['max-in-flight'] !== undefined && values.rate === undefined) throw new UsageError('--max-in-flight applies to the open loop: give --rate too');
    if (values['no-ramp'] && values.rate === undefined) throw new UsageError('--no-ramp applies to the open loop: give --rate too');
    const remote = values.target !== undefined;
    if (remote && (values.fleet !== undefined || values.slice !== undefined || values.workers !== undefined)) {
      throw new UsageError('--target loads the servers\' fleet: --fleet, --slice and --workers describe an in-process one');
    }
    if (!remote && (values['token-file'] !== undefined || values['connect-timeout'] !== undefined)) throw new UsageError('--token-file and --connect-timeout apply to --target');
    const opts: LoadOptions = { durationMs, warmupMs, tier: values.tier === undefined ? 'debug-read' : parseTier(values.tier) };
    if (!remote) opts.muxOptions = muxOptions(values);
    if (values.segment !== undefined) opts.segment = parseSegment(values.segment);
    if (values.rate !== undefined) {
      opts.rate = parseRate(values.rate);
      const mif = parseIntArg(values['max-in-flight'], '--max-in-flight', 1, 1 << 24);
      if (mif !== undefined) opts.maxInFlight = mif;
      if (values['no-ramp']) opts.rampUp = false;
    } else {
      opts.concurrency = parseIntArg(values.concurrency, '--concurrency', 1, 1_000_000) ?? 64;
    }
    if (values.mix !== undefined) {
      parseMix(values.mix); // a bad mix fails before the fleet starts
      opts.mix = values.mix;
    }
    const host = parseIntArg(values.host, '--host', 0, 65535);
    if (host !== undefined) {
      opts.host = host;
      opts.fabricManager = values.fm === true;
    }
    const timeout = parseIntArg(values.timeout, '--timeout', 0, 3_600_000);
    if (timeout !== undefined) opts.timeoutMs = timeout;
    // --timeout 0 (no timeout): the operator who runs this command creates the mux, so it is theirs to allow
    if (timeout === 0 && remote) throw new UsageError('--timeout 0 (no timeout) is refused by servers (they cap a request\'s timeout: serve --max-request-timeout); give --timeout MS');
    if (timeout === 0) opts.muxOptions = { ...opts.muxOptions, noTimeoutTier: opts.tier! };
    if (values.interval !== undefined) {
      opts.intervalMs = parseDuration(values.interval, '--interval');
      if (!(opts.intervalMs >= 1)) throw new UsageError('--interval must be at least 1ms');
    }
    const seed = parseIntArg(values.seed, '--seed', 0, 2 ** 31 - 1);
    if (seed !== undefined) opts.seed = seed;
    const thresholds = values.threshold ?? [];
    if (thresholds.length > 0) opts.thresholds = parseThresholds(thresholds);

    const seg = opts.segment === undefined ? '' : `, segment ${opts.segment.index}/${opts.segment.count} of`;
    const how = opts.rate !== undefined ? `open loop${seg} ${opts.rate.toLocaleString('en-US')} requests/s` : `${seg ? `${seg.slice(2)} ` : ''}${opts.concurrency} callers`;
    const samples = values.samples === undefined ? null : sampleWriter(values.samples);
    if (samples !== null) opts.onSample = samples.add;
    let fleet: FleetClient | null = null;
    try {
      if (remote) fleet = await connectTargets(values.target!, values['token-file'], values['connect-timeout'], opts);
      return await drive(opts, how, values, args, durationMs, warmupMs, samples);
    } finally {
      samples?.close();
      await fleet?.close();
    }
  },
};

type LoadFlags = { quiet?: boolean | undefined; json?: string | undefined; html?: string | undefined };

async function drive(opts: LoadOptions, how: string, values: LoadFlags, args: string[], durationMs: number, warmupMs: number, samples: ReturnType<typeof sampleWriter> | null): Promise<number> {
  const { events, result } = runLoad(opts);
  // printed once the fleet is up and the mix fits it (so a usage error stays one line)
  events.once('phase', () => console.error(`# load: ${how}, ${durationMs / 1000}s measured after ${warmupMs / 1000}s warm-up`));
  const live = process.stderr.isTTY && !values.quiet;
  if (live) {
    events.on('progress', (p: LoadProgress) => {
      const drops = p.dropped ? `  dropped ${p.dropped}` : '';
      process.stderr.write(`\r# ${(p.elapsedMs / 1000).toFixed(1)}s  ${Math.round(p.rate).toLocaleString('en-US')} req/s  p50 ${formatUs(p.p50us)}  p99 ${formatUs(p.p99us)}  errors ${p.errors}${drops}  in flight ${p.inFlight}\x1b[K`);
    });
  }
  const r = await result.finally(() => samples?.close());
  if (samples !== null) await samples.closed;
  if (live) process.stderr.write('\n');
  console.log(formatLoadTable(r));
  if (values.json) writeFileSync(values.json, loadResultToJSON(r));
  if (values.html) {
    writeFileSync(values.html, renderHtmlReport(r, { notes: [`mbxmux load ${args.join(' ')}`] }));
  }
  return r.thresholds?.some((t) => !t.pass) ? 1 : 0;
}

/**
 * Connects to the --target servers with the session the run asks for, then runs with the session they
 * granted (a server without --allow-fm or a token with the right gives a host session instead of a
 * fabric-manager one; the tier may be capped): the schedule is built for what the session can reach.
 */
async function connectTargets(list: string, tokenFile: string | undefined, connectTimeout: string | undefined, opts: LoadOptions): Promise<FleetClient> {
  const endpoints = parseEndpoints(list);
  let token: string | undefined;
  if (tokenFile !== undefined) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (e) {
      throw new UsageError(`--token-file: cannot read ${tokenFile}: ${(e as Error).message}`);
    }
    if (token === '' || /\s/.test(token)) throw new UsageError(`--token-file ${tokenFile} must hold one token and nothing else`);
  }
  const connectTimeoutMs = connectTimeout === undefined ? 30_000 : parseDuration(connectTimeout, '--connect-timeout');
  const seg = opts.segment === undefined ? '' : `-${opts.segment.index}of${opts.segment.count}`;
  const fleet = await connectFleet(endpoints, {
    tier: opts.tier ?? 'debug-read', fabricManager: opts.fabricManager ?? opts.host === undefined, name: `mbxmux-load${seg}`, connectTimeoutMs,
    ...(opts.host !== undefined ? { host: opts.host } : {}), ...(token !== undefined ? { token } : {}),
  });
  try {
    const target = fleetLoadTarget(fleet);
    const s = target.session;
    const servers = fleet.servers();
    const slices = servers.flatMap((x) => (x.slice ? [x.slice] : []));
    const sliceText = slices.length === 0 ? '' : ` (slices ${slices.map((x) => x.index).sort((a, b) => a - b).join(',')} of ${slices[0]!.count})`;
    console.error(`# target: ${servers.length} server${servers.length === 1 ? '' : 's'}${sliceText}, ${fleet.devices().length.toLocaleString('en-US')} devices; `
      + `session: ${s.fabricManager ? 'fabric manager' : `host ${s.host}`}, tier ${s.tier}`);
    if (slices.length > 0 && new Set(slices.map((x) => x.index)).size < slices[0]!.count) {
      console.error(`# warning: only ${slices.length} of the fleet's ${slices[0]!.count} slices are targets: the rest of the fleet gets no load`);
    }
    if (s.tier !== (opts.tier ?? 'debug-read')) console.error(`# warning: the servers granted tier ${s.tier} (asked ${opts.tier})`);
    if ((opts.fabricManager ?? opts.host === undefined) && !s.fabricManager) console.error(`# warning: the servers refused a fabric-manager session: loading host ${s.host}'s devices only`);
    opts.mux = target;
    opts.tier = s.tier;
    opts.host = s.host;
    opts.fabricManager = s.fabricManager;
    fleet.on('disconnect', (e: { endpoint: string; error: Error; retryInMs: number }) => console.error(`# ${e.endpoint} disconnected (${e.error.message}); reconnecting in ${e.retryInMs} ms`));
    fleet.on('reconnect', (e: { endpoint: string }) => console.error(`# ${e.endpoint} reconnected`));
    return fleet;
  } catch (e) {
    await fleet.close();
    throw e;
  }
}

/** `--samples FILE`: CSV lines, written in batches. */
function sampleWriter(file: string): { add: (s: LoadSample) => void; close: () => void; closed: Promise<void> } {
  let fd: number;
  try {
    fd = openSync(file, 'w');
  } catch (e) {
    throw new UsageError(`--samples: cannot write ${file}: ${(e as Error).message}`);
  }
  const out = createWriteStream(file, { fd });
  let failed: Error | null = null;
  out.on('error', (e) => (failed = e));
  const closed = once(out, 'close').then(() => {
    if (failed !== null) throw new Error(`--samples: writing ${file} failed: ${failed.message}`);
  });
  let batch: string[] = ['at_ms,command,kind,device,latency_ns'];
  const flush = (): void => {
    if (batch.length > 0) out.write(`${batch.join('\n')}\n`);
    batch = [];
  };
  return {
    add: (s) => {
      batch.push(`${s.atMs.toFixed(3)},${s.command},${s.kind},${s.device},${Math.round(s.latencyNs)}`);
      if (batch.length >= 4096) flush();
    },
    close: () => {
      if (out.writableEnded) return;
      flush();
      out.end();
    },
    closed,
  };
}
