import type { AdminContext, ControllerState, NvmeCommandDef } from './controller-state.js';
import { Effects } from './effects.js';
import { LBA_FORMATS, nsCapacity, nsFormatOf, nsSize, nsStore } from './format-sanitize.js';
import { PI_BYTES, piCheck, piGenerate, Prchk } from './protection.js';
import { St } from './status.js';

/**
 * The NVM command set's I/O commands (NVMe NVM Command Set 1.0 section 3), run on the namespaces' blocks
 * (namespace-store.ts) in their current LBA format (Identify Namespace FLBAS / LBAF):
 *
 *   00h Flush          NSID an active namespace, or FFFFFFFFh for all (Identify VWC bits 2:1 = 11b)
 *   01h Write          CDW10/11 SLBA, CDW12 NLB 15:0 (0's based), PRINFO 29:26, FUA 30, LR 31; CDW14 ILBRT;
 *                      CDW15 LBAT 15:0, LBATM 31:16; data through PRP1/PRP2, separate metadata through MPTR
 *   02h Read           the same fields (CDW14 EILBRT, CDW15 ELBAT / ELBATM)
 *   08h Write Zeroes   SLBA, NLB, DEAC 25 (deallocate instead; DLFEAT bit 3), PRINFO
 *   09h Dataset Mgmt   CDW10 NR 7:0 (ranges - 1), CDW11 AD 2 (deallocate), IDW 1 / IDR 0 (hints, ignored);
 *                      data: NR + 1 ranges of { le32 context attributes, le32 length in blocks, le64 SLBA }
 *
 * Metadata travels with each block (MSET = 1, extended LBA) or in the separate buffer MPTR points to (MSET =
 * 0). A namespace formatted with PI is checked and filled per PRINFO (protection.ts). Errors: Invalid
 * Namespace or Format (NSID not an active namespace), LBA Out of Range (SLBA + NLB > NSZE), Invalid Field
 * (a transfer beyond MDTS), Capacity Exceeded (more than NCAP blocks would be allocated), the PI errors.
 */
export const IoOpcode = { FLUSH: 0x00, WRITE: 0x01, READ: 0x02, WRITE_ZEROES: 0x08, DSM: 0x09 } as const;

/** How the blocks of one Read or Write cross the bus. */
export interface IoShape {
  slba: number;
  nlb: number;
  lbaBytes: number;
  /** metadata bytes per block on the media */
  ms: number;
  /** metadata bytes per block on the bus (0 when PRACT strips 8-byte PI) */
  wireMs: number;
  /** MSET: metadata interleaved with the data (extended LBA) rather than in the MPTR buffer */
  extended: boolean;
  /** PI type (DPS 2:0), 0 = none */
  pi: number;
  /** byte of the PI in a block's metadata: 0 (PIL = 1, first 8 bytes) or ms - 8 (last 8) */
  piAt: number;
  pract: boolean;
  prchk: number;
  /** bytes through PRP1/PRP2, and through MPTR */
  dataBytes: number;
  metaBytes: number;
}

/** The shape of a Read/Write on an active namespace (`cdw12`: NLB, PRINFO); slba as given. */
export function ioShape(c: ControllerState, nsid: number, slba: number, cdw12: number): IoShape {
  const fmt = nsFormatOf(c, nsid);
  const lbaf = LBA_FORMATS[fmt.lbaf]!;
  const lbaBytes = 2 ** lbaf.lbads;
  const ms = lbaf.ms;
  const nlb = (cdw12 & 0xffff) + 1;
  const pi = fmt.pi;
  const pract = pi !== 0 && ((cdw12 >>> 29) & 1) === 1;
  const prchk = pi !== 0 ? (cdw12 >>> 26) & 7 : 0;
  const wireMs = pract && ms === PI_BYTES ? 0 : ms;
  const extended = fmt.mset === 1;
  return {
    slba, nlb, lbaBytes, ms, wireMs, extended, pi, piAt: fmt.pil === 1 ? 0 : ms - PI_BYTES, pract, prchk,
    dataBytes: nlb * (lbaBytes + (extended ? wireMs : 0)), metaBytes: extended ? 0 : nlb * wireMs,
  };
}

