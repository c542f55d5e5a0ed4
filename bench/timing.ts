/**
 * Measurement loops shared by the sections.
 *
 * - timeLoop: synchronous operations timed in batches between two performance.now() calls (tinybench's
 *   ~120 ns per-iteration floor would swamp sub-µs operations). Each batch is one sample; its ns/op is the
 *   batch time divided by the batch size, so p50/p99/p99.9 are percentiles of batch means.
 * - roundTrips: one request outstanding, each request timed on its own (µs-scale operations).
 * - tinybenchRoundTrips: the same through tinybench (per-device-kind round trips).
 * - closedLoop: `concurrency` callers each sending the next request when the previous completes.
 */
import { Bench } from 'tinybench';
import { slices } from './figures.js';
import { latencyStats, type LatencyStats, median, Samples } from './stats.js';

/** Results fed here cannot be optimized away. */
let sinkValue = 0;

export function consume(x: number): void {
  sinkValue = (sinkValue + x) | 0;
}
export function sink(): number {
  return sinkValue;
}

export interface LoopResult {
  ops: number;
  nsPerOp: number;
  opsPerSec: number;
  /** operations per sample */
  batch: number;
  samples: number;
  /** ns per operation: percentiles over the samples (batch means) */
  p50: number;
  p99: number;
  p999: number;
  /** ns per operation in each fifth of the run, in order: the run-to-run spread a comparison needs */
  windows: number[];
}

/** Consecutive windows of a run: enough to show its spread, few enough that each holds many samples. */
export const WINDOWS = 5;

export interface LoopOptions {
  /** fixed batch size; default: calibrated so one batch takes >= minSampleUs */
  batch?: number;
  /** the batch is a multiple of this (an operation that works in groups, e.g. 32 pushes then a publish) */
  unit?: number;
  minSampleUs?: number;
  warmupMs?: number;
}

/** Times `body(n)` (which performs n operations and returns a checksum) for about `ms` milliseconds. */
export function timeLoop(body: (n: number) => number, ms: number, o: LoopOptions = {}): LoopResult {
  const unit = o.unit ?? 1;
  const warmEnd = performance.now() + (o.warmupMs ?? Math.min(100, ms / 4));
  let batch = o.batch ?? unit;
  while (performance.now() < warmEnd) consume(body(batch));
  if (o.batch === undefined) {
    const minMs = (o.minSampleUs ?? 20) / 1000;
    // the fastest of three calls decides, so one GC pause or deopt does not fix a tiny batch
    for (;;) {
      let best = Infinity;
      for (let k = 0; k < 3; k++) {
        const t = performance.now();
        consume(body(batch));
        best = Math.min(best, performance.now() - t);
      }
      if (best >= minMs || batch >= 1 << 24) break;
      batch *= 2;
    }
  }
  const perOp = new Samples();
  let ops = 0;
  let total = 0;
  const end = performance.now() + ms;
  for (;;) {
    const t0 = performance.now();
    consume(body(batch));
    const t1 = performance.now();
    const dt = (t1 - t0) * 1e6;
    perOp.push(dt / batch);
    total += dt;
    ops += batch;
    if (t1 >= end) break;
  }
  const s = latencyStats(perOp.values());
  const nsPerOp = total / ops;
  // every batch has the same size: a window's ns/op is the mean of its batches'
  const windows = slices(perOp.values(), WINDOWS).map((w) => w.reduce((a, b) => a + b, 0) / w.length);
  // latencyStats reports µs of ns samples: scale back to ns per op
  return { ops, nsPerOp, opsPerSec: 1e9 / nsPerOp, batch, samples: s.samples, p50: s.p50 * 1000, p99: s.p99 * 1000, p999: s.p999 * 1000, windows };
}

/**
 * Sequential round trips for about `ms` (after `warmMs` unmeasured): each request timed on its own.
 * Returns the ns samples (append several chunks to interleave methods fairly).
 */
export async function roundTrips(send: () => Promise<unknown>, ms: number, warmMs = 50): Promise<Samples> {
  const out = new Samples();
  const warmEnd = performance.now() + warmMs;
  while (performance.now() < warmEnd) await send();
  const end = performance.now() + ms;
  for (;;) {
    const t0 = performance.now();
    await send();
    const t1 = performance.now();
    out.push((t1 - t0) * 1e6);
    if (t1 >= end) break;
  }
  return out;
}

