/**
 * MCTP message fragmentation and reassembly (DSP0236 §8.6-8.9, behaviour as QEMU and Linux implement it).
 *
 * Sender: a message longer than the transmission unit (MTU, in payload bytes) is split; the first packet
 * has SOM, the last EOM (a one-packet message has both); every packet but the last carries exactly one
 * MTU; the sequence number starts anywhere and counts +1 mod 4.
 *
 * Receiver: one assembly context per (source EID, destination EID, message tag, tag owner). Drop rules:
 *  - packet shorter than its header, header version not 1, destination EID neither ours nor null (0);
 *  - packet payload above the receiver's transmission unit;
 *  - non-SOM packet with no assembly in progress for its key;
 *  - sequence number other than the expected one: the packet is dropped and the assembly abandoned;
 *  - packet size breaking the message's transmission unit (middle packets must equal the first packet's
 *    size, the last may be shorter, never empty): dropped, assembly abandoned (DSP0236, recalled);
 *  - message growing past the receiver's limit: dropped, assembly abandoned;
 *  - a new SOM on a key being assembled restarts the assembly (QEMU: "repeated SOM is not an error");
 *  - an assembly idle for `timeoutNs` is abandoned (the binding's inter-packet timeout).
 * Message types are not looked at here: "unsupported type" is the consumer's drop after assembly.
 *
 * Note: the 2-bit sequence cannot notice the loss of a multiple of 4 consecutive packets. The CXL bindings
 * catch that through the CCI header's payload length (the consumer must check it); PCC never reorders.
 */
import {
  checkEid, checkTag, flagEom, flagSeq, flagSom, flagTag, flagTo, MCTP_HEADER_BYTES, MCTP_HEADER_VERSION, MctpEid,
  writeMctpHeader,
} from './mctp-packet.js';

/** Packets needed for a message of `len` bytes at `mtu` payload bytes per packet (at least one). */
export function packetCount(len: number, mtu: number): number {
  return len === 0 ? 1 : Math.ceil(len / mtu);
}

function checkMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < 1 || mtu > 0xffff) throw new RangeError(`MCTP transmission unit must be 1..65535 bytes (got ${mtu})`);
}

/**
 * Splits one message into packets, one at a time, into a caller-supplied buffer (the PCC region, so no
 * copy is needed). Reusable: begin() again for the next message.
 */
export class Fragmenter {
  private body: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private mtu = 1;
  private src = 0;
  private dest = 0;
  private tag = 0;
  private tagOwner = false;
  private seq = 0;
  /** packets of the current message, and how many next() has written */
  count = 0;
  index = 0;

  /** Starts a message; returns its packet count. Throws RangeError on out-of-range arguments. */
  begin(body: Uint8Array, mtu: number, src: number, dest: number, tag: number, tagOwner: boolean, seq0 = 0): number {
    checkMtu(mtu);
    checkEid(src, 'source');
    checkEid(dest, 'destination');
    checkTag(tag);
    this.body = body;
    this.pos = 0;
    this.mtu = mtu;
    this.src = src;
    this.dest = dest;
    this.tag = tag;
    this.tagOwner = tagOwner;
    this.seq = seq0 & 3;
    this.count = packetCount(body.byteLength, mtu);
    this.index = 0;
    return this.count;
  }

  get done(): boolean {
    return this.index >= this.count;
  }

  /** Payload bytes of the next packet (0 when done). */
  nextPayloadBytes(): number {
    return this.done ? 0 : Math.min(this.mtu, this.body.byteLength - this.pos);
  }

  /** Writes the next packet (header + payload) at out[off..]; returns its length, or -1 when done. */
  next(out: Uint8Array, off = 0): number {
    if (this.done) return -1;
    const n = this.nextPayloadBytes();
    const som = this.index === 0;
    const eom = this.index === this.count - 1;
    writeMctpHeader(out, off, this.dest, this.src, som, eom, this.seq, this.tagOwner, this.tag);
    out.set(this.body.subarray(this.pos, this.pos + n), off + MCTP_HEADER_BYTES);
    this.pos += n;
    this.seq = (this.seq + 1) & 3;
    this.index++;
    return MCTP_HEADER_BYTES + n;
  }
}

/**
 * Fragments `body` at `mtu` payload bytes per packet. Packets carry `tag` and the tag-owner bit; the
 * first packet's sequence number is `seq0` (0 by default). A 0-byte body gives one header-only packet.
 */
