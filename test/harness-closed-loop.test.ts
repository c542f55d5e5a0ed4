import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildFleet } from '../src/fleet/expand.js';
import { buildSchedule, mixDevices, parseMix } from '../src/harness/mix.js';
import type { LoadPhase, LoadProgress } from '../src/harness/types.js';
import { checkConsistent, virtual } from './load-sim.js';

/**
 * The closed loop (closed-loop.ts) in virtual time (load-sim.ts: a clock the test drives and simulated devices
 * with fixed service times), so counts, latencies, intervals and phases are checked exactly.
 */

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

test.run();
