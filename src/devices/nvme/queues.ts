import { encodeCqeHead } from './cqe.js';
import {
  CQE_BYTES, NVME_CQ0HDBL, NVME_HOST_MEMORY, NVME_PAGE_BYTES, NVME_REG_ACQ, NVME_REG_AQA, NVME_REG_ASQ, NVME_REG_CAP,
  NVME_REG_CC, NVME_REG_CSTS, NVME_REG_VS, NVME_SQ0TDBL, SQE_BYTES, type NvmeBlockLayout,
} from './layout.js';
import { decodeSqe, type Sqe } from './sqe.js';
import { St } from './status.js';

/**
 * The admin queue pair of one controller in shared memory, and the two sides that use it:
 * - HostQueues: what a host driver does (NVMe Base 2.0 3.5.1 initialization, 3.3.1 queue use): writes
 *   AQA/ASQ/ACQ/CC, places SQEs at its tail and rings SQ0TDBL, consumes CQEs whose phase tag matches its
 *   expected phase (flipping it on every wrap) and rings CQ0HDBL;
 * - ControllerQueues: the controller's side: validates the configuration and sets CSTS.RDY, fetches from
 *   its SQ head up to the tail doorbell, and posts CQEs at its CQ tail with its phase tag (starting at 1,
 *   inverted each time the tail wraps), never overrunning the head doorbell.
 * Doorbells are written with Atomics.store and read with Atomics.load; a CQE's DW3 (CID, phase, status) is
 * published last with Atomics.store after its other bytes, so the entry is complete once its phase flips.
 */

/** CAP (00h) fields. */
export const Cap = {
  /** MQES 15:0: maximum I/O queue entries, 0's based */
  MQES: 0x3ff,
  /** CQR bit 16: physically contiguous queues required */
  CQR: 1n << 16n,
  /** TO 31:24 in 500 ms units */
  TO_SHIFT: 24n,
  /** CSS 44:37, bit 37 = NVM command set */
  CSS_NVM: 1n << 37n,
} as const;

/** CC (14h) fields. */
export const Cc = {
  EN: 1,
  CSS_SHIFT: 4,
  MPS_SHIFT: 7,
  AMS_SHIFT: 11,
  SHN_SHIFT: 14,
  IOSQES_SHIFT: 16,
  IOCQES_SHIFT: 20,
} as const;

/** CSTS (1Ch) fields. */
export const Csts = { RDY: 1, CFS: 2, SHST_SHIFT: 2, PP: 1 << 5 } as const;

export const NVME_VERSION_2_0 = 0x00020000;

/** Views over one controller block of the shard arena. */
export class NvmeRegion {
  readonly u8: Uint8Array;
  readonly view: DataView;
  readonly i32: Int32Array;

  constructor(arena: SharedArrayBuffer, readonly base: number, readonly layout: NvmeBlockLayout) {
    this.u8 = new Uint8Array(arena, base, layout.bytes);
    this.view = new DataView(arena, base, layout.bytes);
    this.i32 = new Int32Array(arena, base, layout.bytes >>> 2);
  }

  load32(offset: number): number {
    return Atomics.load(this.i32, offset >>> 2) >>> 0;
  }

  store32(offset: number, value: number): void {
    Atomics.store(this.i32, offset >>> 2, value | 0);
  }
}

// ---------------------------------------------------------------------------------------------- host side

export class HostQueues {
  readonly depth: number;
  sqTail = 0;
  /** last SQ head the controller reported (CQE SQHD): entries before it may be reused */
  sqHead = 0;
  cqHead = 0;
  /** phase tag the host expects of the next new CQE: 1 on the first pass */
  phase = 1;

  constructor(readonly r: NvmeRegion, depth: number) {
    this.depth = depth;
  }

