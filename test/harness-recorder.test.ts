import { EventEmitter } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Histogram } from '../src/harness/histogram.js';
import type { Schedule, ScheduleItem } from '../src/harness/mix.js';
import { OVERLOAD, Recorder, startProgress, summarize } from '../src/harness/recorder.js';
import type { IntervalStats, LoadProgress, LoadSample } from '../src/harness/types.js';
import { VirtualClock } from './load-sim.js';

/** The recorder (recorder.ts): what one run measured, by command, by kind, by interval and by progress window. */

const HEALTH: ScheduleItem = { req: { device: 'mem0', opcode: 0x4200 }, name: 'health', kind: 'cxl-type3', cmd: 0, kindIndex: 0 };
const LOG: ScheduleItem = { req: { device: 'nvme0', opcode: 0x02 }, name: 'log', kind: 'nvme', cmd: 1, kindIndex: 1 };
const SCHEDULE: Schedule = {
  items: [HEALTH, LOG], names: ['health', 'log'], kinds: ['cxl-type3', 'nvme'], devices: { health: 1, log: 1 }, kindDevices: { 'cxl-type3': 1, nvme: 1 }, ioQueueDevices: [], ioQueue: 1,
};

test('summarize: percentiles, mean, min and max in µs; an empty histogram reads 0', () => {
  const h = new Histogram();
  assert.equal(summarize(h), { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0, min: 0, count: 0 });
  for (const us of [10, 20, 30, 40]) h.record(us * 1000);
  const s = summarize(h);
  assert.equal([s.min, s.max, s.mean, s.count], [10, 40, 25, 4]);
  assert.ok(s.p50 >= 20 && s.p50 < 20.1 && s.p99 >= 40 && s.p99 < 40.1, JSON.stringify(s));
});

test('ok / fail: totals, per command and per kind, device statuses, drops (EHARNESS_OVERLOAD) and samples', () => {
  const samples: LoadSample[] = [];
  const rec = new Recorder(SCHEDULE, 1000, 100, true, new EventEmitter(), (s) => samples.push(s));
  rec.ok(HEALTH, 5e6, 2e6, 0, 1005);
  rec.ok(LOG, 7e6, 3e6, 0x4002, 1030);
  rec.fail(HEALTH, OVERLOAD, 1040);
  rec.fail(LOG, 'EMBX_TIMEOUT', 1050, 3);
  assert.equal([rec.requests, rec.failed, rec.dropped], [2, 4, 1]);
  assert.equal(rec.errors, { EHARNESS_OVERLOAD: 1, EMBX_TIMEOUT: 3 });
  assert.equal(rec.status, { [0x4002]: 1 });
  assert.equal(rec.statusByKind, { nvme: { [0x4002]: 1 } });
  assert.equal([rec.hist.total, rec.service!.total, rec.service!.max], [2, 2, 3e6]);
  const [health, log] = rec.cmds;
  assert.equal([health!.requests, health!.errors, health!.dropped, log!.requests, log!.errors, log!.dropped], [1, 1, 1, 1, 3, 0]);
  assert.equal([rec.kinds[1]!.errors, rec.kinds[1]!.status], [3, { [0x4002]: 1 }]);
  assert.equal(samples, [
    { atMs: 5, latencyNs: 5e6, command: 'health', kind: 'cxl-type3', device: 'mem0' },
    { atMs: 30, latencyNs: 7e6, command: 'log', kind: 'nvme', device: 'nvme0' },
  ]);
  const g = rec.group(log!, 500, 1);
  assert.equal([g.requests, g.errors, g.dropped, g.throughput, g.devices, g.deviceStatus, g.latency.max], [1, 3, 0, 2, 1, { [0x4002]: 1 }, 7000]);
  assert.is(new Recorder(SCHEDULE, 0, 100, false, new EventEmitter()).service, null, 'the closed loop has no service histogram');
});

test('intervals: closed by completion time, an empty one still listed (a stall), the last partial one only if used', () => {
  const events = new EventEmitter();
  const emitted: IntervalStats[] = [];
  events.on('interval', (s: IntervalStats) => emitted.push(s));
  const rec = new Recorder(SCHEDULE, 1000, 100, false, events);
  rec.ok(HEALTH, 1e6, 0, 0, 1010);
  rec.ok(HEALTH, 3e6, 0, 0, 1090);
  rec.fail(LOG, 'EMBX_TIMEOUT', 1150);
  rec.ok(LOG, 2e6, 0, 0, 1310); // nothing in 1200..1300
  rec.flush(1350);
  assert.equal(rec.intervals.map((i) => [i.startMs, i.durationMs, i.requests, i.errors, i.rate, i.max]), [
    [0, 100, 2, 0, 20, 3000], [100, 100, 0, 1, 0, 0], [200, 100, 0, 0, 0, 0], [300, 50, 1, 0, 20, 2000],
  ]);
  assert.equal(emitted, rec.intervals);
  assert.equal(rec.intervals[3]!.buckets.length, 1, 'each interval keeps its own histogram buckets');
  const quiet = new Recorder(SCHEDULE, 0, 100, false, new EventEmitter());
  quiet.ok(HEALTH, 1e6, 0, 0, 50);
  quiet.flush(250);
  assert.equal(quiet.intervals.map((i) => [i.startMs, i.requests]), [[0, 1], [100, 0]], 'an empty partial interval at the end is left out');
});

test('startProgress: one event per period on a fixed schedule, over the window since the previous one', async () => {
  const clock = new VirtualClock();
  const events = new EventEmitter();
  const progress: LoadProgress[] = [];
  events.on('progress', (p: LoadProgress) => progress.push(p));
  const rec = new Recorder(SCHEDULE, 0, 1000, false, events);
  let inFlight = 3;
  const stop = startProgress(clock, () => rec, events, 100, () => 0, () => inFlight);
  for (let t = 5; t < 300; t += 10) clock.setTimer(() => rec.ok(HEALTH, (t < 100 ? 1 : 5) * 1e6, 0, 0, clock.now()), t);
  clock.setTimer(() => (inFlight = 1), 150);
  clock.setTimer(() => rec.fail(LOG, OVERLOAD, clock.now()), 250);
  // the process stalls for 30 ms just before the second event: it comes late, the third one does not
  clock.setTimer(() => clock.stall(30), 195);
  await clock.run(new Promise<void>((resolve) => clock.setTimer(resolve, 320)));
  stop();
  assert.equal(progress.map((p) => [p.elapsedMs, p.requests, +p.rate.toFixed(2), p.errors, p.dropped, p.inFlight]), [
    [100, 10, 100, 0, 0, 3], [225, 20, 80, 0, 0, 1], [300, 30, 133.33, 1, 1, 1],
  ]);
  assert.is(progress[0]!.p99us, 1000);
  assert.is(progress[1]!.p50us, 5000, 'the window restarts at each event');
});

test.run();
