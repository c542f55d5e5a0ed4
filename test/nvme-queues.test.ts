import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCqe } from '../src/devices/nvme/cqe.js';
import {
  NVME_CQ0HDBL, NVME_REG_ACQ, NVME_REG_AQA, NVME_REG_ASQ, NVME_REG_CAP, NVME_REG_CC, NVME_REG_CSTS, NVME_REG_VS, NVME_SQ0TDBL,
  nvmeBlockLayout,
} from '../src/devices/nvme/layout.js';
import { decodeSqe, encodeSqe } from '../src/devices/nvme/sqe.js';
import { St } from '../src/devices/nvme/status.js';
import { dv, getLog, hex, nvmeDevice, T0 } from './nvme-harness.js';

const GET_ARB = { opcode: 0x0a, cdw10: 0x01 }; // Get Features, Arbitration: no data

test('block layout: page-aligned ASQ/ACQ, a PRP list page, the data buffer, then 512 KiB of I/O queue memory', () => {
  assert.equal(nvmeBlockLayout(32, 128 * 1024),
    { sq: 0x2000, cq: 0x3000, prpList: 0x4000, data: 0x5000, dataBytes: 0x20000, ioQueues: 0x25000, ioQueueBytes: 0x80000, bytes: 0xa5000 });
  assert.equal(nvmeBlockLayout(2, 4096),
    { sq: 0x2000, cq: 0x3000, prpList: 0x4000, data: 0x5000, dataBytes: 0x1000, ioQueues: 0x6000, ioQueueBytes: 0x80000, bytes: 0x86000 });
  const l = nvmeBlockLayout(4096, 1 << 20);
  assert.is(l.cq, 0x2000 + 4096 * 64);
  assert.is(l.prpList, l.cq + 4096 * 16);
  assert.is(l.ioQueues - l.data, 1 << 20);
  assert.is(l.bytes - l.ioQueues, 512 * 1024);
});

test('registers after enable: CAP, VS 2.0, CC, CSTS.RDY, AQA/ASQ/ACQ (NVMe Base 2.0 3.1.3)', () => {
  const { ep } = nvmeDevice({ queueDepth: 8 });
  const v = ep.region.view;
  const cap = v.getBigUint64(NVME_REG_CAP, true);
  assert.is(Number(cap & 0xffffn), 0x3ff, 'MQES');
  assert.is(Number((cap >> 16n) & 1n), 1, 'CQR');
  assert.is(Number((cap >> 24n) & 0xffn), 20, 'TO: 10 s');
  assert.is(Number((cap >> 32n) & 0xfn), 0, 'DSTRD 0: doorbells 4 bytes apart');
  assert.is(Number((cap >> 37n) & 0xffn), 1, 'CSS: NVM command set');
  assert.is(Number((cap >> 48n) & 0xffn), 0, 'MPSMIN = MPSMAX = 0 (4 KiB)');
  assert.is(v.getUint32(NVME_REG_VS, true), 0x00020000);
  assert.is(v.getUint32(NVME_REG_CC, true), 0x00460001, 'EN, IOSQES 6, IOCQES 4, CSS/MPS/AMS 0');
  assert.is(v.getUint32(NVME_REG_CSTS, true), 1, 'RDY');
  assert.is(v.getUint32(NVME_REG_AQA, true), 0x00070007, 'ASQS = ACQS = 7 (0\'s based)');
  assert.is(v.getBigUint64(NVME_REG_ASQ, true), 0x2000n);
  assert.is(v.getBigUint64(NVME_REG_ACQ, true), 0x3000n);
});

test('enable refuses a bad admin queue configuration with CSTS.CFS', () => {
  const { ep, ctrl } = nvmeDevice({ queueDepth: 4 });
  const v = ep.region.view;
  const good = v.getUint32(NVME_REG_AQA, true);
  v.setUint32(NVME_REG_AQA, 0, true); // 1-entry queues
  assert.not.ok(ctrl.q.enable());
  assert.is(v.getUint32(NVME_REG_CSTS, true), 2, 'CFS');
  v.setUint32(NVME_REG_AQA, good, true);
  v.setBigUint64(NVME_REG_ACQ, 0x3010n, true); // not page aligned
  assert.not.ok(ctrl.q.enable());
  v.setBigUint64(NVME_REG_ACQ, 0x1000n, true); // inside the doorbell page
  assert.not.ok(ctrl.q.enable());
  v.setBigUint64(NVME_REG_ACQ, 0x3000n, true);
  v.setUint32(NVME_REG_CC, 0x00460001 | (1 << 7), true); // MPS 8 KiB
  assert.not.ok(ctrl.q.enable());
  v.setUint32(NVME_REG_CC, 0x00460001, true);
  assert.ok(ctrl.q.enable());
  assert.is(v.getUint32(NVME_REG_CSTS, true), 1);
});

