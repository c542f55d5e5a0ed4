import { writeFileSync } from 'node:fs';
import { runLoad } from '../../harness/load.js';
import { formatLoadTable } from '../../harness/report.js';
import { parseTier } from '../../policy/tiers.js';
import { parseDuration, parseIntArg } from '../args.js';
import { type Command, COMMON_HELP, muxOptions, parse } from '../common.js';

export const load: Command = {
  name: 'load',
  summary: 'run a load test and print a latency table',
  help: `usage: mbxmux load [--duration 5s] [--warmup 500ms] [--concurrency N] [--mix health=80,log=15,identify=5]
                   [--tier T] [--json FILE] [--fleet SPEC] [--workers N]
  closed-loop load on the fleet; prints p50/p90/p99/p99.9/max, throughput and errors
${COMMON_HELP}`,
  async run(args) {
    const { values } = parse(args, {
      duration: { type: 'string', default: '5s' }, warmup: { type: 'string', default: '500ms' }, concurrency: { type: 'string' },
      mix: { type: 'string' }, tier: { type: 'string' }, json: { type: 'string' },
    });
    if (values.help) return (console.log(this.help), 0);
    const durationMs = parseDuration(values.duration, '--duration');
    const warmupMs = parseDuration(values.warmup, '--warmup');
    const concurrency = parseIntArg(values.concurrency, '--concurrency', 1, 1_000_000) ?? 64;
    const tier = values.tier === undefined ? 'debug-read' : parseTier(values.tier);
    const mo = muxOptions(values);
    console.error(`# load: ${concurrency} callers, ${durationMs / 1000}s measured after ${warmupMs / 1000}s warm-up`);
    const { events, result } = runLoad({ durationMs, warmupMs, concurrency, tier, muxOptions: mo, ...(values.mix ? { mix: values.mix } : {}) });
    if (process.stderr.isTTY) {
      events.on('progress', (p: { elapsedMs: number; rate: number; p99us: number; errors: number }) => {
        process.stderr.write(`\r# ${(p.elapsedMs / 1000).toFixed(0)}s  ${Math.round(p.rate).toLocaleString('en-US')} req/s  p99 ${p.p99us.toFixed(1)} µs  errors ${p.errors}   `);
      });
    }
    const r = await result;
    if (process.stderr.isTTY) process.stderr.write('\n');
    console.log(formatLoadTable(r));
    if (values.json) {
      const { histogram: _h, ...rest } = r;
      writeFileSync(values.json, JSON.stringify({ ...rest, percentiles: r.histogram.curve() }, null, 2));
    }
    return 0;
  },
};
