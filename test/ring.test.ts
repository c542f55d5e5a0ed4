import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Ctl, SLOT_WORDS } from '../src/ring/layout.js';
import { createRing, RingConsumer, RingProducer } from '../src/ring/spsc-ring.js';

function pair(slots = 8, payloadBytes = 1024, initial = 0, initialPayload = 0) {
  const sab = createRing({ slots, payloadBytes }, initial, initialPayload);
  return { sab, p: new RingProducer(sab), c: new RingConsumer(sab) };
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

test('empty ring: nothing available, all slots free', () => {
  const { p, c } = pair();
  assert.is(c.available(), 0);
  assert.is(p.freeSlots(), 8);
});

test('descriptor fields round-trip exactly', () => {
  const { p, c } = pair();
  assert.ok(p.push(0xdeadbeef, 12345, 0x4200, 0x8001, bytes(5, 1), -1, 7, 0x7fffffff));
  p.publish();
  assert.is(c.available(), 1);
  const w = c.slotWord(0);
  assert.is(c.tag(w), 0xdeadbeef);
  assert.is(c.target(w), 12345);
  assert.is(c.opcode(w), 0x4200);
  assert.is(c.flags(w), 0x8001);
  assert.is(c.arg0(w), -1);
  assert.is(c.arg1(w), 7);
  assert.is(c.arg2(w), 0x7fffffff);
  assert.equal([...c.payloadOf(w)], [...bytes(5, 1)]);
});

test('batch publish: the consumer sees nothing until one publish makes the whole batch visible', () => {
  const { sab, p, c } = pair();
  for (let i = 0; i < 5; i++) assert.ok(p.push(i, 0, 1, 0, null));
  assert.is(p.unpublished, 5);
  assert.is(c.available(), 0, 'unpublished descriptors are invisible');
  const tailBefore = Atomics.load(new Int32Array(sab), Ctl.TAIL);
  assert.is(p.publish(), 5);
  assert.is(Atomics.load(new Int32Array(sab), Ctl.TAIL), tailBefore + 5);
  assert.is(c.available(), 5);
  assert.is(p.publish(), 0, 'nothing new to publish');
});

test('full ring: push fails without overwriting, and succeeds again after release', () => {
  const { p, c } = pair(4);
  for (let i = 0; i < 4; i++) assert.ok(p.push(100 + i, 0, 0, 0, null));
  assert.is(p.freeSlots(), 0);
  assert.not.ok(p.push(999, 0, 0, 0, null), 'fifth push refused');
  p.publish();
  assert.is(c.available(), 4);
  assert.is(c.tag(c.slotWord(0)), 100, 'oldest descriptor intact');
  c.release(1);
  assert.ok(p.push(104, 0, 0, 0, null));
  p.publish();
  assert.equal([0, 1, 2, 3].map((i) => c.tag(c.slotWord(i))), [101, 102, 103, 104]);
});

test('payload area full: push fails, slot not consumed; payload over half the area is a clear error', () => {
  const { p, c } = pair(16, 1024);
  assert.ok(p.push(1, 0, 0, 0, bytes(512, 1)));
  assert.ok(p.push(2, 0, 0, 0, bytes(400, 2)));
  assert.not.ok(p.push(3, 0, 0, 0, bytes(200, 3)), 'no room for 200 more bytes');
  assert.is(p.freeSlots(), 14);
  p.publish();
  c.release(1);
  assert.ok(p.push(3, 0, 0, 0, bytes(200, 3)));
  assert.throws(() => p.reserve(513), (e: Error & { code?: string }) => e.code === 'EMBX_BAD_REQUEST' && /exceeds/.test(e.message));
});

test('a payload that would cross the end of the area starts at 0 instead (never split)', () => {
  const { p, c } = pair(16, 1024);
  assert.ok(p.push(1, 0, 0, 0, bytes(500, 1)));
  assert.ok(p.push(1, 0, 0, 0, bytes(500, 1)));
  p.publish();
  c.release(2);
  assert.ok(p.push(2, 0, 0, 0, bytes(300, 2)), '1008 + 300 > 1024, so it wraps to index 0');
  p.publish();
  const w = c.slotWord(0);
  assert.is(c.payloadIndex(w), 0);
  assert.equal([...c.payloadOf(w)], [...bytes(300, 2)]);
});

test('wraparound across 2^32: counters overflow and indexes stay right', () => {
  const start = 0xfffffff0 | 0;
  const { sab, p, c } = pair(8, 1024, start, 0xffffff00 | 0);
  let next = 0;
  let expect = 0;
  for (let round = 0; round < 40; round++) {
    while (p.freeSlots() > 0 && p.push(next, next % 3, next & 0xffff, 0, bytes(24 + (next % 40), next))) next++;
    p.publish();
    const n = c.available();
    for (let i = 0; i < n; i++) {
      const w = c.slotWord(i);
      assert.is(c.tag(w), expect);
      assert.equal([...c.payloadOf(w)], [...bytes(24 + (expect % 40), expect)]);
      expect++;
    }
    c.release(n);
  }
  const i32 = new Int32Array(sab);
  assert.ok(next > 200);
  assert.is(Atomics.load(i32, Ctl.TAIL), (start + next) | 0, 'TAIL wrapped past 2^32');
  assert.ok(Atomics.load(i32, Ctl.TAIL) > 0 && start < 0, 'sign flipped: the counter really overflowed');
  assert.ok((Atomics.load(i32, Ctl.PAYLOAD_HEAD) >>> 0) < 0xffffff00, 'payload byte counter wrapped too');
});

test('slot words are laid out eight per descriptor', () => {
  const { p, c } = pair(4);
  p.push(1, 2, 3, 4, null, 5, 6, 7);
  p.publish();
  assert.is(c.slotWord(0), 0);
  p.push(1, 2, 3, 4, null);
  p.publish();
  assert.is(c.slotWord(1), SLOT_WORDS);
});

test('bad geometry is refused', () => {
  assert.throws(() => createRing({ slots: 6, payloadBytes: 1024 }), /power of two/);
  assert.throws(() => createRing({ slots: 8, payloadBytes: 1000 }), /power of two/);
  assert.throws(() => new RingConsumer(new SharedArrayBuffer(4096)), /not an mbxmux ring/);
});

test('model-based: random push/publish/consume/release against an array model (fast-check)', () => {
  type Cmd = { kind: 'push'; len: number } | { kind: 'publish' } | { kind: 'consume'; n: number };
  const cmd: fc.Arbitrary<Cmd> = fc.oneof(
    fc.record({ kind: fc.constant('push' as const), len: fc.integer({ min: 0, max: 300 }) }),
    fc.record({ kind: fc.constant('publish' as const) }),
    fc.record({ kind: fc.constant('consume' as const), n: fc.integer({ min: 0, max: 9 }) }),
  );
  fc.assert(
    fc.property(fc.array(cmd, { maxLength: 300 }), fc.integer({ min: -50, max: 50 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (cmds, startOff, pstart) => {
      const start = (0x100000000 + startOff) | 0; // near the 2^32 wrap
      const { p, c } = pair(8, 1024, start, pstart | 0);
      const written: { tag: number; data: Uint8Array }[] = [];
      let published = 0;
      let consumed = 0;
      let tag = 0;
      for (const k of cmds) {
        if (k.kind === 'push') {
          const data = bytes(k.len, tag);
          const slotsFree = 8 - (written.length - consumed);
          const ok = p.push(tag, tag & 7, tag & 0xffff, 0, k.len === 0 ? null : data);
          if (slotsFree === 0) assert.not.ok(ok, 'push into a full ring must fail');
          if (ok) written.push({ tag: tag++, data });
        } else if (k.kind === 'publish') {
          p.publish();
          published = written.length;
        } else {
          const avail = c.available();
          assert.is(avail, published - consumed, 'available = published - consumed');
          const n = Math.min(k.n, avail);
          for (let i = 0; i < n; i++) {
            const w = c.slotWord(i);
            const m = written[consumed + i]!;
            assert.is(c.tag(w), m.tag);
            assert.is(c.payloadLength(w), m.data.byteLength);
            assert.equal(c.payloadOf(w), m.data);
          }
          c.release(n);
          consumed += n;
        }
      }
    }),
    { numRuns: 300 },
  );
});

test.run();