/** Latency statistics of the whole set, and of each round on its own (the repeats a comparison reads). */
export type RoundTripStats = LatencyStats & { rounds: LatencyStats[] };

/**
 * Round trips of several methods, interleaved: `rounds` rounds, each giving every method ms / rounds.
 * Interleaving spreads slow phases of a shared VM over all methods instead of one.
 */
export async function interleavedRoundTrips(methods: Record<string, () => Promise<unknown>>, ms: number, rounds: number, warmMs = 50): Promise<Record<string, RoundTripStats>> {
  const acc: Record<string, Samples> = {};
  const each: Record<string, LatencyStats[]> = {};
  for (const k of Object.keys(methods)) {
    acc[k] = new Samples();
    each[k] = [];
  }
  for (let r = 0; r < rounds; r++) {
    for (const [k, send] of Object.entries(methods)) {
      const round = await roundTrips(send, ms / rounds, warmMs);
      each[k]!.push(latencyStats(round.values()));
      acc[k]!.append(round);
    }
  }
  const out: Record<string, RoundTripStats> = {};
  for (const [k, s] of Object.entries(acc)) out[k] = { ...latencyStats(s.values()), rounds: each[k]! };
  return out;
}

/** Statistics of `n` consecutive slices of one set of ns samples (repeats of a measurement that ran once). */
export function sliceStats(ns: Float64Array, n = WINDOWS): LatencyStats[] {
  return slices(ns, n).map((s) => latencyStats(s));
}

/**
 * Closed loop: `concurrency` callers each send the next request when the previous one completes, for
 * warmMs + ms; completions are counted during the last `ms` only. Returns requests per second.
 * A rejected request fails the measurement.
 */
export async function closedLoop(ms: number, concurrency: number, send: (i: number) => Promise<unknown>, warmMs = 100): Promise<number> {
  return (await closedLoopSeries(ms, concurrency, send, warmMs)).rate;
}

/** closedLoop(), with the rate of each of `windows` consecutive equal windows of the measured time too. */
export async function closedLoopSeries(ms: number, concurrency: number, send: (i: number) => Promise<unknown>, warmMs = 100,
  windows = WINDOWS): Promise<{ rate: number; windows: number[] }> {
  let i = 0;
  let count = 0;
  const per = new Array<number>(windows).fill(0);
  const start = performance.now() + warmMs;
  const end = start + ms;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (;;) {
      await send(i++);
      const now = performance.now();
      if (now >= end) return;
      if (now >= start) {
        count++;
        per[Math.min(windows - 1, Math.floor(((now - start) * windows) / ms))]!++;
      }
    }
  }));
  return { rate: (count * 1000) / ms, windows: per.map((c) => (c * 1000 * windows) / ms) };
}

export interface Repeated {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function repeated(runs: number[]): Repeated {
  return { median: median(runs), min: Math.min(...runs), max: Math.max(...runs), runs };
}

/**
 * Interleaved repeats of several closed loops: `repeats` rounds, each running every method for ms, in an
 * order that alternates between rounds (so no method always runs right after another). Medians per method.
 */
export async function interleavedThroughput(methods: Record<string, (i: number) => Promise<unknown>>, ms: number, repeats: number, concurrency: number, warmMs = 100): Promise<Record<string, Repeated>> {
  const names = Object.keys(methods);
  const runs: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < repeats; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const n of order) runs[n]!.push(await closedLoop(ms, concurrency, methods[n]!, warmMs));
  }
  return Object.fromEntries(names.map((n) => [n, repeated(runs[n]!)]));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Round trips of an async operation measured with tinybench (its ~120 ns per-iteration floor is noise at
 * µs-scale round trips). Returns the same LatencyStats (µs) the timed loops give.
 */
export async function tinybenchRoundTrips(name: string, send: () => Promise<unknown>, ms: number, warmMs = 50): Promise<LatencyStats> {
  const bench = new Bench({ time: ms, warmupTime: warmMs });
  bench.add(name, async () => {
    await send();
  });
  await bench.run();
  const r = bench.getTask(name)!.result as unknown as { latency?: { p50: number; p99: number; p999: number; mean: number; max: number; samplesCount: number } };
  const l = r.latency;
  if (l === undefined) throw new Error(`tinybench produced no latency statistics for ${name}`);
  return { samples: l.samplesCount, p50: l.p50 * 1000, p99: l.p99 * 1000, p999: l.p999 * 1000, mean: l.mean * 1000, max: l.max * 1000 };
}
