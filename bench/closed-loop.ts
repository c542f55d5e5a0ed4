/**
 * `mbxmux load --concurrency 64` on the default fleet against the pipelined throughput of the same fleet and
 * mix in the same run: the CLI itself, and a lean pipelined loop over the same schedule (pipelined-child.ts:
 * submit() with 1024 in flight, no harness bookkeeping), each run a fresh process, the two interleaved; and,
 * for reference, `mbxmux load --concurrency 1024`. A closed loop of 64 callers keeps few requests in flight;
 * unless the callers, the mux and the worker overlap, it degenerates into ping-pong (the worker waits for the
 * main thread and the other way round).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inFreshProcess } from './fresh-process.js';
import { DEFAULT_MIX } from '../src/harness/mix.js';
import type { LoadResultJSON } from '../src/harness/report.js';
import { type BenchContext, dur, type Section, threadsOf } from './section.js';
import { median, num, si } from './stats.js';
import { figure } from './figures.js';
import type { PipelinedJob, PipelinedRow } from './pipelined-child.js';
import { type Repeated, repeated } from './timing.js';

const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const PIPELINED = new URL('./pipelined-child.js', import.meta.url).pathname;
const run = promisify(execFile);
export const CLOSED_CONCURRENCY = 64;

export interface LoadRun {
  /** 'cli': mbxmux load; 'pipelined': the lean submit() loop over the same schedule */
  kind: 'cli' | 'pipelined';
  concurrency: number;
  throughput: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  notifiesPer1k: number;
}

export interface ClosedLoopData {
  mix: string;
  closed: Repeated;
  /** the lean pipelined loop: the target's denominator */
  pipelined: Repeated;
  /** mbxmux load --concurrency 1024, for reference */
  cliPipelined: Repeated;
  pipelinedConcurrency: number;
  /** median closed-loop throughput / median pipelined throughput */
  ratio: number;
  runs: LoadRun[];
  /** median wake-ups (Atomics.notify either way) per 1,000 requests */
  closedNotifiesPer1k: number;
  pipelinedNotifiesPer1k: number;
}

async function cliLoad(ctx: BenchContext, concurrency: number, seconds: number, dir: string, k: number): Promise<LoadRun> {
  const file = join(dir, `load-${concurrency}-${k}.json`);
  const args = [CLI, 'load', '--concurrency', String(concurrency), '--duration', `${seconds}s`, '--warmup', '500ms', '--quiet', '--json', file];
  if (ctx.workers !== undefined) args.push('--workers', String(ctx.workers));
  await run(process.execPath, args, { timeout: 120_000, maxBuffer: 1 << 22 });
  const r = JSON.parse(readFileSync(file, 'utf8')) as LoadResultJSON;
  const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
  return {
    kind: 'cli', concurrency, throughput: r.throughput, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests, errors,
    notifiesPer1k: r.wakeups?.per1k ?? NaN,
  };
}

async function pipelinedLoad(ctx: BenchContext, seconds: number): Promise<LoadRun> {
  const job: PipelinedJob = { concurrency: ctx.concurrency, ms: seconds * 1000, warmMs: 500, ...(ctx.workers !== undefined ? { workers: ctx.workers } : {}) };
  const r = await inFreshProcess<PipelinedRow>(PIPELINED, job, { timeoutMs: 120_000 });
  return { kind: 'pipelined', concurrency: r.concurrency, throughput: r.throughput, p50: NaN, p99: NaN, requests: r.requests, errors: 0, notifiesPer1k: r.notifiesPer1k };
}

