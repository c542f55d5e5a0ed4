import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux } from '../../src/index.js';
import { until } from '../wait.js';

const count = (): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
};

/** no kind of resource is more numerous in `now` than in `before` (which may still hold the file's own start-up file operations) */
const noMoreThan = (now: Record<string, number>, before: Record<string, number>): boolean =>
  Object.entries(now).every(([k, n]) => n <= (before[k] ?? 0));

test('close() while busy: finished work resolves, the rest rejects with EMBX_CLOSED, and no handle, timer or worker is left', async () => {
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
  // the workers' handles go once their threads have exited (piscina's destroy resolves before the last 'exit')
  await until(() => noMoreThan(count(), before), `no more handles than before createMux: ${JSON.stringify(count())} vs ${JSON.stringify(before)}`);
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
  let closed = false;
  const closing = mux.close({ timeoutMs: 60_000, signal: ac.signal }).then(() => (closed = true));
  await until(() => mux.stats().inFlight === 1, 'the drain holds the hung request');
  assert.not.ok(closed, 'close() waits for the drain');
  ac.abort();
  // well before the 60 s drain would end
  await until(() => closed, 'close() ended on the abort', 20_000);
  await closing;
  assert.is(await hung, 'EMBX_CLOSED');
});

test('close() with nothing in flight returns promptly and a new mux can start after it', async () => {
  const a = await createMux({ workers: 1, fleet: { 'cxl-type3': 2 } });
  let closed = false;
  const closing = a.close({ timeoutMs: 60_000 }).then(() => (closed = true));
  // nothing to drain: the 60 s drain limit plays no part
  await until(() => closed, 'close() with nothing in flight ended', 20_000);
  await closing;
  const b = await createMux({ workers: 1, fleet: { 'cxl-type3': 2 } });
  assert.is((await b.openSession().send({ device: 'mem1', opcode: 0x4200 })).rc, 0);
  await b.close();
});

test.run();
