import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCqe, encodeCqe, statusHalfword } from '../src/devices/nvme/cqe.js';
import { decodeSqe, encodeSqe, getLogBytes, getLogOffset } from '../src/devices/nvme/sqe.js';
import { describeStatus, nvmeStatus, St, statusIsSuccess } from '../src/devices/nvme/status.js';
import { NamespaceStore } from '../src/devices/nvme/namespace-store.js';
import { decodeNvmeCompletion, encodeNvmeRequest, nvmeRingFields } from '../src/devices/nvme/wire.js';
import { BadRequestError, ProtocolError } from '../src/errors.js';
import { hex } from './nvme-harness.js';

const bytes = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// --------------------------------------------------------------------------------------------- SQE codec

test('SQE: Identify Controller, CID 1, PRP1 12340000h, byte for byte', () => {
  const want = bytes(`
    06 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 34 12 00 00 00 00
    00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00`);
  assert.is(hex(encodeSqe({ opcode: 0x06, cid: 1, prp1: 0x12340000n, cdw10: 1 })), hex(want));
  const s = decodeSqe(want);
  assert.is(s.opcode, 6);
  assert.is(s.cid, 1);
  assert.is(s.prp1, 0x12340000n);
  assert.is(s.cdw10, 1);
  assert.is(s.nsid, 0);
});

test('SQE: Get Log Page SMART (NUMD 7Fh, NSID FFFFFFFFh, CID 2)', () => {
  const want = bytes(`
    02 00 02 00 ff ff ff ff 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 10 34 12 00 00 00 00
    00 00 00 00 00 00 00 00 02 00 7f 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00`);
  assert.is(hex(encodeSqe({ opcode: 0x02, cid: 2, nsid: 0xffffffff, prp1: 0x12341000n, cdw10: 0x007f0002 })), hex(want));
  const s = decodeSqe(want);
  assert.is(getLogBytes(s.cdw10, s.cdw11), 512);
  assert.is(getLogBytes(0xffff0000, 0xffff), 2 ** 32 * 4, 'NUMDU:NUMDL = FFFFFFFFh -> 2^32 dwords');
  assert.is(getLogOffset(0x200, 1), 2 ** 32 + 0x200, 'LPOU:LPOL');
});

test('SQE: Firmware Image Download, 8 KiB at dword 800h, PRP1/PRP2', () => {
  const want = bytes(`
    11 00 05 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 20 00 00 00 00
    00 10 00 20 00 00 00 00 ff 07 00 00 00 08 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00`);
  assert.is(hex(encodeSqe({ opcode: 0x11, cid: 5, prp1: 0x20000000n, prp2: 0x20001000n, cdw10: 0x7ff, cdw11: 0x800 })), hex(want));
});

test('SQE: Set Features VWC enable, with and without SV; FUSE/PSDT in byte 1', () => {
  const sqe = encodeSqe({ opcode: 0x09, cid: 3, cdw10: 0x06, cdw11: 1 });
  assert.is(hex(sqe.subarray(0, 4)), '09000300');
  assert.is(hex(sqe.subarray(4, 40)), '00'.repeat(36));
  assert.is(hex(sqe.subarray(40, 48)), '06000000' + '01000000');
  assert.is(hex(encodeSqe({ opcode: 0x09, cdw10: 0x80000006 }).subarray(40, 44)), '06000080');
  const flags = encodeSqe({ opcode: 0x80, fuse: 1, psdt: 2 });
  assert.is(flags[1], 0b1000_0001, 'FUSE 1:0, PSDT 7:6');
  const d = decodeSqe(flags);
  assert.is(d.fuse, 1);
  assert.is(d.psdt, 2);
  assert.is(hex(encodeSqe({ opcode: 0x80, nsid: 1, cdw10: 0x201 }).subarray(40, 44)), '01020000', 'Format NVM LBAF 1, SES 001b');
});

test('SQE codec: short buffers and bad offsets throw RangeError', () => {
  assert.throws(() => decodeSqe(new Uint8Array(63)), RangeError);
  assert.throws(() => decodeSqe(new Uint8Array(64), 1), RangeError);
  assert.throws(() => encodeSqe({}, new Uint8Array(100), 40), RangeError);
  assert.throws(() => decodeSqe(new Uint8Array(64), -1), RangeError);
});

// --------------------------------------------------------------------------------------------- CQE codec

