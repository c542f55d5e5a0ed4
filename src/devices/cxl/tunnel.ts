import { executeCci, type ComponentState } from '../cci/cci.js';
import { type CciRequest, type CommandDef, newCciRequest, Via } from '../cci/command-table.js';
import { Rc } from '../cci/return-codes.js';
import {
  CCI_HEADER_BYTES, CciCategory, cciBackgroundOperation, cciCategory, cciOpcode, cciPayloadLength, cciRc, cciTag,
  cciVendorStatus, encodeCciRequest, writeCciHeaderFields,
} from './cci-message.js';

/**
 * Tunnel Management Command 5300h (CXL r3.2 §7.6.7.3.1, Tables 7-37/7-38).
 *
 * Request payload:  00h u8 Port or LD ID; 01h [3:0] Target Type (0 port/LD based, 1 LD Pool CCI), [7:4] rsvd;
 *                   02h le16 Command Size; 04h a whole CCI request message (12-byte header + payload).
 * Response payload: 00h le16 Response Length; 02h le16 reserved (0); 04h a whole CCI response message.
 *
 * The outer return code is Success whenever the tunnel delivered the command; the inner message carries the
 * target's own status. Tunnels nest (switch -> MLD FM-owned LD -> LD); at most MAX_TUNNEL_DEPTH layers are
 * honoured, a deeper 5300 answers Unsupported (the spec's rule for more than 3 layers).
 */

export const TUNNEL_OPCODE = 0x5300;
/** bytes before the embedded CCI message, in both directions */
export const TUNNEL_HEADER_BYTES = 4;
/** the smallest valid request: tunnel header + a CCI header with no payload */
export const TUNNEL_MIN_BYTES = TUNNEL_HEADER_BYTES + CCI_HEADER_BYTES;
/** tunnel layers a request may stack (CXL: more than 3 nested layers -> Unsupported) */
export const MAX_TUNNEL_DEPTH = 3;
/** Command Size and Response Length are 16-bit fields */
const MAX_EMBEDDED_MESSAGE = 0xffff;

/** Resolves the Port or LD ID of a tunnel request to the component behind it, or a return code. */
export type TunnelResolver<S> = (dev: S, portOrLd: number, targetType: number, nowNs: number) => ComponentState | number;

// ------------------------------------------------------------------ device side

/** Tunnel handlers currently on the stack of this thread (execution is synchronous). */
let activeDepth = 0;
/** Scratch request per nesting depth and payload capacity; allocated on first use, shared by every device. */
const scratch: Map<number, CciRequest>[] = [];

function scratchFor(depth: number, capacity: number): CciRequest {
  let byCap = scratch[depth];
  if (byCap === undefined) scratch[depth] = byCap = new Map();
  let r = byCap.get(capacity);
  if (r === undefined) {
    r = newCciRequest(new Uint8Array(capacity));
    byCap.set(capacity, r);
  }
  return r;
}

/** Current nesting depth (0 outside any tunnel); exposed for tests and diagnostics. */
export function tunnelDepth(): number {
  return activeDepth;
}

/**
 * Runs one Tunnel Management request held in `req` against the component `resolve` picks, writing the
 * tunnel response into `req.payload`. Validation order (QEMU's, plus the spec's target and depth rules):
 *   nesting deeper than MAX_TUNNEL_DEPTH -> Unsupported;
 *   input < 16 bytes -> Invalid Payload Length (also enforced by the table's input rule);
 *   Command Size < 12 -> Invalid Payload Length; Command Size != input - 4 -> Invalid Payload Length;
 *   embedded message not a request (category != 0) -> Invalid Input;
 *   Target Type != 0 -> Invalid Input (no LD Pool CCI here);
 *   embedded payload length field != Command Size - 12 -> Invalid Payload Length;
 *   then the resolver's verdict (unknown / empty port, LD out of range -> Invalid Input; link down -> Retry).
 * The inner command runs with executeCci on a per-depth scratch buffer whose capacity is the smallest of:
 * what the outer payload can carry back (outer capacity - 16), the target's own message size, and what the
 * 16-bit Response Length can describe. A target that cannot take the inner request (payload larger than its
 * message size) answers Invalid Payload Length inside the response, like a mailbox would.
 */
