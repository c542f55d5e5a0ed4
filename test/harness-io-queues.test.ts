import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BadRequestError } from '../src/errors.js';
import { ioQueueFor } from '../src/harness/io-queues.js';
import { runLoad } from '../src/harness/load.js';
import { createMux } from '../src/mux/mux.js';
import { checkConsistent } from './load-sim.js';

/** The NVMe I/O queues a read / write mix runs on (io-queues.ts): made for the run, deleted after, never another's. */

test('read / write mixes: NVMe I/O on a queue pair the run creates and deletes; write needs debug-write-full', async () => {
  await using mux = await createMux({ workers: 1, fleet: { devices: [{ kind: 'nvme', count: 2 }, { kind: 'cxl-type3', count: 2 }] } });
  const r = await runLoad({ durationMs: 300, warmupMs: 50, concurrency: 8, tier: 'debug-write-full', mix: 'read=3,write=1,health=1', mux }).result;
  assert.equal(r.errors, {});
  assert.equal(r.deviceStatus, {}, 'every answer is Success');
  assert.ok(r.byCommand.read!.requests > 0 && r.byCommand.write!.requests > 0);
  assert.is(r.byCommand.read!.devices, 2);
  checkConsistent(r);
  const s = mux.openSession({ tier: 'debug-read' });
  const gone = await s.send({ device: 'nvme0', queue: 1, opcode: 0x02, nsid: 1 }).catch((e) => e);
  assert.is(gone.code, 'EMBX_BAD_REQUEST', 'the run deleted the queues it created');
  const data = await mux.openSession({ tier: 'debug-write' }).send({ device: 'nvme1', opcode: 0x05, cdw10: 1 | (7 << 16), cdw11: 1 });
  assert.is(data.rc, 0, 'queue id 1 is free again');
  // a debug-read session cannot create the queues: a usage error before any load
  try {
    await runLoad({ durationMs: 100, warmupMs: 0, tier: 'debug-read', mix: 'read', mux }).result;
    assert.unreachable('should reject');
  } catch (e) {
    assert.instance(e, BadRequestError);
    assert.match((e as Error).message, /creating it needs tier debug-write .*the session has debug-read/);
  }
  // an existing queue (CQ 1 made above, no SQ) is kept; what the run adds (SQ 1) goes again
  const again = await runLoad({ durationMs: 100, warmupMs: 0, concurrency: 2, tier: 'debug-write', mix: 'read', mux }).result;
  assert.equal(again.errors, {});
  const admin = mux.openSession({ tier: 'debug-write' });
  assert.is((await admin.send({ device: 'nvme1', opcode: 0x04, cdw10: 1 })).rc, 0, 'CQ 1 of nvme1 still there, with no SQ left on it');
  assert.is((await admin.send({ device: 'nvme1', opcode: 0x00, cdw10: 1 })).rc, 0x6101, 'SQ 1 was deleted by the run');
});

test('ioQueueFor: queue 1 for a whole test, 1 + k for segment k of N, and at most 64 segments (the controller\'s I/O queues)', () => {
  assert.is(ioQueueFor(undefined), 1);
  assert.is(ioQueueFor({ index: 0, count: 1 }), 1);
  assert.is(ioQueueFor({ index: 3, count: 8 }), 4);
  assert.is(ioQueueFor({ index: 63, count: 64 }), 64);
  assert.throws(() => ioQueueFor({ index: 0, count: 65 }), (e: Error) => e instanceof BadRequestError && /at most 64 segments \(got 65\)/.test(e.message));
});

test('segments each run on their own I/O queue: the one that finishes first does not break the other', async () => {
  await using mux = await createMux({ workers: 1, fleet: { devices: [{ kind: 'nvme', count: 2 }] } });
  const seg = (index: number, durationMs: number) =>
    runLoad({ durationMs, warmupMs: 0, concurrency: 4, tier: 'debug-write', mix: 'read', segment: { index, count: 2 }, mux }).result;
  // both generators start together; segment 0 ends (and takes its queues down) while segment 1 still sends
  const [short, long] = await Promise.all([seg(0, 100), seg(1, 500)]);
  for (const r of [short, long]) {
    assert.equal(r.errors, {});
    assert.equal(r.deviceStatus, {}, 'every answer is Success');
    assert.ok(r.requests > 0);
    checkConsistent(r);
  }
  const admin = mux.openSession({ tier: 'debug-write' });
  for (const qid of [1, 2]) {
    const gone = await admin.send({ device: 'nvme0', queue: qid, opcode: 0x02, nsid: 1 }).catch((e) => e);
    assert.is(gone.code, 'EMBX_BAD_REQUEST', `each run deleted the queue it created (${qid})`);
  }
  // queue 1 + k for segment k of N: the controller has 64 I/O queues, so 64 segments at most with read / write
  try {
    await runLoad({ durationMs: 100, warmupMs: 0, concurrency: 65, tier: 'debug-write', mix: 'read', segment: { index: 0, count: 65 }, mux }).result;
    assert.unreachable('should reject');
  } catch (e) {
    assert.instance(e, BadRequestError);
    assert.match((e as Error).message, /segment 0\/65: read \/ write give each segment its own NVMe I\/O queue \(1 \+ k\), and a controller has 64: .*at most 64 segments \(got 65\)/);
  }
  assert.is((await admin.send({ device: 'nvme0', opcode: 0x05, cdw10: 1 | (7 << 16), cdw11: 1 })).rc, 0, 'the refused run made no queue');
});

test.run();
