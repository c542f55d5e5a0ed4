import { BadRequestError } from '../errors.js';
import {
  Ctl, CTRL_BYTES, PAYLOAD_ALIGN, RING_MAGIC, RING_VERSION, SLOT_BYTES, SLOT_WORDS, Slot,
  isPowerOfTwo, maxPayloadFor, payloadBase, ringByteLength, type RingGeometry,
} from './layout.js';
import { Doorbell } from '../doorbell/doorbell.js';
import type { SpinGate } from '../doorbell/spin-gate.js';

const EMPTY = new Uint8Array(0);

/**
 * Creates and initializes the shared memory of one SPSC ring. Counters may start anywhere (tests start them
 * just below 2^32 to prove wraparound); they only ever increase, modulo 2^32.
 */
export function createRing(g: RingGeometry, initialCount = 0, initialPayload = 0): SharedArrayBuffer {
  if (!isPowerOfTwo(g.slots) || g.slots < 2) throw new BadRequestError('ring slots must be a power of two >= 2', { ...g });
  if (g.payloadBytes !== 0 && (!isPowerOfTwo(g.payloadBytes) || g.payloadBytes < 1024)) {
    throw new BadRequestError('ring payload area must be 0 or a power of two >= 1024 bytes', { ...g });
  }
  const sab = new SharedArrayBuffer(ringByteLength(g));
  const i32 = new Int32Array(sab, 0, CTRL_BYTES / 4);
  i32[Ctl.MAGIC] = RING_MAGIC;
  i32[Ctl.VERSION] = RING_VERSION;
  i32[Ctl.SLOTS] = g.slots;
  i32[Ctl.SLOT_BYTES] = SLOT_BYTES;
  i32[Ctl.PAYLOAD_BYTES] = g.payloadBytes;
  i32[Ctl.PAYLOAD_BASE] = payloadBase(g.slots);
  i32[Ctl.TAIL] = initialCount | 0;
  i32[Ctl.HEAD] = initialCount | 0;
  i32[Ctl.PAYLOAD_TAIL] = initialPayload | 0;
  i32[Ctl.PAYLOAD_HEAD] = initialPayload | 0;
  return sab;
}

/** Views shared by both ends. */
class RingViews {
  readonly sab: SharedArrayBuffer;
  readonly ctl: Int32Array;
  /** descriptor words: slot i starts at word i * SLOT_WORDS */
  readonly slots: Int32Array;
  readonly slotCount: number;
  readonly mask: number;
  /** payload area */
  readonly payload: Uint8Array;
  readonly payloadView: DataView;
  readonly payloadBytes: number;
  readonly payloadMask: number;
  readonly maxPayload: number;
  /** TAIL moves (producer rings, consumer sleeps on it); HEAD moves (consumer rings, a full producer waits) */
  readonly dataBell: Doorbell;
  readonly spaceBell: Doorbell;

  constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.ctl = new Int32Array(sab, 0, CTRL_BYTES / 4);
    if (this.ctl[Ctl.MAGIC] !== RING_MAGIC || this.ctl[Ctl.VERSION] !== RING_VERSION) {
      throw new BadRequestError('not an mbxmux ring (bad magic or version)', {});
    }
    this.slotCount = this.ctl[Ctl.SLOTS]!;
    this.mask = this.slotCount - 1;
    this.slots = new Int32Array(sab, CTRL_BYTES, this.slotCount * SLOT_WORDS);
    this.payloadBytes = this.ctl[Ctl.PAYLOAD_BYTES]!;
    this.payloadMask = this.payloadBytes - 1;
    const base = this.ctl[Ctl.PAYLOAD_BASE]!;
    this.payload = new Uint8Array(sab, base, this.payloadBytes);
    this.payloadView = new DataView(sab, base, this.payloadBytes);
    this.maxPayload = maxPayloadFor(this.payloadBytes);
    this.dataBell = new Doorbell(this.ctl, Ctl.TAIL, Ctl.CONSUMER_SLEEPING);
    this.spaceBell = new Doorbell(this.ctl, Ctl.HEAD, Ctl.PRODUCER_WAITING);
  }
}

/**
 * Producer end. Write descriptors with push()/reserve()+commit(), then publish() once per batch:
 * the single Atomics.store of TAIL is the release point that makes every plain store before it visible.
 */
