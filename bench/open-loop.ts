/**
 * Open-loop latency at 50% of the measured closed-loop maximum, through the load harness (src/harness/load.ts).
 * The harness's open-loop mode is selected by `rate` (requests/s) and reports `mode: 'open'` with latency
 * measured from each request's intended send time; a harness without it answers with a closed-loop result,
 * which this section detects and reports as unavailable instead of printing a number.
 */
import { createMux, runLoad, type LoadOptions, type LoadResult, type Mux } from '../src/index.js';
import { DEFAULT_MIX } from '../src/harness/mix.js';
import { GcRecorder, type GcPauses } from './env.js';
import { type FloorPoint, pacingFloorFresh } from './open-loop-floor.js';
import { type Figure, figure } from './figures.js';
import { type BenchContext, dur, type Section } from './section.js';
import { num, si } from './stats.js';

const LOAD_FRACTION = 0.5;

/** A latency distribution for the HTML report's percentile plot: [percentile, µs], from the run's histogram. */
export type PercentileCurve = [number, number][];

export interface OpenLoopData {
  available: boolean;
  mix: string;
  closedLoop: { concurrency: number; throughput: number; p50: number; p99: number; curve: PercentileCurve };
  /** the target's point: LOAD_FRACTION of the closed-loop maximum */
  rate?: number;
  open?: OpenPoint;
  /** every open-loop point run (a full run adds 10% and 25%) */
  sweep?: OpenPoint[];
  /** the pacing loop alone, no mux, at the 50% rate (see bench/open-loop-floor.ts) */
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
  /** latency from the moment send() was called, when the harness reports it */
  serviceP99?: number;
  /** the main thread's GC pauses during the run (warm-up included) */
  gc: GcPauses;
  curve: PercentileCurve;
}

const curveOf = (r: LoadResult): PercentileCurve => r.histogram.percentileCurve(10).map(([p, ns]) => [p, ns / 1000]);
/** Per-interval values of a run (the intervals that completed something): the repeats of its figures. */
const perInterval = (r: LoadResult, f: (iv: LoadResult['intervals'][number]) => number): number[] => r.intervals.filter((iv) => iv.requests > 0).map(f);

type OpenOptions = LoadOptions & { rate: number };

function mode(r: LoadResult): string {
  return (r as { mode: string }).mode;
}

async function load(o: LoadOptions | OpenOptions): Promise<LoadResult> {
  return runLoad(o).result;
}

