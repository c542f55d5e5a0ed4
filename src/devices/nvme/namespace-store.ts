/**
 * The logical blocks of one namespace, sparse: only allocated blocks (written since the last format or
 * deallocating sanitize, and not deallocated since) take memory, in chunks of 4 KiB of data plus the
 * chunk's metadata. A deallocated block reads as data 00h (Identify Namespace DLFEAT 001b) and metadata FFh:
 * its protection information then carries the Guard FFFFh that DLFEAT bit 4 = 0 promises and the escape
 * Application Tag FFFFh, which turns PI checks off, as QEMU does for deallocated blocks.
 *
 * The namespace is thin provisioned (NSFEAT bit 0): at most NCAP blocks are allocated at a time, which is
 * what bounds the emulator's memory.
 */
const CHUNK_BYTES = 4096;

interface Chunk {
  data: Uint8Array;
  meta: Uint8Array;
  /** 1 = the block is allocated (holds written data) */
  allocated: Uint8Array;
  count: number;
}

/** What a sanitize without deallocation leaves in the blocks that stay allocated. */
export type SanitizedMedia = { kind: 'pattern'; value: number } | { kind: 'noise'; seed: number };

export class NamespaceStore {
  /** blocks per chunk */
  readonly perChunk: number;
  private readonly chunks = new Map<number, Chunk>();
  private allocatedBlocks = 0;

  constructor(readonly lbaBytes: number, readonly metaBytes: number) {
    this.perChunk = Math.max(1, CHUNK_BYTES / lbaBytes);
  }

  /** Identify Namespace NUSE: allocated blocks. */
  get used(): number {
    return this.allocatedBlocks;
  }

  isAllocated(lba: number): boolean {
    return this.chunks.get(Math.floor(lba / this.perChunk))?.allocated[lba % this.perChunk] === 1;
  }

  /** Reads block `lba`: `lbaBytes` into data at dOff and, if `meta` is given, `metaBytes` into meta at mOff. */
  read(lba: number, data: Uint8Array, dOff: number, meta: Uint8Array | null, mOff: number): void {
    const c = this.chunks.get(Math.floor(lba / this.perChunk));
    const i = lba % this.perChunk;
    const L = this.lbaBytes;
    const ms = this.metaBytes;
    if (c !== undefined && c.allocated[i] === 1) {
      data.set(c.data.subarray(i * L, i * L + L), dOff);
      if (meta !== null) meta.set(c.meta.subarray(i * ms, i * ms + ms), mOff);
    } else {
      data.fill(0, dOff, dOff + L);
      if (meta !== null) meta.fill(0xff, mOff, mOff + ms);
    }
  }

  /** Writes (and allocates) block `lba` from data at dOff and metadata at mOff (zeros without `meta`). */
  write(lba: number, data: Uint8Array, dOff: number, meta: Uint8Array | null, mOff: number): void {
    const key = Math.floor(lba / this.perChunk);
    let c = this.chunks.get(key);
    if (c === undefined) {
      c = { data: new Uint8Array(this.perChunk * this.lbaBytes), meta: new Uint8Array(this.perChunk * this.metaBytes), allocated: new Uint8Array(this.perChunk), count: 0 };
      this.chunks.set(key, c);
    }
    const i = lba % this.perChunk;
    const L = this.lbaBytes;
    const ms = this.metaBytes;
    c.data.set(data.subarray(dOff, dOff + L), i * L);
    if (meta !== null) c.meta.set(meta.subarray(mOff, mOff + ms), i * ms);
    else c.meta.fill(0, i * ms, i * ms + ms);
    if (c.allocated[i] === 0) {
      c.allocated[i] = 1;
      c.count++;
      this.allocatedBlocks++;
    }
  }

  /** Deallocates blocks [slba, slba + n); they read as deallocated until written again. */
  deallocate(slba: number, n: number): void {
    const end = slba + n;
    const first = Math.floor(slba / this.perChunk);
    const last = Math.floor((end - 1) / this.perChunk);
    // a huge range visits the chunks that exist, not every chunk number in it
    const keys = last - first + 1 > this.chunks.size
      ? [...this.chunks.keys()].filter((k) => k >= first && k <= last)
      : Array.from({ length: last - first + 1 }, (_, k) => first + k);
    for (const key of keys) {
      const c = this.chunks.get(key);
      if (c === undefined) continue;
      const from = Math.max(slba, key * this.perChunk);
      const to = Math.min(end, (key + 1) * this.perChunk);
      for (let lba = from; lba < to; lba++) {
        const i = lba % this.perChunk;
        if (c.allocated[i] === 0) continue;
        c.allocated[i] = 0;
        c.count--;
        this.allocatedBlocks--;
      }
      if (c.count === 0) this.chunks.delete(key);
    }
  }

  /**
   * A sanitize that does not deallocate (NDAS = 1): every allocated block stays allocated and now holds what
   * the operation leaves on the media (data and metadata): the overwrite pattern, repeated on 4-byte
   * boundaries of the block's address, or, after a crypto erase, bytes nobody can read (a keyed hash of the
   * address). Blocks that were not allocated stay deallocated.
   */
  sanitizeInPlace(media: SanitizedMedia): void {
    const L = this.lbaBytes;
    const ms = this.metaBytes;
    for (const [key, c] of this.chunks) {
      for (let i = 0; i < this.perChunk; i++) {
        if (c.allocated[i] === 0) continue;
        const addr = (key * this.perChunk + i) * (L + ms);
        fillMedia(media, c.data, i * L, L, addr);
        fillMedia(media, c.meta, i * ms, ms, addr + L);
      }
    }
  }

  /** Chunks holding allocated blocks (memory use, for tests and diagnostics). */
  get chunkCount(): number {
    return this.chunks.size;
  }
}

function fillMedia(m: SanitizedMedia, out: Uint8Array, off: number, n: number, addr: number): void {
  for (let k = 0; k < n; k++) {
    const a = addr + k;
    const word = m.kind === 'pattern' ? m.value : noiseWord(m.seed, Math.floor(a / 4));
    out[off + k] = (word >>> (8 * (a & 3))) & 0xff;
  }
}

/** A keyed 32-bit mix (murmur3 finalizer) of a word address: stands in for data under a destroyed key. */
function noiseWord(seed: number, index: number): number {
  let h = (Math.imul(index ^ seed, 0x9e3779b1) ^ Math.floor(index / 4294967296)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
