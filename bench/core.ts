/**
 * mbxmux against the two obvious ways to reach a worker, in the same process and run, doing the same device
 * work per command (bench/device-work.ts: the type-3 command table mbxmux uses): piscina.run() per command and
 * postMessage() per command. Round trips (one request outstanding) and pipelined throughput.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { createMux } from '../src/index.js';
import { type BenchContext, dur, type Section } from './section.js';
import { latencyStats, num, Samples, si, sig } from './stats.js';
import { figure } from './figures.js';
import { closedLoop, interleavedRoundTrips, interleavedThroughput, type Repeated, type RoundTripStats, sleep, sliceStats } from './timing.js';

const BASELINE_WORKER = new URL('./baseline-worker.js', import.meta.url);
const OPCODE = 0x4200; // Get Health Info: no input, 18-byte output
const DEVICES = 1024;

export const RT_SPINNING = 'mbxmux, worker spinning';
export const RT_ALTERNATING = 'mbxmux, devices alternating between shards';
export const RT_ASLEEP = 'mbxmux, worker asleep (futex wake per request)';
export const RT_COLD = 'mbxmux, cold (4 ms idle before each request)';
export const RT_PISCINA = 'piscina.run per command';
export const RT_POST = 'postMessage per command';

export interface CoreData {
  roundTrip: Record<string, RoundTripStats>;
  throughput: Record<string, Repeated>;
  ratios: Record<string, number>;
  concurrency: number;
}

/** `gapMs` of idleness (a timer) before each request: both threads go idle first. */
async function coldRoundTrips(send: () => Promise<unknown>, n: number, gapMs: number): Promise<RoundTripStats> {
  const ns = new Samples();
  for (let i = 0; i < n; i++) {
    await sleep(gapMs);
    const t = performance.now();
    await send();
    ns.push((performance.now() - t) * 1e6);
  }
  return { ...latencyStats(ns.values()), rounds: sliceStats(ns.values()) };
}

