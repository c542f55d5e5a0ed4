import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BadRequestError } from '../src/errors.js';
import { formatLoadTable } from '../src/harness/report.js';
import { runLoad } from '../src/harness/load.js';
import type { LoadPhase } from '../src/harness/types.js';
import { createMux } from '../src/mux/mux.js';
import { checkConsistent } from './load-sim.js';

/**
 * runLoad (load.ts) end to end against a real mux: the plan, the mux it makes or is given, the session, the loop
 * and the result, checked for structure only (timing of the real system belongs to the bench). Each part has its
 * own file: harness-plan, harness-closed-loop, harness-open-loop, harness-recorder, harness-io-queues, ...
 */

const T3 = { workers: 1, fleet: { 'cxl-type3': 8 } };

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

test('runLoad rejects bad options and unknown threshold scopes with a BadRequestError, before any load', async () => {
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
