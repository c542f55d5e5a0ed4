import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BadRequestError } from '../src/errors.js';
import { buildFleet } from '../src/fleet/expand.js';
import { realClock } from '../src/harness/clock.js';
import { buildSchedule, DEFAULT_MIX, mixDevices, parseMix } from '../src/harness/mix.js';
import { defaultIntervalMs, plan, planSchedule } from '../src/harness/plan.js';
import type { LoadOptions } from '../src/harness/types.js';

/** Option planning (plan.ts): runLoad's options checked and resolved before anything runs, and the schedule. */

const TYPE3 = buildFleet({ 'cxl-type3': 8 }, 1).devices;

function refused(o: LoadOptions, re: RegExp): void {
  try {
    plan(o);
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, BadRequestError);
    assert.match((e as Error).message, re);
  }
}

test('plan: the defaults of the closed and of the open loop', () => {
  const c = plan({ durationMs: 1000 });
  assert.equal(
    [c.open, c.concurrency, c.warmupMs, c.maxInFlight, c.intervalMs, c.progressMs, c.drainMs, c.rampUp, c.tier, c.host, c.fabricManager, c.mix, c.segment],
    [false, 64, 500, 65536, 100, 1000, 6000, true, 'debug-read', 0, true, DEFAULT_MIX, undefined],
  );
  assert.is(c.clock, realClock);
  assert.equal(c.thresholds, []);
  // a host session unless fabricManager is asked for; the drain waits one timeout and a second
  const o = plan({ durationMs: 60_000, rate: 5000, timeoutMs: 200, host: 2, thresholds: ['p99<1ms'] });
  assert.equal([o.open, o.rate, o.warmupMs, o.intervalMs, o.drainMs, o.fabricManager, o.host], [true, 5000, 2000, 1000, 1200, false, 2]);
  assert.equal(o.thresholds.map((t) => [t.metric, t.percentile, t.limit]), [['latency', 99, 1000]]);
  assert.is(plan({ durationMs: 100, host: 1, fabricManager: true }).fabricManager, true);
});

test('plan: a segment runs its share of the callers or of the in-flight limit, and knows the whole test', () => {
  const shares = [0, 1, 2].map((index) => plan({ durationMs: 100, concurrency: 64, segment: { index, count: 3 } }));
  assert.equal(shares.map((s) => s.concurrency), [22, 21, 21]);
  assert.equal(shares.map((s) => s.whole.concurrency), [64, 64, 64]);
  const open = plan({ durationMs: 100, rate: 900, maxInFlight: 10, segment: { index: 1, count: 3 } });
  assert.equal([open.maxInFlight, open.whole.maxInFlight, open.rate], [3, 10, 900], 'the rate stays the whole test\'s: the pace takes every 3rd request');
  refused({ durationMs: 100, concurrency: 2, segment: { index: 0, count: 3 } }, /concurrency 2 cannot be split into 3 segments/);
  refused({ durationMs: 100, segment: { index: 3, count: 3 } }, /segment 3 of 3 does not exist/);
});

test('defaultIntervalMs: 100 ms up to 10 s runs, else whole seconds, at most ~300 intervals', () => {
  assert.is(defaultIntervalMs(1), 100);
  assert.is(defaultIntervalMs(10_000), 100);
  assert.is(defaultIntervalMs(10_001), 1000);
  assert.is(defaultIntervalMs(300_000), 1000);
  assert.is(defaultIntervalMs(600_000), 2000);
  assert.is(defaultIntervalMs(3_600_000), 12_000);
});

test('plan: bad options are BadRequestErrors that say what to give', () => {
  refused(null as unknown as LoadOptions, /takes an options object/);
  refused({ durationMs: 100, rate: 10, concurrency: 2 }, /not both/);
  refused({ durationMs: 100, maxInFlight: 2 }, /give rate too/);
  refused({ durationMs: 0 }, /durationMs must be/);
  refused({ durationMs: 100, rate: -5 }, /rate must be/);
  refused({ durationMs: 100, concurrency: 1.5 }, /concurrency must be/);
  refused({ durationMs: 100, thresholds: ['p99<<1ms'] }, /bad --threshold/);
  refused({ durationMs: 100, tier: 'root' as never }, /tier/);
});

test('planSchedule: scoped thresholds must name a command of the mix or a kind in it; a segment gets its slots', () => {
  const scoped = (t: string): void => void planSchedule(plan({ durationMs: 100, thresholds: [t] }), TYPE3);
  scoped('health:p99<1ms');
  scoped('mem:errors<1%');
  scoped('cxl-type3:rate>=1');
  assert.throws(() => scoped('nvme:p99<1ms'), /"nvme" is neither a command of the mix \(health, log, identify\) nor a device kind in it \(cxl-type3\)/);
  assert.throws(() => planSchedule(plan({ durationMs: 100, mix: 'ports' }), TYPE3), /supports "ports"/);
  // segment 1 of 2: slot j is the whole schedule's slot 2j + 1
  const whole = buildSchedule(parseMix(DEFAULT_MIX), mixDevices(TYPE3), { session: { host: 0, fabricManager: true }, seed: 7 });
  const seg = planSchedule(plan({ durationMs: 100, seed: 7, segment: { index: 1, count: 2 } }), TYPE3);
  assert.is(seg.items.length, whole.items.length / 2);
  for (let j = 0; j < seg.items.length; j += 97) assert.equal(seg.items[j], whole.items[2 * j + 1], `slot ${j}`);
  assert.not.equal(seg.items.slice(0, 8), whole.items.slice(0, 8), 'not the whole schedule\'s own first slots');
  assert.equal(seg.names, whole.names);
});

test('planSchedule: read / write of segment k run on I/O queue 1 + k; more segments than I/O queues is refused', () => {
  const nvme = buildFleet({ nvme: 2 }, 1).devices;
  const at = (index: number, count: number) => planSchedule(plan({ durationMs: 100, mix: 'read,health', segment: { index, count }, concurrency: count }), nvme);
  const s = at(2, 4);
  assert.is(s.ioQueue, 3);
  assert.equal(new Set(s.items.map((i) => `${i.name}:${i.req.queue}`)), new Set(['read:3', 'health:undefined']));
  assert.is(planSchedule(plan({ durationMs: 100, mix: 'read' }), nvme).ioQueue, 1);
  assert.throws(() => at(0, 65), /at most 64 segments \(got 65\)/);
  assert.is(planSchedule(plan({ durationMs: 100, mix: 'health', segment: { index: 0, count: 65 }, concurrency: 65 }), nvme).ioQueue, 1, 'no I/O queue, no limit');
});

test.run();
