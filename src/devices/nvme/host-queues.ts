import { MAX_IO_QUEUES } from './constants.js';
import {
  CQE_BYTES, cqHeadDoorbell, NVME_PAGE_BYTES, NVME_REG_ACQ, NVME_REG_AQA, NVME_REG_ASQ, NVME_REG_CC, NVME_REG_CSTS,
  SQE_BYTES, sqTailDoorbell,
} from './layout.js';
import { Cc, Csts, type NvmeRegion } from './queues.js';

/**
 * The host driver's side of the queues (NVMe Base 2.0 3.3.1, 3.5.1): it writes AQA/ASQ/ACQ/CC for the admin
 * pair, places SQEs at an SQ's tail and rings its tail doorbell, consumes CQEs whose phase tag matches the
 * phase it expects (1 on the first pass, flipped on every wrap) and rings the CQ's head doorbell. The same
 * HostSq / HostCq classes serve the admin pair and every I/O queue; I/O queues live in pages of the block's
 * I/O queue memory, handed out by IoQueueMemory.
 */

/** One submission queue, host side. */
export class HostSq {
  tail = 0;
  /** last SQ head the controller reported (CQE SQHD): entries before it may be reused */
  head = 0;
  private readonly doorbell: number;

  constructor(readonly r: NvmeRegion, readonly qid: number, readonly base: number, readonly size: number, readonly cqid: number) {
    this.doorbell = sqTailDoorbell(qid);
  }

  /** (tail + 1) mod size == head: an N-entry queue holds at most N - 1 commands. */
  full(): boolean {
    return (this.tail + 1) % this.size === this.head;
  }

  /** Entries placed and not yet known to be fetched (by the last SQHD seen). */
  used(): number {
    return (this.tail - this.head + this.size) % this.size;
  }

  /** Byte offset (in the block) of the slot at the tail, where the next SQE is written. */
  tailSlot(): number {
    return this.base + this.tail * SQE_BYTES;
  }

  /** Advances the local tail past an SQE written at tailSlot(); the controller sees it after ring(). */
  advance(): void {
    this.tail = (this.tail + 1) % this.size;
  }

  /** Tail doorbell: one Atomics.store (release) after the SQE bytes. */
  ring(): void {
    this.r.store32(this.doorbell, this.tail);
  }
}

/** One completion queue, host side. */
export class HostCq {
  head = 0;
  /** phase tag the host expects of the next new CQE: 1 on the first pass */
  phase = 1;
  private readonly doorbell: number;

  constructor(readonly r: NvmeRegion, readonly qid: number, readonly base: number, readonly size: number) {
    this.doorbell = cqHeadDoorbell(qid);
  }

  /** Byte offset of the CQE at the head if its phase tag is the expected one (a new entry), else -1. */
  peek(): number {
    const at = this.base + this.head * CQE_BYTES;
    const dw3 = this.r.load32(at + 12);
    return ((dw3 >>> 16) & 1) === this.phase ? at : -1;
  }

  /** Consumes the entry returned by peek(): advances the head, flips the phase on wrap. */
  consume(): void {
    this.head++;
    if (this.head === this.size) {
      this.head = 0;
      this.phase ^= 1;
    }
  }

  /** Head doorbell: one Atomics.store after the consumed entries were read (frees their slots). */
  ring(): void {
    this.r.store32(this.doorbell, this.head);
  }
}

/**
 * Pages of the block's I/O queue memory, handed out first-fit to the queues the host creates (a queue is
 * physically contiguous and page aligned: CAP.CQR = 1, CC.MPS = 0).
 */
export class IoQueueMemory {
  private readonly used: Uint8Array;

  constructor(readonly base: number, bytes: number) {
    this.used = new Uint8Array(bytes / NVME_PAGE_BYTES);
  }

