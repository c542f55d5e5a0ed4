import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Histogram } from '../src/harness/histogram.js';

test('exact below 2048 ns, within 0.1% above', () => {
  const h = new Histogram();
  for (let v = 1; v <= 1000; v++) h.record(v);
  assert.is(h.percentile(50), 500);
  assert.is(h.percentile(100), 1000);
  assert.is(h.total, 1000);
  assert.is(h.min, 1);
  assert.is(h.mean, 500.5);
});

test('percentiles match a sorted array within the histogram precision (property)', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 2 ** 40 }), { minLength: 1, maxLength: 400 }), fc.constantFrom(50, 90, 99, 99.9, 100), (vals, p) => {
    const h = new Histogram();
    for (const v of vals) h.record(v);
    const sorted = [...vals].sort((a, b) => a - b);
    const exact = sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
    const got = h.percentile(p);
    assert.ok(got >= exact && got <= exact * 1.001 + 1, `p${p}: ${got} vs ${exact}`);
  }), { numRuns: 300 });
});

test('merging adds counts; reset empties', () => {
  const a = new Histogram();
  const b = new Histogram();
  for (let i = 0; i < 100; i++) a.record(1000);
  for (let i = 0; i < 100; i++) b.record(1_000_000);
  a.add(b);
  assert.is(a.total, 200);
  assert.is(a.percentile(50), 1000);
  assert.ok(Math.abs(a.percentile(99) - 1_000_000) / 1_000_000 < 0.001);
  assert.is(a.curve().length, 12);
  a.reset();
  assert.is(a.total, 0);
  assert.is(a.percentile(99), 0);
});

test('out-of-range values are clamped, not lost', () => {
  const h = new Histogram();
  h.record(0);
  h.record(2 ** 50);
  assert.is(h.total, 2);
  assert.is(h.min, 1);
});

test.run();
