import type { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BadRequestError } from '../src/errors.js';
import { buildFleet } from '../src/fleet/expand.js';
import type { FleetInput } from '../src/fleet/types.js';
import { Histogram } from '../src/harness/histogram.js';
import { formatLoadTable } from '../src/harness/report.js';
import { runLoad } from '../src/harness/load.js';
import { Pace } from '../src/harness/pace.js';
import type { LoadOptions, LoadPhase, LoadProgress, LoadResult } from '../src/harness/types.js';
import { buildSchedule, mixDevices, parseMix } from '../src/harness/mix.js';
import { createMux } from '../src/mux/mux.js';
import { SimFleet, VirtualClock, type SimDevice } from './load-sim.js';

/**
 * The harness in virtual time (load-sim.ts: a clock the test drives and simulated devices with fixed service
 * times), so counts, latencies, intervals and phases are checked exactly; a few runs against a real mux
 * check structure only. Timing of the real system belongs to the bench.
 */

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const T3 = { workers: 1, fleet: { 'cxl-type3': 8 } };

function checkConsistent(r: LoadResult): void {
  assert.is(r.histogram.total, r.requests);
  assert.is(sum(Object.values(r.byCommand).map((g) => g.requests)), r.requests, 'byCommand adds up');
  assert.is(sum(Object.values(r.byKind).map((g) => g!.requests)), r.requests, 'byKind adds up');
  assert.is(sum(Object.values(r.errors)), r.sent - r.requests, 'errors add up');
  assert.is(sum(r.intervals.map((i) => i.requests)), r.requests, 'intervals add up');
  const l = r.latency;
  if (r.requests > 0) assert.ok(l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, JSON.stringify(l));
}

test('Pace: intended send times, with and without the warm-up ramp', () => {
  const flat = new Pace(2000, 200, false);
  assert.is(flat.at(0), 0);
  assert.is(flat.at(1), 0.5);
  assert.is(flat.countBefore(200), 400, 'requests due in the warm-up');
  assert.is(flat.countBefore(1200) - flat.countBefore(200), 2000, 'requests due in one measured second');
  assert.is(flat.countBefore(0.5), 1);
  assert.is(flat.countBefore(0.5, true), 2);
  const ramp = new Pace(2000, 200, true);
  // 10% -> 100% linearly over 200 ms: 0.2/ms .. 2/ms, on average 1.1/ms
  assert.is(ramp.countBefore(200), 220);
  assert.is(ramp.countBefore(1200) - ramp.countBefore(200), 2000);
  assert.ok(Math.abs(ramp.at(220) - 200) < 1e-9);
  assert.ok(Math.abs(ramp.at(221) - 200.5) < 1e-9);
  assert.ok(ramp.at(1) > 4 && ramp.at(1) < 5, `the first gap is ~1/0.2 ms: ${ramp.at(1)}`);
  for (const pace of [flat, ramp, new Pace(333, 70, true), new Pace(1e6, 1000, true)]) {
    let prev = -1;
    for (let k = 0; k < 3000; k += 7) {
      const t = pace.at(k);
      assert.ok(t > prev, 'increasing');
      prev = t;
      assert.is(pace.countBefore(t, true), k + 1, `at(${k}) = ${t}`);
      assert.is(pace.countBefore(t + 1e-6), k + 1);
    }
  }
});

/**
 * A percentile the harness reports for a latency of `ms` that is not the run's largest: the top of its
 * histogram bucket (3 significant digits), in µs. (min and max are kept exactly.)
 */
const bucketTop = (ms: number): number => {
  const h = new Histogram();
  h.record(ms * 1e6);
  h.record(1e12);
  return h.percentile(50) / 1000;
};

/** A run in virtual time against simulated type-3 devices that answer in `serviceMs` (see load-sim.ts). */
function virtual(fleet: FleetInput, device: (id: string) => SimDevice): { clock: VirtualClock; sim: SimFleet; run: (o: Omit<LoadOptions, 'mux' | 'clock'>) => { events: EventEmitter; result: Promise<LoadResult> } } {
  const clock = new VirtualClock();
  const sim = new SimFleet(clock, fleet, device);
  return {
    clock,
    sim,
    run: (o) => {
      const { events, result } = runLoad({ ...o, mux: sim, clock });
      return { events, result: clock.run(result) };
    },
  };
}

