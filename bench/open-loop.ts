/**
 * Open-loop latency at 10%, 25% and 50% of the measured closed-loop maximum, through the load harness
 * (src/harness/load.ts), each beside the floor at the same rate (the pacing loop alone, bench/open-loop-floor.ts).
 * Every run, the closed-loop maximum included, is a fresh process with a fresh mux (open-loop-child.ts), as
 * every floor row is: no run inherits the heap, the garbage or the JIT state of the ones before it.
 * The harness's open-loop mode is selected by `rate` (requests/s) and reports `mode: 'open'` with latency
 * measured from each request's intended send time; a harness without it answers with a closed-loop result,
 * which this section detects and reports as unavailable instead of printing a number.
 */
import { inFreshProcess } from './fresh-process.js';
import { createMux, runLoad, type Mux } from '../src/index.js';
import { DEFAULT_MIX } from '../src/harness/mix.js';
import type { GcPauses } from './env.js';
import type { OpenLoopJob, OpenLoopRun } from './open-loop-child.js';
import { type FloorPoint, pacingFloorFresh } from './open-loop-floor.js';
import { type Figure, figure } from './figures.js';
import { type BenchContext, dur, type Section, threadsOf } from './section.js';
import { num, si } from './stats.js';

/** the load points, as fractions of the closed-loop maximum; the targets are judged at each */
export const FRACTIONS = [0.1, 0.25, 0.5] as const;
const LOAD_FRACTION = 0.5;

/** A latency distribution for the HTML report's percentile plot: [percentile, µs], from the run's histogram. */
export type PercentileCurve = [number, number][];

export interface OpenLoopData {
  available: boolean;
  mix: string;
  closedLoop: { concurrency: number; throughput: number; p50: number; p99: number; curve: PercentileCurve };
  /** the 50% point (kept for earlier readers of this JSON) */
  rate?: number;
  open?: OpenPoint;
  /** every open-loop point run, each with its floor rows at the same rate */
  sweep?: OpenPoint[];
  /** every floor row run (see bench/open-loop-floor.ts) */
  floor?: FloorPoint[];
}

export interface OpenPoint {
  fraction: number;
  rate: number;
  throughput: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  requests: number;
  errors: Record<string, number>;
  /** requests dropped because maxInFlight were outstanding (the harness could not keep up) */
  overload: number;
  /** latency from the moment send() was called, when the harness reports it */
  serviceP99?: number;
  /** the main thread's GC pauses during the run (warm-up included) */
  gc: GcPauses;
  /** the pacing loop alone at this rate, in a fresh process: p99 (µs) without and with a thread spinning beside it */
  floorP99: number;
  floorSpinP99: number;
  /** p99 / floorSpinP99: the target's ratio (<= 2) */
  p99OverFloor: number;
  /** the mux's wake-ups (either way) per 1,000 requests in the measured phase */
  notifiesPer1k?: number;
  curve: PercentileCurve;
}

const CHILD = new URL('./open-loop-child.js', import.meta.url).pathname;
/** One run of the harness against a fresh mux in a fresh process (see open-loop-child.ts). */
async function fresh(job: OpenLoopJob): Promise<OpenLoopRun> {
  return inFreshProcess<OpenLoopRun>(CHILD, job);
}

