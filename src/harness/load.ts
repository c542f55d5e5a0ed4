import { EventEmitter } from 'node:events';
import { isMbxError } from '../errors.js';
import { createMux, type Mux } from '../mux/mux.js';
import type { MuxOptions } from '../mux/types.js';
import type { Tier } from '../policy/tiers.js';
import { Histogram } from './histogram.js';
import { buildSchedule, DEFAULT_MIX, parseMix } from './mix.js';

export interface LoadOptions {
  /** measured duration, ms */
  durationMs: number;
  /** unmeasured warm-up before it, ms (default 500) */
  warmupMs?: number;
  /** closed loop: callers each with one request outstanding (default 64) */
  concurrency?: number;
  /** named command mix, e.g. "health=80,log=15,identify=5" */
  mix?: string;
  tier?: Tier;
  host?: number;
  /** use this mux instead of creating one (it is not closed afterwards) */
  mux?: Mux;
  /** options for the mux the harness creates */
  muxOptions?: MuxOptions;
  /** progress event period, ms (default 1000) */
  progressMs?: number;
  signal?: AbortSignal;
}

export interface LoadResult {
  mode: 'closed';
  concurrency: number;
  durationMs: number;
  requests: number;
  throughput: number;
  /** latency in µs */
  latency: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number; min: number };
  /** rejected requests by error code */
  errors: Record<string, number>;
  /** completed requests whose device return code was not Success, by rc */
  deviceStatus: Record<string, number>;
  byCommand: Record<string, number>;
  histogram: Histogram;
}

export interface LoadProgress {
  elapsedMs: number;
  requests: number;
  rate: number;
  p99us: number;
  errors: number;
}

/**
 * Closed-loop load: `concurrency` callers each send the next request of the mix as soon as the previous one
 * completes. Latency is measured per request from send() to settle into an HDR histogram.
 * Emits 'progress' (LoadProgress) on the returned emitter while running.
 */
export function runLoad(opts: LoadOptions): { events: EventEmitter; result: Promise<LoadResult> } {
  const events = new EventEmitter();
  return { events, result: run(opts, events) };
}

async function run(opts: LoadOptions, events: EventEmitter): Promise<LoadResult> {
  const mux = opts.mux ?? (await createMux(opts.muxOptions ?? {}));
  try {
    const concurrency = opts.concurrency ?? 64;
    const schedule = buildSchedule(parseMix(opts.mix ?? DEFAULT_MIX), mux.devices().filter((d) => !d.reachableVia));
    const session = mux.openSession({ tier: opts.tier ?? 'debug-read', host: opts.host ?? 0, fabricManager: opts.host === undefined });
    const hist = new Histogram();
    const window = new Histogram();
    const errors: Record<string, number> = {};
    const deviceStatus: Record<string, number> = {};
    const byCommand: Record<string, number> = {};
    let next = 0;
    let measuring = false;
    let stop = false;
    let count = 0;
    let windowCount = 0;
    const loop = async (): Promise<void> => {
      while (!stop && !opts.signal?.aborted) {
        const item = schedule[next++ % schedule.length]!;
        const t0 = performance.now();
        try {
          const r = await session.send({ device: item.device, opcode: item.req.opcode, ...(item.req.payload ? { payload: item.req.payload } : {}) });
          if (!measuring) continue;
          const ns = (performance.now() - t0) * 1e6;
          hist.record(ns);
          window.record(ns);
          if (r.rc !== 0) deviceStatus[r.rc] = (deviceStatus[r.rc] ?? 0) + 1;
        } catch (e) {
          if (!measuring) continue;
          const code = isMbxError(e) ? e.code : 'EUNKNOWN';
          errors[code] = (errors[code] ?? 0) + 1;
        }
        count++;
        windowCount++;
        byCommand[item.name] = (byCommand[item.name] ?? 0) + 1;
      }
    };
    const loops = Array.from({ length: concurrency }, loop);
    await sleep(opts.warmupMs ?? 500, opts.signal);
    measuring = true;
    const t0 = performance.now();
    let last = t0;
    const period = opts.progressMs ?? 1000;
    const ticker = setInterval(() => {
      const now = performance.now();
      events.emit('progress', {
        elapsedMs: now - t0, requests: count, rate: (windowCount * 1000) / (now - last), p99us: window.percentile(99) / 1000,
        errors: Object.values(errors).reduce((a, b) => a + b, 0),
      } satisfies LoadProgress);
      window.reset();
      windowCount = 0;
      last = now;
    }, period);
    await sleep(opts.durationMs, opts.signal);
    const elapsed = performance.now() - t0;
    measuring = false;
    stop = true;
    clearInterval(ticker);
    await Promise.all(loops);
    const us = (p: number): number => hist.percentile(p) / 1000;
    return {
      mode: 'closed', concurrency, durationMs: elapsed, requests: count, throughput: (count * 1000) / elapsed,
      latency: { p50: us(50), p90: us(90), p99: us(99), p999: us(99.9), max: hist.max / 1000, mean: hist.mean / 1000, min: hist.total ? hist.min / 1000 : 0 },
      errors, deviceStatus, byCommand, histogram: hist,
    };
  } finally {
    if (!opts.mux) await mux.close();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
