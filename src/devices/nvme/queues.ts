import { MAX_IO_QUEUES } from './constants.js';
import { encodeCqeHead } from './cqe.js';
import {
  CQE_BYTES, cqHeadDoorbell, NVME_HOST_MEMORY, NVME_PAGE_BYTES, NVME_REG_ACQ, NVME_REG_AQA, NVME_REG_ASQ, NVME_REG_CAP,
  NVME_REG_CC, NVME_REG_CSTS, NVME_REG_VS, SQE_BYTES, sqTailDoorbell, type NvmeBlockLayout,
} from './layout.js';
import { decodeSqe, type Sqe } from './sqe.js';
import { St } from './status.js';

/**
 * The controller's side of its queues in shared memory (NVMe Base 2.0 3.3.1, 3.5.1): one ControllerSq /
 * ControllerCq class serves the admin pair (id 0, from AQA/ASQ/ACQ at CC.EN) and every I/O queue the host
 * creates (Create I/O CQ/SQ). An SQ is fetched from its head up to its tail doorbell; a CQ is posted at its
 * tail with the current phase tag (1 on the first pass, inverted each time the tail wraps), never overrunning
 * its head doorbell. Doorbells are read with Atomics.load; a CQE's DW3 (CID, phase, status) is published last
 * with one Atomics.store after its other bytes, so an entry is complete once its phase flips. The host side
 * is in host-queues.ts.
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

  /** True when [addr, addr + bytes) lies in host memory (past the registers and doorbells). */
  inHost(addr: bigint, bytes: number): boolean {
    return addr >= BigInt(NVME_HOST_MEMORY) && addr + BigInt(bytes) <= BigInt(this.layout.bytes);
  }
}

/** A fetched command the controller has not completed: waiting for an injected delay, or hung. */
export interface Executing {
  sqe: Sqe;
  dueNs: number;
}

/** A completion that found its CQ full, posted once the host frees a slot. */
interface Held {
  dw0: number;
  dw1: number;
  sq: ControllerSq;
  cid: number;
  status: number;
}

/** One completion queue, controller side. */
export class ControllerCq {
  tail = 0;
  phase = 1;
  /** completions waiting for room, posted in order before any newer one */
  readonly held: Held[] = [];
  /** I/O SQs that post here (a CQ with any cannot be deleted) */
  sqs = 0;
  private readonly doorbell: number;

  constructor(readonly r: NvmeRegion, readonly qid: number, readonly base: number, readonly size: number,
    /** interrupt vector and enable (recorded: the host polls, no interrupt is raised) */
    readonly iv: number, readonly ien: boolean) {
    this.doorbell = cqHeadDoorbell(qid);
  }

  /** (tail + 1) mod size == head doorbell: no room to post. */
  full(): boolean {
    const head = this.r.load32(this.doorbell);
    return (this.tail + 1) % this.size === head % this.size;
  }

  /** Posts now, or holds the completion until there is room (and until older held ones are posted). */
  complete(sq: ControllerSq, dw0: number, dw1: number, cid: number, status: number): void {
    if (this.held.length === 0 && !this.full()) this.post(sq, dw0, dw1, cid, status);
    else this.held.push({ dw0, dw1, sq, cid, status });
  }

  /** Posts held completions while there is room; true when none is left. */
  flush(): boolean {
    while (this.held.length > 0) {
      if (this.full()) return false;
      const h = this.held.shift()!;
      this.post(h.sq, h.dw0, h.dw1, h.cid, h.status);
    }
    return true;
  }

  /** Writes the CQE at the tail: bytes 0-11 with plain stores, then DW3 with one Atomics.store (release). */
  private post(sq: ControllerSq, dw0: number, dw1: number, cid: number, status: number): void {
    const at = this.base + this.tail * CQE_BYTES;
    encodeCqeHead({ dw0, dw1, sqhd: sq.head, sqid: sq.qid }, this.r.u8, at);
    this.r.store32(at + 12, (cid & 0xffff) | (this.phase << 16) | ((status & 0x7fff) << 17));
    this.tail++;
    if (this.tail === this.size) {
      this.tail = 0;
      this.phase ^= 1;
    }
  }
}

/** One submission queue, controller side. */
export class ControllerSq {
  head = 0;
  /** last valid tail doorbell value (writes of a value >= the queue size are ignored, as QEMU does) */
  private tailSeen = 0;
  private lastInvalid = -1;
  /** doorbell writes ignored because their value was out of range */
  invalidDoorbells = 0;
  /** the command fetched from this SQ that waits for an injected delay (or hangs); later ones stay queued */
  executing: Executing | null = null;
  /** CIDs an Abort found still queued here: completed with Command Abort Requested when fetched */
  readonly aborts: number[] = [];
  private readonly doorbell: number;

  constructor(readonly r: NvmeRegion, readonly qid: number, readonly base: number, readonly size: number, readonly cq: ControllerCq) {
    this.doorbell = sqTailDoorbell(qid);
  }

  private tail(): number {
    const t = this.r.load32(this.doorbell);
    if (t < this.size) {
      this.tailSeen = t;
      this.lastInvalid = -1;
    } else if (t !== this.lastInvalid) {
      this.invalidDoorbells++;
      this.lastInvalid = t;
    }
    return this.tailSeen;
  }

  /** True if the tail doorbell shows an entry not yet fetched. */
  hasCommand(): boolean {
    return this.tail() !== this.head;
  }

  /** Commands between head and the tail doorbell. */
  pending(): number {
    return (this.tail() - this.head + this.size) % this.size;
  }

