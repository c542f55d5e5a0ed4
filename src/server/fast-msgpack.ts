import { Packr, Unpackr } from 'msgpackr';

/** Plain MessagePack maps in and out (no msgpackr record extension), so other languages interoperate. */
export const packr = new Packr({ useRecords: false, moreTypes: false });
export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * Hand-rolled MessagePack for the hot frames (req, res): flat maps of numbers, strings, booleans and binary.
 * Encoding writes the map itself and hands any nested value (arrays, maps) to msgpackr; decoding handles
 * flat maps only and returns null for anything else, so the caller falls back to msgpackr, which then
 * decides (and reports errors) exactly as before. Output is standard MessagePack either way.
 */

const SLAB = 64 * 1024;
const keyCache = new Map<string, Buffer>();

function keyBytes(k: string): Buffer {
  let b = keyCache.get(k);
  if (b === undefined) {
    const s = Buffer.from(k, 'utf8');
    b = Buffer.concat([strHeader(s.byteLength), s]);
    if (keyCache.size < 256) keyCache.set(k, b);
  }
  return b;
}

function strHeader(n: number): Buffer {
  if (n < 32) return Buffer.from([0xa0 | n]);
  if (n < 256) return Buffer.from([0xd9, n]);
  if (n < 65536) return Buffer.from([0xda, n >>> 8, n & 0xff]);
  const h = Buffer.alloc(5);
  h[0] = 0xdb;
  h.writeUInt32BE(n, 1);
  return h;
}

/**
 * Writes length-prefixed frames into 64 KiB slabs; take() returns what was written since the last take()
 * as one buffer. A slab is never written again once taken from, so taken buffers stay valid.
 */
export class FrameWriter {
  private buf = Buffer.allocUnsafe(SLAB);
  private start = 0;
  private pos = 0;

  get pending(): number {
    return this.pos - this.start;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.byteLength) return;
    const used = this.pos - this.start;
    const next = Buffer.allocUnsafe(Math.max(SLAB, (used + n) * 2));
    this.buf.copy(next, 0, this.start, this.pos);
    this.buf = next;
    this.start = 0;
    this.pos = used;
  }

  /** Appends one frame holding `obj` (a flat map; nested values go through msgpackr). */
  frame(obj: Record<string, unknown>): void {
    this.ensure(5 + 16);
    // relative to `start`: ensure() may move the unsent bytes to a new slab, keeping their order
    const rel = this.pos - this.start;
    this.pos += 4;
    try {
      const keys = Object.keys(obj);
      let n = 0;
      for (const k of keys) if (obj[k] !== undefined) n++;
      this.mapHeader(n);
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        const kb = keyBytes(k);
        this.ensure(kb.byteLength);
        kb.copy(this.buf, this.pos);
        this.pos += kb.byteLength;
        this.value(v);
      }
    } catch (e) {
      this.pos = this.start + rel; // a value that cannot be encoded: drop the partial frame
      throw e;
    }
    const at = this.start + rel;
    this.buf.writeUInt32BE(this.pos - at - 4, at);
  }

  private mapHeader(n: number): void {
    this.ensure(3);
    if (n < 16) this.buf[this.pos++] = 0x80 | n;
    else {
      this.buf[this.pos++] = 0xde;
      this.buf.writeUInt16BE(n, this.pos);
      this.pos += 2;
    }
  }

  private value(v: unknown): void {
    this.ensure(9);
    const b = this.buf;
    if (typeof v === 'number') {
      if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) {
        if (v < 128) b[this.pos++] = v;
        else if (v < 256) {
          b[this.pos++] = 0xcc;
          b[this.pos++] = v;
        } else if (v < 65536) {
          b[this.pos++] = 0xcd;
          b.writeUInt16BE(v, this.pos);
          this.pos += 2;
        } else {
          b[this.pos++] = 0xce;
          b.writeUInt32BE(v, this.pos);
          this.pos += 4;
        }
      } else if (Number.isInteger(v) && v < 0 && v >= -0x80000000) {
        b[this.pos++] = 0xd2;
        b.writeInt32BE(v, this.pos);
        this.pos += 4;
      } else {
        b[this.pos++] = 0xcb;
        b.writeDoubleBE(v, this.pos);
        this.pos += 8;
      }
      return;
    }
    if (typeof v === 'boolean') {
      b[this.pos++] = v ? 0xc3 : 0xc2;
      return;
    }
    if (v === null) {
      b[this.pos++] = 0xc0;
      return;
    }
    if (typeof v === 'string') {
      const n = Buffer.byteLength(v);
      this.ensure(5 + n);
      const h = this.buf;
      if (n < 32) h[this.pos++] = 0xa0 | n;
      else if (n < 256) {
        h[this.pos++] = 0xd9;
        h[this.pos++] = n;
      } else if (n < 65536) {
        h[this.pos++] = 0xda;
        h.writeUInt16BE(n, this.pos);
        this.pos += 2;
      } else {
        h[this.pos++] = 0xdb;
        h.writeUInt32BE(n, this.pos);
        this.pos += 4;
      }
      this.pos += h.write(v, this.pos, 'utf8');
      return;
    }
    if (v instanceof Uint8Array) {
      const n = v.byteLength;
      this.ensure(5 + n);
      const h = this.buf;
      if (n < 256) {
        h[this.pos++] = 0xc4;
        h[this.pos++] = n;
      } else if (n < 65536) {
        h[this.pos++] = 0xc5;
        h.writeUInt16BE(n, this.pos);
        this.pos += 2;
      } else {
        h[this.pos++] = 0xc6;
        h.writeUInt32BE(n, this.pos);
        this.pos += 4;
      }
      h.set(v, this.pos);
      this.pos += n;
      return;
    }
    const packed = packr.pack(v);
    this.ensure(packed.byteLength);
    packed.copy(this.buf, this.pos);
    this.pos += packed.byteLength;
  }

  /** Everything written since the last take(), or null. */
  take(): Buffer | null {
    if (this.pos === this.start) return null;
    const out = this.buf.subarray(this.start, this.pos);
    if (this.buf.byteLength - this.pos < 4096) {
      this.buf = Buffer.allocUnsafe(SLAB);
      this.pos = 0;
    }
    this.start = this.pos;
    return out;
  }
}