export function fragmentMessage(body: Uint8Array, mtu: number, src: number, dest: number, tag: number, tagOwner: boolean, seq0 = 0): Uint8Array[] {
  const f = new Fragmenter();
  const count = f.begin(body, mtu, src, dest, tag, tagOwner, seq0);
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const pkt = new Uint8Array(MCTP_HEADER_BYTES + f.nextPayloadBytes());
    f.next(pkt, 0);
    out.push(pkt);
  }
  return out;
}

/** Results of Reassembler.accept(): >= 0 the packet was taken, < 0 it was dropped (and why). */
export const Reasm = {
  /** taken; the message is not complete yet */
  MORE: 0,
  /** taken and the message is complete: read it from `message` before the next accept() */
  MESSAGE: 1,
  DROP_TRUNCATED: -1,
  DROP_BAD_VERSION: -2,
  DROP_WRONG_DEST: -3,
  DROP_OVERSIZE_PACKET: -4,
  DROP_NO_CONTEXT: -5,
  DROP_SEQUENCE: -6,
  DROP_BAD_SIZE: -7,
  DROP_OVERSIZE_MESSAGE: -8,
} as const;
const DROP_CODES = 8;

const DROP_TEXT: readonly string[] = [
  '',
  'packet shorter than the 4-byte MCTP header',
  'MCTP header version is not 1',
  'destination EID is neither this endpoint nor the null EID',
  'packet payload exceeds the transmission unit',
  'non-SOM packet with no assembly in progress',
  'packet sequence number out of order (assembly abandoned)',
  'packet size breaks the message transmission unit (assembly abandoned)',
  'message exceeds the reassembly limit (assembly abandoned)',
];

/** Human text of a Reasm drop code. */
export function reassemblyDropReason(code: number): string {
  return code < 0 && -code <= DROP_CODES ? DROP_TEXT[-code]! : code === Reasm.MORE ? 'taken' : code === Reasm.MESSAGE ? 'message complete' : `unknown code ${code}`;
}

export interface ReassemblerOptions {
  /** this endpoint's EID; packets to it (or to the null EID 0) are accepted */
  localEid: number;
  /** largest message (bytes after the MCTP headers, type byte included) the receiver takes */
  maxMessageBytes: number;
  /** receiver's transmission unit: largest packet payload (default 4096) */
  maxUnit?: number;
  /** abandon an assembly idle this long (default 100 ms; Infinity disables) */
  timeoutNs?: number;
  /** assemblies in progress at once; the least recently active is evicted beyond this (default 8) */
  maxContexts?: number;
}

interface Context {
  active: boolean;
  key: number;
  src: number;
  dest: number;
  tag: number;
  tagOwner: boolean;
  buf: Uint8Array;
  len: number;
  unit: number;
  nextSeq: number;
  lastNs: number;
}

const EMPTY = new Uint8Array(0);

/**
 * Reassembles MCTP messages from packets. No allocation per packet; each context keeps a buffer that grows
 * (doubling) to the largest message it has held, up to `maxMessageBytes`.
 */
export class Reassembler {
  readonly localEid: number;
  readonly maxMessageBytes: number;
  readonly maxUnit: number;
  readonly timeoutNs: number;
  readonly maxContexts: number;
  private readonly contexts: Context[] = [];

  /** The last complete message (a view valid until the next accept/reset) and its addressing. */
  message: Uint8Array = EMPTY;
  messageSrc = 0;
  messageDest = 0;
  messageTag = 0;
  messageTagOwner = false;

  /** counters: drops by code (index = -code), restarts by a repeated SOM, expired/evicted assemblies */
  readonly drops = new Array<number>(DROP_CODES + 1).fill(0);
  delivered = 0;
  restarts = 0;
  expired = 0;
  evicted = 0;
  /** the last drop code (0 if none since reset) */
  lastDrop = 0;

  constructor(opts: ReassemblerOptions) {
    checkEid(opts.localEid, 'local');
    this.localEid = opts.localEid;
    this.maxMessageBytes = opts.maxMessageBytes;
    this.maxUnit = opts.maxUnit ?? 4096;
    this.timeoutNs = opts.timeoutNs ?? 100e6;
    this.maxContexts = Math.max(1, opts.maxContexts ?? 8);
  }

  /** Assemblies in progress. */
  inProgress(): number {
    let n = 0;
    for (const c of this.contexts) if (c.active) n++;
    return n;
  }

  /** Abandons every assembly (buffers are kept for reuse). */
  reset(): void {
    for (const c of this.contexts) c.active = false;
    this.message = EMPTY;
    this.lastDrop = 0;
  }