export function runTunnel<S>(dev: S, req: CciRequest, resolve: TunnelResolver<S>): number {
  if (activeDepth >= MAX_TUNNEL_DEPTH) return Rc.UNSUPPORTED;
  const p = req.payload;
  const len = req.inLen;
  if (len < TUNNEL_MIN_BYTES) return Rc.INVALID_PAYLOAD_LENGTH;
  const size = p[2]! | (p[3]! << 8);
  if (size < CCI_HEADER_BYTES) return Rc.INVALID_PAYLOAD_LENGTH;
  if (size !== len - TUNNEL_HEADER_BYTES) return Rc.INVALID_PAYLOAD_LENGTH;
  const m = TUNNEL_HEADER_BYTES;
  if (cciCategory(p, m) !== CciCategory.REQUEST) return Rc.INVALID_INPUT;
  const targetType = p[1]! & 0x0f;
  if (targetType !== 0) return Rc.INVALID_INPUT;
  const inLen = cciPayloadLength(p, m);
  if (inLen !== size - CCI_HEADER_BYTES) return Rc.INVALID_PAYLOAD_LENGTH;
  const target = resolve(dev, p[0]!, targetType, req.nowNs);
  if (typeof target === 'number') return target;

  const tag = cciTag(p, m);
  const opcode = cciOpcode(p, m);
  const capacity = Math.min(
    p.byteLength - TUNNEL_MIN_BYTES,
    2 ** target.identity.maxMessageSizeLog2,
    MAX_EMBEDDED_MESSAGE - CCI_HEADER_BYTES,
  );
  let rc: number;
  let outLen = 0;
  let vendor = 0;
  let out: Uint8Array | null = null;
  if (inLen > capacity) {
    rc = Rc.INVALID_PAYLOAD_LENGTH;
  } else {
    const inner = scratchFor(activeDepth, capacity);
    inner.payload.set(p.subarray(TUNNEL_MIN_BYTES, TUNNEL_MIN_BYTES + inLen), 0);
    inner.opcode = opcode;
    inner.inLen = inLen;
    inner.nowNs = req.nowNs;
    inner.via = Via.TUNNEL;
    activeDepth++;
    try {
      rc = executeCci(target, inner);
    } catch (e) {
      // A handler wrote past the capacity the tunnel can carry back: the response cannot be delivered.
      if (e instanceof RangeError) return Rc.INTERNAL_ERROR;
      throw e;
    } finally {
      activeDepth--;
    }
    outLen = inner.outLen;
    vendor = inner.vendorStatus;
    if (outLen < 0 || outLen > capacity) return Rc.INTERNAL_ERROR;
    out = inner.payload;
  }
  const respLen = CCI_HEADER_BYTES + outLen;
  p[0] = respLen & 0xff;
  p[1] = respLen >>> 8;
  p[2] = 0;
  p[3] = 0;
  writeCciHeaderFields(p, m, CciCategory.RESPONSE, tag, opcode, outLen, rc === Rc.BACKGROUND_STARTED, rc, vendor);
  if (out !== null && outLen > 0) p.set(out.subarray(0, outLen), TUNNEL_MIN_BYTES);
  req.outLen = TUNNEL_MIN_BYTES + outLen;
  return Rc.SUCCESS;
}

/** The 5300h command-table entry for a component whose tunnel targets `resolve` finds. Effects: none (the
 *  tunnel itself changes nothing; the embedded command has its own effects, which the policy must check). */
export function tunnelCommand<S>(resolve: TunnelResolver<S>): CommandDef<S> {
  return {
    opcode: TUNNEL_OPCODE,
    name: 'Tunnel Management Command',
    input: { min: TUNNEL_MIN_BYTES },
    effects: 0,
    handler: (dev, req) => runTunnel(dev, req, resolve),
  };
}

// ------------------------------------------------------------------ host side (main thread, tests, CLI)

