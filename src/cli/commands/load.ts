import { writeFileSync } from 'node:fs';
import { renderHtmlReport } from '../../harness/html.js';
import { type LoadOptions, type LoadProgress, runLoad } from '../../harness/load.js';
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
  'no-ramp': { type: 'boolean' },
} as const;

export const load: Command = {
  name: 'load',
  summary: 'run a load test and print a latency table',
  options: OPTIONS,
  help: `usage: mbxmux load [--duration 5s] [--warmup D] [--concurrency N | --rate R [--max-in-flight N]]
                   [--mix health=80,log=15,identify=5] [--tier T] [--host N] [--fm] [--timeout MS]
                   [--threshold EXPR]... [--json FILE] [--html FILE] [--interval 100ms] [--fleet SPEC] [--workers N]
  Load on the fleet; prints p50/p90/p99/p99.9/max, throughput, errors, device status and a per-command table.
  --warmup D        unmeasured warm-up first (default 500ms closed loop, 2s open loop)
  --concurrency N   closed loop: N callers, each sends when its previous answer arrived (default 64)
  --rate R          open loop: R requests/s (50000, 50k, 1.5M) whatever the answers do; latency is measured
                    from each request's intended send time (coordinated omission corrected, like wrk2)
  --max-in-flight N open loop: a request due while N are outstanding is dropped (EHARNESS_OVERLOAD; default 65536)
  --no-ramp         open loop: start the warm-up at the full rate (default: ramp up from 10% during --warmup)
  --mix             named commands and relative weights; name@kind limits one to a device kind (health@nvme=10);
                    read / write run on an NVMe I/O queue pair the run creates and deletes (--tier debug-write;
                    write changes data: --tier debug-write-full)
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
    const opts: LoadOptions = { durationMs, warmupMs, tier: values.tier === undefined ? 'debug-read' : parseTier(values.tier), muxOptions: muxOptions(values) };
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
    if (timeout === 0) opts.muxOptions = { ...opts.muxOptions, noTimeoutTier: opts.tier! };
    if (values.interval !== undefined) {
      opts.intervalMs = parseDuration(values.interval, '--interval');
      if (!(opts.intervalMs >= 1)) throw new UsageError('--interval must be at least 1ms');
    }
    const seed = parseIntArg(values.seed, '--seed', 0, 2 ** 31 - 1);
    if (seed !== undefined) opts.seed = seed;
    const thresholds = values.threshold ?? [];
    if (thresholds.length > 0) opts.thresholds = parseThresholds(thresholds);

    const how = opts.rate !== undefined ? `open loop at ${opts.rate.toLocaleString('en-US')} requests/s` : `${opts.concurrency} callers`;
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
    const r = await result;
    if (live) process.stderr.write('\n');
    console.log(formatLoadTable(r));
    if (values.json) writeFileSync(values.json, loadResultToJSON(r));
    if (values.html) {
      writeFileSync(values.html, renderHtmlReport(r, { notes: [`mbxmux load ${args.join(' ')}`] }));
    }
    return r.thresholds?.some((t) => !t.pass) ? 1 : 0;
  },
};