export class RingProducer extends RingViews {
  /** next descriptor count to write (unpublished until publish()) */
  private tail: number;
  private publishedTail: number;
  /** last HEAD we read; refreshed only when the ring looks full (saves a shared-line read per push) */
  private cachedHead: number;
  /** producer's payload byte counter */
  private pTail: number;
  private cachedPHead: number;
  constructor(sab: SharedArrayBuffer) {
    super(sab);
    this.tail = Atomics.load(this.ctl, Ctl.TAIL);
    this.publishedTail = this.tail;
    this.cachedHead = Atomics.load(this.ctl, Ctl.HEAD);
    this.pTail = Atomics.load(this.ctl, Ctl.PAYLOAD_TAIL);
    this.cachedPHead = Atomics.load(this.ctl, Ctl.PAYLOAD_HEAD);
  }

  /**
   * Blocks (worker threads only) until the consumer frees room or `timeoutMs` passes: spin `spinNs`, then
   * Atomics.wait on HEAD with the PRODUCER_WAITING flag set. Publish first, or the consumer may never drain.
   */
  waitForRoom(spinNs: number, timeoutMs: number, stop?: () => boolean, gate?: SpinGate): void {
    const seen = Atomics.load(this.ctl, Ctl.HEAD);
    this.cachedHead = this.spaceBell.waitSync(seen, spinNs, timeoutMs, stop, gate);
    this.cachedPHead = Atomics.load(this.ctl, Ctl.PAYLOAD_HEAD);
  }

  /** Wakes a sleeping consumer without publishing (it re-checks its stop condition). */
  wakeConsumer(): void {
    Atomics.notify(this.ctl, Ctl.TAIL);
  }

  /** Descriptors written but not yet published. */
  get unpublished(): number {
    return (this.tail - this.publishedTail) | 0;
  }

  /** Free descriptor slots, refreshing the consumer's HEAD only if the cached value says full. */
  freeSlots(): number {
    let used = (this.tail - this.cachedHead) | 0;
    if (used >= this.slotCount) {
      this.cachedHead = Atomics.load(this.ctl, Ctl.HEAD);
      used = (this.tail - this.cachedHead) | 0;
    }
    return this.slotCount - used;
  }

  /**
   * Reserves `len` payload bytes and returns the byte counter where they start, or -1 when the area is full
   * (nothing is changed then). A payload never wraps: when it would cross the end of the area the producer
   * skips to the start, so the consumer always sees one contiguous range. Payloads up to half the area
   * always fit once the consumer has drained (a skip implies the start index exceeds len).
   */
  private allocPayload(len: number): number {
    if (len === 0) return this.pTail;
    const size = this.payloadBytes;
    let start = this.pTail;
    const idx = start & this.payloadMask;
    if (idx + len > size) start = (start + (size - idx)) >>> 0;
    const end = (start + ((len + PAYLOAD_ALIGN - 1) & ~(PAYLOAD_ALIGN - 1))) >>> 0;
    if (((end - this.cachedPHead) >>> 0) > size) {
      this.cachedPHead = Atomics.load(this.ctl, Ctl.PAYLOAD_HEAD);
      if (((end - this.cachedPHead) >>> 0) > size) return -1;
    }
    this.pTail = end;
    return start;
  }

  /**
   * Reserves a descriptor with `len` payload bytes. Returns the payload's index into `payload`
   * (write your bytes there, then call commit()), or -1 when the ring is full.
   */
  reserve(len: number): number {
    if (len > this.maxPayload) {
      throw new BadRequestError(`payload of ${len} bytes exceeds this ring's limit of ${this.maxPayload} bytes`, { len, limit: this.maxPayload });
    }
    if (this.freeSlots() === 0) return -1;
    const start = this.allocPayload(len);
    if (start < 0) return -1;
    const w = (this.tail & this.mask) * SLOT_WORDS;
    this.slots[w + Slot.PAYLOAD_OFF] = start;
    this.slots[w + Slot.PAYLOAD_LEN] = len;
    return start & this.payloadMask;
  }

  /** Fills the descriptor reserved by reserve() and advances the local tail (still unpublished). */
  commit(tag: number, target: number, opcode: number, flags: number, a0 = 0, a1 = 0, a2 = 0): void {
    const s = this.slots;
    const w = (this.tail & this.mask) * SLOT_WORDS;
    s[w + Slot.TAG] = tag;
    s[w + Slot.TARGET] = target;
    s[w + Slot.OPCODE_FLAGS] = (opcode & 0xffff) | (flags << 16);
    s[w + Slot.ARG0] = a0;
    s[w + Slot.ARG1] = a1;
    s[w + Slot.ARG2] = a2;
    this.tail = (this.tail + 1) | 0;
  }