export const openLoopSection: Section = {
  id: 'open-loop',
  title: 'Open-loop latency at 50% load',
  async run(ctx: BenchContext) {
    const mux: Mux = await createMux({ workers: ctx.workers, fleet: { 'cxl-type3': 1024 } });
    try {
      const mix = DEFAULT_MIX;
      const durationMs = dur(ctx, 2500, 500);
      const warmupMs = dur(ctx, 500, 200);
      ctx.log(`open-loop: closed-loop maximum (${ctx.concurrency} callers, mix ${mix})`);
      const closed = await load({ durationMs, warmupMs, concurrency: ctx.concurrency, mix, mux });
      const data: OpenLoopData = {
        available: false, mix,
        closedLoop: { concurrency: ctx.concurrency, throughput: closed.throughput, p50: closed.latency.p50, p99: closed.latency.p99, curve: curveOf(closed) },
      };
      // repeats: the harness's latency-over-time intervals (rates and percentiles of each interval); floor rows run once
      const every = `per ${closed.intervalMs} ms interval`;
      const figures: Figure[] = [figure(`closed-loop maximum throughput (${every})`, 'req/s', 'higher', perInterval(closed, (iv) => iv.rate))];
      const rows: (string | number)[][] = [
        [`closed loop, ${ctx.concurrency} callers (maximum)`, si(closed.throughput), closed.latency.p50, closed.latency.p99, closed.latency.p999, closed.latency.max, '-', '-'],
      ];
      // feature detection: a short run with `rate`; only an open-loop harness answers mode 'open'
      const probe = await load({ rate: 1000, durationMs: 20, warmupMs: 0, mix, mux } satisfies OpenOptions);
      let note: string;
      if (mode(probe) === 'open') {
        data.available = true;
        data.sweep = [];
        const errNotes: string[] = [];
        // the target's point, plus lighter loads in a full run to show where latency comes from
        for (const fraction of ctx.quick ? [LOAD_FRACTION] : [0.1, 0.25, LOAD_FRACTION]) {
          const rate = closed.throughput * fraction;
          ctx.log(`open-loop: ${si(rate)} req/s (${fraction * 100}%) for ${durationMs} ms`);
          const gcRec = new GcRecorder();
          const r = await load({ rate, durationMs, warmupMs, mix, mux } satisfies OpenOptions);
          const gc = gcRec.stop();
          if (mode(r) !== 'open') throw new Error('open-loop: the harness answered a closed-loop result to an open-loop request');
          const svc = (r as { serviceLatency?: { p99: number } }).serviceLatency;
          const point = {
            fraction, rate, throughput: r.throughput, p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, p999: r.latency.p999,
            max: r.latency.max, requests: r.requests, errors: r.errors, ...(svc ? { serviceP99: svc.p99 } : {}), gc, curve: curveOf(r),
          };
          figures.push(
            figure(`open loop at ${fraction * 100}%: p50 (${every})`, 'µs', 'lower', perInterval(r, (iv) => iv.p50)),
            figure(`open loop at ${fraction * 100}%: p99 (${every})`, 'µs', 'lower', perInterval(r, (iv) => iv.p99)),
          );
          data.sweep.push(point);
          if (fraction === LOAD_FRACTION) {
            data.rate = rate;
            data.open = point;
          }
          rows.push([`open loop at ${fraction * 100}%: ${si(rate)} req/s offered`, si(r.throughput), r.latency.p50, r.latency.p99, r.latency.p999, r.latency.max, svc ? svc.p99 : '-',
            `${gc.perSecond.toFixed(0)}/s, ${gc.percent.toFixed(1)}%, max ${gc.maxMs.toFixed(1)} ms`]);
          const errs = Object.entries(r.errors).map(([k, v]) => `${k} ${num(v)}`).join(', ');
          if (errs) errNotes.push(`${fraction * 100}%: ${errs}`);
        }
        // the floor: the same pacing with no mux at all, at the target's rate
        data.floor = [];
        const floorMs = dur(ctx, 1500, 300);
        for (const [allocBytes, spinner] of [[0, false], [0, true], [16, true], [1024, false], [1024, true]] as const) {
          ctx.log(`open-loop: floor, pacing alone at ${si(data.rate!)} req/s, ${allocBytes} B of garbage per request${spinner ? ', one thread spinning beside' : ''}`);
          const f = await pacingFloorFresh(data.rate!, floorMs, allocBytes, spinner);
          data.floor.push(f);
          figures.push(figure(`floor p99: no mux, ${allocBytes} B garbage/request${spinner ? ', a thread spinning' : ''}`, 'µs', 'lower', [f.delay.p99]));
          rows.push([`floor: no mux, ${allocBytes} B garbage/request${spinner ? ', a thread spinning' : ''}`, si(f.rate), f.delay.p50, f.delay.p99, f.delay.p999, f.delay.max, '-',
            `${f.gc.perSecond.toFixed(0)}/s, ${f.gc.percent.toFixed(1)}%, max ${f.gc.maxMs.toFixed(1)} ms`]);
        }
        note = `open-loop latency is measured from each request's intended send time (no coordinated omission); "from send()" is the harness's uncorrected latency\n`
          + `floor rows: the same pacing loop with no mux, each in a fresh process, only that much garbage per request (the last 256 kept alive): the tail this machine gives any open loop at this rate\n`
          + `main-thread GC: pauses per second, share of the run's wall time, longest pause; every request due during a pause waits for its end${errNotes.length ? `\nerrors: ${errNotes.join('; ')}` : ''}`;
      } else {
        rows.push([`open loop at ${LOAD_FRACTION * 100}%`, 'open-loop harness not available', '', '', '', '', '', '']);
        note = 'src/harness/load.ts runLoad() does not support `rate` yet (it answered mode "closed"): open-loop harness not available';
      }
      return {
        figures,
        tables: [{
          title: `Open-loop latency (1024 type-3, mix ${mix}, ${ctx.workers} workers; µs)`,
          head: ['load', 'req/s', 'p50', 'p99', 'p99.9', 'max', 'p99 from send()', 'main-thread GC'],
          rows,
          note,
        }],
        data: data as unknown as Record<string, unknown>,
      };
    } finally {
      await mux.close();
    }
  },
};
