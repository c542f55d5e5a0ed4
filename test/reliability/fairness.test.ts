import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux } from '../../src/index.js';

/**
 * One session flooding one device cannot starve other sessions or other devices. Structural check (timing
 * thresholds belong in benchmarks): a light session's requests — to another device of the same shard, and to
 * the very device being flooded — all complete while most of the flood is still waiting.
 */
test('a light session is served while a flood is still queued, on another device and on the flooded one', async () => {
  const mux = await createMux({ workers: 1, fleet: { 'cxl-type3': 4 }, noTimeoutTier: 'debug-read' });
  try {
    const flood = mux.openSession({ name: 'flood' });
    const light = mux.openSession({ name: 'light' });
    const N = 100_000;
    let floodDone = 0;
    const floods: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) floods.push(flood.send({ device: 'mem0', opcode: 0x4200, timeoutMs: 0 }).then(() => { floodDone++; }));
    for (let i = 0; i < 20; i++) {
      assert.is((await light.send({ device: 'mem2', opcode: 0x4200 })).rc, 0);
      assert.is((await light.send({ device: 'mem0', opcode: 0x4200 })).rc, 0);
    }
    const atEnd = floodDone;
    await Promise.all(floods);
    assert.ok(atEnd < N / 2, `the light session finished 40 requests after only ${atEnd} of ${N} flood requests (light waited on the flood otherwise)`);
    assert.is(floodDone, N);
  } finally {
    await mux.close();
  }
});

test('within one session, a hung device does not block its other devices', async () => {
  const mux = await createMux({ workers: 1, noTimeoutTier: 'debug-read', fleet: { devices: [{ kind: 'cxl-type3', count: 2 }, { kind: 'cxl-type3', count: 1, faults: { hang: [0x4200] } }] } });
  try {
    const s = mux.openSession();
    const hung = Array.from({ length: 500 }, () => s.send({ device: 'mem2', opcode: 0x4200, timeoutMs: 0 }).then(() => 'resolved', (e: { code: string }) => e.code));
    // blocked behind the hung requests, these would never be written to the ring and end in EMBX_TIMEOUT
    for (let i = 0; i < 200; i++) assert.is((await s.send({ device: `mem${i % 2}`, opcode: 0x4200 })).rc, 0);
    assert.is(mux.stats().inFlight, 16, 'the hung device holds its device window of slots, no more');
    assert.is(mux.stats().queued, 500 - 16, 'the rest of its requests wait in the mux');
    await mux.close({ timeoutMs: 0 });
    assert.ok((await Promise.all(hung)).every((c) => c === 'EMBX_CLOSED'), 'close() rejects the hung requests');
  } finally {
    await mux.close();
  }
});

test.run();