export interface TunnelHop {
  /** egress port (at a switch) or LD ID (at an MLD) */
  portOrLd: number;
  /** 0 = port/LD based (the only kind emulated); 1 = LD Pool CCI of a multi-headed device */
  targetType?: number;
}

/**
 * Builds the payload of a 5300h request sent to the first component of `path` (outer to inner): hop k's
 * embedded message is a 5300h request for hop k+1, the last one carries `opcode` + `payload`.
 * `tags[k]` is the Message Tag of the CCI message inside hop k (default 0).
 * Throws RangeError on arguments that cannot be encoded (empty path, field overflow).
 */
export function encodeTunnelRequest(path: readonly TunnelHop[], opcode: number, payload: Uint8Array = new Uint8Array(0), tags: readonly number[] = []): Uint8Array {
  if (path.length === 0) throw new RangeError('a tunnel path needs at least one hop');
  let msg = encodeCciRequest(opcode, payload, tags[path.length - 1] ?? 0);
  for (let k = path.length - 1; ; k--) {
    const hop = path[k]!;
    if (!Number.isInteger(hop.portOrLd) || hop.portOrLd < 0 || hop.portOrLd > 0xff) throw new RangeError(`port or LD ID ${hop.portOrLd} is not a byte`);
    const tt = hop.targetType ?? 0;
    if (!Number.isInteger(tt) || tt < 0 || tt > 0x0f) throw new RangeError(`target type ${tt} does not fit 4 bits`);
    if (msg.byteLength > MAX_EMBEDDED_MESSAGE) throw new RangeError(`embedded message of ${msg.byteLength} bytes exceeds the 16-bit Command Size`);
    const t = new Uint8Array(TUNNEL_HEADER_BYTES + msg.byteLength);
    t[0] = hop.portOrLd;
    t[1] = tt;
    t[2] = msg.byteLength & 0xff;
    t[3] = msg.byteLength >>> 8;
    t.set(msg, TUNNEL_HEADER_BYTES);
    if (k === 0) return t;
    msg = encodeCciRequest(TUNNEL_OPCODE, t, tags[k - 1] ?? 0);
  }
}

export type TunnelDecodeErrorCode =
  | 'truncated'
  | 'command-size-too-small'
  | 'size-mismatch'
  | 'not-a-request'
  | 'not-a-response'
  | 'length-mismatch';

/** A decode failure at tunnel layer `level` (0 = outermost). `rc` is what that layer's component answers. */
export interface TunnelDecodeError {
  error: TunnelDecodeErrorCode;
  detail: string;
  level: number;
  rc: number;
}

export interface DecodedTunnelRequest {
  /** outer to inner; hops[k].tag is the Message Tag of the message carried inside hop k */
  hops: { portOrLd: number; targetType: number; tag: number }[];
  /** the innermost (non-tunnel) command */
  opcode: number;
  /** its payload (a view into the input) */
  payload: Uint8Array;
}

function reqError(error: TunnelDecodeErrorCode, detail: string, level: number, rc: number): TunnelDecodeError {
  return { error, detail, level, rc };
}

/**
 * Walks every nesting level of a 5300h request payload with the same rules a device applies (see runTunnel),
 * down to the first embedded command that is not 5300h. Never throws; any malformation is a typed error.
 * Does not cap the depth: the caller compares hops.length with MAX_TUNNEL_DEPTH.
 */