test('CQE: Invalid Field + DNR, P=1, SQHD 6, CID 5, byte for byte', () => {
  const want = '00000000' + '00000000' + '0600' + '0000' + '0500' + '0580';
  assert.is(hex(encodeCqe({ dw0: 0, sqhd: 6, sqid: 0, cid: 5, status: St.INVALID_FIELD, phase: 1 })), want);
  const c = decodeCqe(bytes(want));
  assert.equal(c, { dw0: 0, dw1: 0, sqhd: 6, sqid: 0, cid: 5, status: 0x4002, phase: 1 });
  assert.is(hex(encodeCqe({ dw0: 0x11223344, dw1: 0xaabbccdd, sqhd: 0xffff, sqid: 0x1234, cid: 0xbeef, status: 0x7fff, phase: 0 })),
    '44332211' + 'ddccbbaa' + 'ffff' + '3412' + 'efbe' + 'feff');
});

test('status halfwords: the worked encodings (raw, >>1 form, bytes 14-15)', () => {
  const C = 1;
  const cases: [number, number, number, string][] = [
    [St.SUCCESS, 1, 0x0001, '0100'],
    [St.INVALID_OPCODE, 1, 0x8003, '0380'],
    [St.INVALID_FIELD, 1, 0x8005, '0580'],
    [St.INVALID_NAMESPACE, 1, 0x8017, '1780'],
    [St.INVALID_FW_SLOT, 0, 0x820c, '0c82'],
    [St.INVALID_LOG_PAGE, 1, 0x8213, '1382'],
    [St.FW_NEEDS_CONVENTIONAL_RESET, 1, 0x0217, '1702'],
    [St.FEATURE_NOT_SAVEABLE, 1, 0x821b, '1b82'],
    [St.SANITIZE_IN_PROGRESS, 1, 0x003b, '3b00'],
  ];
  for (const [st, phase, raw, b] of cases) {
    assert.is(statusHalfword(st, phase), raw, describeStatus(st));
    assert.is(st, raw >> 1, 'the >>1 form');
    assert.is(hex(encodeCqe({ status: st, phase }).subarray(14)), b);
  }
  assert.is(nvmeStatus(C, 0x06, true), 0x4106);
  assert.is(St.COMMAND_INTERRUPTED, 0x0021, 'busy answer: SCT 0 SC 21h, retryable');
  assert.ok(statusIsSuccess(St.FW_NEEDS_SUBSYSTEM_RESET) && statusIsSuccess(St.FW_NEEDS_CONTROLLER_RESET) && statusIsSuccess(0));
  assert.not.ok(statusIsSuccess(St.FW_NEEDS_MAX_TIME_VIOLATION));
  assert.is(describeStatus(St.INVALID_FIELD), 'INVALID_FIELD (SCT 0h SC 02h, DNR)');
  assert.is(describeStatus(0x7123), 'UNKNOWN (SCT 1h SC 23h, DNR, M, CRD2)');
});

// ------------------------------------------------------------------------------------------------- wire

test('encodeNvmeRequest: 64-byte SQE (CID/PRP 0) then the data', () => {
  const data = Uint8Array.from({ length: 8 }, (_, i) => i + 1);
  const p = encodeNvmeRequest({ opcode: 0x11, nsid: 0, cdw10: 1, cdw11: 0x400, cdw15: 0xffffffff, data }, 4096);
  assert.is(p.byteLength, 72);
  assert.is(hex(p.subarray(0, 4)), '11000000', 'CID 0 for the worker to fill');
  assert.is(hex(p.subarray(24, 40)), '00'.repeat(16), 'PRPs 0');
  assert.is(hex(p.subarray(40, 48)), '01000000' + '00040000');
  assert.is(hex(p.subarray(60, 64)), 'ffffffff');
  assert.is(hex(p.subarray(64)), '0102030405060708');
  assert.is(encodeNvmeRequest({ opcode: 0x06 }, 4096).byteLength, 64);
});

