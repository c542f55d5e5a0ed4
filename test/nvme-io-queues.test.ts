// I/O queue management (Create / Delete I/O CQ and SQ) and Abort, driven through the host driver
// (NvmeEndpoint) the way the shard worker drives it. Expected bytes and statuses are written from NVMe Base 2.0:
// status field = SC 7:0 | SCT 10:8 | M 13 | DNR 14 (rc), CQE bytes 14-15 = status << 1 | phase.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCqe } from '../src/devices/nvme/cqe.js';
import { decodeSqe } from '../src/devices/nvme/sqe.js';
import { createCq, createSq, deleteCq, deleteSq, dv, hex, nvmeDevice, readCmd, T0 } from './nvme-harness.js';

const FAILED = 2;
const CANCELLED = 1;
const dw0 = (r: { cqe: Uint8Array }): number => decodeCqe(r.cqe).dw0;
const PAGES = 512 * 1024 / 4096;

test('Create I/O CQ then SQ: queues in host memory (PRP1), served by the admin ring code, doorbells 1008h / 100Ch', () => {
  const dev = nvmeDevice({ queueDepth: 4 });
  const { ep, send, ctrl } = dev;
  const L = ep.region.layout;
  const u8 = ep.region.u8;
  const view = ep.region.view;
  assert.is(send(createCq(1, 16)).rc, 0);
  // the admin SQE the host driver wrote: 05h, CDW10 QSIZE 15 (0's based) << 16 | QID 1, CDW11 IV 1 << 16 | IEN | PC
  const c = decodeSqe(u8, L.sq);
  assert.equal([c.opcode, c.cdw10, c.cdw11, c.prp1, c.prp2], [0x05, 0x000f0001, 0x00010003, BigInt(L.ioQueues), 0n], 'PRP1: the first page of I/O queue memory');
  assert.is(send(createSq(1, 8)).rc, 0);
  const s = decodeSqe(u8, L.sq + 64);
  assert.equal([s.opcode, s.cdw10, s.cdw11, s.prp1], [0x01, 0x00070001, 0x00010001, BigInt(L.ioQueues + 4096)], 'CDW11 CQID 1 << 16 | PC; next page');
  assert.is(ctrl.q.cqs[1]!.size, 16);
  assert.is(ctrl.q.sqs[1]!.size, 8);
  assert.is(ctrl.q.cqs[1]!.iv, 1);
  assert.is(ep.host.memory.freePages, PAGES - 2);
  // a Read on queue 1: SQE in the I/O SQ's slot 0, SQ1TDBL = 1; CQE in the I/O CQ's slot 0 with SQID 1
  const r = dev.send(readCmd(1, 1, 0, 1));
  assert.is(r.rc, 0);
  assert.is(hex(r.payload), '00'.repeat(512), 'a deallocated block reads zeros');
  const io = decodeSqe(u8, L.ioQueues + 4096);
  assert.equal([io.opcode, io.cid, io.nsid, io.cdw10, io.cdw12, io.prp1], [0x02, 2, 1, 0, 0, BigInt(L.data)]);
  assert.is(view.getUint32(0x1008, true), 1, 'SQ1TDBL at 1000h + 8 x 1');
  assert.is(view.getUint32(0x100c, true), 1, 'CQ1HDBL at 1004h + 8 x 1, after the host reaped');
  assert.is(view.getUint32(0x1000, true), 2, 'SQ0TDBL: two admin commands');
  assert.is(hex(r.cqe), hex(u8.subarray(L.ioQueues, L.ioQueues + 16)), 'the answer is the I/O CQ\'s entry');
  // CQE: DW0 0, DW1 0, SQHD 1, SQID 1, CID 2, status 0 with phase 1
  assert.is(hex(r.cqe), '00000000' + '00000000' + '0100' + '0100' + '0200' + '0100');
});

