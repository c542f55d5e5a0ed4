/**
 * The floor under the open-loop numbers: the same pacing loop as the harness (setImmediate turns, requests due
 * at a constant rate, delay measured from each intended time) with NO mux, only a stand-in for the garbage a
 * request makes, optionally beside one thread spinning like a worker. Whatever tail this loop has on the
 * machine, the mux cannot go below.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { childMain, inFreshProcess } from './fresh-process.js';
import { Worker } from 'node:worker_threads';
import { GcRecorder, type GcPauses } from './env.js';
import { latencyStats, type LatencyStats } from './stats.js';

export interface FloorPoint {
  /** bytes of short-lived garbage per request (a fresh array; the last 256 are kept alive, like requests in flight) */
  allocBytes: number;
  spinner: boolean;
  rate: number;
  delay: LatencyStats;
  gc: GcPauses;
}

const SPINNER = `
const { workerData } = require('node:worker_threads');
const stop = new Int32Array(workerData);
while (Atomics.load(stop, 0) === 0) {}
`;

/** Paces `rate` requests/s for `ms` and returns the delay of each from its intended time. */
export async function pacingFloor(rate: number, ms: number, allocBytes: number, spinner: boolean): Promise<FloorPoint> {
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const w = spinner ? new Worker(SPINNER, { eval: true, workerData: stop.buffer }) : null;
  if (w !== null) await new Promise((r) => w.once('online', r));
  const slots = allocBytes >> 3;
  const keep: unknown[] = new Array(256).fill(null);
  const warmEnd = 200;
  const n = Math.floor((rate * (ms + warmEnd)) / 1000);
  // sized up front: a growing sample buffer would itself allocate and be collected during the measurement
  const delays = new Float64Array(n);
  let measured = 0;
  const gc = new GcRecorder();
  try {
    await new Promise<void>((resolve) => {
      const t0 = performance.now();
      let i = 0;
      const tick = (): void => {
        const now = performance.now();
        const due = Math.min(n, Math.floor(((now - t0) * rate) / 1000));
        while (i < due) {
          const intended = (i * 1000) / rate;
          if (intended >= warmEnd) delays[measured++] = (now - t0 - intended) * 1e6;
          if (slots > 0) keep[i & 255] = new Array(slots);
          i++;
        }
        if (i < n) setImmediate(tick);
        else resolve();
      };
      tick();
    });
  } finally {
    Atomics.store(stop, 0, 1);
    if (w !== null) await w.terminate();
  }
  const pauses = gc.stop();
  return { allocBytes, spinner, rate, delay: latencyStats(delays.subarray(0, measured)), gc: pauses };
}

interface FloorJob { rate: number; ms: number; allocBytes: number; spinner: boolean }

/** Run as a child process: `node open-loop-floor.js '{"rate":200000,"ms":1500,"allocBytes":0,"spinner":true}'`. */
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  childMain((job: FloorJob) => pacingFloor(job.rate, job.ms, job.allocBytes, job.spinner));
}

/** pacingFloor() in a fresh process: no heap or threads left over from the runs before it. */
export async function pacingFloorFresh(rate: number, ms: number, allocBytes: number, spinner: boolean): Promise<FloorPoint> {
  const self = fileURLToPath(import.meta.url);
  return inFreshProcess<FloorPoint>(self, { rate, ms, allocBytes, spinner } satisfies FloorJob, { timeoutMs: 120_000 });
}