  /**
   * Host side of controller initialization: admin queue attributes and addresses, then CC with EN = 1
   * (NVM command set, 4 KiB pages, round robin, 64-byte SQEs and 16-byte CQEs). Also writes the PRP list
   * page, which never changes: entry i points at data page i + 1.
   */
  enable(): void {
    const { view } = this.r;
    const L = this.r.layout;
    this.sqTail = this.sqHead = this.cqHead = 0;
    this.phase = 1;
    this.r.u8.fill(0, L.sq, L.prpList); // zeroed queue memory: stale entries read as phase 0
    const pages = L.dataBytes / NVME_PAGE_BYTES;
    for (let i = 0; i + 1 < pages; i++) view.setBigUint64(L.prpList + 8 * i, BigInt(L.data + NVME_PAGE_BYTES * (i + 1)), true);
    view.setUint32(NVME_REG_AQA, ((this.depth - 1) << 16) | (this.depth - 1), true);
    view.setBigUint64(NVME_REG_ASQ, BigInt(L.sq), true);
    view.setBigUint64(NVME_REG_ACQ, BigInt(L.cq), true);
    this.r.store32(NVME_SQ0TDBL, 0);
    this.r.store32(NVME_CQ0HDBL, 0);
    this.r.store32(NVME_REG_CC, Cc.EN | (6 << Cc.IOSQES_SHIFT) | (4 << Cc.IOCQES_SHIFT));
  }

  ready(): boolean {
    return (this.r.load32(NVME_REG_CSTS) & (Csts.RDY | Csts.CFS)) === Csts.RDY;
  }

  /** (tail + 1) mod size == head: an N-entry queue holds at most N - 1 commands. */
  sqFull(): boolean {
    return (this.sqTail + 1) % this.depth === this.sqHead;
  }

  /** Entries placed and not yet known to be fetched (by the last SQHD seen). */
  sqUsed(): number {
    return (this.sqTail - this.sqHead + this.depth) % this.depth;
  }

  /** Byte offset (in the block) of the SQ slot at the tail, where the next SQE is written. */
  tailSlot(): number {
    return this.r.layout.sq + this.sqTail * SQE_BYTES;
  }

  /** Advances the local tail past an SQE written at tailSlot(); the controller sees it after ringSq(). */
  advanceTail(): void {
    this.sqTail = (this.sqTail + 1) % this.depth;
  }

  ringSq(): void {
    this.r.store32(NVME_SQ0TDBL, this.sqTail);
  }

  /** Byte offset of the CQE at the head if its phase tag is the expected one (a new entry), else -1. */
  peekCqe(): number {
    const at = this.r.layout.cq + this.cqHead * CQE_BYTES;
    const dw3 = this.r.load32(at + 12);
    return ((dw3 >>> 16) & 1) === this.phase ? at : -1;
  }

  /** Consumes the entry returned by peekCqe(): records SQHD, advances the head, flips the phase on wrap. */
  consumeCqe(at: number): void {
    this.sqHead = this.r.view.getUint16(at + 8, true) % this.depth;
    this.cqHead++;
    if (this.cqHead === this.depth) {
      this.cqHead = 0;
      this.phase ^= 1;
    }
  }

  ringCq(): void {
    this.r.store32(NVME_CQ0HDBL, this.cqHead);
  }

  /** PRP1/PRP2 for a transfer of `len` bytes from the start of the data buffer (NVMe Base 2.0 4.1.1). */
  prps(len: number): { prp1: bigint; prp2: bigint } {
    const L = this.r.layout;
    const prp1 = BigInt(L.data);
    if (len <= NVME_PAGE_BYTES) return { prp1, prp2: 0n };
    if (len <= 2 * NVME_PAGE_BYTES) return { prp1, prp2: BigInt(L.data + NVME_PAGE_BYTES) };
    return { prp1, prp2: BigInt(L.prpList) };
  }
}

// ---------------------------------------------------------------------------------------- controller side

export class ControllerQueues {
  sqBase = 0;
  sqSize = 0;
  cqBase = 0;
  cqSize = 0;
  sqHead = 0;
  /** last valid tail doorbell value (writes of a value >= the queue size are ignored, as QEMU does) */
  sqTailSeen = 0;
  cqTail = 0;
  phase = 1;
  enabled = false;
  /** doorbell writes ignored because their value was out of range */
  invalidDoorbells = 0;
  private lastInvalid = -1;