test('I/O queues wrap: 2-entry SQ and CQ, every CQE with the right phase, SQHD and SQID', () => {
  const dev = nvmeDevice();
  assert.is(dev.send(createCq(3, 2)).rc, 0);
  assert.is(dev.send(createSq(5, 2, 3)).rc, 0, 'SQ 5 posts to CQ 3');
  const tags = Array.from({ length: 301 }, (_, k) => dev.submit(readCmd(5, 1, k, 1)));
  tags.forEach((t, k) => {
    const cqe = decodeCqe(dev.result(t).cqe);
    assert.is(cqe.status, 0);
    assert.is(cqe.sqid, 5);
    assert.is(cqe.sqhd, (k + 1) % 2, `CQE ${k}: SQHD`);
    assert.is(cqe.phase, Math.floor(k / 2) % 2 === 0 ? 1 : 0, `CQE ${k}: phase of pass ${Math.floor(k / 2)}`);
  });
  assert.is(dev.ep.host.cqs[3]!.phase, Math.floor(301 / 2) % 2 === 0 ? 1 : 0);
  assert.is(dev.ep.pending, 0);
});

test('creation errors: Completion Queue Invalid, Invalid Queue Identifier, Invalid Queue Size, Invalid Interrupt Vector, PC, PRP1', () => {
  const dev = nvmeDevice();
  const { send, ep } = dev;
  const cases: [string, Parameters<typeof send>[0], number][] = [
    ['SQ before its CQ: Completion Queue Invalid (SCT 1h SC 00h)', createSq(1, 8, 1), 0x6100],
    ['SQ on the admin CQ', createSq(1, 8, 0), 0x6100],
    ['CQ id 0: Invalid Queue Identifier (SCT 1h SC 01h)', createCq(0, 8), 0x6101],
    ['CQ id 65: beyond the 64 queues allocated', createCq(65, 8), 0x6101],
    ['1 entry: Invalid Queue Size (SCT 1h SC 02h)', createCq(1, 1), 0x6102],
    ['1025 entries: beyond MQES 3FFh', createCq(1, 1025), 0x6102],
    ['IV 65: Invalid Interrupt Vector (SCT 1h SC 08h)', createCq(1, 8, 65), 0x6108],
    ['PC 0 while CAP.CQR = 1: Invalid Field', { opcode: 0x05, cdw10: 1 | (7 << 16), cdw11: 0 }, 0x6002],
  ];
  for (const [what, req, st] of cases) assert.is(send(req).rc, st, what);
  const bad = send(createCq(1, 1025));
  assert.is(hex(bad.cqe.subarray(14)), '05c2', 'bytes 14-15: P 1, SC 02h, SCT 1h, M, DNR');
  assert.is(ep.host.memory.freePages, PAGES, 'the host freed the memory of every refused queue');
  assert.is(send(createCq(1, 1024)).rc, 0, '1024 entries = MQES + 1');
  assert.is(send(createCq(1, 8)).rc, 0x6101, 'CQ id in use');
  assert.is(send(createSq(1, 1024, 1)).rc, 0);
  assert.is(send(createSq(1, 8, 1)).rc, 0x6101, 'SQ id in use');
  assert.is(send(createSq(0, 8, 1)).rc, 0x6101, 'SQ id 0 is the admin SQ');
  ep.resetController('controller', T0);
  assert.is(ep.host.memory.freePages, PAGES, 'a reset deletes every I/O queue; the host frees them');
  assert.is(send({ opcode: 0x09, cdw10: 0x07, cdw11: 0x00010001 }).rc, 0, 'Number of Queues: 2 SQs, 2 CQs');
  assert.is(send(createCq(3, 8)).rc, 0x6101, 'CQ id 3 beyond NCQA + 1 = 2');
  assert.is(send(createCq(2, 8)).rc, 0);
  assert.is(send(createSq(3, 8, 2)).rc, 0x6101, 'SQ id 3 beyond NSQA + 1 = 2');
  // more than the host's I/O queue memory holds: the host driver cannot place it (no command is sent)
  const t = dev.submit(createSq(2, 0x10000, 2));
  const c = dev.sink.byTag.get(t)!;
  assert.is(c.flags, FAILED);
  assert.match(Buffer.from(c.payload).toString(), /I\/O queue memory \(512 KiB, 127 pages free\) has no room for a 65536-entry queue/);
  const log = dev.send({ opcode: 0x02, nsid: 0xffffffff, cdw10: 0x01 | (15 << 16) }).payload;
  assert.is(dv(log).getUint16(8, true), 0, 'Error Information SQID 0: the admin queue');
  assert.is(dv(log).getUint16(12, true) >>> 1, 0x4101, 'newest error: Invalid Queue Identifier');
  assert.is(dv(log).getUint16(14, true), 40, 'parameter error location: CDW10 (QID)');
});

