import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Pace } from '../src/harness/pace.js';

/** When the open loop's requests are due (pace.ts), with and without the warm-up ramp. */

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

test.run();
