import type { CommandResult } from './types.js';

const EMPTY = new Uint8Array(0);

/** Which shape an answer's CommandResult has. */
export const AnswerKind = { CXL: 0, NVME: 1, TUNNEL: 2 } as const;

/** NVMe completion queue entries are 16 bytes (NVMe Base 2.0 4.2.4). */
export const CQE_BYTES = 16;

/** Bytes of their own (an ArrayBuffer exactly their size) for what a result hands to the caller. */
export function ownBytes(bytes: Uint8Array, at: number, len: number): Uint8Array {
  return len === 0 ? EMPTY : bytes.slice(at, at + len);
}

/**
 * One device answer as `session.submit()`'s callback sees it: the status fields, and the answer's bytes where
 * they lie in the completion ring. It is valid only until the callback returns: the mux fills the same object
 * for the next answer, and the ring's bytes are handed back to the worker right after. Nothing here is
 * allocated per answer; `payload()` and `cqe()` make a view (whose `.buffer` is the whole completion ring, with
 * other requests' answers in it: read it, copy what you keep, never hand the view on), and `result()` makes the
 * CommandResult that `send()` resolves with, with bytes of its own.
 */
export class Answer {
  /** CXL return code (the innermost one for a tunnel), or the NVMe CQE status field without the phase bit */
  rc = 0;
  vendorStatus = 0;
  background = false;
  /** payload bytes in the ring: ring[offset, offset + length) */
  offset = 0;
  length = 0;
  /** NVMe: where the 16-byte CQE lies in the ring; -1 otherwise */
  cqeOffset = -1;
  /** tunnelled commands: every hop's status (allocated for tunnels only) */
  tunnel: CommandResult['tunnel'] = undefined;
  kind: number = AnswerKind.CXL;
  /** the completion ring's payload area this answer lies in */
  ring: Uint8Array = EMPTY;

  /** The payload as a view into the completion ring: valid until the callback returns. */
  payload(): Uint8Array {
    return this.length === 0 ? EMPTY : this.ring.subarray(this.offset, this.offset + this.length);
  }

  /** NVMe: the 16 CQE bytes as a view into the completion ring (valid until the callback returns). */
  cqe(): Uint8Array | undefined {
    return this.cqeOffset < 0 ? undefined : this.ring.subarray(this.cqeOffset, this.cqeOffset + CQE_BYTES);
  }

  /** Copies the payload into `target` at `at` (no allocation). Returns the bytes copied. */
  copyPayload(target: Uint8Array, at = 0): number {
    const n = Math.min(this.length, target.byteLength - at);
    for (let i = 0; i < n; i++) target[at + i] = this.ring[this.offset + i]!;
    return n;
  }

  /** The answer as `send()` gives it: every byte array its own, exactly its size. */
  result(): CommandResult {
    const payload = ownBytes(this.ring, this.offset, this.length);
    switch (this.kind) {
      case AnswerKind.NVME:
        return { rc: this.rc, payload, cqe: ownBytes(this.ring, this.cqeOffset, CQE_BYTES), vendorStatus: 0, background: false };
      case AnswerKind.TUNNEL:
        return { rc: this.rc, payload, vendorStatus: this.vendorStatus, background: this.background, tunnel: this.tunnel! };
      default:
        return { rc: this.rc, payload, vendorStatus: this.vendorStatus, background: this.background };
    }
  }
}