  constructor(readonly r: NvmeRegion) {}

  /** Power-on register values: CAP, VS; CC and CSTS clear. */
  powerOn(): void {
    const v = this.r.view;
    const cap = BigInt(Cap.MQES) | Cap.CQR | (20n << Cap.TO_SHIFT) | Cap.CSS_NVM; // DSTRD 0, MPSMIN = MPSMAX = 0
    v.setBigUint64(NVME_REG_CAP, cap, true);
    v.setUint32(NVME_REG_VS, NVME_VERSION_2_0, true);
    this.r.store32(NVME_REG_CC, 0);
    this.r.store32(NVME_REG_CSTS, 0);
    this.enabled = false;
  }

  /**
   * CC.EN 0 -> 1: checks the admin queue configuration like a controller does (page-aligned ASQ/ACQ inside
   * host memory, 2..4096 entries, 64/16-byte entries, 4 KiB pages, NVM command set) and sets CSTS.RDY, or
   * CSTS.CFS if it is unusable. Returns true when ready.
   */
  enable(): boolean {
    const v = this.r.view;
    const cc = this.r.load32(NVME_REG_CC);
    const aqa = v.getUint32(NVME_REG_AQA, true);
    const asq = v.getBigUint64(NVME_REG_ASQ, true);
    const acq = v.getBigUint64(NVME_REG_ACQ, true);
    const sqSize = (aqa & 0xfff) + 1;
    const cqSize = ((aqa >>> 16) & 0xfff) + 1;
    const bytes = BigInt(this.r.layout.bytes);
    const page = BigInt(NVME_PAGE_BYTES);
    const ok = (cc & Cc.EN) !== 0
      && ((cc >>> Cc.IOSQES_SHIFT) & 0xf) === 6 && ((cc >>> Cc.IOCQES_SHIFT) & 0xf) === 4
      && ((cc >>> Cc.MPS_SHIFT) & 0xf) === 0 && ((cc >>> Cc.CSS_SHIFT) & 7) === 0
      && sqSize >= 2 && cqSize >= 2
      && asq % page === 0n && acq % page === 0n
      && asq >= BigInt(NVME_HOST_MEMORY) && acq >= BigInt(NVME_HOST_MEMORY)
      && asq + BigInt(sqSize * SQE_BYTES) <= bytes && acq + BigInt(cqSize * CQE_BYTES) <= bytes;
    if (!ok) {
      this.r.store32(NVME_REG_CSTS, Csts.CFS);
      this.enabled = false;
      return false;
    }
    this.sqBase = Number(asq);
    this.cqBase = Number(acq);
    this.sqSize = sqSize;
    this.cqSize = cqSize;
    this.sqHead = this.sqTailSeen = this.cqTail = 0;
    this.lastInvalid = -1;
    this.phase = 1;
    this.enabled = true;
    this.r.store32(NVME_REG_CSTS, Csts.RDY);
    return true;
  }

  /** Controller reset (CC.EN 1 -> 0): queues forgotten, CSTS.RDY cleared. */
  disable(): void {
    this.enabled = false;
    this.r.store32(NVME_REG_CSTS, 0);
  }

  private tail(): number {
    const t = this.r.load32(NVME_SQ0TDBL);
    if (t < this.sqSize) {
      this.sqTailSeen = t;
      this.lastInvalid = -1;
    } else if (t !== this.lastInvalid) {
      this.invalidDoorbells++;
      this.lastInvalid = t;
    }
    return this.sqTailSeen;
  }

  /** True if the tail doorbell shows an entry not yet fetched. */
  hasCommand(): boolean {
    return this.enabled && this.tail() !== this.sqHead;
  }

  /** Commands between head and the tail doorbell. */
  sqPending(): number {
    return this.enabled ? (this.tail() - this.sqHead + this.sqSize) % this.sqSize : 0;
  }

