import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BadRequestError } from '../src/errors.js';
import { Pace, runLoad, type LoadPhase, type LoadProgress, type LoadResult } from '../src/harness/load.js';
import { createMux } from '../src/mux/mux.js';

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

test('closed loop: counts, breakdowns, intervals, progress and phase events', async () => {
  const { events, result } = runLoad({ durationMs: 400, warmupMs: 100, concurrency: 4, progressMs: 100, intervalMs: 100, mix: 'health=3,log=1', muxOptions: T3 });
  const progress: LoadProgress[] = [];
  const phases: LoadPhase[] = [];
  events.on('progress', (p: LoadProgress) => progress.push(p));
  events.on('phase', (p: LoadPhase) => phases.push(p));
  const r = await result;
  assert.is(r.mode, 'closed');
  assert.is(r.concurrency, 4);
  assert.is(r.rate, undefined);
  assert.ok(r.requests > 50, `${r.requests} requests`);
  assert.equal(r.errors, {});
  assert.is(r.dropped, 0);
  assert.is(r.sent, r.requests);
  assert.ok(r.peakInFlight <= 4 && r.peakInFlight >= 1);
  assert.ok(Math.abs(r.durationMs - 400) < 100, `${r.durationMs} ms`);
  assert.equal(Object.keys(r.byCommand), ['health', 'log']);
  const share = r.byCommand.health!.requests / r.requests;
  assert.ok(share > 0.6 && share < 0.9, `health share ${share}`);
  assert.equal(Object.keys(r.byKind), ['cxl-type3']);
  assert.is(r.byCommand.health!.devices, 8);
  assert.is(r.intervalMs, 100);
  assert.ok(r.intervals.length >= 4 && r.intervals.length <= 5, `${r.intervals.length} intervals`);
  assert.equal(r.intervals.slice(0, 4).map((i) => i.startMs), [0, 100, 200, 300]);
  checkConsistent(r);
  assert.ok(progress.length >= 2, `${progress.length} progress events`);
  assert.ok(progress.every((p) => p.elapsedMs > 0 && p.requests <= r.requests));
  assert.equal(phases, ['warmup', 'measure', 'drain', 'done']);
  assert.is(r.serviceLatency, undefined);
});

test('open loop: R requests/s for 1 s is R requests, paced over the second', async () => {
  const phaseAt: Partial<Record<LoadPhase, number>> = {};
  const { events, result } = runLoad({
    durationMs: 1000, warmupMs: 200, rate: 2000, intervalMs: 250, muxOptions: T3,
    thresholds: ['errors<1%', 'p99<1ns', 'rate>=1800', 'health:requests>0', 'cxl-type3:errors==0'],
  });
  events.on('phase', (p: LoadPhase) => (phaseAt[p] = performance.now()));
  const r = await result;
  assert.is(r.mode, 'open');
  assert.is(r.rate, 2000);
  assert.is(r.maxInFlight, 65536);
  assert.is(r.sent, 2000, 'exactly rate x duration requests were due in the measured second');
  assert.ok(Math.abs(r.requests - 2000) <= 200, `${r.requests} completed`);
  assert.is(r.dropped, 0);
  assert.ok(Math.abs(r.throughput - 2000) <= 200, `${r.throughput}/s`);
  const measured = phaseAt.drain! - phaseAt.measure!;
  assert.ok(measured > 900 && measured < 1500, `measured phase took ${measured} ms`);
  // paced over the second, not sent in a burst: every quarter completed requests (loose bounds: CI machines are busy)
  const quarters = r.intervals.filter((i) => i.startMs < 1000).map((i) => i.requests);
  assert.is(quarters.length, 4);
  assert.ok(quarters.every((n) => n > 100 && n < 900), `per 250 ms: ${quarters.join(', ')}`);
  checkConsistent(r);
  assert.ok(r.serviceLatency !== undefined && r.serviceHistogram!.total === r.requests);
  assert.ok(r.latency.p50 >= r.serviceLatency.p50 * 0.999, 'measured from the intended time: never less than from send()');
  assert.equal(r.thresholds!.map((t) => [t.expr, t.pass]), [
    ['errors<1%', true], ['p99<1ns', false], ['rate>=1800', true], ['health:requests>0', true], ['cxl-type3:errors==0', true],
  ]);
});