test('the host writes the SQE at the SQ tail with a fresh CID and PRP1 = data buffer, then rings SQ0TDBL', () => {
  const { ep, send } = nvmeDevice({ queueDepth: 4 });
  const L = ep.region.layout;
  const r = send({ opcode: 0x06, cdw10: 1 });
  const sqe = decodeSqe(ep.region.u8, L.sq);
  assert.is(sqe.opcode, 0x06);
  assert.is(sqe.cid, 0);
  assert.is(sqe.prp1, BigInt(L.data));
  assert.is(sqe.prp2, 0n, 'one page: PRP2 unused');
  assert.is(sqe.cdw10, 1);
  assert.is(ep.region.view.getUint32(NVME_SQ0TDBL, true), 1, 'tail doorbell');
  assert.is(ep.region.view.getUint32(NVME_CQ0HDBL, true), 1, 'head doorbell after reaping');
  const cqe = decodeCqe(r.cqe);
  assert.equal(cqe, { dw0: 0, dw1: 0, sqhd: 1, sqid: 0, cid: 0, status: 0, phase: 1 });
  assert.is(hex(r.cqe), hex(ep.region.u8.subarray(L.cq, L.cq + 16)), 'the answer carries the CQE bytes from the CQ');
  assert.is(r.completion.a0, 0, 'ARG0 = status field');
  assert.is(r.payload.byteLength, 4096);
});

/**
 * Drives `n` commands through a depth-`depth` queue, optionally with a slow controller so several are
 * in the SQ at once; checks every CQE: CID = the k-th CID the host assigned (k & FFFFh), SQHD, and the
 * phase tag of its pass through the CQ.
 */
function cycle(depth: number, n: number, slowMs: number) {
  const dev = nvmeDevice({ queueDepth: depth, ...(slowMs ? { faults: { slowMs } } : {}) });
  const { ep, submit, sink } = dev;
  const tags: number[] = [];
  let now = T0;
  if (slowMs === 0) {
    for (let i = 0; i < n; i++) tags.push(submit(GET_ARB, now));
  } else {
    for (let i = 0; i < n; i++) tags.push(submit(GET_ARB, now));
    while (sink.all.length < n) {
      now += slowMs * 1e6;
      ep.poll(now);
    }
  }
  assert.is(sink.all.length, n);
  sink.all.forEach((c, k) => {
    assert.is(c.tag, tags[k], 'completions in submission order');
    const cqe = decodeCqe(c.payload);
    assert.is(cqe.cid, k & 0xffff, `CQE ${k}: CID`);
    assert.is(cqe.status, 0);
    assert.is(cqe.phase, Math.floor(k / depth) % 2 === 0 ? 1 : 0, `CQE ${k}: phase of pass ${Math.floor(k / depth)}`);
    assert.is(cqe.sqhd, (k + 1) % depth, `CQE ${k}: SQ head after fetching it`);
  });
  assert.is(ep.host.adminCq.phase, Math.floor(n / depth) % 2 === 0 ? 1 : 0, 'host expected phase after all wraps');
  assert.is(ep.pending, 0);
}

test('phase tag: thousands of commands through 2-, 3- and 4-entry queues, every CQE matched to its CID', () => {
  for (const depth of [2, 3, 4]) cycle(depth, 3001, 0);
});

test('phase tag with a slow controller: the SQ fills, the FIFO drains, phases still right', () => {
  for (const depth of [2, 3, 4]) cycle(depth, 1000, 1);
});

test('CIDs wrap at 65536 and are never reused while outstanding', () => {
  cycle(2, 70_001, 0);
  const { submit, sink, done, ctrl } = nvmeDevice({ queueDepth: 3 });
  const aer = submit({ opcode: 0x0c }); // CID 0, parked
  let last = 0;
  for (let i = 0; i < 65_536; i++) last = submit(GET_ARB);
  assert.not.ok(done(aer));
  assert.is(decodeCqe(sink.byTag.get(last)!.payload).cid, 1, 'CID 0 skipped: still outstanding (65536th command after it)');
  assert.is(ctrl.parkedEvents, 1);
});

