import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { Bench } from 'tinybench';
import { Piscina } from 'piscina';
import { createMux, type Mux } from '../src/index.js';
import { latencyStats, type LatencyStats } from './stats.js';

const BASELINE_WORKER = new URL('./baseline-worker.js', import.meta.url);
const OPCODE = 0x4200; // Get Health Info: no input, 18-byte output
const DEVICES = 1024;

export interface CoreOptions {
  workers: number;
  /** seconds per throughput run */
  seconds: number;
  /** requests kept in flight by the pipelined runs */
  concurrency: number;
  /** tinybench time budget per latency task, ms */
  latencyMs: number;
}

export interface CoreResult {
  roundTrip: Record<string, LatencyStats>;
  throughput: Record<string, number>;
  ratios: Record<string, number>;
}

/** Closed loop: `concurrency` callers each send the next request when the previous one completes. */
async function closedLoop(seconds: number, concurrency: number, send: (i: number) => Promise<unknown>): Promise<number> {
  let count = 0;
  let i = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      await send(i++);
      count++;
    }
  }));
  return count / ((performance.now() - t0) / 1000);
}

function tinybenchStats(bench: Bench, name: string): LatencyStats {
  const task = bench.getTask(name)!;
  const r = task.result as unknown as { latency: { p50: number; p99: number; p999: number; mean: number; max: number; samplesCount: number } };
  const l = r.latency; // ms
  return { samples: l.samplesCount, p50: l.p50 * 1000, p99: l.p99 * 1000, p999: l.p999 * 1000, mean: l.mean * 1000, max: l.max * 1000 };
}

/** Back-to-back round trips, or with `gapMs` of idleness (timer) before each (both threads go idle then). */
async function timedRoundTrips(mux: Mux, n: number, gapMs: number): Promise<LatencyStats> {
  const s = mux.openSession();
  const ns: number[] = [];
  for (let i = 0; i < n; i++) {
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    const t = process.hrtime.bigint();
    await s.send({ device: 'mem1', opcode: OPCODE });
    ns.push(Number(process.hrtime.bigint() - t));
  }
  return latencyStats(ns);
}

export async function runCore(o: CoreOptions, log: (s: string) => void): Promise<CoreResult> {
  const mux = await createMux({ workers: o.workers, fleet: { 'cxl-type3': DEVICES } });
  // the same mux with spinning off: every request finds its worker asleep in Atomics.wait
  const sleepy = await createMux({ workers: o.workers, fleet: { 'cxl-type3': DEVICES }, spinUs: 0 });
  const pool = new Piscina({ filename: BASELINE_WORKER.href, minThreads: o.workers, maxThreads: o.workers });
  const posters = await Promise.all(Array.from({ length: o.workers }, async () => {
    const w = new Worker(BASELINE_WORKER, { workerData: { mode: 'post' } });
    await once(w, 'online');
    return w;
  }));
  const waiting = new Map<number, (v: unknown) => void>();
  for (const w of posters) w.on('message', (m: { id: number }) => { const r = waiting.get(m.id)!; waiting.delete(m.id); r(m); });
  let nextId = 0;
  const post = (device: number): Promise<unknown> => {
    const id = nextId++;
    return new Promise((resolve) => {
      waiting.set(id, resolve);
      posters[id % posters.length]!.postMessage({ id, device, opcode: OPCODE });
    });
  };
  const ids = mux.devices().map((d) => d.id);
  const session = mux.openSession();
  try {
    // warm every path up so JIT tiers do not land inside a measurement
    await closedLoop(0.3, 64, (i) => session.send({ device: ids[i % DEVICES]!, opcode: OPCODE }));
    await closedLoop(0.3, 64, (i) => pool.run({ id: i, device: i % DEVICES, opcode: OPCODE }));
    await closedLoop(0.3, 64, (i) => post(i % DEVICES));

    log('round trips (one request outstanding)...');
    const bench = new Bench({ time: o.latencyMs, warmupTime: 100 });
    bench.add('mbxmux, worker spinning', async () => { await session.send({ device: 'mem1', opcode: OPCODE }); });
    bench.add('piscina.run per command', async () => { await pool.run({ id: 0, device: 1, opcode: OPCODE }); });
    bench.add('postMessage per command', async () => { await post(1); });
    await bench.run();
    const roundTrip: Record<string, LatencyStats> = {
      'mbxmux, worker spinning': tinybenchStats(bench, 'mbxmux, worker spinning'),
      'mbxmux, worker asleep (futex wake)': await timedRoundTrips(sleepy, 20_000, 0),
      'mbxmux, cold (4 ms idle first)': await timedRoundTrips(mux, 300, 4),
      'piscina.run per command': tinybenchStats(bench, 'piscina.run per command'),
      'postMessage per command': tinybenchStats(bench, 'postMessage per command'),
    };

    log(`pipelined throughput (${o.concurrency} in flight, ${o.seconds}s each)...`);
    const throughput: Record<string, number> = {};
    throughput['mbxmux send'] = await closedLoop(o.seconds, o.concurrency, (i) => session.send({ device: ids[i % DEVICES]!, opcode: OPCODE }));
    throughput['piscina.run per command'] = await closedLoop(o.seconds, o.concurrency, (i) => pool.run({ id: i, device: i % DEVICES, opcode: OPCODE }));
    throughput['postMessage per command'] = await closedLoop(o.seconds, o.concurrency, (i) => post(i % DEVICES));
    const ratios = {
      'throughput mbxmux / piscina': throughput['mbxmux send']! / throughput['piscina.run per command']!,
      'throughput mbxmux / postMessage': throughput['mbxmux send']! / throughput['postMessage per command']!,
      'p50 round trip piscina / mbxmux (spinning)': roundTrip['piscina.run per command']!.p50 / roundTrip['mbxmux, worker spinning']!.p50,
      'p50 round trip postMessage / mbxmux (spinning)': roundTrip['postMessage per command']!.p50 / roundTrip['mbxmux, worker spinning']!.p50,
      'p50 round trip postMessage / mbxmux (asleep)': roundTrip['postMessage per command']!.p50 / roundTrip['mbxmux, worker asleep (futex wake)']!.p50,
    };
    return { roundTrip, throughput, ratios };
  } finally {
    await mux.close();
    await sleepy.close();
    await pool.destroy();
    await Promise.all(posters.map((w) => w.terminate()));
  }
}
