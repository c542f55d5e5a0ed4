import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { CCI_HEADER_BYTES, newCciHeader, readCciHeaderInto as readCciHeader, writeCciHeader } from '../src/devices/cxl/cci-message.js';
import { Fragmenter, fragmentMessage, packetCount, Reasm, Reassembler, reassemblyDropReason } from '../src/transport/mctp-fragment.js';
import { decodeMctpPacket, encodeMctpPacket } from '../src/transport/mctp-packet.js';

const HOST = 8;
const DEV = 9;

function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const eq = (a: Uint8Array, b: Uint8Array): boolean => a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

function rx(over: Partial<ConstructorParameters<typeof Reassembler>[0]> = {}): Reassembler {
  return new Reassembler({ localEid: DEV, maxMessageBytes: 80000, maxUnit: 4096, ...over });
}

/** feeds packets; returns the delivered messages (copies) */
function feed(r: Reassembler, pkts: Uint8Array[], nowNs = 0): { msgs: Uint8Array[]; codes: number[] } {
  const msgs: Uint8Array[] = [];
  const codes: number[] = [];
  for (const p of pkts) {
    const c = r.accept(p, nowNs);
    codes.push(c);
    if (c === Reasm.MESSAGE) msgs.push(r.message.slice());
  }
  return { msgs, codes };
}

const pkt = (flags: { som?: boolean; eom?: boolean; seq?: number; to?: boolean; tag?: number; src?: number; dest?: number }, payload: Uint8Array) =>
  encodeMctpPacket({ dest: flags.dest ?? DEV, src: flags.src ?? HOST, som: !!flags.som, eom: !!flags.eom, seq: flags.seq ?? 0, tagOwner: flags.to ?? true, tag: flags.tag ?? 0 }, payload);

const SIZES = [0, 1, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 4095, 4096, 4097, 8192, 65535, 65536, 70000];

for (const mtu of [64, 4096]) {
  test(`fragmentation at MTU ${mtu}: sizes 0..70000, full units, SOM/EOM, seq +1 mod 4, round trip`, () => {
    for (const size of SIZES) {
      const body = pattern(size, size + 1);
      for (const seq0 of [0, 3]) {
        const pkts = fragmentMessage(body, mtu, HOST, DEV, 5, true, seq0);
        assert.is(pkts.length, packetCount(size, mtu), `count for ${size}`);
        pkts.forEach((p, i) => {
          const d = decodeMctpPacket(p);
          assert.ok(d.ok);
          if (!d.ok) return;
          const last = i === pkts.length - 1;
          assert.is(d.header.som, i === 0, `SOM of packet ${i}/${size}`);
          assert.is(d.header.eom, last, `EOM of packet ${i}/${size}`);
          assert.is(d.header.seq, (seq0 + i) % 4, `seq of packet ${i}`);
          assert.is(d.header.tag, 5);
          assert.is(d.header.tagOwner, true);
          assert.is(d.header.src, HOST);
          assert.is(d.header.dest, DEV);
          if (!last) assert.is(d.payload.byteLength, mtu, 'non-final packets carry a full unit');
          else assert.is(d.payload.byteLength, size - mtu * (pkts.length - 1));
        });
        const r = rx({ maxUnit: mtu });
        const { msgs, codes } = feed(r, pkts);
        assert.is(msgs.length, 1, `one message for ${size}`);
        assert.ok(eq(msgs[0]!, body), `content for ${size} at MTU ${mtu}`);
        assert.is(codes.filter((c) => c < 0).length, 0);
        assert.is(r.inProgress(), 0);
      }
    }
  });
}

test('Fragmenter writes straight into a caller buffer at an offset and reports -1 when done', () => {
  const f = new Fragmenter();
  const body = pattern(150);
  assert.is(f.begin(body, 64, HOST, DEV, 2, true), 3);
  const out = new Uint8Array(100);
  const lens: number[] = [];
  let n: number;
  while ((n = f.next(out, 16)) >= 0) lens.push(n);
  assert.equal(lens, [68, 68, 26]);
  assert.is(f.done, true);
  assert.is(f.next(out), -1);
  assert.throws(() => f.begin(body, 0, HOST, DEV, 0, true), /transmission unit/);
  assert.throws(() => f.begin(body, 64, HOST, 300, 0, true), /EID/);
});

test('drop: bad header version', () => {
  const r = rx();
  const p = pkt({ som: true, eom: true }, new Uint8Array([8]));
  p[0] = 0x02;
  assert.is(r.accept(p), Reasm.DROP_BAD_VERSION);
  assert.is(r.drops[-Reasm.DROP_BAD_VERSION], 1);
  assert.match(reassemblyDropReason(Reasm.DROP_BAD_VERSION), /version/);
});

