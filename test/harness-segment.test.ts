import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FleetInput } from '../src/fleet/types.js';
import { runLoad } from '../src/harness/load.js';
import { Pace } from '../src/harness/pace.js';
import type { LoadOptions, LoadResult, LoadSession, LoadTarget } from '../src/harness/types.js';
import { mergeLoadResults } from '../src/harness/merge.js';
import { buildSchedule, mixDevices, parseMix } from '../src/harness/mix.js';
import { parseSegment, SegmentPace, segmentSchedule, segmentShare, stripeCount } from '../src/harness/segment.js';
import { buildFleet } from '../src/fleet/expand.js';
import { SimFleet, VirtualClock } from './load-sim.js';
import { thrownCode } from './error-code.js';

/**
 * Execution segments: N generators with segments 0..N-1 run exactly the test one generator runs. Checked in
 * virtual time (load-sim.ts), where the whole test and its segments can be compared send by send.
 */

const code = thrownCode;

test('stripes and shares add up to the whole for any total and any number of segments', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 1, max: 64 }), (total, n) => {
    let stripes = 0;
    let shares = 0;
    for (let k = 0; k < n; k++) {
      const s = { index: k, count: n };
      const c = stripeCount(total, s);
      // exactly the g < total with g mod n = k
      assert.is(c, total > k ? Math.floor((total - 1 - k) / n) + 1 : 0);
      stripes += c;
      if (total >= n) shares += segmentShare(total, s, 'concurrency');
    }
    assert.is(stripes, total);
    if (total >= n) assert.is(shares, total);
  }));
  assert.equal([0, 1, 2].map((k) => segmentShare(64, { index: k, count: 3 }, 'concurrency')), [22, 21, 21]);
  for (const k of [0, 1, 2]) assert.is(code(() => segmentShare(2, { index: k, count: 3 }, 'concurrency')), 'EMBX_BAD_REQUEST', `segment ${k}`);
  assert.equal(parseSegment('1/2'), { index: 1, count: 2 });
  for (const t of ['2/2', '1', 'a/2', '0/0', '-1/3']) assert.is(code(() => parseSegment(t)), 'EMBX_BAD_REQUEST', t);
});

test("a segment's pace is every N-th intended send time of the whole test, ramp included", () => {
  for (const whole of [new Pace(3000, 200, true), new Pace(1234.5, 0, false), new Pace(77, 500, true)]) {
    for (const n of [1, 2, 3, 7]) {
      const until = 1700;
      const all: number[] = [];
      for (let k = 0; k < n; k++) {
        const seg = new SegmentPace(whole, { index: k, count: n });
        const count = seg.countBefore(until);
        for (let j = 0; j < count; j++) {
          const t = seg.at(j);
          assert.is(t, whole.at(j * n + k));
          assert.is(seg.countBefore(t, true), j + 1, 'countBefore agrees with at');
          all.push(t);
        }
      }
      all.sort((a, b) => a - b);
      const expect = Array.from({ length: whole.countBefore(until) }, (_, g) => whole.at(g));
      assert.equal(all, expect, `${n} segments of ${whole.rate}/s`);
    }
  }
});

test("a segment's schedule walks the whole schedule's slots j*N + k", () => {
  const schedule = buildSchedule(parseMix('health=3,log=1'), mixDevices(buildFleet({ 'cxl-type3': 7, nvme: 2 }, 1).devices), { size: 4100 });
  const L = schedule.items.length;
  for (const n of [2, 3, 5]) {
    for (let k = 0; k < n; k++) {
      const seg = segmentSchedule(schedule, { index: k, count: n });
      assert.is(seg.names, schedule.names);
      assert.equal(seg.devices, schedule.devices);
      for (let j = 0; j < 3 * L; j += 13) assert.is(seg.items[j % seg.items.length], schedule.items[(j * n + k) % L], `slot ${j} of ${k}/${n}`);
    }
  }
  assert.is(segmentSchedule(schedule, { index: 0, count: 1 }), schedule);
});

/** Records every send as [virtual time, device]. */
class Logged implements LoadTarget {
  readonly log: [number, string][] = [];
  constructor(private readonly clock: VirtualClock, private readonly inner: SimFleet) {}
  get fleet(): LoadTarget['fleet'] {
    return this.inner.fleet;
  }
  openSession(o: Parameters<LoadTarget['openSession']>[0]): LoadSession {
    void o;
    const s = this.inner.openSession();
    return { send: (req) => (this.log.push([this.clock.now(), req.device]), s.send(req)), close: () => s.close() };
  }
}

