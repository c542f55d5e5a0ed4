/**
 * The socket protocol's MessagePack: the hand-written fast path (src/server/fast-msgpack.ts: FrameWriter for
 * every frame written, fastDecodeMap for every frame read) against msgpackr configured as the server uses it
 * (records off, maps as objects; its native extension loaded when msgpackr-extract is), on the frames each
 * request costs: the client writes a `req` and reads a `res`, the server reads the `req` and writes the `res`.
 * A and B run interleaved, several rounds in one process (the machine is shared: the spread is reported).
 */
import { isNativeAccelerationEnabled } from 'msgpackr';
import { fastDecodeMap, FrameWriter, packr, unpackr } from '../src/server/fast-msgpack.js';
import { dur, type Section } from './section.js';
import { num } from './stats.js';
import { timeLoop } from './timing.js';

/** The frames of one Get Health Info over the socket (bench/socket.ts) and of an NVMe Identify with its 4 KiB answer. */
const FRAMES: { name: string; frame: Record<string, unknown> }[] = [
  { name: 'req Get Health Info', frame: { type: 'req', id: 123_456, device: 'mem17', opcode: 0x4200 } },
  { name: 'res Get Health Info (18 B)', frame: { type: 'res', id: 123_456, rc: 0, payload: new Uint8Array(18).fill(0x5a), vendorStatus: 0, background: false } },
  { name: 'req NVMe Identify', frame: { type: 'req', id: 123_457, device: 'nvme3', opcode: 0x06, nsid: 0, cdw10: 1, timeoutMs: 5000 } },
  { name: 'res NVMe Identify (4 KiB)', frame: { type: 'res', id: 123_457, rc: 0, payload: new Uint8Array(4096).fill(0xa5), vendorStatus: 0, background: false, cqe: { dw0: 0, dw1: 0 } } },
];

const SLAB = 64 * 1024;

/** B's writer: FrameWriter's slab handling (same growth, same take()), with msgpackr encoding each map. */
class PackrFrameWriter {
  private buf = Buffer.allocUnsafe(SLAB);
  private start = 0;
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.byteLength) return;
    const used = this.pos - this.start;
    const next = Buffer.allocUnsafe(Math.max(SLAB, (used + n) * 2));
    this.buf.copy(next, 0, this.start, this.pos);
    this.buf = next;
    this.start = 0;
    this.pos = used;
  }

  frame(obj: Record<string, unknown>): void {
    const body = packr.pack(obj);
    this.ensure(4 + body.byteLength);
    this.buf.writeUInt32BE(body.byteLength, this.pos);
    body.copy(this.buf, this.pos + 4);
    this.pos += 4 + body.byteLength;
  }

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

/** The same map from both decoders (binary compared by bytes): the comparison is between equal results. */
function sameMap(a: Record<string, unknown>, b: unknown): boolean {
  if (typeof b !== 'object' || b === null) return false;
  const o = b as Record<string, unknown>;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(o).length) return false;
  return keys.every((k) => {
    const x = a[k];
    const y = o[k];
    if (x instanceof Uint8Array && y instanceof Uint8Array) return Buffer.compare(x, y) === 0;
    return x === y || JSON.stringify(x) === JSON.stringify(y);
  });
}

const BATCH = 256;

/** What the server and client do with a frame body (frames.ts decodePlainMap): the fast path, else msgpackr. */
function handDecode(body: Uint8Array): Record<string, unknown> {
  return fastDecodeMap(body) ?? (unpackr.unpack(body) as Record<string, unknown>);
}
/** frames written between two take()s: a socket flush of answers */
const FLUSH = 16;

