import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCciMessage } from '../../src/devices/cxl/cci-message.js';
import { decodeTunnelRequest, decodeTunnelResponse, encodeTunnelRequest } from '../../src/devices/cxl/tunnel.js';
import { decodeMctpPacket } from '../../src/transport/mctp-packet.js';
import { decodePccFrame } from '../../src/transport/pcc-channel.js';
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
    decodePccFrame(b, b.byteLength + 16);
  }), { numRuns: 3000 });
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
