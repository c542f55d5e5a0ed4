import {
  ABORT_LIMIT, AER_LIMIT, CCTEMP_K, CNTLID, ERROR_LOG_ENTRIES, FW_SLOTS, FWUG_UNITS, MTFA_100MS, NQN_PREFIX,
  NVME_IEEE_OUI, NVME_MODEL, NVME_SSVID, NVME_VID, OAES_FW_ACTIVATION, POWER_STATES, WCTEMP_K,
} from './constants.js';
import type { AdminContext, ControllerState } from './controller-state.js';
import { activeFirmwareRevision } from './firmware.js';
import { LBA_FORMATS, nsCapacity, nsFormatOf, nsSize, nsUsage, SANICAP } from './format-sanitize.js';
import { NVME_VERSION_2_0 } from './queues.js';
import { St } from './status.js';

/** Every Identify data structure is 4096 bytes. */
export const IDENTIFY_BYTES = 4096;

export const Cns = {
  NAMESPACE: 0x00,
  CONTROLLER: 0x01,
  ACTIVE_NSID_LIST: 0x02,
  NS_ID_DESCRIPTORS: 0x03,
} as const;

/** Identify Controller OACS bits this controller sets: Format NVM (bit 1), Firmware Commit/Download (bit 2). */
export const OACS = (1 << 1) | (1 << 2);
/** ONCS: Dataset Management (2), Write Zeroes (3), Save/Select in Set/Get Features (4). */
export const ONCS = (1 << 2) | (1 << 3) | (1 << 4);
/** FRMW: slot 1 read-only (0), slots 3:1, activation without reset (4). */
export const FRMW = 0x01 | (FW_SLOTS << 1) | 0x10;
/** LPA: Commands Supported and Effects log (1), extended Get Log Page data: NUMDU and offsets (2). */
export const LPA = (1 << 1) | (1 << 2);
/** FNA: cryptographic erase supported as part of secure erase (2); format is per namespace (0 = 0). */
export const FNA = 1 << 2;
/**
 * VWC (offset 525): a volatile write cache is present (bit 0); Flush Behavior (2:1) 11b, Flush supports NSID
 * FFFFFFFFh (00b is only for revision 1.3 and earlier controllers; this one reports 2.0).
 */
export const VWC = 0x01 | (0b11 << 1);
/** Identify Namespace NSFEAT: thin provisioning (0): NCAP may be below NSZE. DAE (2) is 0: no DULBE. */
export const NSFEAT = 0x01;
/**
 * Identify Namespace DLFEAT: a deallocated block reads 00h (2:0 = 001b); Write Zeroes supports DEAC (3);
 * the Guard of a deallocated block's PI is FFFFh, not a CRC (4 = 0).
 */
export const DLFEAT = 0x01 | (1 << 3);

function ascii(u8: Uint8Array, at: number, text: string, width: number, pad = 0x20): void {
  for (let i = 0; i < width; i++) u8[at + i] = i < text.length ? text.charCodeAt(i) & 0x7f : pad;
}

/** Identify SN (20 ASCII bytes, space padded), from the 64-bit serial. */
export function nvmeSerialNumber(serial: bigint): string {
  return 'MBX' + serial.toString(16).toUpperCase().padStart(16, '0');
}

export function nvmeSubsystemNqn(serial: bigint): string {
  return NQN_PREFIX + serial.toString(16).padStart(16, '0');
}

/** 06h Identify (NVMe Base 2.0 5.17): CNS 00h, 01h, 02h, 03h. */
export function identify(c: ControllerState, x: AdminContext): number {
  const cns = x.sqe.cdw10 & 0xff;
  const nsid = x.sqe.nsid;
  switch (cns) {
    case Cns.NAMESPACE:
      if (!c.nsValid(nsid)) return invalidNamespace(x);
      c.out(x, IDENTIFY_BYTES);
      if (c.nsActive(nsid)) identifyNamespace(c, nsid, x.view, x.buf);
      return St.SUCCESS; // an inactive NSID reads as zeros
    case Cns.CONTROLLER:
      c.out(x, IDENTIFY_BYTES);
      identifyController(c, x.view, x.buf);
      return St.SUCCESS;
    case Cns.ACTIVE_NSID_LIST: {
      if (nsid >= 0xfffffffe) return invalidNamespace(x);
      const v = c.out(x, IDENTIFY_BYTES);
      let n = 0;
      for (let id = nsid + 1; id <= c.namespaces && n < 1024; id++) v.setUint32(4 * n++, id, true);
      return St.SUCCESS;
    }
    case Cns.NS_ID_DESCRIPTORS:
      if (!c.nsActive(nsid)) return invalidNamespace(x);
      c.out(x, IDENTIFY_BYTES);
      nsIdDescriptors(c, nsid, x.buf);
      return St.SUCCESS;
    default:
      x.errLoc = 40; // CDW10 byte 0: CNS
      return St.INVALID_FIELD;
  }
}