export const msgpackSection: Section = {
  id: 'micro.msgpack',
  title: 'MessagePack frames: hand-written fast path vs msgpackr',
  async run(ctx) {
    const ms = dur(ctx, 300, 60);
    const rounds = ctx.quick ? 2 : 6;
    const fw = new FrameWriter();
    const pw = new PackrFrameWriter();
    const ops: { name: string; a: (n: number) => number; b: (n: number) => number }[] = [];
    for (const { name, frame } of FRAMES) {
      const body = packr.pack(frame);
      if (!sameMap(handDecode(body), unpackr.unpack(body))) throw new Error(`${name}: the two decoders disagree`);
      fw.frame(frame);
      pw.frame(frame);
      for (const out of [fw.take()!, pw.take()!]) {
        if (!sameMap(frame, unpackr.unpack(out.subarray(4)))) throw new Error(`${name}: a writer's frame does not decode to the map`);
      }
      ops.push({
        name: `encode ${name}`,
        a: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) {
            fw.frame(frame);
            if (i % FLUSH === FLUSH - 1) s += fw.take()!.byteLength;
          }
          return s + (fw.take()?.byteLength ?? 0);
        },
        b: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) {
            pw.frame(frame);
            if (i % FLUSH === FLUSH - 1) s += pw.take()!.byteLength;
          }
          return s + (pw.take()?.byteLength ?? 0);
        },
      });
      ops.push({
        name: `decode ${name}`,
        a: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += Object.keys(handDecode(body)).length;
          return s;
        },
        b: (n) => {
          let s = 0;
          for (let i = 0; i < n; i++) s += Object.keys(unpackr.unpack(body) as object).length;
          return s;
        },
      });
    }
    // ns/op per round; A and B alternate which goes first
    const aNs: number[][] = ops.map(() => []);
    const bNs: number[][] = ops.map(() => []);
    for (let r = 0; r < rounds; r++) {
      ctx.log(`micro.msgpack: round ${r + 1} of ${rounds}`);
      ops.forEach((op, k) => {
        const order = r % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const);
        for (const which of order) {
          const res = timeLoop(op[which], ms, { batch: BATCH });
          (which === 'a' ? aNs : bNs)[k]!.push(res.nsPerOp);
        }
      });
    }
    const median = (v: number[]): number => {
      const s = [...v].sort((x, y) => x - y);
      return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    };
    const range = (v: number[], digits = 0): string => `${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)}`;
    const rows: (string | number)[][] = [];
    const data: Record<string, unknown> = { rounds, msPerLoop: ms, nativeAcceleration: isNativeAccelerationEnabled };
    ops.forEach((op, k) => {
      const ratios = aNs[k]!.map((a, r) => bNs[k]![r]! / a);
      rows.push([op.name, num(median(aNs[k]!)), range(aNs[k]!), num(median(bNs[k]!)), range(bNs[k]!), median(ratios).toFixed(2), range(ratios, 2)]);
      data[op.name] = { handNs: aNs[k], msgpackrNs: bNs[k], speedup: ratios };
    });
    // what one request costs each side: the server reads the req and writes the res, the client the reverse
    for (const [side, pair] of [['server (decode req + encode res)', [1, 2]], ['client (encode req + decode res)', [0, 3]]] as const) {
      for (const [label, base] of [['Get Health Info', 0], ['NVMe Identify', 4]] as const) {
        const a = aNs[base + pair[0]]!.map((x, r) => x + aNs[base + pair[1]]![r]!);
        const b = bNs[base + pair[0]]!.map((x, r) => x + bNs[base + pair[1]]![r]!);
        const ratios = a.map((x, r) => b[r]! / x);
        rows.push([`per request, ${side}, ${label}`, num(median(a)), range(a), num(median(b)), range(b), median(ratios).toFixed(2), range(ratios, 2)]);
        data[`${side} ${label}`] = { handNs: a, msgpackrNs: b, speedup: ratios };
      }
    }
    return {
      tables: [{
        title: `MessagePack frames: hand-written (fast-msgpack.ts) vs msgpackr, ${rounds} interleaved rounds (ns/op)`,
        head: ['operation', 'hand ns', 'hand range', 'msgpackr ns', 'msgpackr range', 'msgpackr/hand', 'range'],
        rows,
        note: `median and range over the rounds; msgpackr/hand > 1 means the hand-written path is faster; msgpackr native extension ${isNativeAccelerationEnabled ? 'loaded' : 'NOT loaded'}`,
      }],
      data,
    };
  },
};
