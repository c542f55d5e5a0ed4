import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux } from '../../src/index.js';

const count = (): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
};

test('close() while busy: finished work resolves, the rest rejects with EMBX_CLOSED, and no handle, timer or worker is left', async () => {
  await new Promise((r) => setTimeout(r, 10));
  const before = count();
  const mux = await createMux({
    workers: 2,
    fleet: { devices: [{ kind: 'cxl-type3', count: 4 }, { kind: 'cxl-type3', count: 1, faults: { hang: [0x4200] } }, { kind: 'nvme', count: 1 }] },
    shardWindow: 64,
    sessionWindow: 32,
    deviceWindow: 8, // the hung device may hold 8 of the session's 32 slots; the others keep flowing
    noTimeoutTier: 'debug-read', // the hung requests are sent without a timeout
  });
  const s = mux.openSession();
  const outcomes: Promise<string>[] = [];
  const track = (p: Promise<unknown>) => outcomes.push(p.then(() => 'ok', (e: { code: string }) => e.code));
  for (let i = 0; i < 20; i++) track(s.send({ device: 'mem4', opcode: 0x4200, timeoutMs: 0 })); // never answered
  for (let i = 0; i < 500; i++) track(s.send({ device: `mem${i % 4}`, opcode: 0x4200 }));
  track(s.send({ device: 'nvme0', opcode: 0x06, cdw10: 1 }));
  await mux.close({ timeoutMs: 200 });
  const got = await Promise.all(outcomes);
  const tally: Record<string, number> = {};
  for (const g of got) tally[g] = (tally[g] ?? 0) + 1;
  assert.is(tally['EMBX_CLOSED'], 20, 'the hung requests were rejected by close');
  assert.is(tally['ok'], 501, 'everything that could finish did');
  assert.is(await s.send({ device: 'mem0', opcode: 0x4200 }).then(() => 'ok', (e: { code: string }) => e.code), 'EMBX_CLOSED');
  await mux.close(); // idempotent
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(count(), before, 'the same handles as before createMux');
});

test('close({ signal }): aborting stops the drain at once; whenDrained({ signal }) rejects on abort', async () => {
  const mux = await createMux({ workers: 1, noTimeoutTier: 'debug-read', fleet: { devices: [{ kind: 'cxl-type3', count: 1, faults: { hang: [0x4200] } }, { kind: 'cxl-type3', count: 1 }] } });
  const s = mux.openSession();
  const hung = s.send({ device: 'mem0', opcode: 0x4200, timeoutMs: 0 }).then(() => 'ok', (e: { code: string }) => e.code);
  const w = new AbortController();
  const drained = mux.whenDrained({ signal: w.signal }).then(() => 'drained', (e: { code: string }) => e.code);
  w.abort();
  assert.is(await drained, 'EMBX_ABORTED');
  const ac = new AbortController();
  const t = performance.now();
  const closing = mux.close({ timeoutMs: 60_000, signal: ac.signal });
  setTimeout(() => ac.abort(), 30);
  await closing;
  assert.ok(performance.now() - t < 5000, 'did not wait the 60 s drain');
  assert.is(await hung, 'EMBX_CLOSED');
});

test('close() with nothing in flight returns promptly and a new mux can start after it', async () => {
  const a = await createMux({ workers: 1, fleet: { 'cxl-type3': 2 } });
  const t = performance.now();
  await a.close();
  assert.ok(performance.now() - t < 2000);
  const b = await createMux({ workers: 1, fleet: { 'cxl-type3': 2 } });
  assert.is((await b.openSession().send({ device: 'mem1', opcode: 0x4200 })).rc, 0);
  await b.close();
});

test.run();
