import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  CCI_HEADER_BYTES, CCI_MAX_PAYLOAD, cciPayloadLength, decodeCciMessage, encodeCciRequest, encodeCciResponse,
  isCciDecodeError, newCciHeader, readCciHeader, readCciHeaderInto, writeCciHeader, writeCciHeaderFields,
} from '../src/devices/cxl/cci-message.js';
import {
  decodeTunnelRequest, decodeTunnelResponse, encodeTunnelRequest, isTunnelDecodeError, TUNNEL_OPCODE,
} from '../src/devices/cxl/tunnel.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

// ------------------------------------------------------------------ hand-built bytes (CXL r3.2 Table 7-14)

test('request header: Identify Switch Device, tag 05h (sheet example A, after the MCTP type byte)', () => {
  assert.is(hex(encodeCciRequest(0x5100, new Uint8Array(0), 0x05)), '000500005100000000000000');
});

test('response header: category 1, tag echoed, 49h-byte payload (sheet example A packet 1)', () => {
  const out = encodeCciResponse(0x05, 0x5100, 0, new Uint8Array(0x49));
  assert.is(out.byteLength, 12 + 0x49);
  assert.is(hex(out.subarray(0, 12)), '010500005149000000000000');
});

test('opcode bytes: command at 03h, command set at 04h', () => {
  assert.is(hex(encodeCciRequest(0x4200, new Uint8Array(0), 0xab).subarray(0, 5)), '00ab000042');
});

test('payload length is 21 bits: bits 15:0 at 05h, bits 20:16 in 07h[4:0]; BO is 07h bit 7', () => {
  const b = new Uint8Array(12);
  writeCciHeaderFields(b, 0, 1, 0x7f, 0x0301, 0x1abcde, true, 0x0016, 0xabcd);
  assert.is(hex(b), '017f000103debc9a1600cdab');
  writeCciHeaderFields(b, 0, 1, 0, 0, CCI_MAX_PAYLOAD, false, 0, 0);
  assert.is(hex(b.subarray(5, 8)), 'ffff1f');
  assert.throws(() => writeCciHeaderFields(b, 0, 1, 0, 0, CCI_MAX_PAYLOAD + 1, false, 0, 0), /21 bits/);
});

test('reserved bits are ignored on receive: 00h[7:4], 02h, 07h[6:5]', () => {
  const h = readCciHeader(bytes('f1 09 ee 01 00 0a 00 e0 05 00 34 12'));
  assert.not.ok(isCciDecodeError(h));
  if (isCciDecodeError(h)) return;
  assert.equal(h, { category: 1, tag: 9, opcode: 0x0001, payloadLength: 0x0a, bo: true, rc: 5, vendorStatus: 0x1234 });
});

test('writeCciHeader zeroes the reserved bytes', () => {
  const b = new Uint8Array(12).fill(0xff);
  writeCciHeader(b, 0, { category: 0, tag: 1, opcode: 0x5300, payloadLength: 16, bo: false, rc: 0, vendorStatus: 0 });
  assert.is(hex(b), '000100005310000000000000');
});

test('readCciHeaderInto fills a reused object; false when fewer than 12 bytes', () => {
  const h = newCciHeader();
  assert.ok(readCciHeaderInto(bytes('00 ff 00 00 51 00 00 00 00 00 00 00'), 0, h));
  assert.is(h.opcode, 0x5100);
  assert.is(h.tag, 0xff);
  assert.not.ok(readCciHeaderInto(new Uint8Array(11), 0, h));
  assert.is(h.opcode, 0x5100, 'untouched');
  assert.not.ok(readCciHeaderInto(new Uint8Array(20), 9, h));
});

test('decodeCciMessage: whole message, payload view', () => {
  const m = decodeCciMessage(bytes('01 05 00 01 00 02 00 00 00 00 00 00 aa bb'), 'response');
  assert.not.ok(isCciDecodeError(m));
  if (isCciDecodeError(m)) return;
  assert.is(m.header.opcode, 0x0001);
  assert.is(hex(m.payload), 'aabb');
});

test('decodeCciMessage errors are typed, with the rc a CCI would answer', () => {
  const t = decodeCciMessage(new Uint8Array(11));
  assert.ok(isCciDecodeError(t) && t.error === 'truncated' && t.rc === 0x16);
  const l = decodeCciMessage(bytes('00 05 00 01 00 03 00 00 00 00 00 00 aa bb'));
  assert.ok(isCciDecodeError(l) && l.error === 'length-mismatch' && l.rc === 0x16);
  const c = decodeCciMessage(bytes('02 05 00 01 00 00 00 00 00 00 00 00'));
  assert.ok(isCciDecodeError(c) && c.error === 'reserved-category' && c.rc === 0x02);
  const u = decodeCciMessage(bytes('00 05 00 01 00 00 00 00 00 00 00 00'), 'response');
  assert.ok(isCciDecodeError(u) && u.error === 'unexpected-category');
  const big = bytes('00 05 00 01 00 00 00 01 00 00 00 00'); // length 10000h, nothing present
  const e = decodeCciMessage(big);
  assert.ok(isCciDecodeError(e) && e.error === 'length-mismatch');
  assert.is(cciPayloadLength(big), 0x10000);
});

// ------------------------------------------------------------------ property tests

const ERROR_CODES = new Set(['truncated', 'length-mismatch', 'reserved-category', 'unexpected-category']);

