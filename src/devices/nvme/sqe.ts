import { SQE_BYTES, queueEntryView } from './layout.js';

/**
 * The 64-byte Submission Queue Entry (NVMe Base 2.0 4.2, common command format), little-endian:
 *
 *   byte 0 OPC | byte 1: FUSE 1:0, reserved 5:2, PSDT 7:6 | bytes 2-3 CID | 4-7 NSID | 8-11 CDW2 | 12-15 CDW3
 *   16-23 MPTR | 24-31 DPTR.PRP1 | 32-39 DPTR.PRP2 | 40-63 CDW10..CDW15
 *
 * This file is the only SQE codec: the host side of the endpoint, the controller, the main-thread wire
 * encoder and the tests all use it.
 */
export interface Sqe {
  opcode: number;
  /** fused operation, 00b normal */
  fuse: number;
  /** PRP or SGL for data transfer, 00b PRP (the only choice for admin commands over PCIe) */
  psdt: number;
  cid: number;
  nsid: number;
  cdw2: number;
  cdw3: number;
  mptr: bigint;
  prp1: bigint;
  prp2: bigint;
  cdw10: number;
  cdw11: number;
  cdw12: number;
  cdw13: number;
  cdw14: number;
  cdw15: number;
}

export const SqeOffset = {
  OPC: 0,
  FLAGS: 1,
  CID: 2,
  NSID: 4,
  CDW2: 8,
  CDW3: 12,
  MPTR: 16,
  PRP1: 24,
  PRP2: 32,
  CDW10: 40,
  CDW11: 44,
  CDW12: 48,
  CDW13: 52,
  CDW14: 56,
  CDW15: 60,
} as const;

export function emptySqe(): Sqe {
  return {
    opcode: 0, fuse: 0, psdt: 0, cid: 0, nsid: 0, cdw2: 0, cdw3: 0, mptr: 0n, prp1: 0n, prp2: 0n,
    cdw10: 0, cdw11: 0, cdw12: 0, cdw13: 0, cdw14: 0, cdw15: 0,
  };
}

function viewOf(bytes: Uint8Array, offset: number, what: string): DataView {
  return queueEntryView(bytes, offset, SQE_BYTES, 'submission queue entry', what);
}

/** Reads an SQE. Any 64 bytes decode (reserved bits are ignored); a short buffer throws RangeError. */
export function decodeSqe(bytes: Uint8Array, offset = 0): Sqe {
  const v = viewOf(bytes, offset, 'decodeSqe');
  const flags = v.getUint8(SqeOffset.FLAGS);
  return {
    opcode: v.getUint8(SqeOffset.OPC),
    fuse: flags & 3,
    psdt: flags >>> 6,
    cid: v.getUint16(SqeOffset.CID, true),
    nsid: v.getUint32(SqeOffset.NSID, true),
    cdw2: v.getUint32(SqeOffset.CDW2, true),
    cdw3: v.getUint32(SqeOffset.CDW3, true),
    mptr: v.getBigUint64(SqeOffset.MPTR, true),
    prp1: v.getBigUint64(SqeOffset.PRP1, true),
    prp2: v.getBigUint64(SqeOffset.PRP2, true),
    cdw10: v.getUint32(SqeOffset.CDW10, true),
    cdw11: v.getUint32(SqeOffset.CDW11, true),
    cdw12: v.getUint32(SqeOffset.CDW12, true),
    cdw13: v.getUint32(SqeOffset.CDW13, true),
    cdw14: v.getUint32(SqeOffset.CDW14, true),
    cdw15: v.getUint32(SqeOffset.CDW15, true),
  };
}

/**
 * Writes an SQE into `out` at `offset` (a fresh 64-byte array if `out` is omitted). Missing fields are 0;
 * numbers are truncated to their field width (callers validate ranges: see wire.ts). Reserved bits are 0.
 */
export function encodeSqe(s: Partial<Sqe>, out?: Uint8Array, offset = 0): Uint8Array {
  const buf = out ?? new Uint8Array(SQE_BYTES);
  const v = viewOf(buf, offset, 'encodeSqe');
  v.setUint8(SqeOffset.OPC, (s.opcode ?? 0) & 0xff);
  v.setUint8(SqeOffset.FLAGS, ((s.fuse ?? 0) & 3) | (((s.psdt ?? 0) & 3) << 6));
  v.setUint16(SqeOffset.CID, (s.cid ?? 0) & 0xffff, true);
  v.setUint32(SqeOffset.NSID, (s.nsid ?? 0) >>> 0, true);
  v.setUint32(SqeOffset.CDW2, (s.cdw2 ?? 0) >>> 0, true);
  v.setUint32(SqeOffset.CDW3, (s.cdw3 ?? 0) >>> 0, true);
  v.setBigUint64(SqeOffset.MPTR, BigInt.asUintN(64, s.mptr ?? 0n), true);
  v.setBigUint64(SqeOffset.PRP1, BigInt.asUintN(64, s.prp1 ?? 0n), true);
  v.setBigUint64(SqeOffset.PRP2, BigInt.asUintN(64, s.prp2 ?? 0n), true);
  v.setUint32(SqeOffset.CDW10, (s.cdw10 ?? 0) >>> 0, true);
  v.setUint32(SqeOffset.CDW11, (s.cdw11 ?? 0) >>> 0, true);
  v.setUint32(SqeOffset.CDW12, (s.cdw12 ?? 0) >>> 0, true);
  v.setUint32(SqeOffset.CDW13, (s.cdw13 ?? 0) >>> 0, true);
  v.setUint32(SqeOffset.CDW14, (s.cdw14 ?? 0) >>> 0, true);
  v.setUint32(SqeOffset.CDW15, (s.cdw15 ?? 0) >>> 0, true);
  return buf;
}

/** Data transfer direction from opcode bits 1:0 (NVMe Base 2.0 Figure 81 / 4.2). */
export const DataDir = {
  NONE: 0,
  HOST_TO_CONTROLLER: 1,
  CONTROLLER_TO_HOST: 2,
  BIDIRECTIONAL: 3,
} as const;

export const dataDirection = (opcode: number): number => opcode & 3;

/** Get Log Page NUMD (CDW11 15:0 upper, CDW10 31:16 lower), 0's based, as a byte count. */
export function getLogBytes(cdw10: number, cdw11: number): number {
  const numd = (cdw11 & 0xffff) * 65536 + (cdw10 >>> 16);
  return (numd + 1) * 4;
}

/** Get Log Page offset LPOU:LPOL in bytes (a Number: exact up to 2^53). */
export function getLogOffset(cdw12: number, cdw13: number): number {
  return (cdw13 >>> 0) * 4294967296 + (cdw12 >>> 0);
}
