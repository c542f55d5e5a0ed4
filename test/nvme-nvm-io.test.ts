// NVM command set I/O (Flush, Write, Read, Write Zeroes, Dataset Management) on created I/O queues, the
// namespaces' blocks, metadata and protection information, and what a sanitize leaves (SANICAP NODMMAS 01b).
// Field positions from the NVM Command Set 1.0 and NVMe Base 2.0; statuses as the rc the caller sees
// (status field: SC 7:0, SCT 10:8, M 13, DNR 14).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crc16T10Dif, piGenerate } from '../src/devices/nvme/protection.js';
import { decodeSqe } from '../src/devices/nvme/sqe.js';
import { createCq, createSq, dv, getLog, hex, nvmeDevice, readCmd, T0, writeCmd } from './nvme-harness.js';

type Dev = ReturnType<typeof nvmeDevice>;

/** CQ 1 and SQ 1, 16 entries each. */
function withQueue(o: Parameters<typeof nvmeDevice>[0] = {}): Dev {
  const dev = nvmeDevice(o);
  assert.is(dev.send(createCq(1, 16)).rc, 0);
  assert.is(dev.send(createSq(1, 16)).rc, 0);
  return dev;
}

const blocks = (n: number, size: number, seed: number): Uint8Array => Uint8Array.from({ length: n * size }, (_, i) => (i * 7 + seed) & 0xff);
const nuse = (dev: Dev, nsid = 1, now = T0): bigint => dv(dev.send({ opcode: 0x06, nsid, cdw10: 0 }, now).payload).getBigUint64(16, true);
const nsze = (dev: Dev, nsid = 1): number => Number(dv(dev.send({ opcode: 0x06, nsid, cdw10: 0 }).payload).getBigUint64(0, true));
const PRACT = 1 << 29;
const PRCHK_ALL = 7 << 26;
const PRCHK_REF = 1 << 26;

test('CRC-16 T10-DIF: the published check value; PI bytes big-endian: Guard, Application Tag, Reference Tag', () => {
  const digits = Buffer.from('123456789');
  assert.is(crc16T10Dif(digits, 0, 9), 0xd0db, 'CRC-16/T10-DIF check value');
  assert.is(crc16T10Dif(new Uint8Array(512), 0, 512), 0);
  const pi = new Uint8Array(8);
  piGenerate(pi, 0, digits, 0, 9, 0xbeef, 0x2a);
  assert.is(hex(pi), 'd0db' + 'beef' + '0000002a');
});

test('read after write on a created I/O queue; unwritten blocks read zeros; NUSE counts allocated blocks; Flush', () => {
  const dev = withQueue();
  const data = blocks(8, 512, 1);
  assert.is(dev.send(writeCmd(1, 1, 100, 8, data)).rc, 0);
  const back = dev.send(readCmd(1, 1, 100, 8));
  assert.is(back.rc, 0);
  assert.is(hex(back.payload), hex(data));
  const around = dev.send(readCmd(1, 1, 96, 16)).payload;
  assert.is(hex(around.subarray(0, 2048)), '00'.repeat(2048), 'blocks 96-99 never written');
  assert.is(hex(around.subarray(2048, 6144)), hex(data));
  assert.is(hex(around.subarray(6144)), '00'.repeat(2048));
  assert.is(nuse(dev), 8n);
  assert.is(dev.send(writeCmd(1, 1, 104, 1, blocks(1, 512, 9))).rc, 0, 'overwrite one block');
  assert.is(nuse(dev), 8n, 'still 8 allocated');
  assert.is(hex(dev.send(readCmd(1, 1, 104, 1)).payload), hex(blocks(1, 512, 9)));
  // Flush: an active namespace, or FFFFFFFFh (Identify VWC Flush Behavior 11b); anything else Invalid Namespace
  for (const [nsid, rc] of [[1, 0], [0xffffffff, 0], [0, 0x600b], [2, 0x600b], [33, 0x600b]] as const) {
    assert.is(dev.send({ queue: 1, opcode: 0x00, nsid }).rc, rc, `Flush NSID ${nsid.toString(16)}h`);
  }
  // the I/O SQE as the host driver placed it: 02h, NSID 1, CDW10 SLBA 96, CDW12 NLB 15 (0's based), PRP1 = data buffer
  const L = dev.ep.region.layout;
  const placed = [...Array(16).keys()].map((i) => decodeSqe(dev.ep.region.u8, L.ioQueues + 4096 + 64 * i)).find((s) => s.cdw10 === 96)!;
  assert.equal([placed.opcode, placed.nsid, placed.cdw11, placed.cdw12, placed.prp1, placed.prp2], [0x02, 1, 0, 15, BigInt(L.data), BigInt(L.data + 4096)]);
});

