import type { DeviceDescriptor } from '../../fleet/types.js';
import { CqFlag, packStatus, WorkerFailure } from '../../mux/protocol.js';
import type { CompletionSink, DeviceEndpoint } from '../endpoint.js';
import type { FaultInjector } from '../faults.js';
import { NvmeController } from './controller.js';
import { HostCq, HostQueues, HostSq } from './host-queues.js';
import { CQE_BYTES, nvmeBlockLayout, SQE_BYTES } from './layout.js';
import { ioTransferBytes } from './nvm-io.js';
import { NvmeRegion } from './queues.js';
import { decodeSqe, encodeSqe } from './sqe.js';
import { statusIsSuccess } from './status.js';
import { acceptsHostData, hostTransferBytes, NVME_IO_OPCODE_BASE, NvmeArg0, returnsData } from './transfer.js';

interface Waiting {
  tag: number;
  /** descriptor opcode: admin opcode, or 100h + I/O opcode */
  opcode: number;
  /** the request's SQE (64 bytes, PRPs still 0) followed by host data */
  payload: Uint8Array;
  /** the caller's CID, or -1: the host driver picks one */
  cid: number;
  /** data buffer bytes (PRPs) and separate metadata bytes (MPTR, right after the data) */
  xfer: number;
  meta: number;
}

/** Admin commands whose completion changes the host's queue set. */
interface QueueOp {
  opcode: number;
  qid: number;
  entries: number;
  cqid: number;
  /** Create: the queue memory PRP1 points at */
  mem: number;
  memBytes: number;
}

interface Outstanding {
  tag: number;
  opcode: number;
  sqid: number;
  cid: number;
  xfer: number;
  meta: number;
  /** answered CANCELLED already; its completion is reaped and dropped */
  cancelled: boolean;
  queueOp: QueueOp | null;
  /** an Abort: the key of the command it names (the host does not hand that CID out meanwhile) */
  abortKey: number;
}

const encoder = new TextEncoder();
const key = (sqid: number, cid: number): number => sqid * 65536 + cid;

/**
 * One NVMe controller served inside a shard worker, reached through its queues in shared memory.
 *
 * This class is the host driver (NVMe Base 2.0 3.3/3.5): it enables the controller through CC/AQA/ASQ/ACQ,
 * places each request's SQE at the tail of its SQ (the admin SQ, or an I/O SQ the caller created with the
 * admin commands) with a CID (its own pick, or the caller's) and PRP1/PRP2 describing its data buffer
 * (copying the host's data there; separate metadata right after it, MPTR pointing there), rings the SQ's
 * tail doorbell, and reaps CQEs whose phase tag matches its expected phase on every CQ, answering each
 * request with `complete(tag, local, opcode, 0, status, 0, 0, cqe, data)`: ARG0 the status field (phase
 * removed), payload = the 16 CQE bytes then the data (and separate metadata) the controller returned (on
 * success). The NvmeController behind the doorbells fetches, executes and posts.
 *
 * Queues: for Create I/O Completion / Submission Queue the host allocates the queue in its I/O queue memory
 * and puts the address in PRP1; when the controller accepts, the host starts using the queue (and frees the
 * memory when it refuses, or on Delete). A request for an I/O queue the host does not have is answered
 * FAILED (BAD_REQUEST): like a host driver without that queue, it cannot even be submitted.
 *
 * Host rules: an N-entry SQ holds N - 1 commands (full when tail + 1 == head, the head known from SQHD);
 * the data buffer belongs to one command at a time. A request that cannot go into its SQ yet waits in that
 * SQ's FIFO, in order. Asynchronous Event Requests may hold at most N - 2 admin slots (as a host sees it, an
 * AER occupies its slot until a CQE reports the head past it, and a parked AER has no CQE): one more is
 * refused (FAILED, BAD_REQUEST) rather than stall the queue; a 2-entry queue takes none.
 *
 * Faults (like the CXL mailbox endpoint; for I/O commands `hang` and `crashOn` name 100h + opcode): `hang` -
 * the controller never completes the command (and the ones behind it in its SQ wait); only cancel() ends it.
 * `slowMs` - each command completes that much later. `busy` - answered Command Interrupted (SCT 0h / 21h,
 * DNR 0: NVMe's "retry this command" status) without running. `error` - answered with `errorRc` as the
 * status field. `crashOn` - submit() throws. cancel() of a command the controller holds aborts it as an
 * Abort command would (its CQE carries Command Abort Requested) and answers the request CANCELLED at once.
 */