test('queue full: an N-entry SQ holds N - 1 commands; the rest wait in the FIFO, in order', () => {
  const { ep, submit, sink, ctrl } = nvmeDevice({ queueDepth: 4, faults: { slowMs: 10 } });
  const tags = Array.from({ length: 10 }, () => submit(GET_ARB));
  assert.is(sink.all.length, 0);
  assert.ok(ctrl.busy, 'the controller fetched the first and waits');
  assert.is(ep.host.admin.used(), 3, 'tail + 1 == head: 3 entries in a 4-entry SQ');
  assert.ok(ep.host.admin.full());
  assert.is(ep.region.view.getUint32(NVME_SQ0TDBL, true), 3);
  assert.is(ep.pending, 10);
  assert.is(ep.deadline(), T0 + 10e6);
  ep.poll(T0 + 10e6);
  assert.equal(sink.all.map((c) => c.tag), [tags[0]]);
  assert.is(ep.host.admin.head, 1, 'SQHD of the CQE told the host the head moved');
  assert.ok(ep.host.admin.full(), 'one more placed at once');
  assert.is(ep.pending, 9);
  for (let i = 2; i <= 10; i++) ep.poll(T0 + i * 10e6);
  assert.equal(sink.all.map((c) => c.tag), tags);
  assert.is(ep.deadline(), Infinity);
});

test('the controller never posts into a full CQ: it waits for the head doorbell', () => {
  const { ep, ctrl } = nvmeDevice({ queueDepth: 2 });
  const r = ep.region;
  const L = r.layout;
  // Act as a host that ignores SQHD: two commands, no reaping in between.
  encodeSqe({ opcode: 0x0a, cid: 0x51, cdw10: 1 }, r.u8, L.sq + 0);
  r.store32(NVME_SQ0TDBL, 1);
  ctrl.service(T0);
  assert.is(decodeCqe(r.u8, L.cq).cid, 0x51);
  encodeSqe({ opcode: 0x0a, cid: 0x52, cdw10: 1 }, r.u8, L.sq + 64);
  r.store32(NVME_SQ0TDBL, 0);
  ctrl.service(T0);
  assert.is(ctrl.q.admin.head, 1, 'not fetched: the CQ is full (tail + 1 == head)');
  assert.is(decodeCqe(r.u8, L.cq + 16).phase, 0, 'slot 1 untouched');
  r.store32(NVME_CQ0HDBL, 1);
  ctrl.service(T0);
  assert.is(ctrl.q.admin.head, 0);
  const c = decodeCqe(r.u8, L.cq + 16);
  assert.equal([c.cid, c.phase, c.sqhd], [0x52, 1, 0]);
});

test('a completion that finds the CQ full is held until the host frees a slot (parked AER)', () => {
  const { ep, ctrl } = nvmeDevice({ queueDepth: 2 });
  const r = ep.region;
  const L = r.layout;
  encodeSqe({ opcode: 0x0c, cid: 7 }, r.u8, L.sq);
  r.store32(NVME_SQ0TDBL, 1);
  ctrl.service(T0);
  assert.is(ctrl.parkedEvents, 1);
  encodeSqe({ opcode: 0x0a, cid: 8, cdw10: 1 }, r.u8, L.sq + 64);
  r.store32(NVME_SQ0TDBL, 0);
  ctrl.service(T0);
  assert.is(decodeCqe(r.u8, L.cq).cid, 8);
  ctrl.raiseEvent(2, 0x01, 0x03);
  assert.is(decodeCqe(r.u8, L.cq + 16).phase, 0, 'held: the CQ is full');
  r.store32(NVME_CQ0HDBL, 1);
  ctrl.service(T0);
  const aer = decodeCqe(r.u8, L.cq + 16);
  assert.equal([aer.cid, aer.phase, aer.dw0], [7, 1, 0x030102]);
});