test('PRP1 of a queue: page aligned (PRP Offset Invalid) and in host memory (Invalid Field) - a host writing the SQE itself', async () => {
  const { encodeSqe } = await import('../src/devices/nvme/sqe.js');
  const { ep, ctrl } = nvmeDevice({ queueDepth: 4 });
  const r = ep.region;
  const L = r.layout;
  encodeSqe({ opcode: 0x05, cid: 1, cdw10: 1 | (7 << 16), cdw11: 1, prp1: BigInt(L.ioQueues + 0x10) }, r.u8, L.sq);
  encodeSqe({ opcode: 0x05, cid: 2, cdw10: 1 | (7 << 16), cdw11: 1, prp1: 0x1000n }, r.u8, L.sq + 64);
  encodeSqe({ opcode: 0x05, cid: 3, cdw10: 1 | (7 << 16), cdw11: 1, prp1: BigInt(L.bytes) }, r.u8, L.sq + 128);
  r.store32(0x1000, 3);
  ctrl.service(T0);
  assert.equal([0, 1, 2].map((i) => decodeCqe(r.u8, L.cq + 16 * i).status), [0x6013, 0x6002, 0x6002], 'offset 10h; the doorbell page; past the end');
  assert.is(ctrl.q.cqs[1], undefined);
});

test('a request for a queue the host does not have, or on the wrong kind of queue, is FAILED (BAD_REQUEST) before any SQE', () => {
  const dev = nvmeDevice();
  const t = dev.submit(readCmd(1, 1, 0, 1));
  const c = dev.sink.byTag.get(t)!;
  assert.equal([c.flags, c.a1], [FAILED, 2]);
  assert.match(Buffer.from(c.payload).toString(), /has no I\/O submission queue 1: create it first .*05h.*01h/);
  // descriptor fields that disagree: an I/O opcode (100h + op) for queue 0, an admin opcode for queue 1
  dev.send(createCq(1, 4));
  dev.send(createSq(1, 4));
  const sqe = new Uint8Array(64);
  sqe[0] = 0x02;
  dev.ep.submit(900, 0x102, 0, sqe, 0, 0, 0, T0);
  dev.ep.submit(901, 0x02, 0, sqe, 1, 0, 0, T0);
  for (const tag of [900, 901]) assert.match(Buffer.from(dev.sink.byTag.get(tag)!.payload).toString(), /admin commands go to queue 0 and I\/O commands to an I\/O queue/);
  const withData = dev.submit({ ...createSq(2, 4, 1), data: new Uint8Array(64) });
  assert.match(Buffer.from(dev.sink.byTag.get(withData)!.payload).toString(), /takes no data: the host driver supplies the queue memory/);
  assert.is(dev.ctrl.executed, 2, 'only the two creations ran');
});