export class NvmeEndpoint implements DeviceEndpoint {
  readonly region: NvmeRegion;
  readonly host: HostQueues;
  readonly controller: NvmeController;
  readonly id: string;
  readonly local: number;
  /** per SQ id: requests waiting for room in that SQ (or for the data buffer), from fifoHead on */
  private readonly fifo: Waiting[][] = [];
  private readonly fifoHead: number[] = [];
  /** SQ ids and CQ ids the host uses, admin first */
  private readonly order: number[] = [];
  private readonly cqOrder: number[] = [];
  private readonly outstanding = new Map<number, Outstanding>();
  /** keys (SQ, CID) named by outstanding Abort commands */
  private readonly abortTargets = new Set<number>();
  private nextCid = 0;
  /** key of the command owning the data buffer, or -1 */
  private bufferOwner = -1;

  constructor(d: DeviceDescriptor, arena: SharedArrayBuffer, readonly sink: CompletionSink, readonly faults: FaultInjector) {
    const depth = d.nvme?.queueDepth ?? 32;
    const layout = nvmeBlockLayout(depth, d.mailboxBytes);
    if (layout.bytes > d.memBytes) throw new Error(`${d.id}: device memory of ${d.memBytes} bytes is smaller than the NVMe block (${layout.bytes})`);
    this.id = d.id;
    this.local = d.local;
    this.region = new NvmeRegion(arena, d.memOffset, layout);
    this.controller = new NvmeController(d, this.region, faults);
    this.host = new HostQueues(this.region, depth);
    this.enable();
  }

  private enable(): void {
    this.host.enable();
    this.controller.q.enable(); // the controller acting on CC.EN 0 -> 1
    if (!this.host.ready()) throw new Error(`${this.id}: NVMe controller did not become ready (CSTS.CFS set)`);
    this.order.length = 0;
    this.cqOrder.length = 0;
    this.cqOrder.push(0);
    this.useSq(0);
  }

  private useSq(qid: number): void {
    this.fifo[qid] = [];
    this.fifoHead[qid] = 0;
    this.order.push(qid);
  }

  submit(tag: number, opcode: number, _flags: number, payload: Uint8Array, a0: number, _a1: number, _a2: number, nowNs: number): void {
    this.faults.crashCheck(opcode, this.id);
    const sqid = a0 & NvmeArg0.SQID_MASK;
    const bad = this.check(opcode, sqid, (a0 & NvmeArg0.OWN_CID) !== 0, payload);
    if (typeof bad === 'string') {
      this.fail(tag, opcode, bad);
      return;
    }
    const w: Waiting = { tag, opcode, payload, ...bad };
    const sq = this.host.sqs[sqid]!;
    if (this.fifoHead[sqid] === this.fifo[sqid]!.length && this.canIssue(sq, w)) {
      if (this.issue(sq, w)) sq.ring();
    } else {
      w.payload = payload.slice();
      this.fifo[sqid]!.push(w);
    }
    this.pump(nowNs);
  }

  private fail(tag: number, opcode: number, why: string): void {
    this.sink.complete(tag, this.local, opcode, CqFlag.FAILED, packStatus(0, 0), WorkerFailure.BAD_REQUEST, 0, null, encoder.encode(why));
  }