export const openLoopSection: Section = {
  id: 'open-loop',
  title: 'Open-loop latency at 10%, 25% and 50% of the closed-loop maximum',
  async run(ctx: BenchContext) {
    const mix = DEFAULT_MIX;
    const durationMs = dur(ctx, 2500, 500);
    // the harness's own default for the open loop: a cold mux needs 1-2 s before it sustains a constant rate
    // (measured: with 0.5 s of warm-up the same point's p99 was 6-20 ms in some runs, 0.5-0.9 ms after 2 s)
    const warmupMs = dur(ctx, 2000, 300);
    const base = { durationMs, warmupMs, mix, devices: 1024, ...(ctx.workers !== undefined ? { workers: ctx.workers } : {}) };
    ctx.log(`open-loop: closed-loop maximum (${ctx.concurrency} callers, mix ${mix}; fresh process)`);
    const closed = await fresh({ ...base, concurrency: ctx.concurrency });
    const data: OpenLoopData = {
      available: false, mix,
      closedLoop: { concurrency: ctx.concurrency, throughput: closed.throughput, p50: closed.latency.p50, p99: closed.latency.p99, curve: closed.curve },
    };
    // repeats: the harness's latency-over-time intervals (rates and percentiles of each interval); floor rows run once
    const every = `per ${closed.intervalMs} ms interval`;
    const figures: Figure[] = [figure(`closed-loop maximum throughput (${every})`, 'req/s', 'higher', closed.intervals.map((iv) => iv.rate))];
    const rows: (string | number)[][] = [
      [`closed loop, ${ctx.concurrency} callers (maximum)`, si(closed.throughput), closed.latency.p50, closed.latency.p99, closed.latency.p999, closed.latency.max, '-', '-', '-'],
    ];
    // feature detection: a short run with `rate`; only an open-loop harness answers mode 'open'
    const mux: Mux = await createMux({ workers: ctx.workers, fleet: { 'cxl-type3': 8 } });
    const probe = await runLoad({ rate: 1000, durationMs: 20, warmupMs: 0, mix, mux }).result.finally(() => mux.close());
    let note: string;
    if (probe.mode === 'open') {
      data.available = true;
      data.sweep = [];
      data.floor = [];
      const errNotes: string[] = [];
      const floorMs = dur(ctx, 1500, 300);
      for (const fraction of FRACTIONS) {
        const rate = closed.throughput * fraction;
        ctx.log(`open-loop: ${si(rate)} req/s (${fraction * 100}%) for ${durationMs} ms after ${warmupMs} ms (fresh process)`);
        const r = await fresh({ ...base, rate });
        const gc = r.gc;
        if (r.mode !== 'open') throw new Error('open-loop: the harness answered a closed-loop result to an open-loop request');
        // the floor at this very rate: the same pacing with no mux, each row in a fresh process
        const floors: FloorPoint[] = [];
        for (const spinner of [false, true]) {
          ctx.log(`open-loop: floor, pacing alone at ${si(rate)} req/s${spinner ? ', one thread spinning beside it' : ''}`);
          const f = await pacingFloorFresh(rate, floorMs, 0, spinner);
          floors.push(f);
          data.floor.push(f);
        }
        const point: OpenPoint = {
          fraction, rate, throughput: r.throughput, p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, p999: r.latency.p999,
          max: r.latency.max, requests: r.requests, errors: r.errors, overload: r.errors['EHARNESS_OVERLOAD'] ?? 0,
          ...(r.serviceP99 !== undefined ? { serviceP99: r.serviceP99 } : {}), gc,
          floorP99: floors[0]!.delay.p99, floorSpinP99: floors[1]!.delay.p99, p99OverFloor: r.latency.p99 / floors[1]!.delay.p99,
          ...(r.notifiesPer1k !== undefined ? { notifiesPer1k: r.notifiesPer1k } : {}), curve: r.curve,
        };
        const at = `open loop at ${fraction * 100}%`;
        figures.push(
          figure(`${at}: p50 (${every})`, 'µs', 'lower', r.intervals.map((iv) => iv.p50)),
          figure(`${at}: p99 (${every})`, 'µs', 'lower', r.intervals.map((iv) => iv.p99)),
          figure(`${at}: p99 / floor p99 (a thread spinning)`, '×', 'lower', [point.p99OverFloor]),
          figure(`${at}: requests dropped (EHARNESS_OVERLOAD)`, 'requests', 'lower', [point.overload]),
          figure(`floor p99 at ${fraction * 100}%: pacing alone`, 'µs', 'lower', [floors[0]!.delay.p99]),
          figure(`floor p99 at ${fraction * 100}%: pacing alone, a thread spinning`, 'µs', 'lower', [floors[1]!.delay.p99]),
        );
        data.sweep.push(point);
        if (fraction === LOAD_FRACTION) {
          data.rate = rate;
          data.open = point;
        }
        const gcText = (g: GcPauses): string => `${g.perSecond.toFixed(0)}/s, ${g.percent.toFixed(1)}%, max ${g.maxMs.toFixed(1)} ms`;
        rows.push([`open loop at ${fraction * 100}%: ${si(rate)} req/s offered`, si(r.throughput), r.latency.p50, r.latency.p99, r.latency.p999, r.latency.max,
          `${point.p99OverFloor.toFixed(2)}×`, num(point.overload), gcText(gc)]);
        for (const f of floors) {
          rows.push([`  floor at ${si(rate)} req/s: pacing alone${f.spinner ? ', a thread spinning' : ''}`, si(f.rate), f.delay.p50, f.delay.p99, f.delay.p999, f.delay.max, '-', '-', gcText(f.gc)]);
        }
        const errs = Object.entries(r.errors).map(([k, v]) => `${k} ${num(v)}`).join(', ');
        if (errs) errNotes.push(`${fraction * 100}%: ${errs}`);
      }
      note = `open-loop latency is measured from each request's intended send time (no coordinated omission)\n`
        + `floor rows: the harness's pacing loop at the same rate with no mux, each in a fresh process, alone and with one thread spinning beside it (as a worker does): the tail this machine gives any JS open loop at that rate\n`
        + `p99 / floor: the mux's p99 over the floor with a spinning thread at the same rate (target <= 2, and no EHARNESS_OVERLOAD)\n`
        + `main-thread GC: pauses per second, share of the run's wall time, longest pause; every request due during a pause waits for its end${errNotes.length ? `\nerrors: ${errNotes.join('; ')}` : ''}`;
    } else {
      rows.push([`open loop at ${LOAD_FRACTION * 100}%`, 'open-loop harness not available', '', '', '', '', '', '', '']);
      note = 'src/harness/load.ts runLoad() does not support `rate` yet (it answered mode "closed"): open-loop harness not available';
    }
    return {
      figures,
      tables: [{
        title: `Open-loop latency (1024 type-3, mix ${mix}, ${threadsOf(ctx)} worker threads; µs)`,
        head: ['load', 'req/s', 'p50', 'p99', 'p99.9', 'max', 'p99 / floor', 'EHARNESS_OVERLOAD', 'main-thread GC'],
        rows,
        note,
      }],
      data: data as unknown as Record<string, unknown>,
    };
  },
};