  /** CID of the entry `ahead` places past the head (not fetched). */
  peekCid(ahead: number): number {
    return this.r.view.getUint16(this.base + ((this.head + ahead) % this.size) * SQE_BYTES + 2, true);
  }

  /** Fetches the SQE at the head and advances the head. */
  fetch(): Sqe {
    const sqe = decodeSqe(this.r.u8, this.base + this.head * SQE_BYTES);
    this.head = (this.head + 1) % this.size;
    return sqe;
  }
}

/**
 * The controller's queue set: its registers (CAP, VS, CC, CSTS, AQA/ASQ/ACQ), the admin pair and the I/O
 * queues by id, and DMA through PRPs. I/O SQs are served round robin (CC.AMS = 000b) in creation order.
 */
export class ControllerQueues {
  readonly sqs: (ControllerSq | undefined)[] = new Array<ControllerSq | undefined>(MAX_IO_QUEUES + 1);
  readonly cqs: (ControllerCq | undefined)[] = new Array<ControllerCq | undefined>(MAX_IO_QUEUES + 1);
  /** the I/O SQs, in creation order, and the I/O CQs */
  readonly ioSqs: ControllerSq[] = [];
  readonly ioCqs: ControllerCq[] = [];
  enabled = false;

  constructor(readonly r: NvmeRegion) {}

  /** The admin SQ (valid while enabled). */
  get admin(): ControllerSq {
    return this.sqs[0]!;
  }

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
    const page = BigInt(NVME_PAGE_BYTES);
    const ok = (cc & Cc.EN) !== 0
      && ((cc >>> Cc.IOSQES_SHIFT) & 0xf) === 6 && ((cc >>> Cc.IOCQES_SHIFT) & 0xf) === 4
      && ((cc >>> Cc.MPS_SHIFT) & 0xf) === 0 && ((cc >>> Cc.CSS_SHIFT) & 7) === 0
      && sqSize >= 2 && cqSize >= 2
      && asq % page === 0n && acq % page === 0n
      && this.r.inHost(asq, sqSize * SQE_BYTES) && this.r.inHost(acq, cqSize * CQE_BYTES);
    this.dropAll();
    if (!ok) {
      this.r.store32(NVME_REG_CSTS, Csts.CFS);
      return false;
    }
    this.createCq(0, Number(acq), cqSize, 0, true);
    this.createSq(0, Number(asq), sqSize, 0);
    this.enabled = true;
    this.r.store32(NVME_REG_CSTS, Csts.RDY);
    return true;
  }

  /** Controller reset (CC.EN 1 -> 0): every queue, admin and I/O, is gone; CSTS.RDY cleared. */
  disable(): void {
    this.dropAll();
    this.r.store32(NVME_REG_CSTS, 0);
  }

  private dropAll(): void {
    this.enabled = false;
    this.sqs.fill(undefined);
    this.cqs.fill(undefined);
    this.ioSqs.length = 0;
    this.ioCqs.length = 0;
  }

  createCq(qid: number, base: number, size: number, iv: number, ien: boolean): ControllerCq {
    const cq = new ControllerCq(this.r, qid, base, size, iv, ien);
    this.cqs[qid] = cq;
    if (qid !== 0) this.ioCqs.push(cq);
    return cq;
  }

  /** Creates an SQ posting to CQ `cqid` (which must exist). */
  createSq(qid: number, base: number, size: number, cqid: number): ControllerSq {
    const cq = this.cqs[cqid]!;
    const sq = new ControllerSq(this.r, qid, base, size, cq);
    this.sqs[qid] = sq;
    if (qid !== 0) {
      cq.sqs++;
      this.ioSqs.push(sq);
    }
    return sq;
  }

  deleteSq(sq: ControllerSq): void {
    this.sqs[sq.qid] = undefined;
    sq.cq.sqs--;
    this.ioSqs.splice(this.ioSqs.indexOf(sq), 1);
  }

  deleteCq(cq: ControllerCq): void {
    this.cqs[cq.qid] = undefined;
    this.ioCqs.splice(this.ioCqs.indexOf(cq), 1);
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
    const r = this.r;
    if ((prp1 & 3n) !== 0n) return St.PRP_OFFSET_INVALID;
    const first = Math.min(len, P - Number(prp1 % BigInt(P)));
    if (!r.inHost(prp1, first)) return St.DATA_TRANSFER_ERROR;
    copy(Number(prp1), 0, first);
    let done = first;
    if (done === len) return St.SUCCESS;
    if (len - done <= P) {
      if (prp2 % BigInt(P) !== 0n) return St.PRP_OFFSET_INVALID;
      if (!r.inHost(prp2, len - done)) return St.DATA_TRANSFER_ERROR;
      copy(Number(prp2), done, len - done);
      return St.SUCCESS;
    }
    // PRP list
    if ((prp2 & 7n) !== 0n) return St.PRP_OFFSET_INVALID;
    let list = prp2;
    while (done < len) {
      if (!r.inHost(list, 8)) return St.DATA_TRANSFER_ERROR;
      const lastInPage = (list % BigInt(P)) === BigInt(P - 8);
      const entry = r.view.getBigUint64(Number(list), true);
      const remaining = len - done;
      if (lastInPage && remaining > P) {
        list = entry; // chain to the next list page
        if ((list & 7n) !== 0n) return St.PRP_OFFSET_INVALID;
        continue;
      }
      if (entry % BigInt(P) !== 0n) return St.PRP_OFFSET_INVALID;
      const n = Math.min(P, remaining);
      if (!r.inHost(entry, n)) return St.DATA_TRANSFER_ERROR;
      copy(Number(entry), done, n);
      done += n;
      list += 8n;
    }
    return St.SUCCESS;
  }
}
