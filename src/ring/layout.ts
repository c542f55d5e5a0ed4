/**
 * Byte layout of one single-producer/single-consumer ring in a SharedArrayBuffer.
 * SharedBuffers.md draws this layout; keep the two in step.
 *
 *   0    header line   (written once by the creator, read-only afterwards)
 *   128  TAIL line     (producer): published descriptor count, producer's payload byte counter
 *   256  HEAD line     (consumer): consumed descriptor count, released payload byte counter
 *   384  CONSUMER_SLEEPING line (consumer sets 1 before Atomics.wait on TAIL)
 *   512  PRODUCER_WAITING line  (producer sets 1 before waiting on HEAD for room)
 *   640  descriptor slots, SLOT_BYTES each
 *   ...  payload area (power of two bytes, 128-byte aligned)
 *
 * Each written-by-one-side word sits on its own 128-byte line so the two threads never share a cache line
 * (128 rather than 64 because adjacent-line prefetch pairs lines on x86).
 */
export const LINE_BYTES = 128;
export const LINE_WORDS = LINE_BYTES / 4;
export const RING_MAGIC = 0x5258424d; // "MBXR" little-endian
export const RING_VERSION = 1;

/** Int32 word indexes into the ring's control area. */
export const Ctl = {
  MAGIC: 0,
  VERSION: 1,
  SLOTS: 2,
  SLOT_BYTES: 3,
  PAYLOAD_BYTES: 4,
  PAYLOAD_BASE: 5,
  TAIL: LINE_WORDS * 1,
  PAYLOAD_TAIL: LINE_WORDS * 1 + 1,
  HEAD: LINE_WORDS * 2,
  PAYLOAD_HEAD: LINE_WORDS * 2 + 1,
  CONSUMER_SLEEPING: LINE_WORDS * 3,
  PRODUCER_WAITING: LINE_WORDS * 4,
} as const;

export const CTRL_BYTES = LINE_BYTES * 5;

/** A descriptor slot: eight little-endian 32-bit words. */
export const SLOT_BYTES = 32;
export const SLOT_WORDS = SLOT_BYTES / 4;
export const Slot = {
  TAG: 0,
  TARGET: 1,
  /** bits 15:0 opcode, bits 31:16 flags */
  OPCODE_FLAGS: 2,
  /** payload start as the producer's monotonic byte counter; index = value & (payloadBytes - 1) */
  PAYLOAD_OFF: 3,
  PAYLOAD_LEN: 4,
  ARG0: 5,
  ARG1: 6,
  ARG2: 7,
} as const;

/** Payloads are 8-byte aligned so DataView reads of 64-bit fields never straddle odd offsets. */
export const PAYLOAD_ALIGN = 8;

export interface RingGeometry {
  /** descriptor slots, a power of two >= 2 */
  slots: number;
  /** payload area bytes, a power of two >= 1024 (0 is allowed for descriptor-only rings) */
  payloadBytes: number;
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export function payloadBase(slots: number): number {
  const end = CTRL_BYTES + slots * SLOT_BYTES;
  return Math.ceil(end / LINE_BYTES) * LINE_BYTES;
}

export function ringByteLength(g: RingGeometry): number {
  return payloadBase(g.slots) + g.payloadBytes;
}

/** Largest payload a ring of this geometry always accepts once drained: half the area (see allocation rule). */
export function maxPayloadFor(payloadBytes: number): number {
  return payloadBytes / 2;
}