test('property: random bytes never make decodeCciMessage throw; result is a message or a typed error', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(undefined, 'request' as const, 'response' as const), (b, expect) => {
      const r = decodeCciMessage(b, expect);
      if (isCciDecodeError(r)) {
        assert.ok(ERROR_CODES.has(r.error), r.error);
        assert.type(r.detail, 'string');
        assert.type(r.rc, 'number');
      } else {
        assert.is(r.payload.byteLength + CCI_HEADER_BYTES, b.byteLength);
        assert.is(r.header.payloadLength, r.payload.byteLength);
      }
    }),
    { numRuns: 2000 },
  );
});

test('property: encode -> decode round trips every header field', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }),
      fc.boolean(), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 300 }),
      (category, tag, opcode, bo, rc, vendorStatus, payload) => {
        const msg = new Uint8Array(12 + payload.byteLength);
        writeCciHeader(msg, 0, { category, tag, opcode, payloadLength: payload.byteLength, bo, rc, vendorStatus });
        msg.set(payload, 12);
        const d = decodeCciMessage(msg);
        assert.not.ok(isCciDecodeError(d));
        if (isCciDecodeError(d)) return;
        assert.equal(d.header, { category, tag, opcode, payloadLength: payload.byteLength, bo, rc, vendorStatus });
        assert.equal(Array.from(d.payload), Array.from(payload));
        const req = encodeCciRequest(opcode, payload, tag);
        const dr = decodeCciMessage(req, 'request');
        assert.ok(!isCciDecodeError(dr) && dr.header.tag === tag && dr.header.opcode === opcode && dr.header.rc === 0);
      },
    ),
    { numRuns: 1000 },
  );
});

const TUNNEL_ERRORS = new Set(['truncated', 'command-size-too-small', 'size-mismatch', 'not-a-request', 'not-a-response', 'length-mismatch']);

test('property: random bytes never make the tunnel decoders throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 96 }), (b) => {
      for (const r of [decodeTunnelRequest(b), decodeTunnelResponse(b)]) {
        if (isTunnelDecodeError(r)) {
          assert.ok(TUNNEL_ERRORS.has(r.error), r.error);
          assert.ok(r.level >= 0);
        }
      }
    }),
    { numRuns: 3000 },
  );
});

/** Random bytes that are valid at the outer layers: a well-formed tunnel wrapping random garbage. */
test('property: well-formed outer layers around random inner bytes never throw, errors name a level', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.uint8Array({ maxLength: 40 }), (depth, junk) => {
      // Build an outer tunnel whose innermost "message" is junk (any length), fixing the sizes at each level.
      let inner: Uint8Array = junk;
      for (let k = 0; k < depth; k++) {
        const t = new Uint8Array(4 + inner.byteLength);
        t[0] = k;
        t[2] = inner.byteLength & 0xff;
        t[3] = inner.byteLength >>> 8;
        t.set(inner, 4);
        inner = k === depth - 1 ? t : encodeCciRequest(TUNNEL_OPCODE, t, k);
      }
      const r = decodeTunnelRequest(inner);
      if (isTunnelDecodeError(r)) assert.ok(r.level < depth + 1);
      else assert.ok(r.hops.length >= depth - 1);
    }),
    { numRuns: 2000 },
  );
});

test('property: encodeTunnelRequest -> decodeTunnelRequest round trip', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ portOrLd: fc.integer({ min: 0, max: 255 }), targetType: fc.integer({ min: 0, max: 15 }) }), { minLength: 1, maxLength: 5 }),
      fc.integer({ min: 0, max: 0xffff }).filter((o) => o !== TUNNEL_OPCODE),
      fc.uint8Array({ maxLength: 200 }),
      fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 5 }),
      (path, opcode, payload, tags) => {
        const enc = encodeTunnelRequest(path, opcode, payload, tags);
        const d = decodeTunnelRequest(enc);
        assert.not.ok(isTunnelDecodeError(d));
        if (isTunnelDecodeError(d)) return;
        assert.equal(d.hops, path.map((h, k) => ({ portOrLd: h.portOrLd, targetType: h.targetType, tag: tags[k] ?? 0 })));
        assert.is(d.opcode, opcode);
        assert.equal(Array.from(d.payload), Array.from(payload));
        assert.is(enc.byteLength, 16 * path.length + payload.byteLength);
      },
    ),
    { numRuns: 1000 },
  );
});

test('property: responses wrapped level by level unwind to the innermost status and payload', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 0xffff }).filter((o) => o !== TUNNEL_OPCODE),
      fc.integer({ min: 0, max: 0x20 }), fc.integer({ min: 0, max: 0xffff }), fc.boolean(), fc.uint8Array({ maxLength: 100 }),
      (depth, opcode, rc, vendor, bo, payload) => {
        // wrap by hand: tunnel response = le16 length, 2 rsvd, response message
        let msg = encodeCciResponse(depth - 1, opcode, rc, payload, { vendorStatus: vendor, bo });
        let body = new Uint8Array(0);
        for (let k = depth - 1; k >= 0; k--) {
          body = new Uint8Array(4 + msg.byteLength);
          body[0] = msg.byteLength & 0xff;
          body[1] = msg.byteLength >>> 8;
          body.set(msg, 4);
          if (k > 0) msg = encodeCciResponse(k - 1, TUNNEL_OPCODE, 0, body);
        }
        const d = decodeTunnelResponse(body);
        assert.not.ok(isTunnelDecodeError(d));
        if (isTunnelDecodeError(d)) return;
        assert.is(d.hops.length, depth);
        assert.is(d.innerOpcode, opcode);
        assert.is(d.innerRc, rc);
        assert.is(d.innerVendor, vendor);
        assert.is(d.innerBackground, bo);
        assert.equal(Array.from(d.innerPayload), Array.from(payload));
      },
    ),
    { numRuns: 1000 },
  );
});

test.run();
