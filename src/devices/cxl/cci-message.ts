import { Rc } from '../cci/return-codes.js';

/**
 * The CCI message (CXL r3.2 §7.6.3, Table 7-14): a 12-byte header followed by the payload. It is the body
 * of an MCTP message of type 7 (FM API, DSP0234) or 8 (CCI, DSP0281) after the one-byte MCTP type, and the
 * "Management Command" carried inside Tunnel Management (5300h) requests and responses. This file is the
 * only codec for it: devices, the tunnel code, MCTP and the policy layer all use it.
 *
 *   00h  [3:0] Message Category (0 request, 1 response, others reserved); [7:4] reserved
 *   01h  Message Tag (the response echoes the request's)
 *   02h  reserved
 *   03h  Command (opcode bits 7:0)
 *   04h  Command Set (opcode bits 15:8)
 *   05h  Payload Length [15:0]
 *   07h  [4:0] Payload Length [20:16]; [6:5] reserved; [7] BO: the command started a background operation
 *   08h  le16 Return Code (0 in requests)
 *   0Ah  le16 Vendor Specific Extended Status (0 in requests; libcxlmi sends ABCDh, tolerated)
 *   0Ch  payload
 *
 * The payload length is 21 bits (r3.2); reserved bits are ignored on receive and written as zero.
 */

export const CCI_HEADER_BYTES = 12;
/** largest payload the 21-bit length field can describe */
export const CCI_MAX_PAYLOAD = 0x1fffff;

export const CciCategory = {
  REQUEST: 0,
  RESPONSE: 1,
} as const;

export interface CciHeader {
  /** 0 request, 1 response (bits 3:0 of byte 0) */
  category: number;
  tag: number;
  /** command set << 8 | command */
  opcode: number;
  /** 21-bit payload length */
  payloadLength: number;
  /** BO bit (byte 7 bit 7): the response's command runs in the background */
  bo: boolean;
  rc: number;
  vendorStatus: number;
}

export type CciDecodeErrorCode =
  /** fewer than 12 bytes */
  | 'truncated'
  /** the payload length field disagrees with the bytes present */
  | 'length-mismatch'
  /** category 2..15 (reserved) */
  | 'reserved-category'
  /** a request where a response was expected or the reverse */
  | 'unexpected-category';

/** A decode failure: never thrown, always returned. `rc` is what a CCI answers for such a message. */
export interface CciDecodeError {
  error: CciDecodeErrorCode;
  detail: string;
  rc: number;
}

export function isCciDecodeError(x: unknown): x is CciDecodeError {
  return typeof x === 'object' && x !== null && typeof (x as CciDecodeError).error === 'string';
}

// ---------------------------------------------------------------- field accessors (no allocation)
// `at` is the offset of the header in `b`; callers check that 12 bytes are present.

export function cciCategory(b: Uint8Array, at = 0): number {
  return b[at]! & 0x0f;
}

export function cciTag(b: Uint8Array, at = 0): number {
  return b[at + 1]!;
}

export function cciOpcode(b: Uint8Array, at = 0): number {
  return b[at + 3]! | (b[at + 4]! << 8);
}

export function cciPayloadLength(b: Uint8Array, at = 0): number {
  return b[at + 5]! | (b[at + 6]! << 8) | ((b[at + 7]! & 0x1f) << 16);
}

export function cciBackgroundOperation(b: Uint8Array, at = 0): boolean {
  return (b[at + 7]! & 0x80) !== 0;
}

export function cciRc(b: Uint8Array, at = 0): number {
  return b[at + 8]! | (b[at + 9]! << 8);
}

export function cciVendorStatus(b: Uint8Array, at = 0): number {
  return b[at + 10]! | (b[at + 11]! << 8);
}

/**
 * Writes a 12-byte header at `b[at]` (reserved bits zero). Throws RangeError only on programming errors
 * (a length that does not fit 21 bits or a buffer too short), never on received data.
 */
export function writeCciHeaderFields(
  b: Uint8Array, at: number, category: number, tag: number, opcode: number, payloadLength: number,
  backgroundOperation: boolean, rc: number, vendorStatus: number,
): void {
  if (payloadLength < 0 || payloadLength > CCI_MAX_PAYLOAD || !Number.isInteger(payloadLength)) {
    throw new RangeError(`CCI payload length ${payloadLength} does not fit 21 bits`);
  }
  if (at < 0 || at + CCI_HEADER_BYTES > b.byteLength) throw new RangeError('CCI header does not fit the buffer');
  b[at] = category & 0x0f;
  b[at + 1] = tag & 0xff;
  b[at + 2] = 0;
  b[at + 3] = opcode & 0xff;
  b[at + 4] = (opcode >>> 8) & 0xff;
  b[at + 5] = payloadLength & 0xff;
  b[at + 6] = (payloadLength >>> 8) & 0xff;
  b[at + 7] = ((payloadLength >>> 16) & 0x1f) | (backgroundOperation ? 0x80 : 0);
  b[at + 8] = rc & 0xff;
  b[at + 9] = (rc >>> 8) & 0xff;
  b[at + 10] = vendorStatus & 0xff;
  b[at + 11] = (vendorStatus >>> 8) & 0xff;
}