test('LBA Out of Range (SCT 0h SC 80h) with the LBA in the Error Information entry; NSID checks; MDTS', () => {
  const dev = withQueue({ namespaces: 2 });
  const last = nsze(dev) - 1;
  assert.is(dev.send(readCmd(1, 1, last, 1)).rc, 0, 'the last block');
  const r = dev.send(writeCmd(1, 1, last, 2, blocks(2, 512, 0)));
  assert.is(r.rc, 0x6080, 'LBA Out of Range, M, DNR');
  assert.is(hex(r.cqe.subarray(14)), '01c1', 'bytes 14-15: P 1, SC 80h, M, DNR');
  const e = dv(dev.send(getLog(0x01, 64)).payload);
  assert.is(e.getUint16(8, true), 1, 'SQID 1');
  assert.is(e.getUint16(12, true) >>> 1, 0x4080);
  assert.is(e.getBigUint64(16, true), BigInt(last), 'LBA: the SLBA of the failed command');
  assert.is(e.getUint32(24, true), 1, 'NSID');
  assert.is(nuse(dev), 0n, 'nothing written');
  assert.is(dev.send(readCmd(1, 1, 2 ** 32, 1)).rc, 0x6080, 'SLBA upper dword (CDW11) beyond the namespace');
  for (const nsid of [0, 3, 0xffffffff]) assert.is(dev.send(readCmd(1, nsid, 0, 1)).rc, 0x600b, `Read NSID ${nsid.toString(16)}h`);
  assert.is(dev.send(readCmd(1, 2, 0, 1)).rc, 0, 'namespace 2');
  assert.is(dev.send(readCmd(1, 1, 0, 256)).payload.byteLength, 128 * 1024, '256 blocks = MDTS (128 KiB)');
  assert.is(dev.send(readCmd(1, 1, 0, 257)).rc, 0x6002, 'one block more: Invalid Field');
  const t = dev.submit(writeCmd(1, 1, 0, 2, blocks(1, 512, 0)));
  assert.is(dev.sink.byTag.get(t)!.flags, 2, 'a Write whose data does not match NLB: refused by the host driver');
  assert.match(Buffer.from(dev.sink.byTag.get(t)!.payload).toString(), /transfers 1024 bytes from the host; got 512/);
});

test('LBA formats: 4 KiB blocks; metadata interleaved (MSET 1) or in the MPTR buffer (MSET 0); deallocated metadata reads FFh', () => {
  const dev = withQueue();
  const L = dev.ep.region.layout;
  assert.is(dev.send({ opcode: 0x80, nsid: 1, cdw10: 1 }).rc, 0, 'LBAF 1: 4096-byte blocks');
  const four = blocks(2, 4096, 3);
  assert.is(dev.send(writeCmd(1, 1, 5, 2, four)).rc, 0);
  assert.is(hex(dev.send(readCmd(1, 1, 5, 2)).payload), hex(four));
  assert.is(nsze(dev), dev.ctrl.nsBytes / 4096);
  // LBAF 2 (512 + 8 metadata), MSET 1: each block is 520 bytes on the bus
  assert.is(dev.send({ opcode: 0x80, nsid: 1, cdw10: 2 | (1 << 4) }).rc, 0);
  assert.is(dev.send(readCmd(1, 1, 5, 2)).payload.byteLength, 1040, 'the format cleared the data; 2 x 520 bytes');
  const ext = blocks(2, 520, 5);
  assert.is(dev.send(writeCmd(1, 1, 0, 2, ext)).rc, 0);
  assert.is(hex(dev.send(readCmd(1, 1, 0, 2)).payload), hex(ext));
  const fresh = dev.send(readCmd(1, 1, 2, 1)).payload;
  assert.is(hex(fresh), '00'.repeat(512) + 'ff'.repeat(8), 'deallocated: data 00h, metadata FFh');
  // LBAF 2, MSET 0: data blocks through PRPs, then their metadata through MPTR (the caller gives data then metadata)
  assert.is(dev.send({ opcode: 0x80, nsid: 1, cdw10: 2 }).rc, 0);
  const sep = blocks(1, 1024 + 16, 11);
  assert.is(dev.send(writeCmd(1, 1, 7, 2, sep)).rc, 0);
  const placed = [...Array(16).keys()].map((i) => decodeSqe(dev.ep.region.u8, L.ioQueues + 4096 + 64 * i)).find((s) => s.opcode === 0x01 && s.cdw10 === 7)!;
  assert.is(placed.mptr, BigInt(L.data + 1024), 'MPTR: right after the 1024 data bytes');
  const back = dev.send(readCmd(1, 1, 7, 2)).payload;
  assert.is(back.byteLength, 1040);
  assert.is(hex(back), hex(sep), 'data, then the 2 x 8 metadata bytes');
});

