import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Histogram } from '../src/harness/histogram.js';
import { runLoad } from '../src/harness/load.js';
import type { LoadOptions, LoadResult, LoadSample } from '../src/harness/types.js';
import { mergeLoadResults } from '../src/harness/merge.js';
import { loadResultFromJSON, loadResultToJSON } from '../src/harness/report.js';
import { SimFleet, VirtualClock } from './load-sim.js';

/** Merging reports: exact bucket merges (never averaged percentiles), counts that add up, refusals of unrelated runs. */

async function virtualRun(o: Omit<LoadOptions, 'mux' | 'clock'>, serviceMs = (id: string): number => 1 + (Number(/\d+$/.exec(id)![0]) % 5) * 0.7): Promise<LoadResult> {
  const clock = new VirtualClock();
  const sim = new SimFleet(clock, { 'cxl-type3': 8, nvme: 2 }, (id) => ({ serviceMs: serviceMs(id) }));
  return clock.run(runLoad({ ...o, mux: sim, clock }).result);
}

const reason = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
};

test('histograms merge bucket by bucket: the merge of parts is the histogram of all their samples', () => {
  fc.assert(fc.property(fc.array(fc.array(fc.double({ min: 1, max: 5e10, noNaN: true }), { maxLength: 60 }), { minLength: 1, maxLength: 5 }), (groups) => {
    const parts = groups.map((vs) => {
      const h = new Histogram();
      for (const v of vs) h.record(v);
      return h;
    });
    const all = new Histogram();
    for (const vs of groups) for (const v of vs) all.record(v);
    const merged = new Histogram();
    for (const p of parts) merged.add(Histogram.fromJSON(JSON.parse(JSON.stringify(p.toJSON()))));
    assert.equal([...merged.counts], [...all.counts]);
    assert.is(merged.total, all.total);
    for (const q of [50, 90, 99, 99.9, 100]) assert.is(merged.percentile(q), all.percentile(q));
    assert.is(merged.max, all.max);
  }), { numRuns: 60 });
});

test('every measured latency reaches onSample once, as recorded: a histogram of the samples is the run\'s', async () => {
  const samples: LoadSample[] = [];
  const r = await virtualRun({ durationMs: 400, warmupMs: 100, rate: 3000, intervalMs: 100, mix: 'health=2,identify=1', onSample: (s) => samples.push(s) });
  assert.is(samples.length, r.requests);
  const h = new Histogram();
  for (const s of samples) h.record(s.latencyNs);
  assert.equal([...h.counts], [...r.histogram.counts]);
  assert.ok(samples.every((s) => s.atMs >= 0 && (s.kind === 'cxl-type3' || s.kind === 'nvme') && /^(mem|nvme)\d+$/.test(s.device)));
  assert.equal(Object.fromEntries(Object.entries(r.byCommand).map(([k, g]) => [k, g.requests])),
    samples.reduce<Record<string, number>>((m, s) => ((m[s.command] = (m[s.command] ?? 0) + 1), m), {}));
  // per-interval buckets hold the same samples as the run's histogram
  const fromIntervals = Histogram.fromBuckets(r.intervals.flatMap((i) => i.buckets), { min: 0, max: r.histogram.max, sum: 0 });
  assert.equal([...fromIntervals.counts], [...r.histogram.counts]);
});