  /** CID of the entry `ahead` places past the head (not fetched). */
  peekCid(ahead: number): number {
    return this.r.view.getUint16(this.sqBase + ((this.sqHead + ahead) % this.sqSize) * SQE_BYTES + 2, true);
  }

  /** Fetches the SQE at the head and advances the head. */
  fetch(): Sqe {
    const sqe = decodeSqe(this.r.u8, this.sqBase + this.sqHead * SQE_BYTES);
    this.sqHead = (this.sqHead + 1) % this.sqSize;
    return sqe;
  }

  /** (tail + 1) mod size == head doorbell: no room to post. */
  cqFull(): boolean {
    const head = this.r.load32(NVME_CQ0HDBL);
    return (this.cqTail + 1) % this.cqSize === head % this.cqSize;
  }

  /** Posts a CQE at the tail with the current phase (DW3 stored last, atomically). Caller checks cqFull(). */
  post(dw0: number, dw1: number, cid: number, status: number): void {
    const at = this.cqBase + this.cqTail * CQE_BYTES;
    encodeCqeHead({ dw0, dw1, sqhd: this.sqHead, sqid: 0 }, this.r.u8, at);
    this.r.store32(at + 12, (cid & 0xffff) | (this.phase << 16) | ((status & 0x7fff) << 17));
    this.cqTail++;
    if (this.cqTail === this.cqSize) {
      this.cqTail = 0;
      this.phase ^= 1;
    }
  }

  /**
   * DMA between the controller and the host buffer described by PRP1/PRP2 (4 KiB memory pages): the
   * first entry may carry a dword-aligned page offset, later entries must be page aligned; more than two
   * pages use PRP2 as a pointer to a PRP list (chained through its last entry when a list page runs out).
   * `copy(hostOffset, bufferOffset, n)` moves each piece. Returns a status (0 = done).
   */
  dma(prp1: bigint, prp2: bigint, len: number, copy: (host: number, at: number, n: number) => void): number {
    if (len === 0) return St.SUCCESS;
    const P = NVME_PAGE_BYTES;
    const limit = BigInt(this.r.layout.bytes);
    const inHost = (addr: bigint, n: number): boolean => addr >= BigInt(NVME_HOST_MEMORY) && addr + BigInt(n) <= limit;
    if ((prp1 & 3n) !== 0n) return St.PRP_OFFSET_INVALID;
    const first = Math.min(len, P - Number(prp1 % BigInt(P)));
    if (!inHost(prp1, first)) return St.DATA_TRANSFER_ERROR;
    copy(Number(prp1), 0, first);
    let done = first;
    if (done === len) return St.SUCCESS;
    if (len - done <= P) {
      if (prp2 % BigInt(P) !== 0n) return St.PRP_OFFSET_INVALID;
      if (!inHost(prp2, len - done)) return St.DATA_TRANSFER_ERROR;
      copy(Number(prp2), done, len - done);
      return St.SUCCESS;
    }
    // PRP list
    if ((prp2 & 7n) !== 0n) return St.PRP_OFFSET_INVALID;
    let list = prp2;
    while (done < len) {
      if (!inHost(list, 8)) return St.DATA_TRANSFER_ERROR;
      const lastInPage = (list % BigInt(P)) === BigInt(P - 8);
      const entry = this.r.view.getBigUint64(Number(list), true);
      const remaining = len - done;
      if (lastInPage && remaining > P) {
        list = entry; // chain to the next list page
        if ((list & 7n) !== 0n) return St.PRP_OFFSET_INVALID;
        continue;
      }
      if (entry % BigInt(P) !== 0n) return St.PRP_OFFSET_INVALID;
      const n = Math.min(P, remaining);
      if (!inHost(entry, n)) return St.DATA_TRANSFER_ERROR;
      copy(Number(entry), done, n);
      done += n;
      list += 8n;
    }
    return St.SUCCESS;
  }
}
