const SLAB_BYTES = 64 * 1024;
const SMALL = 4096;
const EMPTY = new Uint8Array(0);

/**
 * Private copies of small byte ranges carved out of 64 KiB slabs (as Node's Buffer pool does). An
 * ArrayBuffer per copy costs a malloc and a GC finalizer; a view on a shared slab costs neither. Used for
 * the payloads of queued requests (the caller may reuse its buffer as soon as send() returns), which stay
 * inside the mux. Never for results: a caller could reach other answers through a shared slab's `.buffer`.
 */
export class ByteSlab {
  private slab = new ArrayBuffer(SLAB_BYTES);
  private used = 0;

  copy(src: Uint8Array, at: number, len: number): Uint8Array {
    if (len === 0) return EMPTY;
    if (len > SMALL) return src.slice(at, at + len);
    if (this.used + len > SLAB_BYTES) {
      this.slab = new ArrayBuffer(SLAB_BYTES);
      this.used = 0;
    }
    const out = new Uint8Array(this.slab, this.used, len);
    out.set(src.subarray(at, at + len));
    this.used = (this.used + len + 7) & ~7;
    return out;
  }
}
