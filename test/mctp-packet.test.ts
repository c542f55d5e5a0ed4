import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { CCI_HEADER_BYTES, CciCategory, newCciHeader, readCciHeaderInto as readCciHeader, writeCciHeader } from '../src/devices/cxl/cci-message.js';
import { fragmentMessage } from '../src/transport/mctp-fragment.js';
import {
  cxlTypeAllowsSet, decodeMctpPacket, encodeMctpPacket, mctpFlagsByte, MctpType, mctpTypeForOpcode,
} from '../src/transport/mctp-packet.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/[\s|]/g, ''), 'hex'));

/** [type][12-byte CCI header][payload] */
function cxlMessage(type: number, category: number, tag: number, opcode: number, payload: Uint8Array, rc = 0): Uint8Array {
  const m = new Uint8Array(1 + CCI_HEADER_BYTES + payload.byteLength);
  m[0] = type;
  writeCciHeader(m, 1, { category, tag, opcode, payloadLength: payload.byteLength, bo: false, rc, vendorStatus: 0 });
  m.set(payload, 1 + CCI_HEADER_BYTES);
  return m;
}

test('flags byte: SOM bit 7, EOM bit 6, seq bits 5:4, TO bit 3, tag bits 2:0', () => {
  assert.is(mctpFlagsByte(true, true, 0, true, 1), 0xc9);
  assert.is(mctpFlagsByte(true, false, 0, false, 1), 0x81);
  assert.is(mctpFlagsByte(false, true, 1, false, 1), 0x51);
  assert.is(mctpFlagsByte(false, false, 3, true, 7), 0x3f);
  assert.is(mctpFlagsByte(false, false, 5, false, 9), 0x11, 'seq and tag are masked');
});

test('worked example A: Identify Switch Device request, FM EID 08h -> switch EID 09h, tag 1, CCI tag 05h (17 bytes)', () => {
  const body = cxlMessage(MctpType.CXL_FM_API, CciCategory.REQUEST, 0x05, 0x5100, new Uint8Array(0));
  const pkts = fragmentMessage(body, 64, 0x08, 0x09, 1, true);
  assert.is(pkts.length, 1);
  assert.is(hex(pkts[0]!), hex(bytes('01 09 08 C9 | 07 | 00 05 00 00 51 00 00 00 00 00 00 00')));
});

test('worked example A: the 86-byte response splits 64 + 22 at MTU 64 (81h then 51h)', () => {
  const payload = Uint8Array.from({ length: 0x49 }, (_, i) => (i * 7 + 3) & 0xff);
  const body = cxlMessage(MctpType.CXL_FM_API, CciCategory.RESPONSE, 0x05, 0x5100, payload);
  assert.is(body.byteLength, 86);
  const pkts = fragmentMessage(body, 64, 0x09, 0x08, 1, false);
  assert.is(pkts.length, 2);
  assert.is(hex(pkts[0]!.subarray(0, 4 + 13)), hex(bytes('01 08 09 81 | 07 01 05 00 00 51 49 00 00 00 00 00 00')));
  assert.is(pkts[0]!.byteLength, 4 + 64);
  assert.is(hex(pkts[0]!.subarray(17)), hex(payload.subarray(0, 51)));
  assert.is(hex(pkts[1]!.subarray(0, 4)), '01080951');
  assert.is(pkts[1]!.byteLength, 4 + 22);
  assert.is(hex(pkts[1]!.subarray(4)), hex(payload.subarray(51)));
});

test('encode/decode round trip of every header field', () => {
  const p = encodeMctpPacket({ dest: 0x1d, src: 0x08, som: false, eom: true, seq: 2, tagOwner: true, tag: 6 }, bytes('aabb'));
  assert.is(hex(p), '011d086e' + 'aabb');
  const d = decodeMctpPacket(p);
  assert.ok(d.ok);
  if (!d.ok) return;
  assert.equal(d.header, { version: 1, dest: 0x1d, src: 0x08, som: false, eom: true, seq: 2, tagOwner: true, tag: 6 });
  assert.is(hex(d.payload), 'aabb');
  assert.throws(() => encodeMctpPacket({ dest: 256, src: 8, som: true, eom: true, seq: 0, tagOwner: true, tag: 0 }, new Uint8Array(0)), /EID/);
  assert.throws(() => encodeMctpPacket({ dest: 9, src: 8, som: true, eom: true, seq: 4, tagOwner: true, tag: 0 }, new Uint8Array(0)), /sequence/);
  assert.throws(() => encodeMctpPacket({ dest: 9, src: 8, som: true, eom: true, seq: 0, tagOwner: true, tag: 8 }, new Uint8Array(0)), /tag/);
});