test('protection information Type 1 (LBAF 2, PI first): PRACT inserts and strips; PRCHK checks Guard, Application and Reference Tags', () => {
  const dev = withQueue();
  assert.is(dev.send({ opcode: 0x80, nsid: 1, cdw10: 2 | (1 << 5) | (1 << 8) }).rc, 0, 'LBAF 2, MSET 0, PI Type 1, PIL first');
  const data = blocks(2, 512, 21);
  // Write with PRACT: only the data crosses; CDW14 ILBRT = SLBA (Type 1), CDW15 LBAT BEEFh
  assert.is(dev.send(writeCmd(1, 1, 10, 2, data, { cdw12: 1 | PRACT, cdw14: 10, cdw15: 0xbeef })).rc, 0);
  // Read without PRACT: data then each block's PI: Guard = CRC-16 T10-DIF of the block, BEEFh, Reference Tag = LBA
  const r = dev.send(readCmd(1, 1, 10, 2, { cdw12: 1 | PRCHK_ALL, cdw14: 10, cdw15: 0xffffbeef }));
  assert.is(r.rc, 0);
  const guard = (i: number): string => crc16T10Dif(data, 512 * i, 512).toString(16).padStart(4, '0');
  assert.is(hex(r.payload.subarray(1024)), guard(0) + 'beef' + '0000000a' + guard(1) + 'beef' + '0000000b');
  assert.is(hex(r.payload.subarray(0, 1024)), hex(data));
  const stripped = dev.send(readCmd(1, 1, 10, 2, { cdw12: 1 | PRACT | PRCHK_ALL, cdw14: 10, cdw15: 0xffffbeef }));
  assert.equal([stripped.rc, stripped.payload.byteLength], [0, 1024], 'PRACT on a read: PI checked and stripped');
  assert.is(dev.send(readCmd(1, 1, 10, 2, { cdw12: 1 | PRCHK_REF, cdw14: 11 })).rc, 0x6181, 'Type 1: EILBRT must be the SLBA: Invalid Protection Information');
  const app = dev.send(readCmd(1, 1, 10, 2, { cdw12: 1 | (2 << 26), cdw14: 10, cdw15: 0xffffbeee }));
  assert.is(app.rc, 0x6283, 'Application Tag Check Error (SCT 2h SC 83h)');
  assert.is(dev.send(readCmd(1, 1, 10, 2, { cdw12: 1 | (2 << 26), cdw14: 10, cdw15: 0x00f0beee })).rc, 0, 'ELBATM masks the differing bit');
  // a host-supplied PI with a bad Guard is refused and nothing is written
  const bad = new Uint8Array(512 + 8);
  bad.set(data.subarray(0, 512));
  bad.set([0x12, 0x34, 0xbe, 0xef, 0, 0, 0, 20], 512);
  const w = dev.send(writeCmd(1, 1, 20, 1, bad, { cdw12: PRCHK_ALL, cdw14: 20, cdw15: 0xffffbeef }));
  assert.is(w.rc, 0x6282, 'Guard Check Error (SCT 2h SC 82h)');
  assert.is(dv(dev.send(getLog(0x01, 64)).payload).getBigUint64(16, true), 20n, 'LBA of the failing block');
  assert.is(nuse(dev), 2n);
  bad.set([Number.parseInt(guard(0).slice(0, 2), 16), Number.parseInt(guard(0).slice(2), 16)], 512);
  assert.is(dev.send(writeCmd(1, 1, 20, 1, bad, { cdw12: PRCHK_ALL, cdw14: 20, cdw15: 0xffffbeef })).rc, 0, 'the right Guard');
  assert.is(dev.send(readCmd(1, 1, 30, 1, { cdw12: PRCHK_ALL, cdw14: 30 })).rc, 0, 'a deallocated block: Application Tag FFFFh turns the checks off');
  // Type 2: the Reference Tag is ILBRT + i, checked against EILBRT + i
  assert.is(dev.send({ opcode: 0x80, nsid: 1, cdw10: 2 | (2 << 5) }).rc, 0, 'PI Type 2, PIL last');
  assert.is(dev.send(writeCmd(1, 1, 0, 1, data.subarray(0, 512), { cdw12: PRACT, cdw14: 0x1000 })).rc, 0);
  assert.is(dev.send(readCmd(1, 1, 0, 1, { cdw12: PRCHK_REF, cdw14: 0x2000 })).rc, 0x6284, 'Reference Tag Check Error (SCT 2h SC 84h)');
  assert.is(dev.send(readCmd(1, 1, 0, 1, { cdw12: PRCHK_REF, cdw14: 0x1000 })).rc, 0);
});