export function decodeTunnelRequest(payload: Uint8Array): DecodedTunnelRequest | TunnelDecodeError {
  const hops: DecodedTunnelRequest['hops'] = [];
  let b = payload;
  for (let level = 0; ; level++) {
    const len = b.byteLength;
    if (len < TUNNEL_MIN_BYTES) return reqError('truncated', `a tunnel request needs ${TUNNEL_MIN_BYTES} bytes, got ${len}`, level, Rc.INVALID_PAYLOAD_LENGTH);
    const size = b[2]! | (b[3]! << 8);
    if (size < CCI_HEADER_BYTES) return reqError('command-size-too-small', `Command Size ${size} < ${CCI_HEADER_BYTES}`, level, Rc.INVALID_PAYLOAD_LENGTH);
    if (size !== len - TUNNEL_HEADER_BYTES) return reqError('size-mismatch', `Command Size ${size} but ${len - TUNNEL_HEADER_BYTES} bytes follow`, level, Rc.INVALID_PAYLOAD_LENGTH);
    const cat = cciCategory(b, TUNNEL_HEADER_BYTES);
    if (cat !== CciCategory.REQUEST) return reqError('not-a-request', `embedded message category ${cat}`, level, Rc.INVALID_INPUT);
    const pl = cciPayloadLength(b, TUNNEL_HEADER_BYTES);
    if (pl !== size - CCI_HEADER_BYTES) return reqError('length-mismatch', `payload length field ${pl} but Command Size leaves ${size - CCI_HEADER_BYTES}`, level, Rc.INVALID_PAYLOAD_LENGTH);
    hops.push({ portOrLd: b[0]!, targetType: b[1]! & 0x0f, tag: cciTag(b, TUNNEL_HEADER_BYTES) });
    const opcode = cciOpcode(b, TUNNEL_HEADER_BYTES);
    const inner = b.subarray(TUNNEL_MIN_BYTES);
    if (opcode !== TUNNEL_OPCODE) return { hops, opcode, payload: inner };
    b = inner;
  }
}

export interface DecodedTunnelResponse {
  /** one entry per embedded response message, outer to inner */
  hops: { tag: number; opcode: number; rc: number; vendorStatus: number; bo: boolean }[];
  /** the innermost response (the target's answer, or the tunnel layer that failed) */
  innerOpcode: number;
  innerRc: number;
  innerVendor: number;
  innerBackground: boolean;
  innerPayload: Uint8Array;
}

/**
 * Unwinds a 5300h response payload: descends while the embedded response is a successful 5300h, so the last
 * hop is either the target command's answer or the tunnel layer that refused. Never throws.
 */
export function decodeTunnelResponse(payload: Uint8Array): DecodedTunnelResponse | TunnelDecodeError {
  const hops: DecodedTunnelResponse['hops'] = [];
  let b = payload;
  for (let level = 0; ; level++) {
    const len = b.byteLength;
    if (len < TUNNEL_MIN_BYTES) return reqError('truncated', `a tunnel response needs ${TUNNEL_MIN_BYTES} bytes, got ${len}`, level, Rc.INVALID_PAYLOAD_LENGTH);
    const respLen = b[0]! | (b[1]! << 8);
    if (respLen !== len - TUNNEL_HEADER_BYTES) return reqError('size-mismatch', `Response Length ${respLen} but ${len - TUNNEL_HEADER_BYTES} bytes follow`, level, Rc.INVALID_PAYLOAD_LENGTH);
    const m = TUNNEL_HEADER_BYTES;
    const cat = cciCategory(b, m);
    if (cat !== CciCategory.RESPONSE) return reqError('not-a-response', `embedded message category ${cat}`, level, Rc.INVALID_INPUT);
    const pl = cciPayloadLength(b, m);
    if (pl !== respLen - CCI_HEADER_BYTES) return reqError('length-mismatch', `payload length field ${pl} but Response Length leaves ${respLen - CCI_HEADER_BYTES}`, level, Rc.INVALID_PAYLOAD_LENGTH);
    const hop = { tag: cciTag(b, m), opcode: cciOpcode(b, m), rc: cciRc(b, m), vendorStatus: cciVendorStatus(b, m), bo: cciBackgroundOperation(b, m) };
    hops.push(hop);
    const inner = b.subarray(TUNNEL_MIN_BYTES);
    if (hop.opcode !== TUNNEL_OPCODE || hop.rc !== Rc.SUCCESS) {
      return { hops, innerOpcode: hop.opcode, innerRc: hop.rc, innerVendor: hop.vendorStatus, innerBackground: hop.bo, innerPayload: inner };
    }
    b = inner;
  }
}

export function isTunnelDecodeError(x: unknown): x is TunnelDecodeError {
  return typeof x === 'object' && x !== null && typeof (x as TunnelDecodeError).error === 'string';
}
