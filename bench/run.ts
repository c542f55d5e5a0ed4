/**
 * `npm run bench` / `mbxmux bench`: mbxmux against piscina.run per command and postMessage per command, in
 * one process and one run, with ratios. Options: --seconds N, --concurrency N, --workers N, --json FILE.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { runCore } from './core.js';
import { table } from './stats.js';

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '2' },
      concurrency: { type: 'string', default: '1024' },
      workers: { type: 'string', default: String(availableParallelism()) },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: mbxmux bench [--seconds N] [--concurrency N] [--workers N] [--json FILE]');
    return 0;
  }
  const log = (s: string): void => console.error(`# ${s}`);
  const env = { node: process.version, cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', date: new Date().toISOString() };
  log(`node ${env.node}, ${env.cpus} cpus (${env.model})`);
  const core = await runCore({
    workers: Number(values.workers), seconds: Number(values.seconds), concurrency: Number(values.concurrency), latencyMs: 1500,
  }, log);
  console.log('\nRound trip, one request outstanding (µs)');
  console.log(table([
    ['method', 'p50', 'p99', 'p99.9', 'mean', 'samples'],
    ...Object.entries(core.roundTrip).map(([k, s]) => [k, s.p50, s.p99, s.p999, s.mean, String(s.samples)]),
  ]));
  console.log(`\nPipelined throughput (${values.concurrency} in flight)`);
  console.log(table([['method', 'requests/s'], ...Object.entries(core.throughput).map(([k, v]) => [k, Math.round(v).toLocaleString('en-US')])]));
  console.log('\nRatios');
  console.log(table([['ratio', 'x'], ...Object.entries(core.ratios).map(([k, v]) => [k, v.toFixed(1)])]));
  if (values.json) writeFileSync(values.json, JSON.stringify({ env, core }, null, 2));
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
}