test('AERs never take the last SQ slot: refused by the host driver (FAILED) beyond depth - 2', () => {
  const two = nvmeDevice({ queueDepth: 2 });
  const t = two.submit({ opcode: 0x0c });
  assert.is(two.sink.byTag.get(t)!.flags, 2, 'FAILED');
  assert.match(Buffer.from(two.sink.byTag.get(t)!.payload).toString(), /no room for another Asynchronous Event Request/);
  assert.is(two.send(GET_ARB).rc, 0);
  const four = nvmeDevice({ queueDepth: 4 });
  const a = [four.submit({ opcode: 0x0c }), four.submit({ opcode: 0x0c })];
  const third = four.submit({ opcode: 0x0c });
  assert.is(four.sink.byTag.get(third)!.flags, 2);
  assert.not.ok(four.done(a[0]!) || four.done(a[1]!));
  for (let i = 0; i < 10; i++) assert.is(four.send(GET_ARB).rc, 0, 'other commands keep flowing');
  four.ep.cancel(a[0]!, T0);
  assert.is(four.sink.byTag.get(four.submit({ opcode: 0x0c }))?.flags, undefined, 'room again: parked');
});

test('a tail doorbell write beyond the queue size is ignored', () => {
  const { ep, ctrl } = nvmeDevice({ queueDepth: 4 });
  ep.region.store32(NVME_SQ0TDBL, 9);
  ctrl.service(T0);
  ctrl.service(T0);
  assert.is(ctrl.q.admin.invalidDoorbells, 1, 'one bad write, counted once');
  assert.is(ctrl.q.admin.head, 0);
  assert.is(ctrl.executed, 0);
});

test('PRPs: one page, two pages (PRP2 = second page), more (PRP2 = PRP list) end to end', () => {
  const { ep, send } = nvmeDevice({ maxTransferBytes: 64 * 1024 });
  const L = ep.region.layout;
  assert.equal(ep.host.prps(4096), { prp1: BigInt(L.data), prp2: 0n });
  assert.equal(ep.host.prps(8192), { prp1: BigInt(L.data), prp2: BigInt(L.data + 4096) });
  assert.equal(ep.host.prps(8196), { prp1: BigInt(L.data), prp2: BigInt(L.prpList) });
  for (let i = 0; i < 15; i++) assert.is(ep.region.view.getBigUint64(L.prpList + 8 * i, true), BigInt(L.data + 4096 * (i + 1)), `list entry ${i}`);
  // The vendor drive log is 16 KiB: read it whole (PRP list) and in 4 KiB and 8 KiB pieces.
  const whole = send({ opcode: 0xc6, cdw10: 4096, cdw12: 0x0020 });
  assert.is(whole.rc, 0);
  assert.is(whole.payload.byteLength, 16384);
  assert.is(decodeSqe(ep.region.u8, L.sq).prp2, BigInt(L.prpList));
  const parts: Uint8Array[] = [];
  for (let off = 0; off < 16384; off += 4096) parts.push(send({ opcode: 0xc6, cdw10: 1024, cdw12: 0x0020, cdw13: off / 4 }).payload);
  assert.is(hex(Buffer.concat(parts)), hex(whole.payload));
  const two = send({ opcode: 0xc6, cdw10: 2048, cdw12: 0x0020, cdw13: 1024 });
  assert.is(hex(two.payload), hex(whole.payload.subarray(4096, 12288)));
  // Get Log with a page-crossing host buffer is not possible here (logs are <= 4 KiB); FW download 12 KiB uses the list.
  const img = new Uint8Array(12288);
  img.set(Buffer.from('MBXF'), 0);
  assert.is(send({ opcode: 0x11, cdw10: 12288 / 4 - 1, cdw11: 0, data: img }).rc, 0);
  assert.is(ep.controller.fw!.staged, 12288);
});