test('truncated, wrong-version and oversized packets are rejected with clear errors', () => {
  const short = decodeMctpPacket(bytes('010908'));
  assert.equal(short.ok ? null : [short.error, short.message], ['truncated', 'MCTP packet of 3 bytes is shorter than its 4-byte header']);
  const v2 = decodeMctpPacket(bytes('020908c9'));
  assert.equal(v2.ok ? null : v2.error, 'bad-version');
  assert.match(v2.ok ? '' : v2.message, /version 2/);
  assert.ok(decodeMctpPacket(bytes('f10908c9')).ok, 'reserved bits 7:4 of byte 0 are ignored');
  const big = decodeMctpPacket(new Uint8Array(4 + 65).fill(1), 64);
  assert.equal(big.ok ? null : big.error, 'oversize');
  assert.match(big.ok ? '' : big.message, /65 bytes exceeds the 64-byte/);
  assert.ok(decodeMctpPacket(new Uint8Array(4 + 64).fill(1), 64).ok);
  assert.ok(decodeMctpPacket(bytes('010908c9')).ok, 'header-only packet');
});

test('message type for an opcode: 7 for sets 51h..59h, 8 otherwise', () => {
  for (const [op, t] of [[0x0001, 8], [0x0401, 8], [0x4200, 8], [0x5000, 8], [0x5100, 7], [0x5300, 7], [0x5605, 7], [0x5900, 7], [0x5a00, 8], [0xc000, 8]] as const) {
    assert.is(mctpTypeForOpcode(op), t, op.toString(16));
  }
});

test('binding rule: type 7 only FM API sets 51h-59h, type 8 only sets < 51h, other types nothing', () => {
  for (let set = 0; set < 256; set++) {
    assert.is(cxlTypeAllowsSet(7, set), set >= 0x51 && set <= 0x59, `type 7 set ${set}`);
    assert.is(cxlTypeAllowsSet(8, set), set < 0x51 || set >= 0xc0, `type 8 set ${set}`);
    assert.not.ok(cxlTypeAllowsSet(0, set));
    assert.not.ok(cxlTypeAllowsSet(5, set));
  }
});

test('CCI header: 21-bit length with BO in byte 7 bit 7, reserved bits 6:5 ignored', () => {
  const m = new Uint8Array(12);
  writeCciHeader(m, 0, { category: 1, tag: 0xab, opcode: 0x4102, payloadLength: 0x1abcde, bo: true, rc: 0x0016, vendorStatus: 0xbeef });
  assert.is(hex(m), '01ab00' + '0241' + 'debc' + '9a' + '1600' + 'efbe');
  const h = newCciHeader();
  assert.ok(readCciHeader(m, 0, h));
  assert.equal(h, { category: 1, tag: 0xab, opcode: 0x4102, payloadLength: 0x1abcde, bo: true, rc: 0x16, vendorStatus: 0xbeef });
  m[7] = 0x60 | 0x01;
  readCciHeader(m, 0, h);
  assert.is(h.payloadLength, 0x1bcde);
  assert.is(h.bo, false);
  assert.not.ok(readCciHeader(m.subarray(0, 11), 0, h), 'short header');
});

test('property: random bytes never make the packet or CCI decoders throw', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }), (b, mtu) => {
    const d = decodeMctpPacket(b, mtu);
    if (d.ok) {
      assert.is(d.payload.byteLength, b.byteLength - 4);
      assert.is(d.header.version, 1);
    } else {
      assert.ok(d.message.length > 0);
    }
    readCciHeader(b, 0, newCciHeader());
    readCciHeader(b, 5, newCciHeader());
  }), { numRuns: 2000 });
  assert.not.ok(decodeMctpPacket(null as unknown as Uint8Array).ok);
});

test.run();
