/**
 * One row of a scaling table, in a fresh process so its RSS and start time are its own:
 *   node scale-child.js '{"devices":10000,"workers":2,"ms":1000,"warmMs":200,"concurrency":1024}'
 * (`workers` / `shards` left out: the mux's defaults)
 * Prints one JSON line: start time, RSS before / after start / after the load, pipelined requests/s.
 */
import { createMux } from '../src/index.js';
import { childMain } from './fresh-process.js';
import { latencyStats } from './stats.js';
import { closedLoopSeries, roundTrips } from './timing.js';

export interface ScaleJob {
  devices: number;
  /** worker threads (undefined: the mux's default) */
  workers?: number | undefined;
  /** shards (undefined: the mux's default) */
  shards?: number | undefined;
  ms: number;
  warmMs: number;
  concurrency: number;
  /** also time round trips (one outstanding) for this long, ms */
  rtMs?: number;
}

export interface ScaleRow {
  devices: number;
  /** worker threads and shards the mux ran with */
  workers: number;
  shards: number;
  startMs: number;
  rssBeforeMB: number;
  rssStartMB: number;
  rssAfterLoadMB: number;
  opsPerSec: number;
  /** ops/s in each consecutive window of the measured time */
  opsWindows: number[];
  rtP50us?: number;
  rtP99us?: number;
}

const MB = 1024 * 1024;

childMain(async (job: ScaleJob): Promise<ScaleRow> => {
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const mux = await createMux({
    fleet: { 'cxl-type3': job.devices },
    ...(job.workers !== undefined ? { workers: job.workers } : {}), ...(job.shards !== undefined ? { shards: job.shards } : {}),
  });
  const startMs = performance.now() - t0;
  const rssStart = process.memoryUsage().rss;
  try {
    const ids = mux.fleet.devices.map((d) => d.id);
    const s = mux.openSession();
    const n = ids.length;
    const tp = await closedLoopSeries(job.ms, job.concurrency, (i) => s.send({ device: ids[i % n]!, opcode: 0x4200 }), job.warmMs);
    const row: ScaleRow = {
      devices: n, workers: mux.stats().threads.length, shards: mux.stats().shards.length, startMs, rssBeforeMB: rssBefore / MB, rssStartMB: rssStart / MB,
      rssAfterLoadMB: process.memoryUsage().rss / MB, opsPerSec: tp.rate, opsWindows: tp.windows,
    };
    if (job.rtMs) {
      const rt = latencyStats((await roundTrips(() => s.send({ device: ids[1 % n]!, opcode: 0x4200 }), job.rtMs, 50)).values());
      row.rtP50us = rt.p50;
      row.rtP99us = rt.p99;
    }
    return row;
  } finally {
    await mux.close();
  }
});