test('drop: truncated packet (shorter than the header)', () => {
  const r = rx();
  assert.is(r.accept(new Uint8Array([1, 9, 8])), Reasm.DROP_TRUNCATED);
  assert.is(r.acceptAt(new Uint8Array(8), 6, 4, 0), Reasm.DROP_TRUNCATED, 'window past the buffer end');
});

test('drop: destination EID neither ours nor null; null EID accepted', () => {
  const r = rx();
  assert.is(r.accept(pkt({ som: true, eom: true, dest: 10 }, new Uint8Array([8]))), Reasm.DROP_WRONG_DEST);
  assert.is(r.accept(pkt({ som: true, eom: true, dest: 255 }, new Uint8Array([8]))), Reasm.DROP_WRONG_DEST);
  assert.is(r.accept(pkt({ som: true, eom: true, dest: 0 }, new Uint8Array([8]))), Reasm.MESSAGE);
  assert.is(r.messageDest, 0);
  assert.is(r.accept(pkt({ som: true, eom: true, dest: DEV }, new Uint8Array([8]))), Reasm.MESSAGE);
});

test('drop: non-SOM packet with no assembly in progress', () => {
  const r = rx();
  assert.is(r.accept(pkt({ seq: 1 }, pattern(64))), Reasm.DROP_NO_CONTEXT);
  assert.is(r.accept(pkt({ eom: true, seq: 1 }, pattern(3))), Reasm.DROP_NO_CONTEXT);
  assert.is(r.drops[-Reasm.DROP_NO_CONTEXT], 2);
});

test('drop: wrong sequence drops the packet and abandons the assembly', () => {
  const r = rx({ maxUnit: 64 });
  const pkts = fragmentMessage(pattern(200), 64, HOST, DEV, 1, true);
  assert.is(r.accept(pkts[0]!), Reasm.MORE);
  assert.is(r.accept(pkts[2]!), Reasm.DROP_SEQUENCE, 'packet 1 lost');
  assert.is(r.inProgress(), 0, 'abandoned');
  assert.is(r.accept(pkts[3]!), Reasm.DROP_NO_CONTEXT, 'the rest falls on the floor');
  assert.is(r.accept(pkts[1]!), Reasm.DROP_NO_CONTEXT, 'late packet too');
});

test('drop: oversize packet (payload above the receiver transmission unit) and oversize message', () => {
  const r = rx({ maxUnit: 64, maxMessageBytes: 150 });
  assert.is(r.accept(pkt({ som: true, eom: true }, pattern(65))), Reasm.DROP_OVERSIZE_PACKET);
  const pkts = fragmentMessage(pattern(151), 64, HOST, DEV, 1, true);
  assert.is(r.accept(pkts[0]!), Reasm.MORE);
  assert.is(r.accept(pkts[1]!), Reasm.MORE);
  assert.is(r.accept(pkts[2]!), Reasm.DROP_OVERSIZE_MESSAGE);
  assert.is(r.inProgress(), 0);
  const ok = fragmentMessage(pattern(150), 64, HOST, DEV, 1, true);
  assert.is(feed(r, ok).msgs.length, 1, 'exactly the limit is fine');
});

test('drop: packet sizes that break the transmission unit (middle != first, EOM longer or empty, empty SOM)', () => {
  const r = rx();
  assert.is(r.accept(pkt({ som: true, seq: 0 }, pattern(64))), Reasm.MORE);
  assert.is(r.accept(pkt({ seq: 1 }, pattern(63))), Reasm.DROP_BAD_SIZE, 'short middle packet');
  assert.is(r.accept(pkt({ som: true, seq: 0 }, pattern(64))), Reasm.MORE);
  assert.is(r.accept(pkt({ eom: true, seq: 1 }, pattern(65))), Reasm.DROP_BAD_SIZE, 'EOM longer than the unit');
  assert.is(r.accept(pkt({ som: true, seq: 0 }, pattern(64))), Reasm.MORE);
  assert.is(r.accept(pkt({ eom: true, seq: 1 }, new Uint8Array(0))), Reasm.DROP_BAD_SIZE, 'empty EOM');
  assert.is(r.accept(pkt({ som: true, seq: 0 }, new Uint8Array(0))), Reasm.DROP_BAD_SIZE, 'empty SOM without EOM');
  assert.is(r.inProgress(), 0);
  assert.is(r.accept(pkt({ som: true, eom: true }, new Uint8Array(0))), Reasm.MESSAGE, 'an empty single-packet message is legal');
  assert.is(r.message.byteLength, 0);
});

