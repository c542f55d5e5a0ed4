/**
 * `npm run bench` / `mbxmux bench`: every benchmark of mbxmux in one run, baselines included, with ratios and
 * a summary of the project's targets. Tables go to stdout, progress to stderr, everything to --json FILE.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { baselinesSection } from './core.js';
import { devicesSection } from './devices.js';
import { fairnessSection } from './fairness.js';
import { environment, FOREIGN_WARN_PCT, ForeignCpu } from './env.js';
import { MICRO_SECTIONS } from './micro.js';
import { openLoopSection } from './open-loop.js';
import { policyCostSection } from './policy-cost.js';
import { socketSection } from './socket.js';
import { socketFleetSection } from './socket-fleet.js';
import { scaleDevicesSection, scalePayloadSection, scaleWorkersSection } from './scaling.js';
import type { BenchContext, Section, SectionResult } from './section.js';
import { afterRun, parseAfterRun } from './after-run.js';
import { BENCH_OPTIONS } from './options.js';
import type { BenchReport, SectionRecord } from './report-file.js';
import { renderTable } from './stats.js';
import { evaluateTargets, targetsTable } from './summary.js';

/**
 * Sections share one process, and earlier ones leave the JIT and the heap in a different state (measured:
 * the pipelined mbxmux row drops from ~1.0M to ~0.57M req/s after the micro and per-device sections). The
 * headline comparisons therefore run first; the scaling rows run in fresh processes of their own.
 */
export const SECTIONS: readonly Section[] = [
  baselinesSection,
  policyCostSection,
  fairnessSection,
  openLoopSection,
  devicesSection,
  socketSection,
  socketFleetSection,
  ...MICRO_SECTIONS,
  scaleDevicesSection,
  scaleWorkersSection,
  scalePayloadSection,
];

export const USAGE = `usage: mbxmux bench [--quick] [--full] [--only REGEX] [--json FILE] [--html FILE] [--list]
                    [--seconds N] [--concurrency N] [--workers N]
                    [--compare BASE.json [NEW.json]] [--fail-on-regression PCT] [--noise PCT] [--from RUN.json]
  runs every benchmark in one process: micro-benchmarks, each device kind through the mux, mbxmux vs
  piscina.run vs postMessage per command, the permission check's cost, scaling (devices, workers, payload),
  open-loop latency and the socket server's throughput; ends with the targets, each MET or MISSED
  --quick         a short run (CI): fewer repeats, shorter loops, no 100,000-device row
  --full          with --quick: keep the 100,000-device row
  --only REGEX    run the sections whose id matches (see --list), e.g. --only '^micro\\.' or --only baselines
  --json FILE     write every result (numbers, tables, environment, targets) as JSON
  --list          list the section ids and exit
  --html FILE     the run as one self-contained HTML page: targets, comparison, open-loop and percentile
                  curves, every table and figure
  --compare BASE  compare every figure with the run in BASE (a --json file): side by side, new/base, and a
                  verdict (improved / same within noise / regressed) against the spread of the repeats both
                  runs recorded; with NEW.json as well, compare two recorded runs without running anything.
                  Either side may be several runs, comma-separated (a.json,b.json): their repeats are pooled,
                  so the spread between runs counts too
  --fail-on-regression PCT  exit 1 when a figure regressed by more than PCT% (beyond its noise band)
  --noise PCT     the smallest noise band (default 5%; a figure measured once has no spread of its own)
  --from RUN      render (--html) or compare a recorded run instead of running
  --seconds N     pipelined throughput seconds per method and series (default 1.5)
  --concurrency N requests in flight in pipelined runs (default 1024)
  --workers N     shard workers of the muxes (default: available parallelism)`;

class UsageError extends Error {}