test('I/O requests: descriptor OPCODE 100h + opcode, ARG0 = SQ id | bit 16 for the caller\'s CID (in SQE bytes 2-3)', () => {
  assert.equal(nvmeRingFields({ opcode: 0x06 }), { opcode: 0x06, a0: 0 }, 'admin, host picks the CID');
  assert.equal(nvmeRingFields({ opcode: 0x02, queue: 3 }), { opcode: 0x102, a0: 3 });
  assert.equal(nvmeRingFields({ opcode: 0x01, queue: 65535, cid: 0 }), { opcode: 0x101, a0: 0x1ffff });
  assert.equal(nvmeRingFields({ opcode: 0x08, cid: 7 }), { opcode: 0x08, a0: 0x10000 });
  const p = encodeNvmeRequest({ opcode: 0x02, queue: 1, cid: 0xbeef, nsid: 1, cdw10: 8, cdw12: 7 }, 4096);
  assert.is(hex(p.subarray(0, 8)), '02' + '00' + 'efbe' + '01000000', 'opcode, flags, CID little-endian, NSID');
  assert.is(hex(p.subarray(40, 52)), '08000000' + '00000000' + '07000000');
  for (const [req, field] of [[{ opcode: 2, queue: 65536 }, 'queue'], [{ opcode: 2, queue: -1 }, 'queue'], [{ opcode: 2, cid: 1.5 }, 'cid'], [{ opcode: 2, cid: '7' }, 'cid']] as const) {
    const e = captured(() => encodeNvmeRequest(req as never, 4096)) as BadRequestError;
    assert.instance(e, BadRequestError);
    assert.is(e.context.field, field);
  }
});

test('property: a namespace store reads back what a model of written and deallocated blocks says', () => {
  fc.assert(fc.property(
    fc.constantFrom(512, 4096), fc.constantFrom(0, 8),
    fc.array(fc.oneof(
      fc.record({ w: fc.nat(40), v: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ d: fc.nat(40), n: fc.integer({ min: 1, max: 12 }) }),
    ), { maxLength: 60 }),
    (lbaBytes, ms, ops) => {
      const store = new NamespaceStore(lbaBytes, ms);
      const model = new Map<number, number>();
      const data = new Uint8Array(lbaBytes);
      const meta = new Uint8Array(ms);
      for (const op of ops) {
        if ('w' in op) {
          store.write(op.w, data.fill(op.v), 0, ms > 0 ? meta.fill(op.v ^ 0xff) : null, 0);
          model.set(op.w, op.v);
        } else {
          store.deallocate(op.d, op.n);
          for (let l = op.d; l < op.d + op.n; l++) model.delete(l);
        }
      }
      const outD = new Uint8Array(lbaBytes);
      const outM = new Uint8Array(ms);
      for (let lba = 0; lba < 54; lba++) {
        store.read(lba, outD, 0, outM, 0);
        const v = model.get(lba);
        if (outD.some((b) => b !== (v ?? 0))) return false;
        if (outM.some((b) => b !== (v === undefined ? 0xff : v ^ 0xff))) return false;
        if (store.isAllocated(lba) !== (v !== undefined)) return false;
      }
      return store.used === model.size && store.chunkCount <= model.size;
    },
  ));
});

test('encodeNvmeRequest: every invalid field is a BadRequestError naming it', () => {
  const bad: [unknown, number, string][] = [
    [{ opcode: 256 }, 4096, 'opcode'],
    [{ opcode: -1 }, 4096, 'opcode'],
    [{ opcode: 1.5 }, 4096, 'opcode'],
    [{ opcode: '6' }, 4096, 'opcode'],
    [{ opcode: 6, nsid: -1 }, 4096, 'nsid'],
    [{ opcode: 6, cdw10: 2 ** 32 }, 4096, 'cdw10'],
    [{ opcode: 6, cdw15: Number.NaN }, 4096, 'cdw15'],
    [{ opcode: 6, cdw12: 1n }, 4096, 'cdw12'],
    [{ opcode: 0x11, data: [1, 2, 3, 4] }, 4096, 'data'],
    [{ opcode: 0x06, data: new Uint8Array(4) }, 4096, 'data'],
    [{ opcode: 0x80, data: new Uint8Array(4) }, 4096, 'data'],
    [{ opcode: 0x11, data: new Uint8Array(6) }, 4096, 'data'],
    [{ opcode: 0x11, data: new Uint8Array(8192) }, 4096, 'data'],
    [null, 4096, ''],
  ];
  for (const [req, max, field] of bad) {
    try {
      encodeNvmeRequest(req as never, max);
      assert.unreachable(`accepted ${JSON.stringify(req)}`);
    } catch (e) {
      assert.instance(e, BadRequestError, String(e));
      if (field) assert.is((e as BadRequestError).context.field, field, (e as Error).message);
    }
  }
  assert.match(String(captured(() => encodeNvmeRequest({ opcode: 0x06, data: new Uint8Array(4) }, 4096))), /no data from the host/);
  assert.match(String(captured(() => encodeNvmeRequest({ opcode: 0x11, data: new Uint8Array(8192) }, 4096))), /exceeds the device's maximum transfer of 4096/);
});

function captured(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return null;
}

test('decodeNvmeCompletion: rc = bytes 14-15 >> 1, then CQE and data views', () => {
  const p = new Uint8Array(16 + 4);
  p.set(encodeCqe({ cid: 9, status: St.INVALID_LOG_PAGE, phase: 1, dw0: 7 }));
  p.set([1, 2, 3, 4], 16);
  const r = decodeNvmeCompletion(p);
  assert.is(r.rc, 0x4109);
  assert.is(r.cqe.byteLength, 16);
  assert.is(hex(r.payload), '01020304');
  assert.throws(() => decodeNvmeCompletion(new Uint8Array(15)), (e: unknown) => e instanceof ProtocolError);
});

// ---------------------------------------------------------------------------------- property tests

const FLAG_MASK = 0b1100_0011; // byte 1: FUSE 1:0 and PSDT 7:6 are fields, 5:2 reserved

test('property: decodeSqe never throws on >= 64 bytes and round-trips every field', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 64, maxLength: 200 }), fc.nat(136), (buf, o) => {
    const off = Math.min(o, buf.byteLength - 64);
    const s = decodeSqe(buf, off);
    const again = encodeSqe(s);
    const want = buf.slice(off, off + 64);
    want[1] = want[1]! & FLAG_MASK;
    assert.is(hex(again), hex(want));
    assert.ok(s.opcode <= 0xff && s.cid <= 0xffff && s.cdw10 >= 0 && s.cdw15 <= 0xffffffff);
  }), { numRuns: 500 });
});