test('repeated SOM restarts the assembly with the new message (QEMU behaviour)', () => {
  const r = rx({ maxUnit: 64 });
  const a = fragmentMessage(pattern(300, 1), 64, HOST, DEV, 3, true);
  const b = fragmentMessage(pattern(200, 2), 64, HOST, DEV, 3, true, 2);
  const c = fragmentMessage(pattern(100, 3), 64, HOST, DEV, 3, true, 1);
  const { msgs, codes } = feed(r, [a[0]!, a[1]!, b[0]!, c[0]!, b[1]!, c[1]!]);
  assert.equal(codes, [Reasm.MORE, Reasm.MORE, Reasm.MORE, Reasm.MORE, Reasm.DROP_SEQUENCE, Reasm.DROP_NO_CONTEXT]);
  assert.is(msgs.length, 0);
  assert.is(r.restarts, 2);
  const again = feed(r, [a[0]!, b[0]!, ...b.slice(1)]);
  assert.is(again.msgs.length, 1);
  assert.ok(eq(again.msgs[0]!, pattern(200, 2)));
  assert.is(r.restarts, 3);
});

test('the assembly key includes source EID, tag and tag owner: interleaved messages do not mix', () => {
  const r = rx({ maxUnit: 64 });
  const m1 = pattern(200, 11);
  const m2 = pattern(200, 12);
  const m3 = pattern(200, 13);
  const m4 = pattern(200, 14);
  const p1 = fragmentMessage(m1, 64, HOST, DEV, 1, true);
  const p2 = fragmentMessage(m2, 64, HOST, DEV, 1, false, 0); // same tag, TO = 0
  const p3 = fragmentMessage(m3, 64, 0x20, DEV, 1, true); // another source
  const p4 = fragmentMessage(m4, 64, HOST, DEV, 2, true); // another tag
  const order: Uint8Array[] = [];
  for (let i = 0; i < 4; i++) order.push(p1[i]!, p2[i]!, p3[i]!, p4[i]!);
  const got: { msg: Uint8Array; src: number; tag: number; to: boolean }[] = [];
  for (const p of order) {
    if (r.accept(p) === Reasm.MESSAGE) got.push({ msg: r.message.slice(), src: r.messageSrc, tag: r.messageTag, to: r.messageTagOwner });
  }
  assert.is(got.length, 4);
  assert.ok(eq(got[0]!.msg, m1) && got[0]!.tag === 1 && got[0]!.to && got[0]!.src === HOST);
  assert.ok(eq(got[1]!.msg, m2) && got[1]!.tag === 1 && !got[1]!.to);
  assert.ok(eq(got[2]!.msg, m3) && got[2]!.src === 0x20);
  assert.ok(eq(got[3]!.msg, m4) && got[3]!.tag === 2);
});

test('idle assemblies time out (binding inter-packet timeout); expire() and on-demand', () => {
  const r = rx({ maxUnit: 64, timeoutNs: 100e6 });
  const p = fragmentMessage(pattern(200), 64, HOST, DEV, 1, true);
  assert.is(r.accept(p[0]!, 0), Reasm.MORE);
  assert.is(r.accept(p[1]!, 99e6), Reasm.MORE);
  assert.is(r.accept(p[2]!, 199e6), Reasm.DROP_NO_CONTEXT, '100 ms after the last packet: gone');
  assert.is(r.expired, 1);
  r.accept(p[0]!, 1e9);
  assert.is(r.expire(1e9 + 50e6), 0);
  assert.is(r.expire(1e9 + 100e6), 1);
  assert.is(r.inProgress(), 0);
});

test('contexts are bounded: the least recently active assembly is evicted', () => {
  const r = rx({ maxUnit: 64, maxContexts: 2 });
  const a = fragmentMessage(pattern(100, 1), 64, HOST, DEV, 1, true);
  const b = fragmentMessage(pattern(100, 2), 64, HOST, DEV, 2, true);
  const c = fragmentMessage(pattern(100, 3), 64, HOST, DEV, 3, true);
  r.accept(a[0]!, 1);
  r.accept(b[0]!, 2);
  r.accept(c[0]!, 3);
  assert.is(r.evicted, 1);
  assert.is(r.accept(a[1]!, 4), Reasm.DROP_NO_CONTEXT, 'a was the oldest');
  assert.is(r.accept(b[1]!, 5), Reasm.MESSAGE);
  assert.is(r.accept(c[1]!, 6), Reasm.MESSAGE);
});

// ---------------------------------------------------------------- properties

/** A CXL-style message: [type][CCI header with the payload length][payload] */
function cxlBody(payloadLen: number, seed: number): Uint8Array {
  const m = new Uint8Array(1 + CCI_HEADER_BYTES + payloadLen);
  m[0] = 8;
  writeCciHeader(m, 1, { category: 0, tag: seed & 0xff, opcode: 0x0401, payloadLength: payloadLen, bo: false, rc: 0, vendorStatus: 0 });
  m.set(pattern(payloadLen, seed), 1 + CCI_HEADER_BYTES);
  return m;
}

