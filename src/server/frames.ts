import {
  BackpressureError, BadRequestError, CancelledError, ClosedError, FleetError, MbxError, type MbxErrorCode, PermissionError,
  ProtocolError, TransportError, WorkerLostError,
} from '../errors.js';
import type { CommandResult, DeviceInfo, SendRequest } from '../mux/types.js';
import type { FleetSlice } from '../fleet/types.js';
import { packr, unpackr } from './msgpack.js';
import { type Tier, TIERS } from '../policy/tiers.js';
import { hasControl } from './log-text.js';

/**
 * The mbxmux socket protocol's framing and message shapes (see PROTOCOL.md beside this file).
 *
 * A frame is a 4-byte unsigned length in BIG-ENDIAN (network) byte order, then that many bytes holding one
 * MessagePack map (msgpackr with records off, so any MessagePack library can read and write it). Lengths of 0
 * or above the frame cap (16 MiB by default) are protocol errors. The same framing is used for recordings.
 */

export const FRAME_HEADER_BYTES = 4;
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** protocol version sent in `welcome` */
export const PROTOCOL_VERSION = 1;

export { packr, unpackr };

/** One value as one frame: length prefix + body. */
export function encodeFrame(value: unknown): Buffer {
  const body = packr.pack(value);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.byteLength);
  out.writeUInt32BE(body.byteLength, 0);
  body.copy(out, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Splits a byte stream into frame bodies in linear time. append() keeps each received chunk in a list (no
 * copy); next() returns the next complete body: a view on its chunk when the frame lies in one chunk, else
 * ONE copy made when the last byte of the frame has arrived. So every byte is copied at most once, however
 * the stream is cut (joining the buffer on every chunk made one 16 MiB frame cost O(n^2) bytes copied).
 *
 * A length of 0 or above the cap throws ProtocolError as soon as its 4 bytes are in (the body is never
 * buffered), after every complete frame before it has been returned; the decoder then stays failed.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  /** index of the first chunk with unread bytes, and the read position in it */
  private head = 0;
  private offset = 0;
  /** unread bytes in all chunks */
  private unread = 0;
  /** body length of the frame whose header has been read, or -1 */
  private bodyLength = -1;
  private failure: ProtocolError | null = null;
  /** bytes copied to join frames that span chunks (each byte of the stream at most once) */
  copiedBytes = 0;

  constructor(readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** bytes received but not yet returned as part of a complete frame */
  get buffered(): number {
    return this.unread + (this.bodyLength >= 0 ? FRAME_HEADER_BYTES : 0);
  }

  /** Adds received bytes (kept by reference: the caller must not reuse the chunk). */
  append(chunk: Buffer): void {
    if (chunk.byteLength === 0 || this.failure !== null) return;
    this.chunks.push(chunk);
    this.unread += chunk.byteLength;
  }

  /** The next complete frame body, or null if it has not fully arrived. Throws ProtocolError for a bad length. */
  next(): Buffer | null {
    if (this.failure !== null) throw this.failure;
    if (this.bodyLength < 0) {
      if (this.unread < FRAME_HEADER_BYTES) return null;
      const len = this.readHeader();
      if (len === 0 || len > this.maxFrameBytes) {
        this.failure = new ProtocolError(`frame length ${len} is outside 1..${this.maxFrameBytes} bytes (the length is a big-endian u32 before each MessagePack body)`,
          { length: len, limit: this.maxFrameBytes });
        this.chunks = [];
        this.head = 0;
        this.offset = 0;
        this.unread = 0;
        throw this.failure;
      }
      this.bodyLength = len;
    }
    if (this.unread < this.bodyLength) return null;
    const body = this.take(this.bodyLength);
    this.bodyLength = -1;
    return body;
  }

  /** append() then every complete body. Throws on a bad length (use append/next to get the frames before it). */
  push(chunk: Buffer): Buffer[] {
    this.append(chunk);
    const out: Buffer[] = [];
    for (let b = this.next(); b !== null; b = this.next()) out.push(b);
    return out;
  }

  private readHeader(): number {
    const c = this.chunks[this.head]!;
    if (c.byteLength - this.offset >= FRAME_HEADER_BYTES) {
      const v = c.readUInt32BE(this.offset);
      this.skip(FRAME_HEADER_BYTES);
      return v;
    }
    let v = 0;
    for (let i = 0; i < FRAME_HEADER_BYTES; i++) {
      v = v * 256 + this.chunks[this.head]![this.offset]!;
      this.skip(1);
    }
    return v;
  }

  private skip(n: number): void {
    this.offset += n;
    this.unread -= n;
    this.dropConsumed();
  }

  /** n bytes (n <= unread): a view if they lie in one chunk, else one copy. */
  private take(n: number): Buffer {
    const c = this.chunks[this.head]!;
    if (c.byteLength - this.offset >= n) {
      const v = c.subarray(this.offset, this.offset + n);
      this.skip(n);
      return v;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const src = this.chunks[this.head]!;
      const k = Math.min(n - at, src.byteLength - this.offset);
      src.copy(out, at, this.offset, this.offset + k);
      at += k;
      this.offset += k;
      this.unread -= k;
      this.dropConsumed();
    }
    this.copiedBytes += n;
    return out;
  }

  private dropConsumed(): void {
    while (this.head < this.chunks.length && this.offset >= this.chunks[this.head]!.byteLength) {
      this.chunks[this.head] = EMPTY; // release the chunk now (frames handed out keep their own views)
      this.head++;
      this.offset = 0;
    }
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** A frame body as a plain map, or ProtocolError. */
export function decodePlainMap(body: Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = unpackr.unpack(body);
  } catch (e) {
    throw new ProtocolError(`frame body is not one MessagePack value: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array || Object.getPrototypeOf(v) !== Object.prototype) {
    throw new ProtocolError(`a frame must hold a MessagePack map, got ${describe(v)}`);
  }
  return v as Record<string, unknown>;
}

/** A frame body as a plain map with a string `type`, or ProtocolError. */
export function decodeMap(body: Uint8Array): Record<string, unknown> & { type: string } {
  const v = decodePlainMap(body);
  if (typeof v.type !== 'string') throw new ProtocolError('a frame map needs a string field "type"');
  return v as Record<string, unknown> & { type: string };
}

function describe(v: unknown): string {
  if (v === null) return 'nil';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'binary';
  if (typeof v === 'object') return `a ${(v as object).constructor?.name ?? 'foreign'} object`;
  return `a ${typeof v}`;
}

// ------------------------------------------------------------------ messages

/** Client -> server, first frame. */
export interface HelloFrame {
  type: 'hello';
  tier?: Tier;
  host?: number;
  fabricManager?: boolean;
  name?: string;
  /** false: leave the device list out of `welcome` (big fleets) */
  devices?: boolean;
  /** the client's token, when the server has a token file (`--tokens`) */
  token?: string;
}

/** Fields of a request, as SendRequest without signal / noWait. */
export type WireRequest = Omit<SendRequest, 'signal' | 'noWait'>;

export interface ReqFrame extends WireRequest {
  type: 'req';
  id: number;
}

export interface DevicesFrame {
  type: 'devices';
  id: number;
}

export interface EffectsFrame {
  type: 'effects';
  id: number;
  device: string;
}

/** The server's counters (SocketServer.stats()). */
export interface StatsFrame {
  type: 'stats';
  id: number;
}

export type ClientFrame = HelloFrame | ReqFrame | DevicesFrame | EffectsFrame | StatsFrame;

export interface WelcomeFrame {
  type: 'welcome';
  protocol: number;
  session: string;
  /** the tier the session got: the requested one capped by the server's maximum */
  tier: Tier;
  requestedTier: Tier;
  host: number;
  fabricManager: boolean;
  /** the token's name, when the server authenticated the client with one */
  identity?: string;
  /** the server's limits for this connection (see PROTOCOL.md) */
  maxFrameBytes: number;
  maxInFlight: number;
  maxRequestTimeoutMs: number;
  idleTimeoutMs: number;
  /** the slice of the fleet this server serves (`serve --slice i/N`); absent: the whole fleet */
  slice?: FleetSlice;
  devices?: DeviceInfo[];
}

export interface ResFrame {
  type: 'res';
  id: number;
  rc: number;
  payload: Uint8Array;
  vendorStatus: number;
  background: boolean;
  cqe?: Uint8Array;
  tunnel?: CommandResult['tunnel'];
}

export interface ErrFrame {
  type: 'err';
  id: number;
  code: MbxErrorCode;
  message: string;
  context?: Record<string, unknown>;
}

export interface EffectEntry {
  opcode: number;
  effects: number;
  effectNames: string[];
  tier: string;
  reason: string;
}

export interface DevicesResultFrame {
  type: 'devices';
  id: number;
  devices: DeviceInfo[];
}

export interface EffectsResultFrame {
  type: 'effects';
  id: number;
  device: string;
  effects: EffectEntry[];
}

/**
 * The last frame of a connection the server closes (a bad frame, shutdown, a limit): every request frame up
 * to and including the one with id `lastId` (in arrival order) was processed and answered before this frame;
 * none after it was run. `lastId` is null when no request was processed.
 */
export interface ErrorFrame {
  type: 'error';
  code: MbxErrorCode;
  message: string;
  lastId: number | null;
}

export interface StatsResultFrame {
  type: 'stats';
  id: number;
  stats: Record<string, unknown>;
}

export type ServerFrame = WelcomeFrame | ResFrame | ErrFrame | DevicesResultFrame | EffectsResultFrame | StatsResultFrame | ErrorFrame;

// ------------------------------------------------------------------ validation (field types only)

const DWORDS = ['queue', 'cid', 'nsid', 'cdw10', 'cdw11', 'cdw12', 'cdw13', 'cdw14', 'cdw15'] as const;

function bad(msg: string): never {
  throw new ProtocolError(msg);
}

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** A field that must be a number if present (ranges are the mux's business: it answers `err`). */
function num(f: Record<string, unknown>, k: string, type: string): number | undefined {
  const v = f[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${type}.${k} must be a number`);
  return v;
}

function bin(f: Record<string, unknown>, k: string, type: string): Uint8Array | undefined {
  const v = f[k];
  if (v === undefined || v === null) return undefined;
  if (!(v instanceof Uint8Array)) bad(`${type}.${k} must be MessagePack binary (bin 8/16/32)`);
  return v;
}

/**
 * Checks a decoded client frame's type and field types. Throws ProtocolError (fatal for the connection)
 * for an unknown type or a field of the wrong type; value ranges are left to the mux. Unknown fields are ignored.
 */
export function parseClientFrame(f: Record<string, unknown> & { type: string }): ClientFrame {
  switch (f.type) {
    case 'hello': {
      const h: HelloFrame = { type: 'hello' };
      if (f.tier !== undefined && f.tier !== null) {
        if (typeof f.tier !== 'string' || !(TIERS as readonly string[]).includes(f.tier)) bad(`hello.tier must be one of ${TIERS.join(', ')}`);
        h.tier = f.tier as Tier;
      }
      const host = num(f, 'host', 'hello');
      if (host !== undefined) {
        if (!Number.isInteger(host) || host < 0 || host > 65535) bad('hello.host must be an integer from 0 to 65535');
        h.host = host;
      }
      if (f.fabricManager !== undefined && f.fabricManager !== null) {
        if (typeof f.fabricManager !== 'boolean') bad('hello.fabricManager must be a boolean');
        h.fabricManager = f.fabricManager;
      }
      if (f.name !== undefined && f.name !== null) {
        // the name goes into log lines, audit records and the session name: no control characters
        if (typeof f.name !== 'string' || f.name.length > 200 || hasControl(f.name)) bad('hello.name must be a string of at most 200 printable characters');
        h.name = f.name;
      }
      if (f.token !== undefined && f.token !== null) {
        if (typeof f.token !== 'string' || f.token.length > 1024) bad('hello.token must be a string of at most 1024 characters');
        h.token = f.token;
      }
      if (f.devices !== undefined && f.devices !== null) {
        if (typeof f.devices !== 'boolean') bad('hello.devices must be a boolean');
        h.devices = f.devices;
      }
      return h;
    }
    case 'req': {
      if (!isId(f.id)) bad('req.id must be a non-negative integer');
      if (typeof f.device !== 'string') bad('req.device must be a string');
      if (typeof f.opcode !== 'number') bad('req.opcode must be a number');
      const r: ReqFrame = { type: 'req', id: f.id, device: f.device, opcode: f.opcode };
      const payload = bin(f, 'payload', 'req');
      if (payload !== undefined) r.payload = payload;
      const data = bin(f, 'data', 'req');
      if (data !== undefined) r.data = data;
      for (const k of DWORDS) {
        const v = num(f, k, 'req');
        if (v !== undefined) r[k] = v;
      }
      const mt = num(f, 'mctpType', 'req');
      if (mt !== undefined) r.mctpType = mt;
      const to = num(f, 'timeoutMs', 'req');
      if (to !== undefined) r.timeoutMs = to;
      if (f.tunnel !== undefined && f.tunnel !== null) {
        if (!Array.isArray(f.tunnel) || f.tunnel.length > 16 || !f.tunnel.every((h) => typeof h === 'number')) bad('req.tunnel must be an array of numbers');
        r.tunnel = f.tunnel as number[];
      }
      return r;
    }
    case 'devices':
      if (!isId(f.id)) bad('devices.id must be a non-negative integer');
      return { type: 'devices', id: f.id };
    case 'effects':
      if (!isId(f.id)) bad('effects.id must be a non-negative integer');
      if (typeof f.device !== 'string') bad('effects.device must be a string');
      return { type: 'effects', id: f.id, device: f.device };
    case 'stats':
      if (!isId(f.id)) bad('stats.id must be a non-negative integer');
      return { type: 'stats', id: f.id };
    default:
      return bad(`unknown frame type ${JSON.stringify(f.type).slice(0, 64)} (expected hello, req, devices, effects or stats)`);
  }
}

// ------------------------------------------------------------------ errors on the wire

/** An error as `err` / `error` fields: MbxError keeps its code; anything else is reported as EMBX_BAD_REQUEST. */
export function errorFields(e: unknown): { code: MbxErrorCode; message: string; context?: Record<string, unknown> } {
  if (e instanceof MbxError) {
    const ctx = plainContext(e.context);
    return ctx === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, context: ctx };
  }
  return { code: 'EMBX_BAD_REQUEST', message: `internal error: ${(e as Error)?.message ?? String(e)}` };
}

/** Error context with only MessagePack-friendly values (drops functions, symbols; bigint as string). */
function plainContext(c: Record<string, unknown>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of Object.entries(c)) {
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    out[k] = typeof v === 'bigint' ? v.toString() : v;
    n++;
  }
  return n === 0 ? undefined : out;
}

const KNOWN_CODES = new Set<string>([
  'EMBX_BAD_REQUEST', 'EMBX_UNKNOWN_DEVICE', 'EMBX_PERMISSION', 'EMBX_RING_FULL', 'EMBX_BACKPRESSURE', 'EMBX_TIMEOUT',
  'EMBX_ABORTED', 'EMBX_WORKER_LOST', 'EMBX_CLOSED', 'EMBX_BAD_FLEET', 'EMBX_TRANSPORT', 'EMBX_PROTOCOL',
]);

/** Rebuilds the MbxError subclass a code belongs to (client side), so `instanceof` and `.code` work as in-process. */
export function errorFromWire(code: unknown, message: unknown, context?: unknown): MbxError {
  const msg = typeof message === 'string' ? message : 'the server reported an error without a message';
  const ctx = typeof context === 'object' && context !== null && !Array.isArray(context) ? context as Record<string, unknown> : {};
  const c = typeof code === 'string' && KNOWN_CODES.has(code) ? code as MbxErrorCode : 'EMBX_PROTOCOL';
  switch (c) {
    case 'EMBX_BAD_REQUEST':
    case 'EMBX_UNKNOWN_DEVICE':
      return new BadRequestError(msg, ctx, c);
    case 'EMBX_PERMISSION':
      return new PermissionError(msg, ctx);
    case 'EMBX_RING_FULL':
    case 'EMBX_BACKPRESSURE':
      return new BackpressureError(c, msg, ctx);
    case 'EMBX_TIMEOUT':
    case 'EMBX_ABORTED':
      return new CancelledError(c, msg, ctx);
    case 'EMBX_WORKER_LOST':
      return new WorkerLostError(msg, ctx);
    case 'EMBX_CLOSED':
      return new ClosedError(msg, ctx);
    case 'EMBX_BAD_FLEET':
      return new FleetError(msg, ctx);
    case 'EMBX_TRANSPORT':
      return new TransportError(msg, ctx);
    default:
      return new ProtocolError(msg, ctx);
  }
}