  /** Why a ring payload cannot be an NVMe request here, or its CID and transfer sizes. */
  private check(opcode: number, sqid: number, ownCid: boolean, payload: Uint8Array): string | { cid: number; xfer: number; meta: number } {
    if (payload.byteLength < SQE_BYTES) return `${this.id}: an NVMe request is a 64-byte SQE plus data; got ${payload.byteLength} bytes`;
    const io = opcode >= NVME_IO_OPCODE_BASE;
    if (opcode > 0x1ff || (opcode & 0xff) !== payload[0]) {
      return `${this.id}: descriptor opcode 0x${opcode.toString(16)} does not match the SQE opcode 0x${payload[0]!.toString(16)}`;
    }
    if (io !== (sqid !== 0)) return `${this.id}: admin commands go to queue 0 and I/O commands to an I/O queue (1 and up); got ${io ? 'an I/O command for queue 0' : `an admin command for queue ${sqid}`}`;
    if (this.host.sqs[sqid] === undefined) {
      return `${this.id} has no I/O submission queue ${sqid}: create it first on the admin queue, an I/O completion queue `
        + '(Create I/O Completion Queue, 05h) and then the submission queue (Create I/O Submission Queue, 01h)';
    }
    if (opcode === 0x0c && this.aerCount() + 1 > this.host.depth - 2) {
      return `${this.id}: a ${this.host.depth}-entry admin queue has no room for another Asynchronous Event Request `
        + '(the host keeps one SQ slot for other commands; an AER stays outstanding until an event)';
    }
    const given = payload.byteLength - SQE_BYTES;
    const op = opcode & 0xff;
    if (given > 0 && !acceptsHostData(op)) return `${this.id}: opcode 0x${op.toString(16)} takes no data from the host (opcode bits 1:0)`;
    if (given > 0 && !io && (op === 0x01 || op === 0x05)) return `${this.id}: Create I/O ${op === 0x01 ? 'Submission' : 'Completion'} Queue takes no data: the host driver supplies the queue memory`;
    const buffer = this.region.layout.dataBytes;
    if (given > buffer) return `${this.id}: ${given} data bytes exceed the ${buffer}-byte transfer limit`;
    const v = new DataView(payload.buffer, payload.byteOffset, SQE_BYTES);
    let xfer: number;
    let meta = 0;
    if (io) {
      const t = ioTransferBytes(this.controller, op, v.getUint32(4, true), v.getUint32(40, true), v.getUint32(48, true));
      if (t.data <= buffer) {
        if (t.data + t.meta > buffer) {
          return `${this.id}: ${t.data} data bytes and ${t.meta} bytes of separate metadata exceed this host's ${buffer}-byte buffer; transfer fewer blocks per command`;
        }
        if (acceptsHostData(op) && given !== t.data + t.meta) {
          return `${this.id}: this ${op === 0x01 ? 'Write' : 'command'} transfers ${t.data + t.meta} bytes from the host${t.meta > 0 ? ` (${t.data} of data, then ${t.meta} of separate metadata)` : ''}; got ${given}`;
        }
        xfer = t.data;
        meta = t.meta;
      } else {
        xfer = buffer; // beyond MDTS: the controller refuses it (Invalid Field) before any transfer
      }
    } else {
      xfer = hostTransferBytes(op, v.getUint32(40, true), v.getUint32(44, true), given, buffer);
    }
    let cid = -1;
    if (ownCid) {
      cid = v.getUint16(2, true);
      if (this.outstanding.has(key(sqid, cid)) || this.fifo[sqid]!.some((w, i) => i >= this.fifoHead[sqid]! && w.cid === cid)) {
        return `${this.id}: CID ${cid} is in use on queue ${sqid}; give another cid, or none to let the host pick`;
      }
    }
    return { cid, xfer, meta };
  }

  /** AERs placed or waiting (each holds an SQ slot, as the host sees it, until it completes). */
  private aerCount(): number {
    let n = 0;
    for (const o of this.outstanding.values()) if (o.opcode === 0x0c) n++;
    const f = this.fifo[0]!;
    for (let i = this.fifoHead[0]!; i < f.length; i++) if (f[i]!.opcode === 0x0c) n++;
    return n;
  }

  private canIssue(sq: HostSq, w: Waiting): boolean {
    return !sq.full() && (w.xfer + w.meta === 0 || this.bufferOwner === -1);
  }

  /** A CID for SQ `sqid`: not outstanding there, not named by an outstanding Abort. */
  private pickCid(sqid: number): number {
    let cid = this.nextCid;
    while (this.outstanding.has(key(sqid, cid)) || this.abortTargets.has(key(sqid, cid))) cid = (cid + 1) & 0xffff;
    this.nextCid = (cid + 1) & 0xffff;
    return cid;
  }