export const closedLoopSection: Section = {
  id: 'closed-loop',
  title: '`mbxmux load --concurrency 64` against pipelined, default fleet',
  async run(ctx: BenchContext) {
    const dir = mkdtempSync(join(tmpdir(), 'mbxmux-bench-load-'));
    try {
      const seconds = dur(ctx, 3000, 1000) / 1000;
      const repeats = ctx.quick ? 1 : 3;
      const runs: LoadRun[] = [];
      for (let k = 0; k < repeats; k++) {
        // alternate the order, so a slow phase of a shared VM lands on each kind of run
        const jobs: (() => Promise<LoadRun>)[] = [
          () => cliLoad(ctx, CLOSED_CONCURRENCY, seconds, dir, k),
          () => pipelinedLoad(ctx, seconds),
          () => cliLoad(ctx, ctx.concurrency, seconds, dir, k),
        ];
        for (const job of k % 2 === 0 ? jobs : [...jobs].reverse()) {
          const r = await job();
          ctx.log(`closed-loop: ${r.kind === 'cli' ? `mbxmux load --concurrency ${r.concurrency}` : `pipelined submit(), ${r.concurrency} in flight`}: ${si(r.throughput)} req/s (run ${k + 1} of ${repeats})`);
          if (r.errors > 0) throw new Error(`closed-loop: mbxmux load --concurrency ${r.concurrency} had ${r.errors} errors`);
          runs.push(r);
        }
      }
      const of = (kind: LoadRun['kind'], c: number): LoadRun[] => runs.filter((r) => r.kind === kind && r.concurrency === c);
      const closed = repeated(of('cli', CLOSED_CONCURRENCY).map((r) => r.throughput));
      const pipelined = repeated(of('pipelined', ctx.concurrency).map((r) => r.throughput));
      const cliPipelined = repeated(of('cli', ctx.concurrency).map((r) => r.throughput));
      const data: ClosedLoopData = {
        mix: DEFAULT_MIX, closed, pipelined, cliPipelined, pipelinedConcurrency: ctx.concurrency, ratio: closed.median / pipelined.median, runs,
        closedNotifiesPer1k: median(of('cli', CLOSED_CONCURRENCY).map((r) => r.notifiesPer1k)),
        pipelinedNotifiesPer1k: median(of('pipelined', ctx.concurrency).map((r) => r.notifiesPer1k)),
      };
      const row = (label: string, rs: LoadRun[], t: Repeated): (string | number)[] =>
        [label, si(t.median), si(t.min), si(t.max), median(rs.map((r) => r.p50)), median(rs.map((r) => r.p99)), median(rs.map((r) => r.notifiesPer1k)).toFixed(2)];
      const closedRuns = of('cli', CLOSED_CONCURRENCY);
      const pipeRuns = of('pipelined', ctx.concurrency);
      return {
        // repeats: the interleaved rounds (the ratio: each round's closed run over its pipelined run)
        figures: [
          figure(`mbxmux load --concurrency ${CLOSED_CONCURRENCY}, default fleet`, 'req/s', 'higher', closed.runs),
          figure(`pipelined submit(), ${ctx.concurrency} in flight, default fleet and mix`, 'req/s', 'higher', pipelined.runs),
          figure(`mbxmux load --concurrency ${CLOSED_CONCURRENCY} / pipelined`, '%', 'higher', closedRuns.map((r, i) => (r.throughput / pipeRuns[i]!.throughput) * 100)),
          figure(`mbxmux load --concurrency ${CLOSED_CONCURRENCY}: p99`, 'µs', 'lower', closedRuns.map((r) => r.p99)),
          figure(`mbxmux load --concurrency ${CLOSED_CONCURRENCY}: wake-ups per 1,000 requests`, 'notifies', 'lower', closedRuns.map((r) => r.notifiesPer1k)),
        ],
        tables: [{
          title: `mbxmux load on the default fleet, mix ${DEFAULT_MIX}, ${threadsOf(ctx)} worker thread(s) (requests/s; µs)`,
          head: ['run', 'median', 'min', 'max', 'p50', 'p99', 'wake-ups / 1k req'],
          rows: [
            row(`mbxmux load --concurrency ${CLOSED_CONCURRENCY}`, of('cli', CLOSED_CONCURRENCY), closed),
            row(`pipelined: submit(), ${ctx.concurrency} in flight, same fleet and mix`, of('pipelined', ctx.concurrency), pipelined),
            row(`(for reference) mbxmux load --concurrency ${ctx.concurrency}`, of('cli', ctx.concurrency), cliPipelined),
          ],
          note: `mbxmux load --concurrency ${CLOSED_CONCURRENCY} / pipelined = ${(data.ratio * 100).toFixed(0)}% (target >= 50%); ${repeats} interleaved round(s) of ${seconds} s runs after 0.5 s warm-up, each a fresh process\n`
            + `pipelined: the harness's schedule of the same mix over the same default fleet, kept ${ctx.concurrency} in flight by submit() callbacks with no per-request bookkeeping (latency not measured)\n`
            + `wake-ups: Atomics.notify either way (main -> a sleeping worker, worker -> the sleeping main thread) per 1,000 requests settled in the measured phase; ${num(runs.reduce((a, r) => a + r.requests, 0))} requests in all`,
        }],
        data: data as unknown as Record<string, unknown>,
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
