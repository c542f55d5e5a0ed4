/**
 * One row of a scaling table, in a fresh process so its RSS and start time are its own:
 *   node scale-child.js '{"devices":10000,"workers":2,"ms":1000,"warmMs":200,"concurrency":1024}'
 * Prints one JSON line: start time, RSS before / after start / after the load, pipelined requests/s.
 */
import { createMux } from '../src/index.js';
import { latencyStats } from './stats.js';
import { closedLoopSeries, roundTrips } from './timing.js';

export interface ScaleJob {
  devices: number;
  workers: number;
  ms: number;
  warmMs: number;
  concurrency: number;
  /** also time round trips (one outstanding) for this long, ms */
  rtMs?: number;
}

export interface ScaleRow {
  devices: number;
  workers: number;
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

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as ScaleJob;
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const mux = await createMux({ workers: job.workers, fleet: { 'cxl-type3': job.devices } });
  const startMs = performance.now() - t0;
  const rssStart = process.memoryUsage().rss;
  try {
    const ids = mux.fleet.devices.map((d) => d.id);
    const s = mux.openSession();
    const n = ids.length;
    const tp = await closedLoopSeries(job.ms, job.concurrency, (i) => s.send({ device: ids[i % n]!, opcode: 0x4200 }), job.warmMs);
    const row: ScaleRow = {
      devices: n, workers: job.workers, startMs, rssBeforeMB: rssBefore / MB, rssStartMB: rssStart / MB,
      rssAfterLoadMB: process.memoryUsage().rss / MB, opsPerSec: tp.rate, opsWindows: tp.windows,
    };
    if (job.rtMs) {
      const rt = latencyStats((await roundTrips(() => s.send({ device: ids[1 % n]!, opcode: 0x4200 }), job.rtMs, 50)).values());
      row.rtP50us = rt.p50;
      row.rtP99us = rt.p99;
    }
    process.stdout.write(`${JSON.stringify(row)}\n`);
  } finally {
    await mux.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
