import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCciMessage } from '../../src/devices/cxl/cci-message.js';
import { decodeTunnelRequest, decodeTunnelResponse, encodeTunnelRequest } from '../../src/devices/cxl/tunnel.js';
import { decodeMctpPacket } from '../../src/transport/mctp-packet.js';
import { decodePccFrame, encodePccFrame } from '../../src/transport/pcc-channel.js';
import { cxlPolicyFromCel, nvmePolicyFromEffectsLog } from '../../src/policy/policy-table.js';
import { FABRIC_DESTRUCTIVE } from '../../src/policy/rules.js';
import { REFUSED_LEVEL, TierLevel } from '../../src/policy/tiers.js';

/** Property tests over the decoders and the policy (the rings have their model-based test in ring.test). */

const bytes = fc.uint8Array({ maxLength: 600 });

test('decoders never throw on arbitrary bytes: CCI messages, tunnels, MCTP packets, PCC frames', () => {
  fc.assert(fc.property(bytes, (b) => {
    decodeCciMessage(b);
    decodeCciMessage(b, 'request');
    decodeTunnelRequest(b);
    decodeTunnelResponse(b);
    decodeMctpPacket(b);
    decodePccFrame(b);
  }), { numRuns: 3000 });
});

test('PCC frames: any bytes and any subspace id decode without throwing, and never as another subspace\'s frame', () => {
  // a region with a random header whose fields are often plausible (a PCC signature 50434300h | id, a length
  // near the region size, the "MCTP" command), so every check of the decoder is reached, not just the first
  const region = fc.record({
    head: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    body: fc.uint8Array({ maxLength: 120 }),
    sigId: fc.option(fc.integer({ min: 0, max: 255 })),
    length: fc.option(fc.integer({ min: 0, max: 160 })),
    command: fc.boolean(),
    cut: fc.oneof({ arbitrary: fc.constant(null), weight: 9 }, { arbitrary: fc.integer({ min: 0, max: 15 }), weight: 1 }),
  }).map(({ head, body, sigId, length, command, cut }) => {
    const b = new Uint8Array(16 + body.byteLength);
    b.set(head, 0);
    b.set(body, 16);
    const v = new DataView(b.buffer);
    if (sigId !== null) v.setUint32(0, (0x50434300 | sigId) >>> 0, true);
    if (length !== null) v.setUint32(8, length, true);
    if (command) b.set([0x4d, 0x43, 0x54, 0x50], 12);
    return cut === null ? b : b.subarray(0, cut);
  });
  // checked in order: region size, signature, subspace id, then length and command
  // (the id asked for is the frame's own about half the time)
  fc.assert(fc.property(region, fc.option(fc.integer({ min: 0, max: 255 })), (b, asked) => {
    const id = asked ?? b[0] ?? 0;
    const any = decodePccFrame(b);
    const mine = decodePccFrame(b, id);
    if (!any.ok && (any.error === 'short-region' || any.error === 'bad-signature')) assert.equal(mine, any);
    else if (b[0] === id) assert.equal(mine, any, 'the right subspace: decoded as without an id');
    else assert.is(mine.ok ? 'ok' : mine.error, 'wrong-subspace', 'another subspace\'s frame is never taken');
    if (mine.ok) assert.is(mine.subspaceId, id);
  }), { numRuns: 3000 });
  // frames written for subspace `id` decode for `id` (and as such without one), and for no other id
  fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 4, maxLength: 100 }), (id, other, packet) => {
    const enc = encodePccFrame(id, packet);
    assert.ok(enc.ok);
    if (!enc.ok) return;
    const dec = decodePccFrame(enc.frame, id);
    assert.ok(dec.ok);
    if (!dec.ok) return;
    assert.is(dec.subspaceId, id);
    assert.equal([...dec.packet], [...packet]);
    assert.equal(decodePccFrame(enc.frame), dec);
    const wrong = decodePccFrame(enc.frame, other);
    if (other === id) assert.ok(wrong.ok);
    else assert.is(wrong.ok ? 'ok' : wrong.error, 'wrong-subspace');
  }), { numRuns: 1000 });
});

test('tunnel requests round-trip at every depth, and any single corrupted length byte is caught, not misread', () => {
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 3 }),
    fc.integer({ min: 0, max: 0xffff }),
    fc.uint8Array({ maxLength: 200 }),
    (path, opcode, payload) => {
      const enc = encodeTunnelRequest(path.map((portOrLd) => ({ portOrLd })), opcode === 0x5300 ? 0x5301 : opcode, payload);
      const dec = decodeTunnelRequest(enc);
      assert.ok(!('error' in dec));
      if ('error' in dec) return;
      assert.equal(dec.hops.map((h) => h.portOrLd), path);
      assert.equal([...dec.payload], [...payload]);
      const bad = enc.slice();
      bad[2] = (bad[2]! + 1) & 0xff; // outer Command Size off by one
      assert.ok('error' in decodeTunnelRequest(bad));
    }), { numRuns: 500 });
});

test('policy: levels come only from the log, refusals only from absence, destructive opcodes never below their tier', () => {
  const entry = fc.record({ op: fc.integer({ min: 0, max: 0xffff }), eff: fc.integer({ min: 0, max: 0xffff }) });
  fc.assert(fc.property(fc.uniqueArray(entry, { selector: (e) => e.op, maxLength: 64 }), fc.boolean(), (entries, shared) => {
    const cel = new Uint8Array(entries.length * 4);
    const v = new DataView(cel.buffer);
    entries.forEach((e, i) => { v.setUint16(i * 4, e.op, true); v.setUint16(i * 4 + 2, e.eff, true); });
    const t = cxlPolicyFromCel(cel, shared, new Map());
    const declared = new Set(entries.map((e) => e.op));
    for (const e of entries) {
      const lvl = t.level[e.op]!;
      assert.ok(lvl !== REFUSED_LEVEL || FABRIC_DESTRUCTIVE.has(e.op), `a declared opcode is never refused (0x${e.op.toString(16)})`);
      if ((e.eff & 0x103e) !== 0) assert.ok(lvl >= TierLevel['debug-write-full'], 'immediate/security/reserved effects need debug-write-full');
    }
    for (const op of [0x0001, 0x4200, 0x7777, 0xc123]) if (!declared.has(op) && !FABRIC_DESTRUCTIVE.has(op)) assert.is(t.level[op], REFUSED_LEVEL);
    for (const op of FABRIC_DESTRUCTIVE.keys()) assert.is(t.level[op], TierLevel['fabric-destructive'], 'whatever the device says');
  }), { numRuns: 200 });
  fc.assert(fc.property(fc.uint8Array({ minLength: 1024, maxLength: 1024 }), (log) => {
    const t = nvmePolicyFromEffectsLog(log, new Map());
    const v = new DataView(log.buffer);
    for (let op = 0; op < 256; op++) {
      const e = v.getUint32(op * 4, true);
      if ((e & 1) === 0) assert.is(t.level[op], REFUSED_LEVEL, 'CSUPP clear is refused');
      else if (op >= 0xc0 || (e & 0x7001e) !== 0) assert.is(t.level[op], TierLevel['debug-write-full']);
      else assert.ok(t.level[op]! <= TierLevel['debug-write']);
    }
  }), { numRuns: 100 });
});

test.run();
