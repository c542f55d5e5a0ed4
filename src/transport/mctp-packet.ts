/**
 * MCTP (DMTF DSP0236 1.x) transport header and message-type byte, as the emulator needs them.
 *
 * Packet = 4-byte transport header + packet payload:
 *   byte 0  [3:0] header version (0001b), [7:4] reserved
 *   byte 1  destination EID
 *   byte 2  source EID
 *   byte 3  [7] SOM, [6] EOM, [5:4] packet sequence, [3] TO (tag owner), [2:0] message tag
 * The first packet's payload starts with the message header: [7] IC, [6:0] message type. The CXL bindings
 * (type 7 DSP0234 FM API, type 8 DSP0281 CCI) use IC = 0 and no trailer: [type][12-byte CCI message].
 */
import { MCTP_HEADER_BYTES } from './pcc-layout.js';

export { MCTP_HEADER_BYTES };
export const MCTP_HEADER_VERSION = 1;
/** Baseline transmission unit: every endpoint accepts 64-byte packet payloads. */
export const MCTP_BASELINE_MTU = 64;

export const MctpFlag = {
  SOM: 0x80,
  EOM: 0x40,
  TO: 0x08,
} as const;
const SEQ_SHIFT = 4;
const TAG_MASK = 0x07;

export const MctpEid = {
  NULL: 0x00,
  BROADCAST: 0xff,
} as const;

/** Message-type byte, bit 7: integrity check present. */
export const MCTP_IC = 0x80;

export const MctpType = {
  CONTROL: 0x00,
  PLDM: 0x01,
  NCSI: 0x02,
  ETHERNET: 0x03,
  NVME_MI: 0x04,
  SPDM: 0x05,
  SECURED: 0x06,
  /** CXL FM API over MCTP (DSP0234): command sets 51h..59h only */
  CXL_FM_API: 0x07,
  /** CXL Type 3 / component CCI over MCTP (DSP0281): command sets below 51h only */
  CXL_CCI: 0x08,
  VENDOR_PCI: 0x7e,
  VENDOR_IANA: 0x7f,
} as const;

/** FM API command sets (CXL r3.2 Table 7-15): 51h Physical Switch .. 59h Global Memory Access Endpoint. */
export const FM_API_FIRST_SET = 0x51;
export const FM_API_LAST_SET = 0x59;

/** The MCTP message type a CXL opcode travels on: 7 for FM API sets 51h..59h, else 8. */
export function mctpTypeForOpcode(opcode: number): number {
  const set = (opcode >>> 8) & 0xff;
  return set >= FM_API_FIRST_SET && set <= FM_API_LAST_SET ? MctpType.CXL_FM_API : MctpType.CXL_CCI;
}

/** Vendor-specific command sets (opcodes C000h-FFFFh). */
export const VENDOR_FIRST_SET = 0xc0;

/**
 * Binding rule (CXL r3.2 §7.6.3 / QEMU's recorded clarification): type 7 carries only FM API sets
 * 51h..59h; type 8 the component's own command sets: the sets below 51h, even to a switch, and the
 * vendor-specific sets C0h..FFh (vendor commands belong to the component's CCI, not to the FM API; QEMU's
 * check `set < 51h` has no vendor commands to carry). Anything else is answered rc 03h Unsupported.
 */
export function cxlTypeAllowsSet(type: number, set: number): boolean {
  if (type === MctpType.CXL_FM_API) return set >= FM_API_FIRST_SET && set <= FM_API_LAST_SET;
  if (type === MctpType.CXL_CCI) return set < FM_API_FIRST_SET || set >= VENDOR_FIRST_SET;
  return false;
}

export interface MctpHeader {
  version: number;
  dest: number;
  src: number;
  som: boolean;
  eom: boolean;
  /** 0..3 */
  seq: number;
  tagOwner: boolean;
  /** 0..7 */
  tag: number;
}