/**
 * Bytes a host driver describes for an I/O command (data through PRPs, metadata through MPTR), from the
 * command and the namespace format Identify Namespace reports. 0 for commands without data or namespaces
 * that are not active (the controller then answers before any transfer).
 */
export function ioTransferBytes(c: ControllerState, opcode: number, nsid: number, cdw10: number, cdw12: number): { data: number; meta: number } {
  if (opcode === IoOpcode.DSM) return { data: ((cdw10 & 0xff) + 1) * 16, meta: 0 };
  if ((opcode !== IoOpcode.READ && opcode !== IoOpcode.WRITE) || !c.nsActive(nsid)) return { data: 0, meta: 0 };
  const s = ioShape(c, nsid, 0, cdw12);
  return { data: s.dataBytes, meta: s.metaBytes };
}

const never = (): boolean => false;
const E = Effects;

/**
 * The I/O command table: the IOCS half of log 05h (CSI 00h) is generated from it, as the admin half is from
 * ADMIN_COMMANDS. None runs while a sanitize is in progress (NVMe Base 2.0 8.21 lists no I/O command).
 */
export const IO_COMMANDS: readonly NvmeCommandDef[] = [
  { opcode: IoOpcode.FLUSH, name: 'Flush', effects: E.SCOPE_NS, duringSanitize: never, handler: flush },
  { opcode: IoOpcode.WRITE, name: 'Write', effects: E.LBCC | E.SCOPE_NS, duringSanitize: never, handler: write },
  { opcode: IoOpcode.READ, name: 'Read', effects: E.SCOPE_NS, duringSanitize: never, handler: read },
  { opcode: IoOpcode.WRITE_ZEROES, name: 'Write Zeroes', effects: E.LBCC | E.SCOPE_NS, duringSanitize: never, handler: writeZeroes },
  { opcode: IoOpcode.DSM, name: 'Dataset Management', effects: E.LBCC | E.SCOPE_NS, duringSanitize: never, handler: datasetManagement },
];

/**
 * 00h Flush. Nothing the emulator holds is ever lost (no power loss is modelled), so the volatile write
 * cache has nothing to write back; the command checks its namespace. FFFFFFFFh flushes every namespace.
 */
function flush(c: ControllerState, x: AdminContext): number {
  const nsid = x.sqe.nsid;
  if (nsid === 0xffffffff || c.nsActive(nsid)) return St.SUCCESS;
  x.errLoc = 4;
  return St.INVALID_NAMESPACE;
}

/** Namespace and range checks shared by Read, Write and Write Zeroes; returns the shape or a status. */
function blocks(c: ControllerState, x: AdminContext, transfers: boolean): IoShape | number {
  const { nsid, cdw10, cdw11, cdw12, cdw14 } = x.sqe;
  if (!c.nsActive(nsid)) {
    x.errLoc = 4;
    return St.INVALID_NAMESPACE;
  }
  const slba = cdw11 * 4294967296 + cdw10;
  const s = ioShape(c, nsid, slba, cdw12);
  x.errLba = slba;
  if (cdw11 !== 0 || slba + s.nlb > nsSize(c, nsid)) {
    x.errLoc = 40;
    return St.LBA_OUT_OF_RANGE;
  }
  if (transfers && s.dataBytes > c.maxTransfer) {
    x.errLoc = 48; // NLB: the transfer exceeds MDTS
    return St.INVALID_FIELD;
  }
  // Type 1: the (expected) initial reference tag is the low 32 bits of SLBA whenever the tag is used
  if (s.pi === 1 && (s.pract || (s.prchk & Prchk.REF) !== 0) && (cdw14 >>> 0) !== slba % 4294967296) {
    x.errLoc = 56;
    return St.INVALID_PROTECTION_INFO;
  }
  return s;
}

