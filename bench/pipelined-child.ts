/**
 * The pipelined throughput of a fleet and mix, in a fresh process: the mux's default fleet, the load harness's
 * schedule of the mix (the same requests `mbxmux load` sends), `concurrency` requests kept in flight by
 * submit() callbacks (no harness bookkeeping per request: what the mux itself can do).
 *   node pipelined-child.js '{"concurrency":1024,"ms":3000,"warmMs":500}'
 * Prints one JSON line.
 */
import { createMux } from '../src/index.js';
import { childMain } from './fresh-process.js';
import { buildSchedule, DEFAULT_MIX, mixDevices, parseMix } from '../src/harness/mix.js';
import { callbackLoop } from './timing.js';

export interface PipelinedJob {
  concurrency: number;
  ms: number;
  warmMs: number;
  workers?: number;
  mix?: string;
}

export interface PipelinedRow {
  concurrency: number;
  throughput: number;
  notifiesPer1k: number;
  requests: number;
}

childMain(async (job: PipelinedJob): Promise<PipelinedRow> => {
  const mux = await createMux(job.workers !== undefined ? { workers: job.workers } : {});
  try {
    const schedule = buildSchedule(parseMix(job.mix ?? DEFAULT_MIX), mixDevices(mux.fleet.devices), { session: { host: 0, fabricManager: true } });
    const items = schedule.items;
    const s = mux.openSession({ tier: 'debug-read', fabricManager: true, name: 'pipelined' });
    // a failed request rejects the loop
    const submit = (i: number, done: (err: Error | null) => void): void => s.submit(items[i % items.length]!.req, done);
    await callbackLoop(job.warmMs, job.concurrency, submit, 0);
    const a = mux.stats();
    const throughput = await callbackLoop(job.ms, job.concurrency, submit, 0);
    const b = mux.stats();
    const settled = b.completed + b.failed - a.completed - a.failed;
    const row: PipelinedRow = {
      concurrency: job.concurrency, throughput, requests: settled,
      notifiesPer1k: ((b.mainWakeups + b.workerWakeups - a.mainWakeups - a.workerWakeups) * 1000) / Math.max(1, settled),
    };
    return row;
  } finally {
    await mux.close();
  }
});