  /** Abandons assemblies idle for timeoutNs or more; returns how many. */
  expire(nowNs: number): number {
    let n = 0;
    for (const c of this.contexts) {
      if (c.active && nowNs - c.lastNs >= this.timeoutNs) {
        c.active = false;
        n++;
      }
    }
    this.expired += n;
    return n;
  }

  accept(packet: Uint8Array, nowNs = 0): number {
    return this.acceptAt(packet, 0, packet.byteLength, nowNs);
  }

  /** Takes the packet at buf[off..off+len). Returns a Reasm code. Never throws. */
  acceptAt(buf: Uint8Array, off: number, len: number, nowNs: number): number {
    if (len < MCTP_HEADER_BYTES || off < 0 || off + len > buf.byteLength) return this.drop(Reasm.DROP_TRUNCATED);
    if ((buf[off]! & 0x0f) !== MCTP_HEADER_VERSION) return this.drop(Reasm.DROP_BAD_VERSION);
    const dest = buf[off + 1]!;
    if (dest !== this.localEid && dest !== MctpEid.NULL) return this.drop(Reasm.DROP_WRONG_DEST);
    const n = len - MCTP_HEADER_BYTES;
    if (n > this.maxUnit) return this.drop(Reasm.DROP_OVERSIZE_PACKET);
    const src = buf[off + 2]!;
    const f = buf[off + 3]!;
    const tag = flagTag(f);
    const to = flagTo(f);
    const seq = flagSeq(f);
    const eom = flagEom(f);
    const key = (src << 12) | (dest << 4) | (to ? 8 : 0) | tag;
    let c = this.find(key);
    if (c !== null && nowNs - c.lastNs >= this.timeoutNs) {
      c.active = false;
      this.expired++;
      c = null;
    }
    if (flagSom(f)) {
      if (c !== null) this.restarts++;
      else c = this.allocate(key);
      c.src = src;
      c.dest = dest;
      c.tag = tag;
      c.tagOwner = to;
      c.len = 0;
      c.unit = n;
      c.lastNs = nowNs;
      if (!eom && n === 0) return this.abandon(c, Reasm.DROP_BAD_SIZE);
    } else {
      if (c === null) return this.drop(Reasm.DROP_NO_CONTEXT);
      if (seq !== c.nextSeq) return this.abandon(c, Reasm.DROP_SEQUENCE);
      if (eom ? n < 1 || n > c.unit : n !== c.unit) return this.abandon(c, Reasm.DROP_BAD_SIZE);
    }
    if (c.len + n > this.maxMessageBytes) return this.abandon(c, Reasm.DROP_OVERSIZE_MESSAGE);
    if (c.buf.byteLength < c.len + n) this.grow(c, c.len + n);
    c.buf.set(buf.subarray(off + MCTP_HEADER_BYTES, off + len), c.len);
    c.len += n;
    c.nextSeq = (seq + 1) & 3;
    c.lastNs = nowNs;
    if (!eom) return Reasm.MORE;
    c.active = false;
    this.message = c.buf.subarray(0, c.len);
    this.messageSrc = c.src;
    this.messageDest = c.dest;
    this.messageTag = c.tag;
    this.messageTagOwner = c.tagOwner;
    this.delivered++;
    return Reasm.MESSAGE;
  }

  private drop(code: number): number {
    this.drops[-code]!++;
    this.lastDrop = code;
    return code;
  }

  private abandon(c: Context, code: number): number {
    c.active = false;
    return this.drop(code);
  }

  private find(key: number): Context | null {
    for (const c of this.contexts) if (c.active && c.key === key) return c;
    return null;
  }

  private allocate(key: number): Context {
    let c: Context | undefined;
    for (const x of this.contexts) {
      if (!x.active) {
        c = x;
        break;
      }
    }
    if (c === undefined && this.contexts.length < this.maxContexts) {
      c = { active: false, key: 0, src: 0, dest: 0, tag: 0, tagOwner: false, buf: EMPTY, len: 0, unit: 0, nextSeq: 0, lastNs: 0 };
      this.contexts.push(c);
    }
    if (c === undefined) {
      c = this.contexts[0]!;
      for (const x of this.contexts) if (x.lastNs < c.lastNs) c = x;
      this.evicted++;
    }
    c.active = true;
    c.key = key;
    return c;
  }

  private grow(c: Context, need: number): void {
    const cap = Math.min(this.maxMessageBytes, Math.max(need, c.buf.byteLength * 2, 256));
    const next = new Uint8Array(cap);
    next.set(c.buf.subarray(0, c.len), 0);
    c.buf = next;
  }
}