test('Write Zeroes (08h): zeros stay allocated; DEAC deallocates; Dataset Management (09h) AD deallocates ranges', () => {
  const dev = withQueue();
  assert.is(dev.send(writeCmd(1, 1, 0, 8, blocks(8, 512, 2))).rc, 0);
  assert.is(dev.send({ queue: 1, opcode: 0x08, nsid: 1, cdw10: 2, cdw12: 1 }).rc, 0, 'blocks 2-3');
  assert.is(hex(dev.send(readCmd(1, 1, 2, 2)).payload), '00'.repeat(1024));
  assert.is(nuse(dev), 8n, 'written zeros are allocated');
  assert.is(dev.send({ queue: 1, opcode: 0x08, nsid: 1, cdw10: 0, cdw12: 1 | (1 << 25) }).rc, 0, 'DEAC: blocks 0-1');
  assert.is(nuse(dev), 6n);
  assert.is(dev.send({ queue: 1, opcode: 0x08, nsid: 1, cdw10: nsze(dev) - 1, cdw12: 1 }).rc, 0x6080);
  // DSM: NR = 1 (two ranges) of { context attributes, length, SLBA }: block 4, blocks 6-7
  const ranges = new Uint8Array(32);
  const v = dv(ranges);
  v.setUint32(4, 1, true);
  v.setBigUint64(8, 4n, true);
  v.setUint32(16 + 4, 2, true);
  v.setBigUint64(16 + 8, 6n, true);
  assert.is(dev.send({ queue: 1, opcode: 0x09, nsid: 1, cdw10: 1, cdw11: 0b011, data: ranges }).rc, 0, 'IDR / IDW only: hints');
  assert.is(nuse(dev), 6n);
  assert.is(dev.send({ queue: 1, opcode: 0x09, nsid: 1, cdw10: 1, cdw11: 0b100, data: ranges }).rc, 0, 'AD');
  assert.is(nuse(dev), 3n, 'blocks 2, 3, 5 remain');
  assert.is(hex(dev.send(readCmd(1, 1, 4, 1)).payload), '00'.repeat(512));
  v.setBigUint64(8, BigInt(nsze(dev)), true);
  assert.is(dev.send({ queue: 1, opcode: 0x09, nsid: 1, cdw10: 1, cdw11: 0b100, data: ranges }).rc, 0x6080, 'one range beyond the end: nothing deallocated');
  assert.is(nuse(dev), 3n);
});

test('thin provisioning: NCAP blocks at most; one more is Capacity Exceeded (SCT 0h SC 81h); rewriting is fine', () => {
  const dev = withQueue();
  const ncap = Number(dv(dev.send({ opcode: 0x06, nsid: 1, cdw10: 0 }).payload).getBigUint64(8, true));
  assert.is(ncap, 131072, '64 MiB of 512-byte blocks');
  for (let slba = 0; slba < ncap; slba += 65536) assert.is(dev.send({ queue: 1, opcode: 0x08, nsid: 1, cdw10: slba, cdw12: 0xffff }).rc, 0);
  assert.is(nuse(dev), BigInt(ncap));
  assert.is(dev.send(writeCmd(1, 1, ncap, 1, blocks(1, 512, 0))).rc, 0x6081, 'Capacity Exceeded, M, DNR');
  assert.is(dev.send(writeCmd(1, 1, 0, 1, blocks(1, 512, 0))).rc, 0, 'an allocated block');
  assert.is(dev.send({ queue: 1, opcode: 0x08, nsid: 1, cdw10: 0, cdw12: 0 | (1 << 25) }).rc, 0, 'deallocate one');
  assert.is(dev.send(writeCmd(1, 1, ncap, 1, blocks(1, 512, 0))).rc, 0, 'room for one again');
});