  /**
   * Host driver: SQE at the tail of `sq` with its CID, PRP1/PRP2 (and MPTR) for the data buffer, or for a
   * queue being created its memory; host data copied in. False (request answered FAILED) when the host has no
   * memory for a queue.
   */
  private issue(sq: HostSq, w: Waiting): boolean {
    const sqe = decodeSqe(w.payload);
    const op = w.opcode;
    let queueOp: QueueOp | null = null;
    if (sq.qid === 0 && (op === 0x00 || op === 0x01 || op === 0x04 || op === 0x05)) {
      queueOp = { opcode: op, qid: sqe.cdw10 & 0xffff, entries: (sqe.cdw10 >>> 16) + 1, cqid: sqe.cdw11 >>> 16, mem: -1, memBytes: 0 };
      if (op === 0x01 || op === 0x05) {
        queueOp.memBytes = queueOp.entries * (op === 0x01 ? SQE_BYTES : CQE_BYTES);
        queueOp.mem = this.host.memory.alloc(this.region, queueOp.memBytes);
        if (queueOp.mem < 0) {
          this.fail(w.tag, op, `${this.id}: the host's I/O queue memory (${this.region.layout.ioQueueBytes / 1024} KiB, `
            + `${this.host.memory.freePages} pages free) has no room for a ${queueOp.entries}-entry queue; delete a queue or create a smaller one`);
          return false;
        }
      }
    }
    const cid = w.cid >= 0 ? w.cid : this.pickCid(sq.qid);
    sqe.cid = cid;
    sqe.mptr = 0n;
    const L = this.region.layout;
    if (queueOp !== null && queueOp.mem >= 0) {
      sqe.prp1 = BigInt(queueOp.mem);
      sqe.prp2 = 0n;
    } else {
      const { prp1, prp2 } = this.host.prps(w.xfer);
      sqe.prp1 = prp1;
      sqe.prp2 = prp2;
      if (w.meta > 0) sqe.mptr = BigInt(L.data + w.xfer);
    }
    const k = key(sq.qid, cid);
    if (w.xfer + w.meta > 0) {
      this.bufferOwner = k;
      const u8 = this.region.u8;
      const data = w.payload.byteLength - SQE_BYTES;
      if (data > 0) u8.set(w.payload.subarray(SQE_BYTES), L.data);
      u8.fill(0, L.data + data, L.data + w.xfer + w.meta);
    }
    let abortKey = -1;
    if (sq.qid === 0 && op === 0x08) {
      abortKey = key(sqe.cdw10 & 0xffff, sqe.cdw10 >>> 16);
      this.abortTargets.add(abortKey);
    }
    encodeSqe(sqe, this.region.u8, sq.tailSlot());
    sq.advance();
    this.outstanding.set(k, { tag: w.tag, opcode: op, sqid: sq.qid, cid, xfer: w.xfer, meta: w.meta, cancelled: false, queueOp, abortKey });
    return true;
  }

  /** Moves waiting requests into their SQs, lets the controller run, reaps completions; until nothing moves. */
  private pump(nowNs: number): void {
    for (;;) {
      let issued = false;
      for (let i = 0; i < this.order.length; i++) if (this.drainFifo(this.order[i]!)) issued = true;
      this.controller.service(nowNs);
      if (!this.reap() && !issued) return;
    }
  }

  /** Places what fits from SQ `qid`'s FIFO, in order; rings its doorbell if anything was placed. */
  private drainFifo(qid: number): boolean {
    const sq = this.host.sqs[qid]!;
    const f = this.fifo[qid]!;
    let head = this.fifoHead[qid]!;
    let placed = false;
    while (head < f.length && this.canIssue(sq, f[head]!)) {
      const w = f[head]!;
      f[head++] = undefined as unknown as Waiting;
      if (this.issue(sq, w)) placed = true;
    }
    if (head === f.length && head > 0) {
      f.length = 0;
      head = 0;
    }
    this.fifoHead[qid] = head;
    if (placed) sq.ring();
    return placed;
  }

  /** Host driver: consumes new CQEs of every CQ (phase tag = expected phase), answers their requests, rings the head doorbells. */
  private reap(): boolean {
    let any = false;
    for (let i = 0; i < this.cqOrder.length; i++) if (this.reapCq(this.host.cqs[this.cqOrder[i]!]!)) any = true;
    return any;
  }

  private reapCq(cq: HostCq): boolean {
    const u8 = this.region.u8;
    const view = this.region.view;
    const L = this.region.layout;
    let any = false;
    for (let at = cq.peek(); at >= 0; at = cq.peek()) {
      const sqid = view.getUint16(at + 10, true);
      const cid = view.getUint16(at + 12, true);
      const status = view.getUint16(at + 14, true) >>> 1;
      const sq = this.host.sqs[sqid];
      if (sq !== undefined) sq.head = view.getUint16(at + 8, true) % sq.size;
      cq.consume();
      any = true;
      const k = key(sqid, cid);
      const o = this.outstanding.get(k);
      if (o === undefined) continue;
      this.outstanding.delete(k);
      if (o.abortKey >= 0) this.abortTargets.delete(o.abortKey);
      if (o.queueOp !== null) this.queueOpDone(o.queueOp, statusIsSuccess(status));
      if (!o.cancelled) {
        const n = o.xfer + o.meta;
        const data = n > 0 && returnsData(o.opcode & 0xff) && statusIsSuccess(status) ? u8.subarray(L.data, L.data + n) : null;
        this.sink.complete(o.tag, this.local, o.opcode, 0, status, 0, 0, u8.subarray(at, at + CQE_BYTES), data);
      }
      if (this.bufferOwner === k) this.bufferOwner = -1;
    }
    if (any) cq.ring();
    return any;
  }

