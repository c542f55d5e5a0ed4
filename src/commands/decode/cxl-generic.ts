import { effectNames } from '../../devices/cci/effects.js';
import { CEL_UUID, uuidEquals, uuidText } from '../../devices/cci/uuid.js';
import { ascii, hex, need, view } from './bytes.js';

/** Decoders of the CXL generic component commands' output (CXL r3.1 8.2.9.1-8.2.9.5). */

const COMPONENT_TYPE: Record<number, string> = { 0x00: 'switch', 0x03: 'type-3 device' };

/** 0001h Identify (8.2.9.1.1): 12h bytes. */
export function decodeIdentify(p: Uint8Array) {
  need(p, 0x12, 'Identify output');
  const v = view(p);
  return {
    vendorId: hex(v.getUint16(0x00, true), 4),
    deviceId: hex(v.getUint16(0x02, true), 4),
    subsystemVendorId: hex(v.getUint16(0x04, true), 4),
    subsystemId: hex(v.getUint16(0x06, true), 4),
    /** 16 hex digits, as `mbxmux devices` prints serials */
    serialNumber: v.getBigUint64(0x08, true).toString(16).padStart(16, '0'),
    /** largest message the CCI takes: 2^n bytes */
    maxMessageSizeBytes: 2 ** p[0x10]!,
    componentType: COMPONENT_TYPE[p[0x11]!] ?? `reserved (${hex(p[0x11]!, 2)})`,
  };
}

export interface BackgroundStatus {
  running: boolean;
  percentComplete: number;
  opcode: string;
  /** the operation's return code once it ended (0 while it runs) */
  returnCode: number;
  vendorStatus: number;
}

/** 0002h Background Operation Status (8.2.9.1.2): 8 bytes; byte 0 bit 0 running, bits 7:1 percent complete. */
export function decodeBackgroundStatus(p: Uint8Array): BackgroundStatus {
  need(p, 8, 'Background Operation Status output');
  const v = view(p);
  return {
    running: (p[0]! & 1) === 1,
    percentComplete: p[0]! >>> 1,
    opcode: hex(v.getUint16(2, true), 4),
    returnCode: v.getUint16(4, true),
    vendorStatus: v.getUint16(6, true),
  };
}

/** 0200h Get FW Info (8.2.9.3.1): 50h bytes; slot revisions are 16-byte ASCII fields at 10h, 20h, 30h, 40h. */
export function decodeFwInfo(p: Uint8Array) {
  need(p, 0x50, 'Get FW Info output');
  const slots = p[0]!;
  const info = p[1]!;
  const revisions: { slot: number; revision: string | null }[] = [];
  for (let s = 1; s <= Math.min(4, slots); s++) {
    const rev = ascii(p, 0x10 * s, 16);
    revisions.push({ slot: s, revision: rev === '' ? null : rev });
  }
  return {
    slotsSupported: slots,
    activeSlot: info & 7,
    /** 0: no firmware staged for activation at the next cold reset */
    stagedSlot: (info >>> 3) & 7,
    onlineActivationSupported: (p[2]! & 1) === 1,
    revisions,
  };
}

/** 0300h Get Timestamp (8.2.9.4.1): le64 nanoseconds since 1970-01-01T00:00:00Z. */
export function decodeTimestamp(p: Uint8Array) {
  need(p, 8, 'Get Timestamp output');
  const ns = view(p).getBigUint64(0, true);
  const ms = Number(ns / 1_000_000n);
  return { nanoseconds: ns.toString(), iso: Number.isFinite(ms) && ms < 8.64e15 ? new Date(ms).toISOString() : null };
}

/** 0400h Get Supported Logs (8.2.9.5.1): le16 count, 6 reserved, then { UUID, le32 size } per log. */
export function decodeSupportedLogs(p: Uint8Array) {
  need(p, 8, 'Get Supported Logs output');
  const n = view(p).getUint16(0, true);
  const logs: { uuid: string; name: string | null; bytes: number }[] = [];
  for (let i = 0; i < n && 8 + 0x14 * (i + 1) <= p.byteLength; i++) {
    const at = 8 + 0x14 * i;
    logs.push({ uuid: uuidText(p, at), name: uuidEquals(p, at, CEL_UUID) ? 'Command Effects Log' : null, bytes: view(p).getUint32(at + 0x10, true) });
  }
  return { count: n, logs };
}

/**
 * 0401h Get Log of the Command Effects Log (8.2.9.5.2.1): { le16 opcode, le16 effects } per entry, read
 * from `offset` (a multiple of 4 lands on an entry). `nameOf` names the opcodes in the device's family.
 */
export function decodeCel(p: Uint8Array, offset: number, nameOf: (opcode: number) => string | undefined) {
  if (offset % 4 !== 0) return null;
  const v = view(p);
  const entries: { opcode: string; name: string | null; effects: string[] }[] = [];
  for (let at = 0; at + 4 <= p.byteLength; at += 4) {
    const op = v.getUint16(at, true);
    entries.push({ opcode: hex(op, 4), name: nameOf(op) ?? null, effects: effectNames(v.getUint16(at + 2, true)) });
  }
  return { log: 'Command Effects Log', entries };
}

/** True when a Get Log input names the CEL: its first 16 bytes are the CEL UUID. */
export function isCelRequest(input: Uint8Array | undefined): input is Uint8Array {
  return input !== undefined && input.byteLength >= 0x18 && uuidEquals(input, 0, CEL_UUID);
}

/** The offset field of a Get Log input (bytes 10h-13h). */
export function getLogOffset(input: Uint8Array): number {
  return view(input).getUint32(0x10, true);
}