const utf8 = new TextDecoder('utf-8');

/** A short ASCII string straight from the bytes (cheaper than a TextDecoder call), or null if not ASCII. */
function ascii(b: Uint8Array, at: number, n: number): string | null {
  let s = '';
  for (let j = at; j < at + n; j++) {
    const c = b[j]!;
    if (c >= 0x80) return null;
    s += String.fromCharCode(c);
  }
  return s;
}

/**
 * Decodes a flat MessagePack map (keys strings; values nil, booleans, numbers up to 32 bits, float32/64,
 * strings, binary as Uint8Array views). Returns null for anything else (nested values, 64-bit integers, ext types, trailing or
 * missing bytes); the caller then uses msgpackr.
 */
export function fastDecodeMap(b: Uint8Array): Record<string, unknown> | null {
  const len = b.byteLength;
  if (len === 0) return null;
  let p = 0;
  const t = b[p++]!;
  let n: number;
  if ((t & 0xf0) === 0x80) n = t & 0x0f;
  else if (t === 0xde && len >= 3) {
    n = (b[1]! << 8) | b[2]!;
    p = 3;
  } else return null;
  const dv = new DataView(b.buffer, b.byteOffset, len);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    if (p >= len) return null;
    const kt = b[p++]!;
    let kl: number;
    if ((kt & 0xe0) === 0xa0) kl = kt & 0x1f;
    else if (kt === 0xd9 && p < len) kl = b[p++]!;
    else return null;
    if (p + kl > len) return null;
    const key = ascii(b, p, kl);
    if (key === null) return null;
    p += kl;
    if (key === '__proto__') return null;
    if (p >= len) return null;
    const x = b[p++]!;
    let v: unknown;
    if (x < 0x80) v = x;
    else if (x >= 0xe0) v = x - 0x100;
    else if ((x & 0xe0) === 0xa0 || x === 0xd9 || x === 0xda) {
      let sl: number;
      if ((x & 0xe0) === 0xa0) sl = x & 0x1f;
      else if (x === 0xd9) {
        if (p + 1 > len) return null;
        sl = b[p++]!;
      } else {
        if (p + 2 > len) return null;
        sl = dv.getUint16(p);
        p += 2;
      }
      if (p + sl > len) return null;
      v = (sl <= 32 ? ascii(b, p, sl) : null) ?? utf8.decode(b.subarray(p, p + sl));
      p += sl;
    } else {
      switch (x) {
        case 0xc0: v = null; break;
        case 0xc2: v = false; break;
        case 0xc3: v = true; break;
        case 0xcc: if (p + 1 > len) return null; v = b[p]; p += 1; break;
        case 0xcd: if (p + 2 > len) return null; v = dv.getUint16(p); p += 2; break;
        case 0xce: if (p + 4 > len) return null; v = dv.getUint32(p); p += 4; break;
        case 0xd0: if (p + 1 > len) return null; v = dv.getInt8(p); p += 1; break;
        case 0xd1: if (p + 2 > len) return null; v = dv.getInt16(p); p += 2; break;
        case 0xd2: if (p + 4 > len) return null; v = dv.getInt32(p); p += 4; break;
        case 0xca: if (p + 4 > len) return null; v = dv.getFloat32(p); p += 4; break;
        case 0xcb: if (p + 8 > len) return null; v = dv.getFloat64(p); p += 8; break;
        case 0xc4: case 0xc5: case 0xc6: {
          let bl: number;
          if (x === 0xc4) {
            if (p + 1 > len) return null;
            bl = b[p]!;
            p += 1;
          } else if (x === 0xc5) {
            if (p + 2 > len) return null;
            bl = dv.getUint16(p);
            p += 2;
          } else {
            if (p + 4 > len) return null;
            bl = dv.getUint32(p);
            p += 4;
          }
          if (p + bl > len) return null;
          v = new Uint8Array(b.buffer, b.byteOffset + p, bl);
          p += bl;
          break;
        }
        default:
          return null;
      }
    }
    out[key] = v;
  }
  return p === len ? out : null;
}