  /** The host's side of a queue management command's outcome. */
  private queueOpDone(q: QueueOp, ok: boolean): void {
    const host = this.host;
    if (!ok) {
      if (q.mem >= 0) host.memory.free(q.mem, q.memBytes);
      return;
    }
    switch (q.opcode) {
      case 0x05:
        host.cqs[q.qid] = new HostCq(this.region, q.qid, q.mem, q.entries);
        this.cqOrder.push(q.qid);
        break;
      case 0x01:
        host.sqs[q.qid] = new HostSq(this.region, q.qid, q.mem, q.entries, q.cqid);
        this.useSq(q.qid);
        break;
      case 0x00: {
        const sq = host.sqs[q.qid]!;
        host.memory.free(sq.base, sq.size * SQE_BYTES);
        host.sqs[q.qid] = undefined;
        this.order.splice(this.order.indexOf(q.qid), 1);
        const f = this.fifo[q.qid]!;
        for (let i = this.fifoHead[q.qid]!; i < f.length; i++) {
          this.fail(f[i]!.tag, f[i]!.opcode, `${this.id}: I/O submission queue ${q.qid} was deleted before this request could be placed in it`);
        }
        f.length = 0;
        this.fifoHead[q.qid] = 0;
        break;
      }
      default: { // 04h
        const cq = host.cqs[q.qid]!;
        host.memory.free(cq.base, cq.size * CQE_BYTES);
        host.cqs[q.qid] = undefined;
        this.cqOrder.splice(this.cqOrder.indexOf(q.qid), 1);
      }
    }
  }

  cancel(tag: number, nowNs: number): void {
    for (const qid of this.order) {
      const f = this.fifo[qid]!;
      for (let i = this.fifoHead[qid]!; i < f.length; i++) {
        const w = f[i]!;
        if (w.tag !== tag) continue;
        f.splice(i, 1);
        this.sink.complete(tag, this.local, w.opcode, CqFlag.CANCELLED, 0, 0, 0, null, null);
        this.pump(nowNs);
        return;
      }
    }
    for (const o of this.outstanding.values()) {
      if (o.tag !== tag || o.cancelled) continue;
      o.cancelled = true;
      this.sink.complete(tag, this.local, o.opcode, CqFlag.CANCELLED, 0, 0, 0, null, null);
      this.controller.abort(o.sqid, o.cid, nowNs);
      this.pump(nowNs);
      return;
    }
  }

  poll(nowNs: number): number {
    this.pump(nowNs);
    return this.deadline();
  }

  deadline(): number {
    return this.controller.deadline();
  }

  /** Requests not yet answered: waiting in the FIFOs plus in the controller's hands. */
  get pending(): number {
    let n = 0;
    for (const qid of this.order) n += this.fifo[qid]!.length - this.fifoHead[qid]!;
    for (const o of this.outstanding.values()) if (!o.cancelled) n++;
    return n;
  }

  /**
   * A Controller Level Reset caused by `kind` (controller reset, conventional reset, NVM subsystem reset):
   * activates pending firmware if that reset suffices, reverts features, deletes every I/O queue (the host
   * frees their memory) and re-creates the admin queues. The mux has no request for this yet; only legal
   * with nothing outstanding (parked AERs excepted: dropped).
   */
  resetController(kind: 'controller' | 'conventional' | 'subsystem', nowNs: number): void {
    for (const o of this.outstanding.values()) {
      if (o.opcode !== 0x0c) throw new Error(`${this.id}: cannot reset with commands outstanding`);
    }
    for (const qid of this.order) {
      if (this.fifo[qid]!.length > this.fifoHead[qid]!) throw new Error(`${this.id}: cannot reset with commands waiting`);
    }
    for (const o of this.outstanding.values()) {
      if (!o.cancelled) this.sink.complete(o.tag, this.local, o.opcode, CqFlag.CANCELLED, 0, 0, 0, null, null);
    }
    this.outstanding.clear();
    this.abortTargets.clear();
    this.bufferOwner = -1;
    this.controller.reset(kind);
    this.enable();
    this.pump(nowNs);
  }
}