test('property: decoders on short or misplaced input throw only RangeError', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: -5, max: 100 }), (buf, off) => {
    for (const [f, size] of [[decodeSqe, 64], [decodeCqe, 16]] as const) {
      try {
        f(buf, off);
        assert.ok(off >= 0 && off + size <= buf.byteLength, 'decoded only when the entry fits');
      } catch (e) {
        assert.instance(e, RangeError);
      }
    }
  }), { numRuns: 500 });
});

test('property: decodeCqe round-trips all 16 bytes; decodeNvmeCompletion splits any payload >= 16', () => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 64 }), (buf) => {
    const c = decodeCqe(buf);
    assert.is(hex(encodeCqe(c)), hex(buf.subarray(0, 16)));
    assert.is(c.phase, buf[14]! & 1);
    const r = decodeNvmeCompletion(buf);
    assert.is(r.rc, (buf[14]! | (buf[15]! << 8)) >>> 1);
    assert.is(r.payload.byteLength, buf.byteLength - 16);
  }), { numRuns: 500 });
});

test('property: encodeNvmeRequest of a valid request decodes to the same fields', () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), u32, u32, u32, u32, u32, u32, u32, fc.nat(16),
    (opcode, nsid, cdw10, cdw11, cdw12, cdw13, cdw14, cdw15, dwords) => {
      const hostData = (opcode & 1) === 1;
      const data = hostData ? new Uint8Array(dwords * 4).fill(0xa5) : undefined;
      const p = encodeNvmeRequest({ opcode, nsid, cdw10, cdw11, cdw12, cdw13, cdw14, cdw15, data }, 4096);
      const s = decodeSqe(p);
      assert.equal([s.opcode, s.nsid, s.cdw10, s.cdw11, s.cdw12, s.cdw13, s.cdw14, s.cdw15], [opcode, nsid, cdw10, cdw11, cdw12, cdw13, cdw14, cdw15]);
      assert.equal([s.cid, s.prp1, s.prp2, s.mptr, s.fuse, s.psdt], [0, 0n, 0n, 0n, 0, 0]);
      assert.is(p.byteLength, 64 + (data?.byteLength ?? 0));
    }), { numRuns: 300 });
});

test('property: random request objects either encode or throw BadRequestError', () => {
  const anyValue = fc.oneof(fc.integer(), fc.double(), fc.string(), fc.bigInt(), fc.constant(undefined), fc.constant(null), fc.uint8Array({ maxLength: 9 }));
  fc.assert(fc.property(fc.record({ opcode: anyValue, nsid: anyValue, cdw10: anyValue, cdw14: anyValue, data: anyValue }), (req) => {
    try {
      encodeNvmeRequest(req as never, 8);
    } catch (e) {
      assert.instance(e, BadRequestError);
    }
  }), { numRuns: 500 });
});

test.run();