test('Delete I/O SQ: what the controller holds completes first with Command Aborted due to SQ Deletion; then Delete CQ', () => {
  const dev = nvmeDevice({ faults: { hang: [0x102] } }); // I/O Read (100h + 02h) hangs
  const { send, submit, sink, ep, ctrl } = dev;
  assert.is(send(createCq(1, 8)).rc, 0);
  assert.is(send(createSq(1, 8)).rc, 0);
  const hung = submit(readCmd(1, 1, 0, 1));
  const queued = submit({ queue: 1, opcode: 0x00, nsid: 1 }); // a Flush: no data, so it goes into the SQ behind
  const waiting = submit(readCmd(1, 1, 8, 1)); // a Read: waits in the host's FIFO for the data buffer
  assert.not.ok(sink.byTag.has(hung) || sink.byTag.has(queued) || sink.byTag.has(waiting));
  assert.is(ep.host.sqs[1]!.used(), 2);
  assert.is(send(deleteCq(1)).rc, 0x610c, 'an SQ still posts to it: Invalid Queue Deletion (SCT 1h SC 0Ch)');
  assert.is(send(deleteSq(1)).rc, 0);
  for (const t of [hung, queued]) {
    const r = dev.result(t);
    assert.is(r.rc, 0x2008, 'SC 08h Command Aborted due to SQ Deletion, M, no DNR');
    assert.is(hex(r.cqe.subarray(10, 12)), '0100', 'SQID 1');
  }
  assert.is(sink.byTag.get(waiting)!.flags, FAILED, 'never placed: the host answers it');
  assert.match(Buffer.from(sink.byTag.get(waiting)!.payload).toString(), /queue 1 was deleted before this request could be placed/);
  assert.is(ctrl.q.sqs[1], undefined);
  assert.is(send(deleteSq(1)).rc, 0x6101, 'gone: Invalid Queue Identifier');
  assert.is(send(deleteSq(0)).rc, 0x6101, 'the admin SQ cannot be deleted');
  assert.is(send(deleteCq(0)).rc, 0x6101);
  assert.is(send(deleteCq(1)).rc, 0);
  assert.is(ep.host.memory.freePages, PAGES);
  assert.is(sink.byTag.get(submit(readCmd(1, 1, 0, 1)))!.flags, FAILED, 'the host no longer has queue 1');
});

test('Abort (08h): a hung I/O command, one queued behind it, a parked AER; DW0 bit 0 = 0 when aborted', () => {
  const dev = nvmeDevice({ faults: { hang: [0x102] } });
  const { send, submit, sink, ctrl } = dev;
  send(createCq(1, 8));
  send(createSq(1, 8));
  const a = submit(readCmd(1, 1, 0, 1, { cid: 0x11 }));
  const b = submit({ queue: 1, opcode: 0x00, nsid: 1, cid: 0x12 }); // a Flush, in the SQ behind the hung Read
  assert.is(dev.ep.host.sqs[1]!.used(), 2);
  const executed = ctrl.executed;
  const second = send({ opcode: 0x08, cdw10: (0x12 << 16) | 1 });
  assert.equal([second.rc, dw0(second)], [0, 0], 'the one still in the SQ: marked, aborted when fetched');
  assert.not.ok(sink.byTag.has(b));
  const first = send({ opcode: 0x08, cdw10: (0x11 << 16) | 1 });
  assert.equal([first.rc, dw0(first)], [0, 0], 'the executing (hung) one: aborted at once');
  for (const t of [a, b]) {
    const r = dev.result(t);
    assert.is(r.rc, 0x2007, 'Command Abort Requested (SC 07h), M');
    assert.is(hex(r.cqe.subarray(14)), '0f40', 'bytes 14-15: P 1, SC 07h, M');
  }
  assert.is(ctrl.executed, executed + 2, 'the two Aborts ran; the marked Flush never did');
  const aer = submit({ opcode: 0x0c, cid: 0x55 });
  const ab = send({ opcode: 0x08, cdw10: 0x55 << 16 });
  assert.equal([ab.rc, dw0(ab)], [0, 0]);
  assert.is(dev.result(aer).rc, 0x2007, 'the parked AER, on the admin queue');
  assert.is(send({ opcode: 0x08, cdw10: (1 << 16) | 9 }).rc, 0x6002, 'SQID 9 has no queue: Invalid Field');
});

