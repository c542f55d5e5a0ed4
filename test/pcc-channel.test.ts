import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  checkPccFrame, decodePccFrame, encodePccFrame, PccChannel, PccErr, pccErrorName, writePccFrame,
} from '../src/transport/pcc-channel.js';
import {
  PCC_COMMAND, PCC_COMPLETE, PCC_DATA, PCC_DOORBELL, PCC_ERROR, PCC_FLAGS, PCC_IRQ, PCC_LENGTH, PCC_SIGNATURE,
  pccBlockBytes, pccInboxOffset, pccMaxPacketBytes, pccRegionBytes, pccSubspaceBytes, PCC_MCTP_MIN_REGION_BYTES,
} from '../src/transport/pcc-layout.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/[\s|]/g, ''), 'hex'));

/** worked example A's request packet */
const IDENTIFY_SWITCH = bytes('01 09 08 C9 07 00 05 00 00 51 00 00 00 00 00 00 00');

test('worked example C: example A through an outbox with subspace index 0Eh (33 bytes, length 15h)', () => {
  const e = encodePccFrame(0x0e, IDENTIFY_SWITCH);
  assert.ok(e.ok);
  if (!e.ok) return;
  assert.is(hex(e.frame), hex(bytes('0E 43 43 50 | 01 00 00 00 | 15 00 00 00 | 4D 43 54 50 | 01 09 08 C9 07 00 05 00 00 51 00 00 00 00 00 00 00')));
  assert.is(e.frame.byteLength, 33);
  const d = decodePccFrame(e.frame, 0x0e);
  assert.ok(d.ok);
  if (!d.ok) return;
  assert.is(d.subspaceId, 0x0e);
  assert.is(d.flags, 1);
  assert.is(d.length, 0x15);
  assert.is(hex(d.packet), hex(IDENTIFY_SWITCH));
});

test('layout: register words then the region; sizes follow the MTU; pccBlockBytes unchanged', () => {
  assert.equal([PCC_DOORBELL, PCC_COMPLETE, PCC_ERROR, PCC_IRQ], [0, 4, 8, 12]);
  assert.equal([PCC_SIGNATURE, PCC_FLAGS, PCC_LENGTH, PCC_COMMAND, PCC_DATA], [0x10, 0x14, 0x18, 0x1c, 0x20]);
  assert.is(pccSubspaceBytes(64), 128);
  assert.is(pccBlockBytes(64), 256);
  assert.is(pccSubspaceBytes(4096), 4160);
  assert.is(pccInboxOffset(64), 128);
  for (const mtu of [64, 65, 100, 1000, 4096]) {
    const region = pccRegionBytes(mtu);
    assert.ok(region >= PCC_MCTP_MIN_REGION_BYTES, 'Linux minimum channel size');
    assert.ok(pccMaxPacketBytes(region) >= 4 + mtu, `a full packet fits at MTU ${mtu}`);
    assert.is(pccSubspaceBytes(mtu) % 64, 0);
  }
});

test('frame validation: every rule yields its typed error, never an exception', () => {
  const good = encodePccFrame(3, IDENTIFY_SWITCH);
  assert.ok(good.ok);
  if (!good.ok) return;
  const mutate = (f: (b: Uint8Array, v: DataView) => void, region = 64): Uint8Array => {
    const b = new Uint8Array(region);
    b.set(good.frame);
    f(b, new DataView(b.buffer));
    return b;
  };
  const cases: [string, Uint8Array, number, string][] = [
    ['short region', good.frame.subarray(0, 15), -1, 'short-region'],
    ['bad signature', mutate((_, v) => v.setUint32(0, 0x50434400 | 3, true)), -1, 'bad-signature'],
    ['other subspace', mutate(() => {}), 4, 'wrong-subspace'],
    ['length 7', mutate((_, v) => v.setUint32(8, 7, true)), -1, 'length-too-small'],
    ['length > region - 12', mutate((_, v) => v.setUint32(8, 64 - 11, true)), -1, 'length-too-large'],
    ['length huge', mutate((_, v) => v.setUint32(8, 0xffffffff, true)), -1, 'length-too-large'],
    ['command PCCM', mutate((_, v) => v.setUint32(12, 0x4d434350, true)), -1, 'bad-command'],
  ];
  for (const [what, region, id, error] of cases) {
    const d = decodePccFrame(region, id);
    assert.equal(d.ok ? 'ok' : d.error, error, what);
    assert.ok(d.ok || d.message.length > 10, 'a readable message');
  }
  assert.is(checkPccFrame(mutate((_, v) => v.setUint32(8, 64 - 12, true))), 64 - 16, 'length = region - 12 is the largest legal');
  assert.is(checkPccFrame(mutate((_, v) => v.setUint32(8, 8, true))), 4, 'length 8: header-only packet');
  assert.is(checkPccFrame(good.frame, -1), IDENTIFY_SWITCH.byteLength, 'signature id unchecked when no id is expected');
});