/** What a CXL consumer accepts: a message whose CCI length matches the bytes received. */
function consistent(m: Uint8Array): boolean {
  const h = newCciHeader();
  return readCciHeader(m, 1, h) && h.payloadLength === m.byteLength - 1 - CCI_HEADER_BYTES;
}

test('property: in-order links with random drops and interleaved messages never deliver a corrupted message', () => {
  const seen = { exact: 0, caught: 0, lost: 0 };
  fc.assert(fc.property(
    fc.array(fc.record({ len: fc.integer({ min: 0, max: 1200 }), tag: fc.integer({ min: 0, max: 7 }), seq0: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 4 }),
    fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 300 }),
    fc.array(fc.nat(), { maxLength: 200 }),
    fc.integer({ min: 1, max: 1 << 30 }),
    (specs, dropDice, pick, seed) => {
      // distinct tags so the messages are concurrent assemblies
      const used = new Set<number>();
      const msgs = specs.filter((s) => !used.has(s.tag) && used.add(s.tag)).map((s, i) => ({ ...s, body: cxlBody(s.len, seed + i) }));
      const queues = msgs.map((m) => fragmentMessage(m.body, 64, HOST, DEV, m.tag, true, m.seq0));
      const r = rx({ maxUnit: 64 });
      let k = 0;
      let pi = 0;
      const delivered: { tag: number; msg: Uint8Array }[] = [];
      while (queues.some((q) => q.length > 0)) {
        const live = queues.map((q, i) => (q.length > 0 ? i : -1)).filter((i) => i >= 0);
        const qi = live[(pick[pi++ % Math.max(1, pick.length)] ?? 0) % live.length]!;
        const p = queues[qi]!.shift()!;
        if (dropDice[k++ % dropDice.length] === 0) continue; // dropped in transit (1 in 8)
        if (r.accept(p) === Reasm.MESSAGE) delivered.push({ tag: r.messageTag, msg: r.message.slice() });
      }
      seen.lost += msgs.length - delivered.length;
      for (const d of delivered) {
        const orig = msgs.find((m) => m.tag === d.tag)!.body;
        if (consistent(d.msg)) {
          assert.ok(eq(d.msg, orig), 'a length-consistent delivery is the original');
          seen.exact++;
        } else {
          seen.caught++;
          assert.ok(d.msg.byteLength < orig.byteLength && (orig.byteLength - d.msg.byteLength) % (4 * 64) === 0,
            'the only loss reassembly misses is a multiple of 4 packets, which the CCI length exposes');
        }
      }
    },
  ), { numRuns: 400 });
  assert.ok(seen.exact > 100 && seen.lost > 50, `the property saw deliveries and losses: ${JSON.stringify(seen)}`);
});

test('property: any ordering, duplication or drop of a message of up to 4 packets delivers it intact or not at all', () => {
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 256 }),
    fc.array(fc.nat({ max: 7 }), { maxLength: 20 }),
    fc.integer({ min: 0, max: 3 }),
    (len, order, seq0) => {
      const body = pattern(len, len + 7);
      const pkts = fragmentMessage(body, 64, HOST, DEV, 4, true, seq0);
      const r = rx({ maxUnit: 64 });
      for (const i of order) {
        const p = pkts[i % pkts.length]!;
        if (r.accept(p) === Reasm.MESSAGE) assert.ok(eq(r.message, body));
      }
    },
  ), { numRuns: 2000 });
});

test('the 2-bit sequence limit: 4 consecutive lost packets pass reassembly, the CCI length check catches it', () => {
  const body = cxlBody(600, 3);
  const pkts = fragmentMessage(body, 64, HOST, DEV, 0, true);
  const r = rx({ maxUnit: 64 });
  const kept = [pkts[0]!, ...pkts.slice(5)];
  const { msgs } = feed(r, kept);
  assert.is(msgs.length, 1);
  assert.is(msgs[0]!.byteLength, body.byteLength - 4 * 64);
  assert.not.ok(consistent(msgs[0]!));
});

test('property: random bytes into the reassembler never throw and never deliver from garbage without SOM', () => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 30 }), fc.integer({ min: 0, max: 3 }), (pkts, off) => {
    const r = rx({ maxUnit: 64, maxMessageBytes: 500 });
    for (const p of pkts) {
      const c = r.acceptAt(p, Math.min(off, p.byteLength), Math.max(0, p.byteLength - off), 0);
      assert.ok(c >= Reasm.DROP_OVERSIZE_MESSAGE && c <= Reasm.MESSAGE);
      assert.type(reassemblyDropReason(c), 'string');
    }
  }), { numRuns: 2000 });
});

test.run();