test('closed loop in virtual time: exact counts, breakdowns, intervals, progress and phase events', async () => {
  const { run } = virtual({ 'cxl-type3': 8 }, () => ({ serviceMs: 1 }));
  const { events, result } = run({ durationMs: 400, warmupMs: 100, concurrency: 4, progressMs: 100, intervalMs: 100, mix: 'health=3,log=1' });
  const progress: LoadProgress[] = [];
  const phases: LoadPhase[] = [];
  events.on('progress', (p: LoadProgress) => progress.push(p));
  events.on('phase', (p: LoadPhase) => phases.push(p));
  const r = await result;
  assert.is(r.mode, 'closed');
  assert.is(r.concurrency, 4);
  assert.is(r.rate, undefined);
  // 4 callers, 1 ms per request: each completes one request per ms of the 400 ms measured
  assert.is(r.durationMs, 400);
  assert.is(r.requests, 1600);
  assert.is(r.sent, r.requests);
  assert.equal(r.errors, {});
  assert.is(r.dropped, 0);
  assert.is(r.peakInFlight, 4);
  assert.is(r.throughput, 4000);
  assert.is(r.latency.max, 1000);
  assert.is(r.latency.min, 1000);
  // the requests measured are schedule items 396..1995 (4 per ms of warm-up went before): count them by command
  const schedule = buildSchedule(parseMix('health=3,log=1'), mixDevices(buildFleet({ 'cxl-type3': 8 }, 1).devices), { session: { host: 0, fabricManager: true } });
  const expected: Record<string, number> = { health: 0, log: 0 };
  for (let k = 396; k < 1996; k++) expected[schedule.names[schedule.items[k % schedule.items.length]!.cmd]!]! += 1;
  assert.equal(Object.keys(r.byCommand), ['health', 'log']);
  assert.is(r.byCommand.health!.requests, expected.health);
  assert.is(r.byCommand.log!.requests, expected.log);
  assert.ok(expected.health! > 2 * expected.log!, `the 3:1 mix: ${JSON.stringify(expected)}`);
  assert.equal(Object.keys(r.byKind), ['cxl-type3']);
  assert.is(r.byCommand.health!.devices, 8);
  assert.is(r.intervalMs, 100);
  assert.equal(r.intervals.map((i) => [i.startMs, i.requests]), [[0, 400], [100, 400], [200, 400], [300, 400]]);
  checkConsistent(r);
  assert.equal(progress.map((p) => [p.elapsedMs, p.requests, p.rate, p.inFlight]), [[100, 400, 4000, 4], [200, 800, 4000, 4], [300, 1200, 4000, 4]]);
  assert.equal(phases, ['warmup', 'measure', 'drain', 'done']);
  assert.is(r.serviceLatency, undefined);
});