test('sanitize with No-Deallocate (SANICAP NODMMAS 01b): allocated blocks keep what the operation wrote, and never change after', () => {
  const dev = withQueue();
  const data = blocks(8, 512, 4);
  assert.is(dev.send(writeCmd(1, 1, 0, 8, data)).rc, 0);
  const sstat = (now: number): number => dv(dev.send(getLog(0x81, 512), now).payload).getUint16(2, true);
  assert.is(sstat(T0) & 0x100, 0, 'GDE cleared: user data was written');
  // Overwrite, 1 pass, NDAS, OVRPAT 11223344h: the pattern, little-endian, on 4-byte boundaries
  assert.is(dev.send({ opcode: 0x84, cdw10: 0x03 | (1 << 4) | (1 << 9), cdw11: 0x11223344 }).rc, 0);
  assert.is(dev.send(readCmd(1, 1, 0, 1)).rc, 0x201d, 'I/O while it runs: Sanitize In Progress, M');
  assert.is(dev.send(createCq(2, 4)).rc, 0, 'queue management runs during a sanitize');
  dev.ep.poll(T0 + 1e9);
  assert.is(sstat(T0 + 1e9), 0x01 | (1 << 3) | 0x100, '001b completed (no further media modification), 1 pass, GDE');
  for (const now of [T0 + 1e9, T0 + 60e9]) {
    assert.is(hex(dev.send(readCmd(1, 1, 0, 8), now).payload), '44332211'.repeat(1024), 'the pattern, and still the pattern a minute later');
    assert.is(hex(dev.send(readCmd(1, 1, 8, 1), now).payload), '00'.repeat(512), 'a block that was not allocated stays deallocated');
    assert.is(nuse(dev, 1, now), 8n, 'no block deallocated');
  }
  assert.is(sstat(T0 + 60e9), 0x01 | (1 << 3) | 0x100);
  assert.is(dev.send(writeCmd(1, 1, 9, 1, blocks(1, 512, 0)), T0 + 61e9).rc, 0);
  assert.is(sstat(T0 + 61e9) & 0x100, 0, 'a write clears GDE');
  // 2 passes with OIPBP: the last pass wrote the inverted pattern
  const inv = withQueue();
  inv.send(writeCmd(1, 1, 0, 1, blocks(1, 512, 0)));
  assert.is(inv.send({ opcode: 0x84, cdw10: 0x03 | (2 << 4) | (1 << 8) | (1 << 9), cdw11: 0x11223344 }).rc, 0);
  inv.ep.poll(T0 + 2e9);
  assert.is(hex(inv.send(readCmd(1, 1, 0, 1), T0 + 2e9).payload), 'bbccddee'.repeat(128));
  // block erase without deallocation: erased cells, all ones; with deallocation (NDAS 0): every block deallocated
  const erase = withQueue();
  erase.send(writeCmd(1, 1, 0, 1, blocks(1, 512, 0)));
  erase.send({ opcode: 0x84, cdw10: 0x02 | (1 << 9) });
  erase.ep.poll(T0 + 2e9);
  assert.is(hex(erase.send(readCmd(1, 1, 0, 1), T0 + 2e9).payload), 'ff'.repeat(512));
  const crypto = withQueue();
  crypto.send(writeCmd(1, 1, 0, 1, blocks(1, 512, 0)));
  crypto.send({ opcode: 0x84, cdw10: 0x04 | (1 << 9) });
  crypto.ep.poll(T0 + 1e9);
  const gone = crypto.send(readCmd(1, 1, 0, 1), T0 + 1e9).payload;
  assert.ok(hex(gone) !== hex(blocks(1, 512, 0)) && hex(gone) !== '00'.repeat(512), 'crypto erase: unreadable, still allocated');
  assert.is(nuse(crypto, 1, T0 + 1e9), 1n);
  const dealloc = withQueue();
  dealloc.send(writeCmd(1, 1, 0, 8, data));
  dealloc.send({ opcode: 0x84, cdw10: 0x03 | (1 << 4), cdw11: 0x11223344 });
  dealloc.ep.poll(T0 + 1e9);
  assert.is(hex(dealloc.send(readCmd(1, 1, 0, 8), T0 + 1e9).payload), '00'.repeat(4096));
  assert.is(nuse(dealloc, 1, T0 + 1e9), 0n);
});

test('SMART / Health: Host Read / Write Commands and Data Units count the I/O', () => {
  const dev = withQueue();
  const smart = (): DataView => dv(dev.send(getLog(0x02, 512)).payload);
  const before = smart();
  for (let i = 0; i < 3; i++) dev.send(readCmd(1, 1, 0, 8));
  dev.send(writeCmd(1, 1, 0, 2, blocks(2, 512, 0)));
  const after = smart();
  assert.is(after.getBigUint64(64, true) - before.getBigUint64(64, true), 3n, 'Host Read Commands (offset 64)');
  assert.is(after.getBigUint64(80, true) - before.getBigUint64(80, true), 1n, 'Host Write Commands (offset 80)');
  assert.is(after.getBigUint64(32, true) - before.getBigUint64(32, true), 1n, 'Data Units Read (offset 32): 12 KiB, rounded up to one unit of 512,000 bytes');
});

test.run();