  /** reserve + copy + commit. Returns false (and changes nothing) when the ring is full. */
  push(tag: number, target: number, opcode: number, flags: number, payload: Uint8Array | null, a0 = 0, a1 = 0, a2 = 0): boolean {
    const len = payload === null ? 0 : payload.byteLength;
    const at = this.reserve(len);
    if (at < 0) return false;
    if (len > 0) this.payload.set(payload!, at);
    this.commit(tag, target, opcode, flags, a0, a1, a2);
    return true;
  }

  /**
   * Publishes every descriptor written since the last publish with one Atomics.store, then (unless `wake` is
   * false: the consumer sleeps elsewhere, e.g. a worker thread on its ThreadBell) rings the consumer's doorbell
   * only if it said it sleeps. Returns how many descriptors were published.
   */
  publish(wake = true): number {
    const n = (this.tail - this.publishedTail) | 0;
    if (n === 0) return 0;
    // PAYLOAD_TAIL is informational (lets a debugger or a re-attaching producer see the byte counter);
    // written before TAIL so it is never ahead of what TAIL publishes.
    Atomics.store(this.ctl, Ctl.PAYLOAD_TAIL, this.pTail);
    Atomics.store(this.ctl, Ctl.TAIL, this.tail);
    this.publishedTail = this.tail;
    if (wake) this.dataBell.ring();
    return n;
  }
}

/**
 * Consumer end. available() reads TAIL once; read descriptors with the accessors; release(n) returns the
 * slots and their payload bytes with one store of HEAD (PAYLOAD_HEAD is stored first, so a producer that
 * sees the new HEAD also sees the bytes freed).
 */
export class RingConsumer extends RingViews {
  private head: number;
  private cachedTail: number;
  constructor(sab: SharedArrayBuffer) {
    super(sab);
    this.head = Atomics.load(this.ctl, Ctl.HEAD);
    this.cachedTail = this.head;
  }

  /** Consumed count (the HEAD this side will publish). */
  get position(): number {
    return this.head;
  }

  /** Number of published, unconsumed descriptors (one Atomics.load of TAIL). */
  available(): number {
    this.cachedTail = Atomics.load(this.ctl, Ctl.TAIL);
    return (this.cachedTail - this.head) | 0;
  }

  /** Word index of the i-th unconsumed descriptor (i < available()). */
  slotWord(i: number): number {
    return ((this.head + i) & this.mask) * SLOT_WORDS;
  }

  tag(w: number): number { return this.slots[w + Slot.TAG]! >>> 0; }
  target(w: number): number { return this.slots[w + Slot.TARGET]! >>> 0; }
  opcode(w: number): number { return this.slots[w + Slot.OPCODE_FLAGS]! & 0xffff; }
  flags(w: number): number { return this.slots[w + Slot.OPCODE_FLAGS]! >>> 16; }
  payloadLength(w: number): number { return this.slots[w + Slot.PAYLOAD_LEN]! >>> 0; }
  /** Index of the descriptor's payload in `payload` / `payloadView`. */
  payloadIndex(w: number): number { return this.slots[w + Slot.PAYLOAD_OFF]! & this.payloadMask; }
  arg0(w: number): number { return this.slots[w + Slot.ARG0]!; }
  arg1(w: number): number { return this.slots[w + Slot.ARG1]!; }
  arg2(w: number): number { return this.slots[w + Slot.ARG2]!; }

  /** A zero-copy view of the descriptor's payload; valid until release(). No payload: one shared empty array. */
  payloadOf(w: number): Uint8Array {
    const len = this.payloadLength(w);
    // most commands carry no input: a view per request would be the worker's only garbage on that path
    if (len === 0) return EMPTY;
    const at = this.payloadIndex(w);
    return this.payload.subarray(at, at + len);
  }

  /**
   * Returns `n` consumed descriptors and their payload bytes to the producer, and wakes it if it waits for room.
   */
  release(n: number): void {
    if (n <= 0) return;
    const lastW = ((this.head + n - 1) & this.mask) * SLOT_WORDS;
    const len = this.slots[lastW + Slot.PAYLOAD_LEN]! >>> 0;
    const end = ((this.slots[lastW + Slot.PAYLOAD_OFF]! >>> 0) + ((len + PAYLOAD_ALIGN - 1) & ~(PAYLOAD_ALIGN - 1))) >>> 0;
    // A zero-length payload's offset is the producer's byte counter at that moment, so `end` is still exact.
    Atomics.store(this.ctl, Ctl.PAYLOAD_HEAD, end);
    this.head = (this.head + n) | 0;
    Atomics.store(this.ctl, Ctl.HEAD, this.head);
    this.spaceBell.ring();
  }
}