test('frame encoding refuses packets shorter than a header or larger than the region', () => {
  const small = encodePccFrame(0, bytes('010908'));
  assert.equal(small.ok ? null : small.error, 'packet-too-small');
  const big = encodePccFrame(0, new Uint8Array(100), 1, 100);
  assert.equal(big.ok ? null : big.error, 'packet-too-large');
  const id = encodePccFrame(256, IDENTIFY_SWITCH);
  assert.equal(id.ok ? null : id.error, 'bad-subspace-id');
  assert.is(writePccFrame(new Uint8Array(20), 0, 1, new Uint8Array(5)), PccErr.PACKET_TOO_LARGE);
  assert.is(writePccFrame(new Uint8Array(10), 0, 1, new Uint8Array(5)), PccErr.SHORT_REGION);
  assert.is(pccErrorName(PccErr.BAD_COMMAND), 'bad-command');
});

test('property: random bytes into the frame decoders never throw', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: -1, max: 300 }), (b, id) => {
    const n = checkPccFrame(b, id);
    const d = decodePccFrame(b, id);
    assert.is(d.ok, n >= 0);
    if (d.ok) {
      assert.ok(d.packet.byteLength >= 4 && 16 + d.packet.byteLength <= b.byteLength);
    }
  }), { numRuns: 3000 });
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 120 }), fc.nat({ max: 120 }), (b, len) => {
    // a valid header with a random length field
    const v = new DataView(b.buffer, b.byteOffset);
    v.setUint32(0, 0x50434307, true);
    v.setUint32(8, len, true);
    v.setUint32(12, 0x5054434d, true);
    const n = checkPccFrame(b, 7);
    if (len < 8) assert.is(n, PccErr.LENGTH_TOO_SMALL);
    else if (len > b.byteLength - 12) assert.is(n, PccErr.LENGTH_TOO_LARGE);
    else assert.is(n, len - 4);
  }), { numRuns: 2000 });
  assert.is(checkPccFrame(null as unknown as Uint8Array), PccErr.SHORT_REGION);
});

function channels(mtu = 64) {
  const arena = new SharedArrayBuffer(64 + pccBlockBytes(mtu));
  const sub = pccSubspaceBytes(mtu);
  const out = new PccChannel(arena, 64, sub, 0x0e, 3);
  const inb = new PccChannel(arena, 64 + sub, sub, 0x0f, 4);
  out.reset();
  inb.reset();
  return { arena, out, inb, words: new Int32Array(arena) };
}

test('type 3 handshake: write, clear complete, ring; platform takes, completes, interrupts; OSPM reaps', () => {
  const { arena, out, words } = channels();
  assert.ok(out.commandComplete(), 'a fresh outbox is free');
  assert.is(out.ospmSend(IDENTIFY_SWITCH), 0);
  assert.not.ok(out.commandComplete(), 'OSPM cleared command complete');
  assert.ok(out.doorbellRung());
  // the bytes in shared memory are example C's
  assert.is(hex(new Uint8Array(arena, 64 + 16, 33)), '0e434350' + '01000000' + '15000000' + '4d435450' + hex(IDENTIFY_SWITCH));
  assert.is(out.ospmSend(IDENTIFY_SWITCH), PccErr.BUSY, 'one frame in flight');
  assert.is(out.ospmReap(), PccErr.BUSY, 'not complete yet');
  const n = out.platformTake();
  assert.is(n, IDENTIFY_SWITCH.byteLength);
  assert.is(hex(out.packet(n)), hex(IDENTIFY_SWITCH));
  assert.not.ok(out.doorbellRung(), 'platform took the doorbell');
  assert.is(out.platformTake(), PccErr.NO_FRAME);
  out.platformComplete(false);
  assert.ok(out.commandComplete());
  assert.ok(out.interruptRaised(), 'flags b0 = 1 asks for the completion interrupt');
  assert.is(out.ospmReap(), 0);
  assert.not.ok(out.interruptRaised(), 'acked');
  // no interrupt when flags b0 = 0
  assert.is(out.ospmSend(IDENTIFY_SWITCH, 0), 0);
  out.platformTake();
  out.platformComplete(false);
  assert.not.ok(out.interruptRaised());
  assert.is(Atomics.load(words, 16 + 1), 1, 'complete word (check/update register) bit 0');
});

