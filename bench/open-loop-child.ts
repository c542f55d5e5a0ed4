/**
 * One load run of the open-loop section in a fresh process, so that no run inherits the heap, the JIT state or
 * the garbage of the runs before it (the floor rows it is compared with run fresh too):
 *   node open-loop-child.js '{"rate":300000,"durationMs":2500,"warmupMs":2000,"mix":"health"}'
 * (`concurrency` instead of `rate` for the closed loop). Prints one JSON line (OpenLoopRun).
 */
import { createMux, runLoad, type LoadOptions, type LoadResult } from '../src/index.js';
import { childMain } from './fresh-process.js';
import { GcRecorder, type GcPauses } from './env.js';

export interface OpenLoopJob {
  rate?: number;
  concurrency?: number;
  durationMs: number;
  warmupMs: number;
  mix: string;
  devices: number;
  workers?: number;
}

export interface OpenLoopRun {
  mode: string;
  throughput: number;
  latency: LoadResult['latency'];
  serviceP99?: number;
  errors: Record<string, number>;
  requests: number;
  intervalMs: number;
  /** the intervals that completed something: their rate, p50 and p99 */
  intervals: { rate: number; p50: number; p99: number }[];
  /** [percentile, µs] */
  curve: [number, number][];
  gc: GcPauses;
  notifiesPer1k?: number;
}

childMain(async (job: OpenLoopJob): Promise<OpenLoopRun> => {
  const mux = await createMux({ fleet: { 'cxl-type3': job.devices }, ...(job.workers !== undefined ? { workers: job.workers } : {}) });
  try {
    const opts: LoadOptions = { mux, durationMs: job.durationMs, warmupMs: job.warmupMs, mix: job.mix };
    if (job.rate !== undefined) opts.rate = job.rate;
    else opts.concurrency = job.concurrency ?? 1024;
    const gcRec = new GcRecorder();
    const r = await runLoad(opts).result;
    const gc = gcRec.stop();
    const out: OpenLoopRun = {
      mode: r.mode, throughput: r.throughput, latency: r.latency, errors: r.errors, requests: r.requests, intervalMs: r.intervalMs,
      intervals: r.intervals.filter((iv) => iv.requests > 0).map((iv) => ({ rate: iv.rate, p50: iv.p50, p99: iv.p99 })),
      curve: r.histogram.percentileCurve(10).map(([p, ns]) => [p, ns / 1000]), gc,
      ...(r.serviceLatency ? { serviceP99: r.serviceLatency.p99 } : {}),
      ...(r.wakeups ? { notifiesPer1k: r.wakeups.per1k } : {}),
    };
    return out;
  } finally {
    await mux.close();
  }
});