/** Block scratch for one command at a time (the thread runs one command at a time). */
let blockData = new Uint8Array(4096);
let blockMeta = new Uint8Array(64);
function scratchBlock(s: IoShape): void {
  if (blockData.byteLength < s.lbaBytes) blockData = new Uint8Array(s.lbaBytes);
  if (blockMeta.byteLength < s.ms) blockMeta = new Uint8Array(s.ms);
}

/** Data and metadata offsets of block i in the host's layout (data buffer, then the MPTR buffer after it). */
const dataAt = (s: IoShape, i: number): number => i * (s.lbaBytes + (s.extended ? s.wireMs : 0));
const metaAt = (s: IoShape, i: number): number => (s.extended ? dataAt(s, i) + s.lbaBytes : s.dataBytes + i * s.wireMs);

/** 02h Read: blocks to the host; PI checked per PRCHK, stripped with PRACT when it is the whole metadata. */
function read(c: ControllerState, x: AdminContext): number {
  const s = blocks(c, x, true);
  if (typeof s === 'number') return s;
  const store = nsStore(c, x.sqe.nsid);
  c.out(x, s.dataBytes + s.metaBytes);
  const out = x.buf;
  const { cdw14, cdw15 } = x.sqe;
  scratchBlock(s);
  for (let i = 0; i < s.nlb; i++) {
    const d = dataAt(s, i);
    const onWire = s.wireMs > 0;
    const meta = onWire ? out : blockMeta;
    const m = onWire ? metaAt(s, i) : 0;
    store.read(s.slba + i, out, d, s.ms > 0 ? meta : null, m);
    if (s.prchk !== 0) {
      const st = piCheck(meta, m + s.piAt, out, d, s.lbaBytes, s.pi, s.prchk, cdw15 & 0xffff, cdw15 >>> 16, cdw14 + i);
      if (st !== St.SUCCESS) {
        x.errLba = s.slba + i;
        return st;
      }
    }
  }
  if (s.metaBytes > 0) {
    const st = c.metaOut(x, out.subarray(s.dataBytes, s.dataBytes + s.metaBytes));
    if (st !== St.SUCCESS) return st;
  }
  x.outLen = s.dataBytes; // the data crosses through PRP1/PRP2 when the handler returns
  c.io.read(s.nlb * s.lbaBytes);
  return St.SUCCESS;
}

/** Fails with Capacity Exceeded when writing blocks [slba, slba + nlb) would allocate more than NCAP. */
function capacityFor(c: ControllerState, x: AdminContext, s: IoShape): number {
  const store = nsStore(c, x.sqe.nsid);
  let fresh = 0;
  for (let i = 0; i < s.nlb; i++) if (!store.isAllocated(s.slba + i)) fresh++;
  if (store.used + fresh > nsCapacity(c, x.sqe.nsid)) return St.CAPACITY_EXCEEDED;
  return St.SUCCESS;
}