export function writeCciHeader(b: Uint8Array, at: number, h: CciHeader): void {
  writeCciHeaderFields(b, at, h.category, h.tag, h.opcode, h.payloadLength, h.bo, h.rc, h.vendorStatus);
}

/** A header object to reuse with readCciHeaderInto (hot paths: no allocation per message). */
export function newCciHeader(): CciHeader {
  return { category: 0, tag: 0, opcode: 0, payloadLength: 0, bo: false, rc: 0, vendorStatus: 0 };
}

/** Reads the header at `b[at]` into `into`; false (and `into` untouched) if fewer than 12 bytes are there. */
export function readCciHeaderInto(b: Uint8Array, at: number, into: CciHeader): boolean {
  if (at < 0 || b.byteLength - at < CCI_HEADER_BYTES) return false;
  into.category = cciCategory(b, at);
  into.tag = cciTag(b, at);
  into.opcode = cciOpcode(b, at);
  into.payloadLength = cciPayloadLength(b, at);
  into.bo = cciBackgroundOperation(b, at);
  into.rc = cciRc(b, at);
  into.vendorStatus = cciVendorStatus(b, at);
  return true;
}

/** Reads the header at `b[at]`; a typed error if fewer than 12 bytes are there. Checks nothing else. */
export function readCciHeader(b: Uint8Array, at = 0): CciHeader | CciDecodeError {
  if (at < 0 || b.byteLength - at < CCI_HEADER_BYTES) {
    return { error: 'truncated', detail: `a CCI message needs ${CCI_HEADER_BYTES} header bytes, got ${Math.max(0, b.byteLength - at)}`, rc: Rc.INVALID_PAYLOAD_LENGTH };
  }
  return {
    category: cciCategory(b, at),
    tag: cciTag(b, at),
    opcode: cciOpcode(b, at),
    payloadLength: cciPayloadLength(b, at),
    bo: cciBackgroundOperation(b, at),
    rc: cciRc(b, at),
    vendorStatus: cciVendorStatus(b, at),
  };
}

export interface CciMessage {
  header: CciHeader;
  /** view into the decoded bytes (not a copy) */
  payload: Uint8Array;
}

/**
 * Decodes one whole CCI message: header, then exactly `payloadLength` payload bytes. With `expect`, the
 * category must match. Never throws.
 */
export function decodeCciMessage(bytes: Uint8Array, expect?: 'request' | 'response'): CciMessage | CciDecodeError {
  const h = readCciHeader(bytes, 0);
  if (isCciDecodeError(h)) return h;
  if (h.category > CciCategory.RESPONSE) {
    return { error: 'reserved-category', detail: `message category ${h.category} is reserved`, rc: Rc.INVALID_INPUT };
  }
  if (expect !== undefined && h.category !== (expect === 'request' ? CciCategory.REQUEST : CciCategory.RESPONSE)) {
    return { error: 'unexpected-category', detail: `expected a ${expect}, got category ${h.category}`, rc: Rc.INVALID_INPUT };
  }
  const present = bytes.byteLength - CCI_HEADER_BYTES;
  if (h.payloadLength !== present) {
    return { error: 'length-mismatch', detail: `payload length field says ${h.payloadLength} bytes, ${present} present`, rc: Rc.INVALID_PAYLOAD_LENGTH };
  }
  return { header: h, payload: bytes.subarray(CCI_HEADER_BYTES) };
}

/** A request message: category 0, rc 0, vendor status 0. */
export function encodeCciRequest(opcode: number, payload: Uint8Array = new Uint8Array(0), tag = 0): Uint8Array {
  const out = new Uint8Array(CCI_HEADER_BYTES + payload.byteLength);
  writeCciHeaderFields(out, 0, CciCategory.REQUEST, tag, opcode, payload.byteLength, false, 0, 0);
  out.set(payload, CCI_HEADER_BYTES);
  return out;
}

/** A response message: category 1, the request's tag and opcode, the status and output. */
export function encodeCciResponse(
  tag: number, opcode: number, rc: number, payload: Uint8Array = new Uint8Array(0),
  opts: { vendorStatus?: number; bo?: boolean } = {},
): Uint8Array {
  const out = new Uint8Array(CCI_HEADER_BYTES + payload.byteLength);
  writeCciHeaderFields(out, 0, CciCategory.RESPONSE, tag, opcode, payload.byteLength, opts.bo ?? false, rc, opts.vendorStatus ?? 0);
  out.set(payload, CCI_HEADER_BYTES);
  return out;
}
