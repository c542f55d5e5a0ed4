import { St } from './status.js';

/**
 * End-to-end protection information, 16b Guard format (NVMe NVM Command Set 1.0 5.2, the T10 DIF layout):
 * 8 bytes per logical block, big-endian: Guard 0-1 (CRC-16 T10-DIF of the block's data), Application Tag
 * 2-3, Reference Tag 4-7. It sits in the first (DPS PIL = 1) or last 8 bytes of the block's metadata.
 *
 * PRINFO (Read/Write/Write Zeroes CDW12 29:26): PRACT 29 - the controller inserts PI on a write and strips it
 * on a read (when the metadata is exactly the PI, nothing of it crosses the bus); PRCHK 28:26 - check the
 * Guard (28), Application Tag (27), Reference Tag (26). An Application Tag of FFFFh (Type 1 and 2), or FFFFh
 * with a Reference Tag of FFFFFFFFh (Type 3), disables the checks for that block. Type 3 has no Reference
 * Tag check.
 */
export const PI_BYTES = 8;

export const Prchk = { GUARD: 4, APP: 2, REF: 1 } as const;

/** CRC-16 T10-DIF: polynomial 8BB7h, initial value 0, no reflection, no final XOR. */
const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = (c & 0x8000) !== 0 ? ((c << 1) ^ 0x8bb7) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

export function crc16T10Dif(buf: Uint8Array, off: number, len: number): number {
  let crc = 0;
  for (let i = off; i < off + len; i++) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >>> 8) ^ buf[i]!) & 0xff]!;
  return crc;
}

/** Writes PI for a block of `n` data bytes at data[dOff] into pi[pOff..pOff+8). */
export function piGenerate(pi: Uint8Array, pOff: number, data: Uint8Array, dOff: number, n: number, appTag: number, refTag: number): void {
  const v = new DataView(pi.buffer, pi.byteOffset + pOff, PI_BYTES);
  v.setUint16(0, crc16T10Dif(data, dOff, n));
  v.setUint16(2, appTag & 0xffff);
  v.setUint32(4, refTag >>> 0);
}

/**
 * Checks the PI of one block against the fields PRCHK selects; returns a status (0: good).
 * `expectedApp`/`appMask` from ELBAT/ELBATM (CDW15), `expectedRef` from EILBRT (CDW14) + block index.
 */
export function piCheck(pi: Uint8Array, pOff: number, data: Uint8Array, dOff: number, n: number, piType: number, prchk: number,
  expectedApp: number, appMask: number, expectedRef: number): number {
  const v = new DataView(pi.buffer, pi.byteOffset + pOff, PI_BYTES);
  const app = v.getUint16(2);
  const ref = v.getUint32(4);
  if (app === 0xffff && (piType !== 3 || ref === 0xffffffff)) return St.SUCCESS;
  if ((prchk & Prchk.GUARD) !== 0 && v.getUint16(0) !== crc16T10Dif(data, dOff, n)) return St.GUARD_CHECK_ERROR;
  if ((prchk & Prchk.APP) !== 0 && (app & appMask) !== (expectedApp & appMask)) return St.APP_TAG_CHECK_ERROR;
  if ((prchk & Prchk.REF) !== 0 && piType !== 3 && ref !== (expectedRef >>> 0)) return St.REF_TAG_CHECK_ERROR;
  return St.SUCCESS;
}