function intOption(v: string | undefined, name: string, lo: number, hi: number, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) throw new UsageError(`${name} must be an integer from ${lo} to ${hi} (got ${JSON.stringify(v)})`);
  return n;
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  let values;
  let ctx: BenchContext;
  let after: ReturnType<typeof parseAfterRun>;
  let only: RegExp | null = null;
  try {
    let positionals: string[];
    ({ values, positionals } = parseArgs({ args: argv, options: BENCH_OPTIONS, strict: true, allowPositionals: true }));
    after = parseAfterRun(values, positionals);
    if (values.only !== undefined) {
      try {
        only = new RegExp(values.only);
      } catch (e) {
        throw new UsageError(`--only: ${(e as Error).message}`);
      }
    }
    const seconds = values.seconds === undefined ? 1.5 : Number(values.seconds);
    if (!(seconds > 0 && seconds <= 600)) throw new UsageError(`--seconds must be a number from 0 to 600 (got ${JSON.stringify(values.seconds)})`);
    ctx = {
      quick: values.quick === true,
      full: values.full === true,
      seconds,
      concurrency: intOption(values.concurrency, '--concurrency', 1, 1 << 20, 1024),
      workers: intOption(values.workers, '--workers', 1, 256, availableParallelism()),
      log: (s) => console.error(`# ${s}`),
      results: new Map(),
    };
  } catch (e) {
    console.error(`mbxmux bench: ${(e as Error).message.replace(/\s*\n\s*/g, ' ')}`); // one line, like every CLI error
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.list) {
    for (const s of SECTIONS) console.log(`${s.id.padEnd(20)} ${s.title}`);
    return 0;
  }
  // a recorded run to compare or render: nothing runs
  if (after.from !== undefined) return afterRun(after.from.report, after.from.label, { ...after.opts, commandLine: `mbxmux bench ${argv.join(' ')}` });
  const selected = SECTIONS.filter((s) => only === null || only.test(s.id));
  if (selected.length === 0) {
    console.error(`mbxmux bench: --only ${values.only} matches no section; sections: ${SECTIONS.map((s) => s.id).join(', ')}`);
    return 2;
  }

  const env = environment();
  const options = { quick: ctx.quick, full: ctx.full, seconds: ctx.seconds, concurrency: ctx.concurrency, workers: ctx.workers, only: values.only ?? null };
  const t0 = performance.now();
  console.log(`mbxmux benchmarks, ${env.date}`);
  console.log(`node ${env.node} (V8 ${env.v8}), ${env.platform}`);
  console.log(`CPU ${env.cpuModel}, ${env.cpus} cores (available parallelism ${env.availableParallelism}), ${env.memoryGiB.toFixed(1)} GiB RAM, load average ${env.loadAverage.map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`run: ${ctx.quick ? 'quick' : 'full'}${ctx.full && ctx.quick ? ' (+100k devices)' : ''}, ${ctx.workers} workers, ${ctx.concurrency} in flight, ${ctx.seconds} s per throughput series${only ? `, sections /${values.only}/` : ''}`);

  const sections: Record<string, SectionRecord> = {};
  let failed = 0;
  const busy: string[] = [];
  const runCpu = new ForeignCpu();
  for (const s of selected) {
    ctx.log(`${s.id}: ${s.title}`);
    const st = performance.now();
    const cpu = new ForeignCpu();
    let r: SectionResult;
    try {
      r = await s.run(ctx);
    } catch (e) {
      failed++;
      const msg = (e as Error).stack ?? String(e);
      console.log(`\n== ${s.id}: FAILED: ${(e as Error).message}`);
      console.error(msg);
      sections[s.id] = { title: s.title, seconds: (performance.now() - st) / 1000, foreignCpuPct: cpu.stop(), error: (e as Error).message };
      continue;
    }
    const secs = (performance.now() - st) / 1000;
    const foreign = cpu.stop();
    if (foreign !== null && foreign > FOREIGN_WARN_PCT) busy.push(`${s.id} ${foreign.toFixed(0)}%`);
    ctx.results.set(s.id, r);
    sections[s.id] = { title: s.title, seconds: secs, foreignCpuPct: foreign, data: r.data, tables: r.tables, figures: r.figures ?? [] };
    console.log(`\n== ${s.id}: ${s.title} (${secs.toFixed(1)} s${foreign === null ? '' : `; other processes used ${foreign.toFixed(0)}% of the CPUs`})`);
    for (const t of r.tables) console.log(`\n${renderTable(t)}`);
  }

  const targets = evaluateTargets(ctx.results);
  console.log(`\n${renderTable(targetsTable(targets))}`);
  const total = (performance.now() - t0) / 1000;
  const foreignTotal = runCpu.stop();
  console.log(`\ntotal ${total.toFixed(1)} s${foreignTotal === null ? '' : `; other processes used ${foreignTotal.toFixed(0)}% of the CPUs during the run`}${failed ? `; ${failed} section(s) FAILED` : ''}`);
  if (busy.length > 0) {
    console.log(`WARNING: other processes used more than ${FOREIGN_WARN_PCT}% of the CPUs during: ${busy.join(', ')}; those numbers understate mbxmux (rerun on an idle machine)`);
  }
  const report: BenchReport = { env, options, sections, targets, totalSeconds: total, foreignCpuPct: foreignTotal };
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  const verdict = afterRun(report, values.json ?? 'this run', { ...after.opts, commandLine: `mbxmux bench ${argv.join(' ')}` });
  return failed > 0 ? 1 : verdict;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => { process.exitCode = code; }, (e: unknown) => { console.error(e); process.exitCode = 1; });
}