function invalidNamespace(x: AdminContext): number {
  x.errLoc = 4;
  return St.INVALID_NAMESPACE;
}

/** Identify Controller data structure (CNS 01h), offsets per NVMe Base 2.0 Figure 275. */
export function identifyController(c: ControllerState, v: DataView, u8: Uint8Array): void {
  v.setUint16(0, NVME_VID, true);
  v.setUint16(2, NVME_SSVID, true);
  ascii(u8, 4, nvmeSerialNumber(c.serial), 20);
  ascii(u8, 24, NVME_MODEL, 40);
  ascii(u8, 64, activeFirmwareRevision(c), 8);
  v.setUint8(72, 6); // RAB: 2^6 commands
  v.setUint8(73, NVME_IEEE_OUI & 0xff); // IEEE OUI, least significant byte first
  v.setUint8(74, (NVME_IEEE_OUI >> 8) & 0xff);
  v.setUint8(75, (NVME_IEEE_OUI >> 16) & 0xff);
  v.setUint8(76, 0); // CMIC: single port, single controller
  v.setUint8(77, c.mdts);
  v.setUint16(78, CNTLID, true);
  v.setUint32(80, NVME_VERSION_2_0, true);
  v.setUint32(84, 500_000, true); // RTD3R, us
  v.setUint32(88, 2_000_000, true); // RTD3E, us
  v.setUint32(92, OAES_FW_ACTIVATION, true);
  v.setUint32(96, 0, true); // CTRATT
  v.setUint8(111, 1); // CNTRLTYPE: I/O controller
  v.setUint16(256, OACS, true);
  v.setUint8(258, ABORT_LIMIT - 1); // ACL, 0's based
  v.setUint8(259, AER_LIMIT - 1); // AERL, 0's based
  v.setUint8(260, FRMW);
  v.setUint8(261, LPA);
  v.setUint8(262, ERROR_LOG_ENTRIES - 1); // ELPE, 0's based
  v.setUint8(263, POWER_STATES - 1); // NPSS, 0's based
  v.setUint8(264, 1); // AVSCC: vendor admin commands use the standard format (CDW10 NDT, CDW11 NDM)
  v.setUint8(265, 0); // APSTA
  v.setUint16(266, WCTEMP_K, true);
  v.setUint16(268, CCTEMP_K, true);
  v.setUint16(270, MTFA_100MS, true);
  setU128(v, 280, BigInt(c.namespaces) * BigInt(c.nsBytes)); // TNVMCAP: the NVM subsystem's capacity
  setU128(v, 296, 0n); // UNVMCAP
  v.setUint8(319, FWUG_UNITS);
  v.setUint32(328, SANICAP, true);
  v.setUint8(512, 0x66); // SQES: required and maximum 2^6 = 64 bytes
  v.setUint8(513, 0x44); // CQES: 2^4 = 16 bytes
  v.setUint16(514, 0, true); // MAXCMD (fabrics only)
  v.setUint32(516, c.nn, true);
  v.setUint16(520, ONCS, true);
  v.setUint16(522, 0, true); // FUSES
  v.setUint8(524, FNA);
  v.setUint8(525, VWC);
  v.setUint32(536, 0, true); // SGLS: SGLs not supported
  ascii(u8, 768, nvmeSubsystemNqn(c.serial), 256, 0); // SUBNQN: UTF-8, NUL terminated
  // Power state descriptors (32 bytes each at 2048): MP in centiwatts, ENLAT/EXLAT in us, RRT/RRL/RWT/RWL.
  const ps: [number, number, number, number][] = [[2500, 0, 0, 0], [1200, 50, 50, 1], [500, 2000, 2000, 2]];
  ps.forEach(([mp, enlat, exlat, rel], i) => {
    const at = 2048 + 32 * i;
    v.setUint16(at, mp, true);
    v.setUint32(at + 4, enlat, true);
    v.setUint32(at + 8, exlat, true);
    v.setUint8(at + 12, rel); // RRT
    v.setUint8(at + 13, rel); // RRL
    v.setUint8(at + 14, rel); // RWT
    v.setUint8(at + 15, rel); // RWL
  });
}