  /** Byte offset of `bytes` of zeroed, page-aligned memory, or -1 if no run of free pages is long enough. */
  alloc(r: NvmeRegion, bytes: number): number {
    const pages = Math.ceil(bytes / NVME_PAGE_BYTES);
    for (let start = 0; start + pages <= this.used.length; start++) {
      let n = 0;
      while (n < pages && this.used[start + n] === 0) n++;
      if (n === pages) {
        this.used.fill(1, start, start + pages);
        const at = this.base + start * NVME_PAGE_BYTES;
        r.u8.fill(0, at, at + pages * NVME_PAGE_BYTES); // stale entries must read as phase 0
        return at;
      }
      start += n;
    }
    return -1;
  }

  free(at: number, bytes: number): void {
    const start = (at - this.base) / NVME_PAGE_BYTES;
    this.used.fill(0, start, start + Math.ceil(bytes / NVME_PAGE_BYTES));
  }

  /** Free pages (diagnostics and tests). */
  get freePages(): number {
    return this.used.reduce((n, u) => n + (u === 0 ? 1 : 0), 0);
  }
}

/** The host driver's queue set: admin pair, I/O queues by id, the I/O queue memory, the PRPs of the data buffer. */
export class HostQueues {
  readonly sqs: (HostSq | undefined)[] = new Array<HostSq | undefined>(MAX_IO_QUEUES + 1);
  readonly cqs: (HostCq | undefined)[] = new Array<HostCq | undefined>(MAX_IO_QUEUES + 1);
  readonly memory: IoQueueMemory;

  constructor(readonly r: NvmeRegion, readonly depth: number) {
    this.memory = new IoQueueMemory(r.layout.ioQueues, r.layout.ioQueueBytes);
  }

  get admin(): HostSq {
    return this.sqs[0]!;
  }

  get adminCq(): HostCq {
    return this.cqs[0]!;
  }

  /**
   * Host side of controller initialization: admin queue attributes and addresses, then CC with EN = 1
   * (NVM command set, 4 KiB pages, round robin, 64-byte SQEs and 16-byte CQEs). Also writes the PRP list
   * page, which never changes: entry i points at data page i + 1. Forgets every I/O queue (a controller
   * reset deletes them) and frees their memory.
   */
  enable(): void {
    const { view } = this.r;
    const L = this.r.layout;
    for (let qid = 1; qid <= MAX_IO_QUEUES; qid++) {
      const sq = this.sqs[qid];
      if (sq !== undefined) this.memory.free(sq.base, sq.size * SQE_BYTES);
      const cq = this.cqs[qid];
      if (cq !== undefined) this.memory.free(cq.base, cq.size * CQE_BYTES);
    }
    this.sqs.fill(undefined);
    this.cqs.fill(undefined);
    this.r.u8.fill(0, L.sq, L.prpList); // zeroed queue memory: stale entries read as phase 0
    const pages = L.dataBytes / NVME_PAGE_BYTES;
    for (let i = 0; i + 1 < pages; i++) view.setBigUint64(L.prpList + 8 * i, BigInt(L.data + NVME_PAGE_BYTES * (i + 1)), true);
    view.setUint32(NVME_REG_AQA, ((this.depth - 1) << 16) | (this.depth - 1), true);
    view.setBigUint64(NVME_REG_ASQ, BigInt(L.sq), true);
    view.setBigUint64(NVME_REG_ACQ, BigInt(L.cq), true);
    this.cqs[0] = new HostCq(this.r, 0, L.cq, this.depth);
    this.sqs[0] = new HostSq(this.r, 0, L.sq, this.depth, 0);
    this.sqs[0].ring();
    this.cqs[0].ring();
    this.r.store32(NVME_REG_CC, Cc.EN | (6 << Cc.IOSQES_SHIFT) | (4 << Cc.IOCQES_SHIFT));
  }

  ready(): boolean {
    return (this.r.load32(NVME_REG_CSTS) & (Csts.RDY | Csts.CFS)) === Csts.RDY;
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