/** Byte 3 of the header. */
export function mctpFlagsByte(som: boolean, eom: boolean, seq: number, tagOwner: boolean, tag: number): number {
  return (som ? MctpFlag.SOM : 0) | (eom ? MctpFlag.EOM : 0) | ((seq & 3) << SEQ_SHIFT) | (tagOwner ? MctpFlag.TO : 0) | (tag & TAG_MASK);
}

/** Writes a version-1 header at out[off..off+4). */
export function writeMctpHeader(out: Uint8Array, off: number, dest: number, src: number, som: boolean, eom: boolean,
  seq: number, tagOwner: boolean, tag: number): void {
  out[off] = MCTP_HEADER_VERSION;
  out[off + 1] = dest;
  out[off + 2] = src;
  out[off + 3] = mctpFlagsByte(som, eom, seq, tagOwner, tag);
}

/** Field accessors on a raw header byte 3. */
export const flagSom = (b: number): boolean => (b & MctpFlag.SOM) !== 0;
export const flagEom = (b: number): boolean => (b & MctpFlag.EOM) !== 0;
export const flagSeq = (b: number): number => (b >>> SEQ_SHIFT) & 3;
export const flagTo = (b: number): boolean => (b & MctpFlag.TO) !== 0;
export const flagTag = (b: number): number => b & TAG_MASK;

/** Builds one packet: header + payload. Throws RangeError on out-of-range arguments (a caller bug). */
export function encodeMctpPacket(h: Omit<MctpHeader, 'version'>, payload: Uint8Array): Uint8Array {
  checkEid(h.dest, 'dest');
  checkEid(h.src, 'src');
  if (!Number.isInteger(h.seq) || h.seq < 0 || h.seq > 3) throw new RangeError(`MCTP packet sequence must be 0..3 (got ${h.seq})`);
  checkTag(h.tag);
  const out = new Uint8Array(MCTP_HEADER_BYTES + payload.byteLength);
  writeMctpHeader(out, 0, h.dest, h.src, h.som, h.eom, h.seq, h.tagOwner, h.tag);
  out.set(payload, MCTP_HEADER_BYTES);
  return out;
}

export type MctpPacketError = 'truncated' | 'bad-version' | 'oversize';

export type MctpPacketDecode =
  | { ok: true; header: MctpHeader; payload: Uint8Array }
  | { ok: false; error: MctpPacketError; message: string };

/**
 * Decodes one packet. Never throws: a packet shorter than its header, with a header version other than 1,
 * or with more than `maxUnit` payload bytes (when given) comes back as a typed error. `payload` is a view.
 */
export function decodeMctpPacket(bytes: Uint8Array, maxUnit?: number): MctpPacketDecode {
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: 'truncated', message: 'MCTP packet: not a byte array' };
  if (bytes.byteLength < MCTP_HEADER_BYTES) {
    return { ok: false, error: 'truncated', message: `MCTP packet of ${bytes.byteLength} bytes is shorter than its 4-byte header` };
  }
  const version = bytes[0]! & 0x0f;
  if (version !== MCTP_HEADER_VERSION) {
    return { ok: false, error: 'bad-version', message: `MCTP header version ${version} (only version 1 is defined)` };
  }
  const n = bytes.byteLength - MCTP_HEADER_BYTES;
  if (maxUnit !== undefined && n > maxUnit) {
    return { ok: false, error: 'oversize', message: `MCTP packet payload of ${n} bytes exceeds the ${maxUnit}-byte transmission unit` };
  }
  const f = bytes[3]!;
  return {
    ok: true,
    header: { version, dest: bytes[1]!, src: bytes[2]!, som: flagSom(f), eom: flagEom(f), seq: flagSeq(f), tagOwner: flagTo(f), tag: flagTag(f) },
    payload: bytes.subarray(MCTP_HEADER_BYTES),
  };
}

export function checkEid(eid: number, what: string): void {
  if (!Number.isInteger(eid) || eid < 0 || eid > 255) throw new RangeError(`MCTP ${what} EID must be 0..255 (got ${eid})`);
}

export function checkTag(tag: number): void {
  if (!Number.isInteger(tag) || tag < 0 || tag > 7) throw new RangeError(`MCTP message tag must be 0..7 (got ${tag})`);
}