/** Identify Namespace data structure (CNS 00h, NVM command set), NVMe NVM Command Set 1.0 Figure 97. */
export function identifyNamespace(c: ControllerState, nsid: number, v: DataView, u8: Uint8Array): void {
  const fmt = nsFormatOf(c, nsid);
  const ncap = nsCapacity(c, nsid);
  v.setBigUint64(0, BigInt(nsSize(c, nsid)), true); // NSZE
  v.setBigUint64(8, BigInt(ncap), true); // NCAP: thin provisioned, at most this many blocks allocated
  v.setBigUint64(16, BigInt(nsUsage(c, nsid)), true); // NUSE: blocks allocated now
  v.setUint8(24, NSFEAT);
  v.setUint8(25, LBA_FORMATS.length - 1); // NLBAF, 0's based
  v.setUint8(26, fmt.lbaf | (fmt.mset << 4)); // FLBAS
  v.setUint8(27, 0x03); // MC: extended LBA and separate metadata buffer both supported
  v.setUint8(28, 0x1f); // DPC: PI types 1-3, in the first or last 8 bytes of metadata
  v.setUint8(29, fmt.pi | (fmt.pil << 3)); // DPS
  v.setUint8(30, 0); // NMIC
  v.setUint8(33, DLFEAT);
  setU128(v, 48, BigInt(c.nsBytes)); // NVMCAP
  nguid(c, nsid, u8, 104);
  eui64(c, nsid, u8, 120);
  LBA_FORMATS.forEach((f, i) => v.setUint32(128 + 4 * i, f.ms | (f.lbads << 16) | (f.rp << 24), true));
}

/** CNS 03h: EUI64 (type 1), NGUID (type 2) and CSI (type 4) descriptors, each { type, length, 2 reserved, id }. */
function nsIdDescriptors(c: ControllerState, nsid: number, u8: Uint8Array): void {
  let at = 0;
  u8[at] = 0x01;
  u8[at + 1] = 8;
  eui64(c, nsid, u8, at + 4);
  at += 4 + 8;
  u8[at] = 0x02;
  u8[at + 1] = 16;
  nguid(c, nsid, u8, at + 4);
  at += 4 + 16;
  u8[at] = 0x04;
  u8[at + 1] = 1;
  u8[at + 4] = 0x00; // CSI 00h: NVM command set
}

/** EUI-64, big-endian: the IEEE OUI then a 40-bit extension from the serial and NSID. */
function eui64(c: ControllerState, nsid: number, u8: Uint8Array, at: number): void {
  u8[at] = (NVME_IEEE_OUI >> 16) & 0xff;
  u8[at + 1] = (NVME_IEEE_OUI >> 8) & 0xff;
  u8[at + 2] = NVME_IEEE_OUI & 0xff;
  const ext = (BigInt(c.seed) << 8n) | BigInt(nsid & 0xff);
  for (let i = 0; i < 5; i++) u8[at + 3 + i] = Number((ext >> BigInt(8 * (4 - i))) & 0xffn);
}

/** NGUID, big-endian: the 64-bit serial, the OUI, the 32-bit NSID, one reserved byte. */
function nguid(c: ControllerState, nsid: number, u8: Uint8Array, at: number): void {
  for (let i = 0; i < 8; i++) u8[at + i] = Number((c.serial >> BigInt(8 * (7 - i))) & 0xffn);
  u8[at + 8] = (NVME_IEEE_OUI >> 16) & 0xff;
  u8[at + 9] = (NVME_IEEE_OUI >> 8) & 0xff;
  u8[at + 10] = NVME_IEEE_OUI & 0xff;
  u8[at + 11] = (nsid >>> 24) & 0xff;
  u8[at + 12] = (nsid >>> 16) & 0xff;
  u8[at + 13] = (nsid >>> 8) & 0xff;
  u8[at + 14] = nsid & 0xff;
}

export function setU128(v: DataView, at: number, value: bigint): void {
  v.setBigUint64(at, BigInt.asUintN(64, value), true);
  v.setBigUint64(at + 8, BigInt.asUintN(64, value >> 64n), true);
}