/** 01h Write: blocks from the host; PI generated with PRACT, else checked per PRCHK; all or nothing. */
function write(c: ControllerState, x: AdminContext): number {
  const s = blocks(c, x, true);
  if (typeof s === 'number') return s;
  const cap = capacityFor(c, x, s);
  if (cap !== St.SUCCESS) return cap;
  const data = c.dataIn(x, s.dataBytes);
  if (typeof data === 'number') return data;
  let meta = data;
  if (s.metaBytes > 0) {
    const m = c.metaIn(x, s.metaBytes);
    if (typeof m === 'number') return m;
    meta = m;
  }
  const metaBase = s.extended ? 0 : -s.dataBytes; // metaAt() counts separate metadata from the data's end
  const { cdw14, cdw15 } = x.sqe;
  if (s.prchk !== 0 && !s.pract) {
    for (let i = 0; i < s.nlb; i++) {
      const st = piCheck(meta, metaAt(s, i) + metaBase + s.piAt, data, dataAt(s, i), s.lbaBytes, s.pi, s.prchk, cdw15 & 0xffff, cdw15 >>> 16, cdw14 + i);
      if (st !== St.SUCCESS) {
        x.errLba = s.slba + i;
        return st;
      }
    }
  }
  const store = nsStore(c, x.sqe.nsid);
  scratchBlock(s);
  for (let i = 0; i < s.nlb; i++) {
    const d = dataAt(s, i);
    if (s.ms === 0) {
      store.write(s.slba + i, data, d, null, 0);
      continue;
    }
    if (s.wireMs > 0) blockMeta.set(meta.subarray(metaAt(s, i) + metaBase, metaAt(s, i) + metaBase + s.ms));
    else blockMeta.fill(0, 0, s.ms);
    if (s.pract) piGenerate(blockMeta, s.piAt, data, d, s.lbaBytes, cdw15 & 0xffff, s.pi === 3 ? cdw14 : cdw14 + i);
    store.write(s.slba + i, data, d, blockMeta, 0);
  }
  c.gde = false;
  c.io.write(s.nlb * s.lbaBytes);
  return St.SUCCESS;
}

/** 08h Write Zeroes: zero blocks (PI generated with PRACT), or with DEAC deallocated (they read as zeros). */
function writeZeroes(c: ControllerState, x: AdminContext): number {
  const s = blocks(c, x, false);
  if (typeof s === 'number') return s;
  const store = nsStore(c, x.sqe.nsid);
  if (((x.sqe.cdw12 >>> 25) & 1) === 1) {
    store.deallocate(s.slba, s.nlb);
    return St.SUCCESS;
  }
  const cap = capacityFor(c, x, s);
  if (cap !== St.SUCCESS) return cap;
  scratchBlock(s);
  blockData.fill(0, 0, s.lbaBytes);
  const { cdw14, cdw15 } = x.sqe;
  for (let i = 0; i < s.nlb; i++) {
    blockMeta.fill(0, 0, s.ms);
    if (s.pract) piGenerate(blockMeta, s.piAt, blockData, 0, s.lbaBytes, cdw15 & 0xffff, s.pi === 3 ? cdw14 : cdw14 + i);
    store.write(s.slba + i, blockData, 0, s.ms > 0 ? blockMeta : null, 0);
  }
  c.gde = false;
  return St.SUCCESS;
}

/** 09h Dataset Management: with AD, deallocates every range (all ranges checked first); hints are ignored. */
function datasetManagement(c: ControllerState, x: AdminContext): number {
  const nsid = x.sqe.nsid;
  if (!c.nsActive(nsid)) {
    x.errLoc = 4;
    return St.INVALID_NAMESPACE;
  }
  const n = (x.sqe.cdw10 & 0xff) + 1;
  const data = c.dataIn(x, n * 16);
  if (typeof data === 'number') return data;
  if (((x.sqe.cdw11 >>> 2) & 1) === 0) return St.SUCCESS; // IDR / IDW only: hints
  const v = new DataView(data.buffer, data.byteOffset, n * 16);
  const nsze = nsSize(c, nsid);
  for (let r = 0; r < n; r++) {
    const len = v.getUint32(16 * r + 4, true);
    const slba = Number(v.getBigUint64(16 * r + 8, true));
    if (slba + len > nsze) {
      x.errLba = slba;
      return St.LBA_OUT_OF_RANGE;
    }
  }
  const store = nsStore(c, nsid);
  for (let r = 0; r < n; r++) {
    const len = v.getUint32(16 * r + 4, true);
    if (len > 0) store.deallocate(Number(v.getBigUint64(16 * r + 8, true)), len);
  }
  return St.SUCCESS;
}
