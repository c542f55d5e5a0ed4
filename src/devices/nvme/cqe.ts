import { CQE_BYTES, queueEntryView } from './layout.js';

/**
 * The 16-byte Completion Queue Entry (NVMe Base 2.0 4.2.1/4.2.3), little-endian:
 *
 *   bytes 0-3 DW0 (command specific) | 4-7 DW1 | 8-9 SQHD | 10-11 SQID | 12-13 CID |
 *   14-15 status halfword: bit 0 P (phase tag), 15:1 status field (SC 8:1, SCT 11:9, CRD 13:12, M 14, DNR 15)
 *
 * `status` here is the status field without the phase (see status.ts). The only CQE codec in mbxmux.
 */
export interface Cqe {
  dw0: number;
  dw1: number;
  sqhd: number;
  sqid: number;
  cid: number;
  /** status field, phase removed: SC 7:0, SCT 10:8, CRD 12:11, M 13, DNR 14 */
  status: number;
  phase: number;
}

export const CqeOffset = { DW0: 0, DW1: 4, SQHD: 8, SQID: 10, CID: 12, STATUS: 14 } as const;

/** DW3 as one 32-bit value: CID in 15:0, phase in bit 16, status field in 31:17. */
export function cqeDw3(cid: number, status: number, phase: number): number {
  return ((cid & 0xffff) | ((phase & 1) << 16) | ((status & 0x7fff) << 17)) >>> 0;
}

/** The raw status halfword of CQE bytes 14-15. */
export const statusHalfword = (status: number, phase: number): number => ((status & 0x7fff) << 1) | (phase & 1);

function viewOf(bytes: Uint8Array, offset: number, what: string): DataView {
  return queueEntryView(bytes, offset, CQE_BYTES, 'completion queue entry', what);
}

/** Reads a CQE. Any 16 bytes decode; a short buffer throws RangeError. */
export function decodeCqe(bytes: Uint8Array, offset = 0): Cqe {
  const v = viewOf(bytes, offset, 'decodeCqe');
  const sw = v.getUint16(CqeOffset.STATUS, true);
  return {
    dw0: v.getUint32(CqeOffset.DW0, true),
    dw1: v.getUint32(CqeOffset.DW1, true),
    sqhd: v.getUint16(CqeOffset.SQHD, true),
    sqid: v.getUint16(CqeOffset.SQID, true),
    cid: v.getUint16(CqeOffset.CID, true),
    status: sw >>> 1,
    phase: sw & 1,
  };
}

/**
 * Writes DW0..DW2 (bytes 0-11) only. A controller posting into a live queue writes these first and then
 * publishes DW3 (CID + phase + status) with one atomic store, so a host polling the phase tag never sees a
 * half-written entry (queues.ts).
 */
export function encodeCqeHead(c: Partial<Cqe>, bytes: Uint8Array, offset = 0): void {
  const v = viewOf(bytes, offset, 'encodeCqe');
  v.setUint32(CqeOffset.DW0, (c.dw0 ?? 0) >>> 0, true);
  v.setUint32(CqeOffset.DW1, (c.dw1 ?? 0) >>> 0, true);
  v.setUint16(CqeOffset.SQHD, (c.sqhd ?? 0) & 0xffff, true);
  v.setUint16(CqeOffset.SQID, (c.sqid ?? 0) & 0xffff, true);
}

/** Writes a whole CQE into `out` at `offset` (a fresh 16-byte array if omitted). */
export function encodeCqe(c: Partial<Cqe>, out?: Uint8Array, offset = 0): Uint8Array {
  const buf = out ?? new Uint8Array(CQE_BYTES);
  encodeCqeHead(c, buf, offset);
  new DataView(buf.buffer, buf.byteOffset + offset, CQE_BYTES)
    .setUint32(12, cqeDw3(c.cid ?? 0, c.status ?? 0, c.phase ?? 0), true);
  return buf;
}