test('Abort of a command not found waits ABORT_WAIT (10 ms) for it: aborts it if it arrives, else DW0 bit 0 = 1', () => {
  const dev = nvmeDevice();
  const { send, submit, sink, ep, ctrl } = dev;
  send(createCq(1, 8));
  send(createSq(1, 8));
  const late = submit({ opcode: 0x08, cdw10: (0x42 << 16) | 1 });
  assert.not.ok(sink.byTag.has(late));
  assert.is(ctrl.parkedAbortCount, 1);
  const r = submit(readCmd(1, 1, 0, 1, { cid: 0x42 }), T0 + 1e6);
  assert.is(dev.result(r).rc, 0x2007, 'the command it named arrived: aborted when fetched');
  assert.equal([dev.result(late).rc, dw0(dev.result(late))], [0, 0]);
  const never = submit({ opcode: 0x08, cdw10: (0x99 << 16) | 1 }, T0 + 2e6);
  assert.is(ep.deadline(), T0 + 12e6);
  ep.poll(T0 + 11e6);
  assert.not.ok(sink.byTag.has(never));
  ep.poll(T0 + 12e6);
  assert.equal([dev.result(never).rc, dw0(dev.result(never))], [0, 1], 'not aborted');
  assert.is(ep.deadline(), Infinity);
  // the host driver does not hand out a CID an outstanding Abort names
  const named = submit({ opcode: 0x08, cdw10: (0x1234 << 16) | 1 }, T0 + 20e6);
  void named;
  let sawIt = false;
  for (let i = 0; i < 70_000 && !sawIt; i++) {
    const t = submit(readCmd(1, 1, 0, 1), T0 + 20e6);
    sawIt = decodeCqe(dev.result(t).cqe).cid === 0x1234;
  }
  assert.not.ok(sawIt, 'CID 1234h skipped on queue 1 while an Abort names it');
});

test('Abort Command Limit: ACL = 3 (Identify byte 258) allows 4 outstanding Aborts; the 5th is SCT 1h SC 03h', () => {
  const dev = nvmeDevice();
  const { send, submit, sink, ep } = dev;
  assert.is(send({ opcode: 0x06, cdw10: 1 }).payload[258], 3);
  send(createCq(1, 8));
  send(createSq(1, 8));
  const parked = [1, 2, 3, 4].map((cid) => submit({ opcode: 0x08, cdw10: (cid << 16) | 1 }));
  assert.not.ok(parked.some((t) => sink.byTag.has(t)));
  const fifth = send({ opcode: 0x08, cdw10: (5 << 16) | 1 });
  assert.is(fifth.rc, 0x6103, 'Abort Command Limit Exceeded, M, DNR');
  ep.poll(T0 + 10e6);
  for (const t of parked) assert.is(dw0(dev.result(t)), 1);
  const again = submit({ opcode: 0x08, cdw10: (6 << 16) | 1 }, T0 + 10e6);
  assert.not.ok(sink.byTag.has(again), 'room again once they completed');
});

test('cancel() of an I/O command the controller holds aborts it (as an Abort would) and answers CANCELLED', () => {
  const dev = nvmeDevice({ faults: { hang: [0x102] } });
  dev.send(createCq(1, 8));
  dev.send(createSq(1, 8));
  const t = dev.submit(readCmd(1, 1, 0, 1));
  dev.ep.cancel(t, T0);
  assert.is(dev.sink.byTag.get(t)!.flags, CANCELLED);
  const log = dev.send({ opcode: 0x02, nsid: 0xffffffff, cdw10: 0x01 | (15 << 16) }).payload;
  assert.equal([dv(log).getUint16(8, true), dv(log).getUint16(12, true) >>> 1], [1, 0x0007], 'logged on SQ 1: Abort Requested');
  assert.is(dev.ep.pending, 0);
});

test.run();
