import { Packr, Unpackr } from 'msgpackr';

/**
 * The socket protocol's MessagePack (frames, recordings): msgpackr writing and reading plain maps (no record
 * extension, so other languages interoperate). Keys whose value is undefined are left out, as JSON does.
 *
 * There was a hand-written encoder and flat-map decoder here for the hot frames (req, res). Measured against
 * msgpackr configured like this, in the same process, interleaved (bench/RESULTS.md, "MessagePack frames"),
 * it did not win by the 15% that would justify its 200 lines: msgpackr took 0.80× its time per request on
 * the server side (decode req + encode res, Get Health Info; 0.97× with a 4 KiB answer) and 0.53× on the
 * client side. So msgpackr does it all, with its native extension (msgpackr-extract) when it loads.
 */
// skipValues is documented in msgpackr's README but missing from its type declarations: passed as a variable
const packOptions = { useRecords: false, moreTypes: false, skipValues: [undefined] };
export const packr = new Packr(packOptions);
export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

const SLAB = 64 * 1024;

/**
 * Writes length-prefixed frames (4-byte big-endian length, then one MessagePack value) into 64 KiB slabs;
 * take() returns what was written since the last take() as one buffer. A slab is never written again once
 * taken from, so taken buffers stay valid.
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

  /** Appends one frame holding `obj`; a value msgpackr cannot encode throws and writes nothing. */
  frame(obj: Record<string, unknown>): void {
    const body = packr.pack(obj);
    this.ensure(4 + body.byteLength);
    this.buf.writeUInt32BE(body.byteLength, this.pos);
    body.copy(this.buf, this.pos + 4);
    this.pos += 4 + body.byteLength;
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