test('open loop in virtual time: R requests/s for 1 s is R requests, paced over the second', async () => {
  const { clock, run } = virtual({ 'cxl-type3': 8 }, () => ({ serviceMs: 1 }));
  const phaseAt: Partial<Record<LoadPhase, number>> = {};
  const { events, result } = run({
    durationMs: 1000, warmupMs: 200, rate: 2000, intervalMs: 250,
    thresholds: ['errors<1%', 'p99<1ns', 'rate>=1800', 'health:requests>0', 'cxl-type3:errors==0'],
  });
  events.on('phase', (p: LoadPhase) => (phaseAt[p] = clock.now()));
  const r = await result;
  assert.is(r.mode, 'open');
  assert.is(r.rate, 2000);
  assert.is(r.maxInFlight, 65536);
  assert.is(r.sent, 2000, 'exactly rate x duration requests were due in the measured second');
  assert.is(r.requests, 2000);
  assert.is(r.dropped, 0);
  assert.is(r.durationMs, 1000);
  assert.is(r.throughput, 2000);
  assert.is(phaseAt.drain, 1200, 'the measured phase ends 1 s after the 200 ms warm-up');
  assert.ok(phaseAt.measure! >= 200 && phaseAt.measure! <= 200.5, `measure began with the first request due in it (${phaseAt.measure})`);
  // paced over the second, not sent in a burst: a request due every 0.5 ms completes 1 ms later
  assert.equal(r.intervals.map((i) => i.requests), [498, 500, 500, 500, 2]);
  checkConsistent(r);
  assert.ok(r.serviceLatency !== undefined && r.serviceHistogram!.total === r.requests);
  assert.is(r.latency.max, 1000, 'each request was sent at its intended time');
  assert.is(r.serviceLatency.max, 1000);
  assert.equal(r.thresholds!.map((t) => [t.expr, t.pass]), [
    ['errors<1%', true], ['p99<1ns', false], ['rate>=1800', true], ['health:requests>0', true], ['cxl-type3:errors==0', true],
  ]);
});

test('open loop: a client stall is charged to every request it delayed (coordinated omission corrected)', async () => {
  const rate = 2000;
  const { clock, run } = virtual({ 'cxl-type3': 8 }, () => ({ serviceMs: 1 }));
  const { events, result } = run({ durationMs: 1000, warmupMs: 200, rate });
  events.on('phase', (p: LoadPhase) => {
    // 400 ms into the measured phase the process stalls for 200 ms (a GC pause, a blocked event loop):
    // nothing is sent or received meanwhile
    if (p === 'measure') clock.setTimer(() => clock.stall(200), 400);
  });
  const r = await result;
  assert.is(r.sent, rate);
  assert.is(r.requests, rate);
  // the 400 requests due during the stall go out when it ends, 1 ms before their answers: measured from
  // their intended time they took 201 - 0.5k ms (k = 0..399); the two in flight when it began waited ~200 ms
  const corrected = r.histogram.countAtOrAbove(50.25e6);
  const naive = r.serviceHistogram!.countAtOrAbove(50.25e6);
  assert.is(corrected, 302 + 2, 'requests that waited >= 50.25 ms past their intended send time');
  assert.is(naive, 2, 'measured from send(), only the two in flight during the stall look slow');
  assert.is(r.latency.max, 201_000);
  // the latency-over-time plot shows it: the interval holding the stall's end
  assert.ok(r.intervals.some((i) => i.p99 >= 100_000), 'a slow interval');
  checkConsistent(r);
});

test('open loop vs closed loop on a slow device: the closed loop hides the queueing', async () => {
  // one device that takes 50 ms per command, one at a time: it serves 20 requests/s
  const { run } = virtual({ 'cxl-type3': 1 }, () => ({ serviceMs: 50, serial: true }));
  // 50 requests/s offered: request k is due at 20k ms and done at 50(k+1) ms, so it takes 50 + 30k ms
  const open = await run({ durationMs: 400, warmupMs: 0, rate: 50, mix: 'health' }).result;
  assert.is(open.sent, 20);
  assert.is(open.requests, 20);
  assert.is(open.latency.min, 50_000);
  assert.is(open.latency.max, (50 + 30 * 19) * 1000);
  assert.is(open.histogram.countAtOrAbove(99e6), 18, 'all but the first two took >= 100 ms');
  assert.is(open.latency.p50, bucketTop(50 + 30 * 9));
  // one caller that waits for each answer sees every request take 50 ms: nothing queues
  const closed = await run({ durationMs: 400, warmupMs: 0, concurrency: 1, mix: 'health' }).result;
  assert.is(closed.requests, 7, 'answers at 50, 100, ..., 350 ms (the one at 400 ms is after the end)');
  assert.is(closed.latency.p99, 50_000);
  assert.ok(open.latency.p90 > 3 * closed.latency.p99, `open p90 ${open.latency.p90} vs closed p99 ${closed.latency.p99}`);
});