test('type 3: a malformed frame is completed with the error status, which OSPM reads and clears', () => {
  const { out, arena } = channels();
  assert.is(out.ospmSend(IDENTIFY_SWITCH), 0);
  new DataView(arena).setUint32(64 + 16 + 12, 0x12345678, true); // corrupt the command
  assert.is(out.platformTake(), PccErr.BAD_COMMAND);
  out.platformComplete(true);
  assert.ok(out.errorStatus());
  assert.is(out.ospmReap(), PccErr.PLATFORM_ERROR);
  assert.not.ok(out.errorStatus(), 'cleared by OSPM');
  assert.is(out.ospmReap(), 0);
});

test('type 4 handshake: platform waits for complete, posts, clears complete, interrupts; OSPM reads, sets complete, rings', () => {
  const { inb } = channels();
  assert.is(inb.ospmReceive(), PccErr.NO_FRAME, 'complete set = nothing pending');
  assert.is(inb.platformSend(IDENTIFY_SWITCH), 0);
  assert.not.ok(inb.commandComplete(), 'complete clear = notification pending');
  assert.ok(inb.interruptRaised());
  assert.is(inb.platformSend(IDENTIFY_SWITCH), PccErr.BUSY, 'OSPM has not consumed the last one');
  const n = inb.ospmReceive();
  assert.is(n, IDENTIFY_SWITCH.byteLength);
  assert.not.ok(inb.interruptRaised(), 'acked');
  assert.is(hex(inb.packet(n)), hex(IDENTIFY_SWITCH));
  inb.ospmConsumed();
  assert.ok(inb.commandComplete());
  assert.ok(inb.doorbellRung(), 'flags b0: OSPM rings the doorbell after consuming');
  assert.ok(inb.platformSawDoorbell());
  assert.not.ok(inb.doorbellRung());
  assert.is(inb.platformSend(IDENTIFY_SWITCH, 0), 0);
  inb.ospmReceive();
  inb.ospmConsumed();
  assert.not.ok(inb.doorbellRung(), 'no doorbell when flags b0 = 0');
});

test('roles are checked: type 3 calls on a type 4 subspace (and vice versa) throw', () => {
  const { out, inb } = channels();
  assert.throws(() => inb.ospmSend(IDENTIFY_SWITCH), /type 3/);
  assert.throws(() => out.platformSend(IDENTIFY_SWITCH), /type 4/);
  assert.throws(() => out.ospmReceive(), /type 4/);
  assert.throws(() => inb.platformTake(), /type 3/);
});

test('largest packet fits exactly; one byte more is refused', () => {
  for (const mtu of [64, 4096]) {
    const { out, inb } = channels(mtu);
    const max = out.maxPacketBytes;
    assert.ok(max >= mtu + 4);
    const p = new Uint8Array(max).fill(0x5a);
    p[0] = 1;
    assert.is(out.ospmSend(new Uint8Array(max + 1)), PccErr.PACKET_TOO_LARGE);
    assert.is(out.ospmSend(new Uint8Array(3)), PccErr.PACKET_TOO_SMALL);
    assert.is(out.ospmSend(p), 0);
    assert.is(out.platformTake(), max);
    assert.is(inb.platformSend(new Uint8Array(max + 1)), PccErr.PACKET_TOO_LARGE);
    assert.is(inb.platformSend(p), 0);
    assert.is(inb.ospmReceive(), max);
  }
});

test.run();