export const baselinesSection: Section = {
  id: 'baselines',
  title: 'mbxmux vs piscina.run vs postMessage',
  async run(ctx: BenchContext) {
    const workers = ctx.workers;
    const mux = await createMux({ workers, fleet: { 'cxl-type3': DEVICES } });
    // the same fleet with spinning off: every request finds its worker asleep in Atomics.wait
    const sleepy = await createMux({ workers, fleet: { 'cxl-type3': DEVICES }, spinUs: 0 });
    const pool = new Piscina({ filename: BASELINE_WORKER.href, minThreads: workers, maxThreads: workers });
    const posters = await Promise.all(Array.from({ length: workers }, async () => {
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
    const sleepySession = sleepy.openSession();
    try {
      // warm every path up so JIT tiers do not land inside a measurement
      const warm = dur(ctx, 300, 100);
      await closedLoop(warm, 64, (i) => session.send({ device: ids[i % DEVICES]!, opcode: OPCODE }), 0);
      await closedLoop(warm, 64, (i) => sleepySession.send({ device: ids[i % DEVICES]!, opcode: OPCODE }), 0);
      await closedLoop(warm, 64, (i) => pool.run({ id: i, device: i % DEVICES, opcode: OPCODE }), 0);
      await closedLoop(warm, 64, (i) => post(i % DEVICES), 0);

      ctx.log('baselines: round trips (one request outstanding, methods interleaved)...');
      let alt = 0;
      const rounds = ctx.quick ? 2 : 3;
      const rt = await interleavedRoundTrips({
        [RT_SPINNING]: () => session.send({ device: 'mem1', opcode: OPCODE }),
        // consecutive devices live in different shards: the worker that answers is rarely the one spinning
        [RT_ALTERNATING]: () => session.send({ device: ids[alt++ % DEVICES]!, opcode: OPCODE }),
        [RT_ASLEEP]: () => sleepySession.send({ device: 'mem1', opcode: OPCODE }),
        [RT_PISCINA]: () => pool.run({ id: 0, device: 1, opcode: OPCODE }),
        [RT_POST]: () => post(1),
      }, dur(ctx, 1500, 300), rounds);
      const roundTrip: Record<string, RoundTripStats> = {
        [RT_SPINNING]: rt[RT_SPINNING]!,
        [RT_ALTERNATING]: rt[RT_ALTERNATING]!,
        [RT_ASLEEP]: rt[RT_ASLEEP]!,
        [RT_COLD]: await coldRoundTrips(() => session.send({ device: 'mem1', opcode: OPCODE }), ctx.quick ? 40 : 300, 4),
        [RT_PISCINA]: rt[RT_PISCINA]!,
        [RT_POST]: rt[RT_POST]!,
      };

      const repeats = ctx.quick ? 2 : 3;
      const ms = dur(ctx, (ctx.seconds * 1000) / repeats, 250);
      ctx.log(`baselines: pipelined throughput (${ctx.concurrency} in flight, ${repeats} interleaved runs of ${num(ms)} ms per method)...`);
      const throughput = await interleavedThroughput({
        mbxmux: (i) => session.send({ device: ids[i % DEVICES]!, opcode: OPCODE }),
        'piscina.run': (i) => pool.run({ id: i, device: i % DEVICES, opcode: OPCODE }),
        postMessage: (i) => post(i % DEVICES),
      }, ms, repeats, ctx.concurrency);
      const tp = (k: string): number => throughput[k]!.median;
      const ratios = {
        'throughput mbxmux / piscina.run': tp('mbxmux') / tp('piscina.run'),
        'throughput mbxmux / postMessage': tp('mbxmux') / tp('postMessage'),
        'p50 round trip piscina.run / mbxmux spinning': roundTrip[RT_PISCINA]!.p50 / roundTrip[RT_SPINNING]!.p50,
        'p50 round trip postMessage / mbxmux spinning': roundTrip[RT_POST]!.p50 / roundTrip[RT_SPINNING]!.p50,
        'p50 round trip piscina.run / mbxmux asleep': roundTrip[RT_PISCINA]!.p50 / roundTrip[RT_ASLEEP]!.p50,
        'p50 round trip postMessage / mbxmux asleep': roundTrip[RT_POST]!.p50 / roundTrip[RT_ASLEEP]!.p50,
      };
      const data: CoreData = { roundTrip, throughput, ratios, concurrency: ctx.concurrency };
      // repeats: each interleaved round (round trips), each interleaved run (throughput and its ratios)
      const runRatio = (a: string, b: string): number[] => throughput[a]!.runs.map((x, i) => x / throughput[b]!.runs[i]!);
      const figures = [
        ...Object.entries(roundTrip).flatMap(([k, s]) => [
          figure(`round trip p50, ${k}`, 'µs', 'lower', s.rounds.map((r) => r.p50)),
          figure(`round trip p99, ${k}`, 'µs', 'lower', s.rounds.map((r) => r.p99)),
        ]),
        ...Object.entries(throughput).map(([k, r]) => figure(`pipelined throughput, ${k}`, 'req/s', 'higher', r.runs)),
        figure('throughput mbxmux / piscina.run', '×', 'higher', runRatio('mbxmux', 'piscina.run')),
        figure('throughput mbxmux / postMessage', '×', 'higher', runRatio('mbxmux', 'postMessage')),
      ];
      return {
        figures,
        tables: [
          {
            title: `Round trip, one request outstanding (µs; ${DEVICES} type-3, Get Health Info, ${workers} workers)`,
            head: ['method', 'p50', 'p99', 'p99.9', 'mean', 'max', 'samples'],
            rows: Object.entries(roundTrip).map(([k, s]) => [k, s.p50, s.p99, s.p999, s.mean, s.max, num(s.samples)]),
            note: `all rows but "cold": ${rounds} interleaved rounds, each request timed with performance.now(); "worker spinning" sends to one device (mem1),\n"alternating" walks mem0, mem1, ... whose consecutive devices live in different shards (the spinning worker is rarely the one that answers)`,
          },
          {
            title: `Pipelined throughput, ${ctx.concurrency} requests in flight (requests/s)`,
            head: ['method', 'median', 'min', 'max', 'µs/request', 'mbxmux ×'],
            rows: Object.entries(throughput).map(([k, r]) => [k, si(r.median), si(r.min), si(r.max), sig(1e6 / r.median), sig(tp('mbxmux') / r.median)]),
            note: `${repeats} interleaved runs of ${num(ms)} ms per method (after 100 ms warm-up each); the same device work per command in every method`,
          },
          {
            title: 'Ratios (×)',
            head: ['ratio', '×'],
            rows: Object.entries(ratios).map(([k, v]) => [k, v.toFixed(1)]),
          },
        ],
        data: data as unknown as Record<string, unknown>,
      };
    } finally {
      await mux.close();
      await sleepy.close();
      await pool.destroy();
      await Promise.all(posters.map((w) => w.terminate()));
    }
  },
};
