import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runLoad } from '../src/harness/load.js';
import type { LoadPhase } from '../src/harness/types.js';
import { bucketTop, checkConsistent, virtual } from './load-sim.js';

/**
 * The open loop (open-loop.ts) in virtual time (load-sim.ts), so the pace, the coordinated-omission correction,
 * the drops over max-in-flight and the drain are checked exactly; one run against a real mux whose device never
 * answers checks EHARNESS_UNFINISHED.
 */

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

test('signal stops a run early: the result covers what ran, the last answers come in the drain', async () => {
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
});

test.run();