test('open loop: over max-in-flight is dropped (EHARNESS_OVERLOAD); what never answers is EHARNESS_UNFINISHED', async () => {
  // a real mux: Get Health Info never completes (the device still answers enumeration, so the policy knows its
  // commands). Nothing completes, so every count follows from the pace alone; the harness closes the mux it
  // made without waiting for the hung requests.
  const fleet = { devices: [{ kind: 'cxl-type3' as const, faults: { hang: [0x4200] } }] };
  const r = await runLoad({ durationMs: 300, warmupMs: 0, rate: 1000, maxInFlight: 10, timeoutMs: 0, drainMs: 100, mix: 'health', muxOptions: { workers: 1, fleet, noTimeoutTier: 'debug-read' } }).result;
  assert.is(r.sent, 300);
  assert.is(r.requests, 0);
  assert.is(r.peakInFlight, 10);
  assert.is(r.dropped, 290);
  assert.equal(r.errors, { EHARNESS_OVERLOAD: 290, EHARNESS_UNFINISHED: 10 });
  assert.is(r.byCommand.health!.errors, 300);
  assert.is(r.byCommand.health!.dropped, 290);
  assert.is(r.latency.count, 0);
  assert.ok(r.intervals.some((i) => i.errors > 0));
});

test('against a real mux: closed and open loop report consistent results (timing is the bench\'s business)', async () => {
  const mux = await createMux(T3);
  try {
    const closed = await runLoad({ mux, durationMs: 200, warmupMs: 50, concurrency: 4, mix: 'health=3,log=1' }).result;
    assert.equal(closed.errors, {});
    assert.ok(closed.requests > 0);
    assert.ok(closed.peakInFlight >= 1 && closed.peakInFlight <= 4);
    checkConsistent(closed);
    const phases: LoadPhase[] = [];
    const { events, result } = runLoad({ mux, durationMs: 300, warmupMs: 50, rate: 1000 });
    events.on('phase', (p: LoadPhase) => phases.push(p));
    const open = await result;
    assert.is(open.sent, 300, 'requests due in the measured 300 ms at 1000/s');
    assert.is(open.requests, 300, 'and every one was answered');
    assert.equal(open.errors, {});
    checkConsistent(open);
    assert.equal(phases, ['warmup', 'measure', 'drain', 'done']);
    // the mux's wake-ups in the measured phase, per 1,000 requests it settled
    for (const r of [closed, open]) {
      const w = r.wakeups!;
      assert.ok(w.mainWakeups >= 0 && w.workerWakeups >= 0 && w.quickHits <= w.quickPolls, JSON.stringify(w));
      assert.ok(Number.isFinite(w.per1k) && (w.per1k === 0) === (w.mainWakeups + w.workerWakeups === 0), JSON.stringify(w));
    }
    assert.match(formatLoadTable(open), /wake-ups {5}\d+\.\d\d per 1,000 requests/);
  } finally {
    await mux.close();
  }
});

test('every named command is read-only and allowed at debug-read on every kind', async () => {
  const r = await runLoad({
    durationMs: 300, warmupMs: 50, concurrency: 4, tier: 'debug-read', mix: 'health,log,fw,identify,ports,tunnel,timestamp',
    muxOptions: { workers: 2, fleet: { 'cxl-type3': 4, 'cxl-switch': 2, nvme: 2, 'mctp-pcc': 4 } },
  }).result;
  assert.equal(r.errors, {});
  assert.equal(r.deviceStatus, {}, 'every answer is Success');
  assert.equal(new Set(Object.keys(r.byKind)), new Set(['cxl-type3', 'cxl-switch', 'nvme', 'mctp-pcc']));
  for (const [name, g] of Object.entries(r.byCommand)) assert.ok(g.requests > 0, `${name} ran`);
  assert.is(r.tier, 'debug-read');
  assert.ok(r.fabricManager);
  checkConsistent(r);
});