test('independent runs (other servers, no segments) add up: rates, callers, devices; a merged report survives JSON and merges again', async () => {
  const all = new Histogram();
  const onSample = (x: LoadSample): void => all.record(x.latencyNs);
  const a = await virtualRun({ durationMs: 300, warmupMs: 50, rate: 1000, intervalMs: 100, mix: 'health=1', onSample });
  const b = await virtualRun({ durationMs: 300, warmupMs: 50, rate: 2000, intervalMs: 100, mix: 'health=1', onSample }, () => 3);
  const m = mergeLoadResults([a, b], { sources: ['a.json', 'b.json'], thresholds: ['rate>=2900', 'p99<1ms'] });
  assert.is(m.rate, 3000);
  assert.is(m.requests, a.requests + b.requests);
  assert.is(m.sent, 300 + 600);
  assert.is(m.byCommand.health!.devices, a.byCommand.health!.devices! * 2, 'devices of two fleets');
  assert.equal(m.merged, { reports: 2, sources: ['a.json', 'b.json'], startSpreadMs: Date.parse(b.startedAt) - Date.parse(a.startedAt) });
  assert.is(m.latency.max, all.max / 1000);
  assert.is(m.latency.max, Math.max(a.latency.max, b.latency.max));
  for (const q of [50, 90, 99, 99.9]) assert.is(m.histogram.percentile(q), all.percentile(q), `p${q} of every sample of both runs`);
  assert.equal(m.thresholds!.map((t) => [t.expr, t.pass]), [['rate>=2900', true], ['p99<1ms', false]]);
  assert.equal(m.intervals.map((i) => i.requests), a.intervals.map((i, k) => i.requests + b.intervals[k]!.requests));
  const back = loadResultFromJSON(loadResultToJSON(m));
  assert.equal([...back.histogram.counts], [...m.histogram.counts]);
  const again = mergeLoadResults([back]);
  assert.equal(again.latency, m.latency);
  assert.equal(again.intervals.map((i) => [i.requests, i.p50, i.p99, i.max]), m.intervals.map((i) => [i.requests, i.p50, i.p99, i.max]));
});

test('runs that are not parts of one test are refused with the reason', async () => {
  const base = { durationMs: 200, warmupMs: 20, concurrency: 4, intervalMs: 50 };
  const s0 = await virtualRun({ ...base, segment: { index: 0, count: 2 } });
  const s1 = await virtualRun({ ...base, segment: { index: 1, count: 2 } });
  const plain = await virtualRun(base);
  const otherMix = await virtualRun({ ...base, mix: 'log=1', segment: { index: 1, count: 2 } });
  const otherSplit = await virtualRun({ ...base, segment: { index: 1, count: 3 } });
  const otherWhole = await virtualRun({ ...base, concurrency: 6, segment: { index: 1, count: 2 } });
  const names = { sources: ['s0.json', 'x.json'] };
  assert.match(reason(() => mergeLoadResults([s0, s0], names)), /^EMBX_BAD_REQUEST: s0\.json and x\.json are both segment 0\/2/);
  assert.match(reason(() => mergeLoadResults([s0, plain], names)), /some reports are segments/);
  assert.match(reason(() => mergeLoadResults([s0, otherMix], names)), /x\.json ran with mix "log=1", s0\.json with "health=80,log=15,identify=5"/);
  assert.match(reason(() => mergeLoadResults([s0, otherSplit], names)), /x\.json is segment 1\/3, s0\.json is 0\/2/);
  assert.match(reason(() => mergeLoadResults([s0, otherWhole], names)), /segment of \{"concurrency":6\}/);
  assert.match(reason(() => mergeLoadResults([])), /nothing to merge/);
  const old = JSON.parse(loadResultToJSON(s1)) as { intervals: { buckets?: unknown }[] };
  for (const i of old.intervals) delete i.buckets;
  assert.match(reason(() => mergeLoadResults([s0, loadResultFromJSON(JSON.stringify(old))], names)), /x\.json has no per-interval histograms/);
  // the two halves of one test merge; one half alone is reported as such
  const both = mergeLoadResults([s1, s0]);
  assert.equal(both.merged.segments, { count: 2, present: [0, 1] });
  assert.is(both.concurrency, 4);
  const half = mergeLoadResults([s1]);
  assert.equal(half.merged.segments, { count: 2, present: [1] });
  assert.is(half.concurrency, 2, 'a partial test reports what ran');
});

test.run();