test('open loop: a client stall is charged to every request it delayed (coordinated omission corrected)', async () => {
  const rate = 2000;
  const { events, result } = runLoad({ durationMs: 1000, warmupMs: 200, rate, muxOptions: T3 });
  events.on('phase', (p: LoadPhase) => {
    if (p !== 'measure') return;
    setTimeout(() => {
      // the process stalls for 200 ms (a GC pause, a blocked event loop): nothing is sent or received
      const end = performance.now() + 200;
      while (performance.now() < end);
    }, 400);
  });
  const r = await result;
  assert.is(r.sent, rate);
  const corrected = r.histogram.countAtOrAbove(50e6);
  const naive = r.serviceHistogram!.countAtOrAbove(50e6);
  // requests due in the first 150 ms of the stall waited >= 50 ms past their intended send time: ~300 of them
  assert.ok(corrected >= 0.1 * rate, `corrected: ${corrected} requests >= 50 ms`);
  assert.ok(r.latency.max >= 150_000, `max ${r.latency.max} µs`);
  // measured from the moment send() ran, the same requests look fast: the stall all but disappears
  assert.ok(naive * 2 < corrected, `from send(): ${naive} requests >= 50 ms vs ${corrected} corrected`);
  // the latency-over-time plot shows it: an interval with p99 >= 100 ms
  assert.ok(r.intervals.some((i) => i.p99 >= 100_000), 'a slow interval');
  checkConsistent(r);
});

test('open loop vs closed loop on a slow device: the closed loop hides the queueing', async () => {
  // one device that takes 50 ms per command: it serves 20 requests/s
  const mux = await createMux({ workers: 1, fleet: { devices: [{ kind: 'cxl-type3', faults: { slowMs: 50 } }] } });
  try {
    // 50 requests/s offered: request k is due at 20k ms and done at ~50(k+1) ms, so its latency grows ~30 ms per request
    const open = await runLoad({ mux, durationMs: 400, warmupMs: 0, rate: 50, mix: 'health' }).result;
    assert.is(open.sent, 20);
    assert.is(open.requests, 20);
    assert.ok(open.latency.min >= 45_000, `min ${open.latency.min} µs`);
    assert.ok(open.histogram.countAtOrAbove(100e6) >= 15, `${open.histogram.countAtOrAbove(100e6)} of 20 requests >= 100 ms`);
    assert.ok(open.latency.p50 >= 250_000, `open p50 ${open.latency.p50} µs`);
    // one caller that waits for each answer sees every request take ~50 ms: p99 ~50 ms, nothing queues
    const closed = await runLoad({ mux, durationMs: 400, warmupMs: 0, concurrency: 1, mix: 'health' }).result;
    assert.ok(closed.requests >= 4 && closed.requests <= 9, `${closed.requests} requests`);
    assert.ok(closed.latency.p99 >= 45_000 && closed.latency.p99 < 150_000, `closed p99 ${closed.latency.p99} µs`);
    assert.ok(open.latency.p90 > 3 * closed.latency.p99, `open p90 ${open.latency.p90} vs closed p99 ${closed.latency.p99}`);
  } finally {
    await mux.close();
  }
});

test('open loop: over max-in-flight is dropped (EHARNESS_OVERLOAD); what never answers is EHARNESS_UNFINISHED', async () => {
  // Get Health Info never completes (the device still answers enumeration, so the policy knows its commands)
  const fleet = { devices: [{ kind: 'cxl-type3' as const, faults: { hang: [0x4200] } }] };
  const t0 = performance.now();
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
  assert.ok(performance.now() - t0 < 4000, 'the mux closed without waiting for the hung requests');
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

test('signal stops a run early; bad options and scopes are BadRequestErrors', async () => {
  const ac = new AbortController();
  const { events, result } = runLoad({ durationMs: 10_000, warmupMs: 0, rate: 1000, muxOptions: T3, signal: ac.signal });
  events.on('phase', (p: LoadPhase) => p === 'measure' && setTimeout(() => ac.abort(), 300));
  const t0 = performance.now();
  const r = await result;
  assert.ok(performance.now() - t0 < 3000);
  assert.ok(r.aborted);
  assert.ok(r.durationMs >= 250 && r.durationMs < 1000, `${r.durationMs} ms`);
  assert.ok(Math.abs(r.sent - r.durationMs) <= 60, `${r.sent} sent in ${r.durationMs} ms at 1000/s`);
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