test('read / write mixes: NVMe I/O on a queue pair the run creates and deletes; write needs debug-write-full', async () => {
  await using mux = await createMux({ workers: 1, fleet: { devices: [{ kind: 'nvme', count: 2 }, { kind: 'cxl-type3', count: 2 }] } });
  const r = await runLoad({ durationMs: 300, warmupMs: 50, concurrency: 8, tier: 'debug-write-full', mix: 'read=3,write=1,health=1', mux }).result;
  assert.equal(r.errors, {});
  assert.equal(r.deviceStatus, {}, 'every answer is Success');
  assert.ok(r.byCommand.read!.requests > 0 && r.byCommand.write!.requests > 0);
  assert.is(r.byCommand.read!.devices, 2);
  checkConsistent(r);
  const s = mux.openSession({ tier: 'debug-read' });
  const gone = await s.send({ device: 'nvme0', queue: 1, opcode: 0x02, nsid: 1 }).catch((e) => e);
  assert.is(gone.code, 'EMBX_BAD_REQUEST', 'the run deleted the queues it created');
  const data = await mux.openSession({ tier: 'debug-write' }).send({ device: 'nvme1', opcode: 0x05, cdw10: 1 | (7 << 16), cdw11: 1 });
  assert.is(data.rc, 0, 'queue id 1 is free again');
  // a debug-read session cannot create the queues: a usage error before any load
  try {
    await runLoad({ durationMs: 100, warmupMs: 0, tier: 'debug-read', mix: 'read', mux }).result;
    assert.unreachable('should reject');
  } catch (e) {
    assert.instance(e, BadRequestError);
    assert.match((e as Error).message, /creating it needs tier debug-write .*the session has debug-read/);
  }
  // an existing queue (CQ 1 made above, no SQ) is kept; what the run adds (SQ 1) goes again
  const again = await runLoad({ durationMs: 100, warmupMs: 0, concurrency: 2, tier: 'debug-write', mix: 'read', mux }).result;
  assert.equal(again.errors, {});
  const admin = mux.openSession({ tier: 'debug-write' });
  assert.is((await admin.send({ device: 'nvme1', opcode: 0x04, cdw10: 1 })).rc, 0, 'CQ 1 of nvme1 still there, with no SQ left on it');
  assert.is((await admin.send({ device: 'nvme1', opcode: 0x00, cdw10: 1 })).rc, 0x6101, 'SQ 1 was deleted by the run');
});

test('signal stops a run early; bad options and scopes are BadRequestErrors', async () => {
  const ac = new AbortController();
  const { clock, run } = virtual({ 'cxl-type3': 8 }, () => ({ serviceMs: 1 }));
  const { events, result } = run({ durationMs: 10_000, warmupMs: 0, rate: 1000, signal: ac.signal });
  events.on('phase', (p: LoadPhase) => p === 'measure' && clock.setTimer(() => ac.abort(), 300));
  const r = await result;
  assert.ok(r.aborted);
  assert.is(r.durationMs, 300);
  assert.is(r.sent, 300, 'one request per ms until the abort');
  assert.is(r.requests, 300, 'the last ones were answered in the drain');
  checkConsistent(r);
  const bad = async (o: Parameters<typeof runLoad>[0], re: RegExp): Promise<void> => {
    try {
      await runLoad(o).result;
      assert.unreachable('should reject');
    } catch (e) {
      assert.instance(e, BadRequestError);
      assert.match((e as Error).message, re);
    }
  };
  await bad({ durationMs: 100, rate: 10, concurrency: 2 }, /not both/);
  await bad({ durationMs: 100, maxInFlight: 2 }, /give rate too/);
  await bad({ durationMs: 0 }, /durationMs must be/);
  await bad({ durationMs: 100, rate: -5 }, /rate must be/);
  await bad({ durationMs: 100, thresholds: ['p99<<1ms'] }, /bad --threshold/);
  await bad({ durationMs: 100, muxOptions: T3, thresholds: ['nvme:p99<1ms'] }, /"nvme" is neither a command of the mix/);
  await bad({ durationMs: 100, muxOptions: T3, mix: 'ports' }, /supports "ports"/);
});

test.run();