async function virtualRun(fleet: FleetInput, o: Omit<LoadOptions, 'mux' | 'clock'>): Promise<{ r: LoadResult; log: [number, string][] }> {
  const clock = new VirtualClock();
  const target = new Logged(clock, new SimFleet(clock, fleet, () => ({ serviceMs: 1.5 })));
  const r = await clock.run(runLoad({ ...o, mux: target, clock }).result);
  return { r, log: target.log };
}

const sortLog = (l: [number, string][]): [number, string][] => [...l].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));

test('open loop: three segments send exactly the whole test\'s requests at its times, and merge into its report', async () => {
  const fleet = { 'cxl-type3': 10, nvme: 3 };
  const opts = { durationMs: 900, warmupMs: 300, rate: 2500, intervalMs: 100, mix: 'health=3,log=1' };
  const whole = await virtualRun(fleet, opts);
  const parts = await Promise.all([0, 1, 2].map((k) => virtualRun(fleet, { ...opts, segment: { index: k, count: 3 } })));
  assert.equal(sortLog(parts.flatMap((p) => p.log)), sortLog(whole.log), 'the same (time, device) sends');
  for (const [k, p] of parts.entries()) {
    assert.equal(p.r.segment, { index: k, count: 3, whole: { concurrency: 65536, rate: 2500, maxInFlight: 65536 } });
    assert.is(p.r.rate, 2500 / 3);
    assert.is(p.r.maxInFlight, [21846, 21845, 21845][k]);
  }
  const sent = parts.map((p) => p.r.sent);
  assert.is(sent.reduce((a, b) => a + b), whole.r.sent, `${sent} add up to ${whole.r.sent}`);
  assert.is(whole.r.sent, 2250, '2500/s for 0.9 s');
  const m = mergeLoadResults(parts.map((p) => p.r));
  assert.is(m.requests, whole.r.requests);
  assert.is(m.rate, 2500, 'the whole test\'s rate, not a sum of rounded shares');
  assert.is(m.maxInFlight, 65536);
  assert.equal(m.merged.segments, { count: 3, present: [0, 1, 2] });
  assert.equal([...m.histogram.counts], [...whole.r.histogram.counts], 'the merged histogram is the whole run\'s');
  assert.equal(m.latency, whole.r.latency);
  assert.equal(m.intervals.map((i) => [i.startMs, i.requests, i.p99]), whole.r.intervals.map((i) => [i.startMs, i.requests, i.p99]));
  assert.ok(Math.abs(m.throughput - whole.r.throughput) < 1e-6);
  for (const [name, g] of Object.entries(whole.r.byCommand)) {
    assert.is(m.byCommand[name]!.requests, g.requests, name);
    assert.is(m.byCommand[name]!.devices, g.devices, `${name}: devices of the whole schedule`);
  }
});

test('closed loop: the callers are split 4/3/3 and the segments walk disjoint stripes of the schedule', async () => {
  const fleet = { 'cxl-type3': 6 };
  const opts = { durationMs: 200, warmupMs: 20, concurrency: 10, intervalMs: 50, mix: 'health=1,identify=1' };
  const parts = await Promise.all([0, 1, 2].map((k) => virtualRun(fleet, { ...opts, segment: { index: k, count: 3 } })));
  assert.equal(parts.map((p) => p.r.concurrency), [4, 3, 3]);
  assert.equal(parts.map((p) => p.r.peakInFlight), [4, 3, 3]);
  const m = mergeLoadResults(parts.map((p) => p.r));
  assert.is(m.concurrency, 10);
  assert.is(m.peakInFlight, 10);
  // each caller completes a request every 1.5 ms: 133 of them in the measured 200 ms (at 21 .. 219 ms)
  assert.is(m.requests, 1330);
  assert.is(m.throughput, parts.reduce((n, p) => n + p.r.throughput, 0));
  const tooFew = runLoad({ ...opts, concurrency: 2, segment: { index: 0, count: 3 }, mux: new SimFleet(new VirtualClock(), fleet, () => ({ serviceMs: 1 })) });
  assert.is(await tooFew.result.then(() => 'ok', (e: { code: string }) => e.code), 'EMBX_BAD_REQUEST');
});

test.run();