test('controller DMA checks: PRP offsets, list entries, addresses outside host memory', () => {
  const { ep } = nvmeDevice({ maxTransferBytes: 64 * 1024 });
  const q = ep.controller.q;
  const L = ep.region.layout;
  const v = ep.region.view;
  const pieces: [number, number, number][] = [];
  const copy = (host: number, at: number, n: number): void => {
    pieces.push([host, at, n]);
  };
  const data = BigInt(L.data);
  assert.is(q.dma(data + 2n, 0n, 16, copy), St.PRP_OFFSET_INVALID, 'PRP1 bits 1:0 must be 0');
  assert.is(q.dma(data, data + 4100n, 8192, copy), St.PRP_OFFSET_INVALID, 'PRP2 as a page pointer has offset 0');
  assert.is(q.dma(0x1000n, 0n, 16, copy), St.DATA_TRANSFER_ERROR, 'doorbell page is not host memory');
  assert.is(q.dma(BigInt(L.bytes - 8), 0n, 16, copy), St.DATA_TRANSFER_ERROR, 'past the end of host memory');
  assert.is(q.dma(1n << 60n, 0n, 4, copy), St.DATA_TRANSFER_ERROR);
  assert.is(q.dma(data, data + 4n, 12288, copy), St.PRP_OFFSET_INVALID, 'PRP list pointer must be qword aligned');
  // A PRP1 with a page offset: the first piece runs to the end of its page.
  pieces.length = 0;
  assert.is(q.dma(data + 0x800n, data + 0x1000n, 4096, copy), St.SUCCESS);
  assert.equal(pieces, [[L.data + 0x800, 0, 0x800], [L.data + 0x1000, 0x800, 0x800]]);
  // A list whose page runs out: the last entry of a list page chains to the next list page.
  const list1 = L.data + 0x4000 - 16; // two entries left in this page
  const list2 = L.data + 0x5000;
  v.setBigUint64(list1, BigInt(L.data + 0x1000), true);
  v.setBigUint64(list1 + 8, BigInt(list2), true); // chain
  v.setBigUint64(list2, BigInt(L.data + 0x2000), true);
  v.setBigUint64(list2 + 8, BigInt(L.data + 0x3000), true);
  pieces.length = 0;
  assert.is(q.dma(data, BigInt(list1), 4 * 4096, copy), St.SUCCESS);
  assert.equal(pieces.map((p) => p[0]), [L.data, L.data + 0x1000, L.data + 0x2000, L.data + 0x3000]);
  v.setBigUint64(list2 + 8, BigInt(L.data + 0x3004), true);
  assert.is(q.dma(data, BigInt(list1), 4 * 4096, copy), St.PRP_OFFSET_INVALID, 'list entries are page aligned');
  v.setBigUint64(list2 + 8, 0x1000n, true); // page aligned, but the doorbell page
  assert.is(q.dma(data, BigInt(list1), 4 * 4096, copy), St.DATA_TRANSFER_ERROR);
  assert.is(q.dma(data, 0n, 0, copy), St.SUCCESS, 'no data');
});

test('a command whose PRPs are bad completes with the DMA status (a host writing the SQ itself)', () => {
  const { ep, ctrl } = nvmeDevice({ queueDepth: 4 });
  const r = ep.region;
  const L = r.layout;
  encodeSqe({ opcode: 0x06, cid: 3, cdw10: 1, prp1: 0x1002n }, r.u8, L.sq);
  r.store32(NVME_SQ0TDBL, 1);
  ctrl.service(T0);
  assert.is(decodeCqe(r.u8, L.cq).status, 0x6013, 'PRP Offset Invalid, M, DNR');
  encodeSqe({ opcode: 0x02, cid: 4, cdw10: 0x007f0002, nsid: 0xffffffff, prp1: BigInt(L.bytes) }, r.u8, L.sq + 64);
  r.store32(NVME_SQ0TDBL, 2);
  ctrl.service(T0);
  assert.is(decodeCqe(r.u8, L.cq + 16).status, 0x2004, 'Data Transfer Error, M');
  encodeSqe({ opcode: 0x11, cid: 5, cdw10: 3, prp1: 0x10n }, r.u8, L.sq + 128);
  r.store32(NVME_SQ0TDBL, 3);
  ctrl.service(T0);
  assert.is(decodeCqe(r.u8, L.cq + 32).status, 0x2004, 'host-to-controller DMA too');
});

test('data commands share one buffer: a second waits until the first is reaped', () => {
  const { ep, submit, sink } = nvmeDevice({ queueDepth: 8, faults: { slowMs: 1 } });
  const a = submit(getLog(0x02, 512));
  const b = submit({ opcode: 0x06, cdw10: 1 });
  const c = submit(GET_ARB);
  assert.is(ep.host.admin.used(), 1, 'only the first data command is in the SQ; the rest keep FIFO order');
  ep.poll(T0 + 1e6);
  assert.equal(sink.all.map((x) => x.tag), [a]);
  assert.is(ep.host.admin.used(), 2, 'Identify and Get Features now placed');
  ep.poll(T0 + 2e6);
  ep.poll(T0 + 3e6);
  assert.equal(sink.all.map((x) => x.tag), [a, b, c]);
  assert.is(sink.byTag.get(a)!.payload.byteLength, 16 + 512);
  assert.is(sink.byTag.get(b)!.payload.byteLength, 16 + 4096);
  assert.is(dv(sink.byTag.get(b)!.payload).getUint16(16, true), 0x1c58, 'Identify data intact (VID)');
});

test.run();
