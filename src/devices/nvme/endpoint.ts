import type { DeviceDescriptor } from '../../fleet/types.js';
import { CqFlag, packStatus, WorkerFailure } from '../../mux/protocol.js';
import type { CompletionSink, DeviceEndpoint } from '../endpoint.js';
import type { FaultInjector } from '../faults.js';
import { NvmeController } from './controller.js';
import { CQE_BYTES, nvmeBlockLayout, SQE_BYTES } from './layout.js';
import { HostQueues, NvmeRegion } from './queues.js';
import { decodeSqe, encodeSqe } from './sqe.js';
import { statusIsSuccess } from './status.js';
import { acceptsHostData, hostTransferBytes, returnsData } from './transfer.js';

interface Waiting {
  tag: number;
  opcode: number;
  /** the request's SQE (64 bytes, CID and PRPs still 0) followed by host data */
  payload: Uint8Array;
  xfer: number;
}

interface Outstanding {
  tag: number;
  opcode: number;
  /** bytes of the data buffer this command owns (0: none) */
  xfer: number;
  /** answered CANCELLED already; its completion is reaped and dropped */
  cancelled: boolean;
}

const encoder = new TextEncoder();

/**
 * One NVMe controller served inside a shard worker, reached through its admin queue in shared memory.
 *
 * This class is the host driver (NVMe Base 2.0 3.3/3.5): it enables the controller through CC/AQA/ASQ/ACQ,
 * places each request's SQE at the SQ tail with a fresh CID and PRP1/PRP2 describing its data buffer
 * (copying the host's data there), rings SQ0TDBL, and reaps CQEs whose phase tag matches its expected phase,
 * answering each request with `complete(tag, local, opcode, 0, status, 0, 0, cqe, data)`: ARG0 the status
 * field (phase removed), payload = the 16 CQE bytes then the data the controller returned (on success).
 * The NvmeController behind the doorbells fetches, executes and posts.
 *
 * Host rules: an N-entry SQ holds N - 1 commands (full when tail + 1 == head, the head known from SQHD);
 * the data buffer belongs to one command at a time. A request that cannot go into the SQ yet waits in a
 * FIFO, and requests leave the FIFO in order. Asynchronous Event Requests may hold at most N - 2 slots (as a
 * host sees it, an AER occupies its slot until a CQE reports the head past it, and a parked AER has no CQE):
 * one more is refused (FAILED, BAD_REQUEST) rather than stall the queue; a 2-entry queue takes none.
 *
 * Faults (like the CXL mailbox endpoint): `hang` - the controller never completes the command (and, since it
 * works through the admin queue in order, the ones behind it wait); only cancel() ends it. `slowMs` - each
 * command completes that much later. `busy` - answered Command Interrupted (SCT 0h / 21h, DNR 0: NVMe's
 * "retry this command" status) without running. `error` - answered with `errorRc` as the status field.
 * `crashOn` - submit() throws. cancel() of a command the controller holds aborts it as an Abort command
 * would (its CQE carries Command Abort Requested) and answers the request CANCELLED at once.
 */
export class NvmeEndpoint implements DeviceEndpoint {
  readonly region: NvmeRegion;
  readonly host: HostQueues;
  readonly controller: NvmeController;
  readonly id: string;
  readonly local: number;
  private readonly waiting: Waiting[] = [];
  private waitHead = 0;
  private readonly outstanding = new Map<number, Outstanding>();
  private nextCid = 0;
  /** CID owning the data buffer, or -1 */
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
  }

  submit(tag: number, opcode: number, _flags: number, payload: Uint8Array, _a0: number, _a1: number, _a2: number, nowNs: number): void {
    this.faults.crashCheck(opcode, this.id);
    const bad = this.check(opcode, payload);
    if (bad !== null) {
      this.sink.complete(tag, this.local, opcode, CqFlag.FAILED, packStatus(0, 0), WorkerFailure.BAD_REQUEST, 0, null, encoder.encode(bad));
      return;
    }
    const v = new DataView(payload.buffer, payload.byteOffset, SQE_BYTES);
    const xfer = hostTransferBytes(opcode, v.getUint32(40, true), v.getUint32(44, true), payload.byteLength - SQE_BYTES, this.region.layout.dataBytes);
    const w: Waiting = { tag, opcode, payload, xfer };
    if (this.waitHead === this.waiting.length && this.canIssue(w)) {
      this.issue(w);
      this.host.ringSq();
    } else {
      w.payload = payload.slice();
      this.waiting.push(w);
    }
    this.pump(nowNs);
  }

  /** Why a ring payload cannot be an NVMe request, or null. */
  private check(opcode: number, payload: Uint8Array): string | null {
    if (opcode === 0x0c && this.aerCount() + 1 > this.host.depth - 2) {
      return `${this.id}: a ${this.host.depth}-entry admin queue has no room for another Asynchronous Event Request `
        + '(the host keeps one SQ slot for other commands; an AER stays outstanding until an event)';
    }
    if (payload.byteLength < SQE_BYTES) return `${this.id}: an NVMe request is a 64-byte SQE plus data; got ${payload.byteLength} bytes`;
    if (opcode !== payload[0]) return `${this.id}: descriptor opcode 0x${opcode.toString(16)} differs from the SQE opcode 0x${payload[0]!.toString(16)}`;
    const data = payload.byteLength - SQE_BYTES;
    if (data > 0 && !acceptsHostData(opcode)) return `${this.id}: opcode 0x${opcode.toString(16)} takes no data from the host (opcode bits 1:0)`;
    if (data > this.region.layout.dataBytes) return `${this.id}: ${data} data bytes exceed the ${this.region.layout.dataBytes}-byte transfer limit`;
    return null;
  }

  /** AERs placed or waiting (each holds an SQ slot, as the host sees it, until it completes). */
  private aerCount(): number {
    let n = 0;
    for (const o of this.outstanding.values()) if (o.opcode === 0x0c) n++;
    for (let i = this.waitHead; i < this.waiting.length; i++) if (this.waiting[i]!.opcode === 0x0c) n++;
    return n;
  }

  private canIssue(w: Waiting): boolean {
    return !this.host.sqFull() && (w.xfer === 0 || this.bufferOwner === -1);
  }

  /** Host driver: SQE at the tail with a fresh CID and the PRPs of the data buffer; host data copied in. */
  private issue(w: Waiting): void {
    let cid = this.nextCid;
    while (this.outstanding.has(cid)) cid = (cid + 1) & 0xffff;
    this.nextCid = (cid + 1) & 0xffff;
    const sqe = decodeSqe(w.payload);
    sqe.cid = cid;
    sqe.mptr = 0n;
    const { prp1, prp2 } = this.host.prps(w.xfer);
    sqe.prp1 = prp1;
    sqe.prp2 = prp2;
    const L = this.region.layout;
    if (w.xfer > 0) {
      this.bufferOwner = cid;
      const u8 = this.region.u8;
      const data = w.payload.byteLength - SQE_BYTES;
      if (data > 0) u8.set(w.payload.subarray(SQE_BYTES), L.data);
      u8.fill(0, L.data + data, L.data + w.xfer);
    }
    encodeSqe(sqe, this.region.u8, this.host.tailSlot());
    this.host.advanceTail();
    this.outstanding.set(cid, { tag: w.tag, opcode: w.opcode, xfer: w.xfer, cancelled: false });
  }

  /** Moves waiting requests into the SQ, lets the controller run, reaps completions; until nothing moves. */
  private pump(nowNs: number): void {
    for (;;) {
      let issued = false;
      while (this.waitHead < this.waiting.length && this.canIssue(this.waiting[this.waitHead]!)) {
        const w = this.waiting[this.waitHead]!;
        this.waiting[this.waitHead++] = undefined as unknown as Waiting;
        this.issue(w);
        issued = true;
      }
      if (this.waitHead === this.waiting.length && this.waitHead > 0) {
        this.waiting.length = 0;
        this.waitHead = 0;
      }
      if (issued) this.host.ringSq();
      this.controller.service(nowNs);
      if (!this.reap() && !issued) return;
    }
  }

  /** Host driver: consumes new CQEs (phase tag = expected phase), answers their requests, rings CQ0HDBL. */
  private reap(): boolean {
    const h = this.host;
    const u8 = this.region.u8;
    const view = this.region.view;
    const L = this.region.layout;
    let any = false;
    for (let at = h.peekCqe(); at >= 0; at = h.peekCqe()) {
      const cid = view.getUint16(at + 12, true);
      const status = view.getUint16(at + 14, true) >>> 1;
      h.consumeCqe(at);
      any = true;
      const o = this.outstanding.get(cid);
      if (o === undefined) continue;
      this.outstanding.delete(cid);
      if (!o.cancelled) {
        const data = o.xfer > 0 && returnsData(o.opcode) && statusIsSuccess(status) ? u8.subarray(L.data, L.data + o.xfer) : null;
        this.sink.complete(o.tag, this.local, o.opcode, 0, status, 0, 0, u8.subarray(at, at + CQE_BYTES), data);
      }
      if (this.bufferOwner === cid) this.bufferOwner = -1;
    }
    if (any) h.ringCq();
    return any;
  }

  cancel(tag: number, nowNs: number): void {
    for (let i = this.waitHead; i < this.waiting.length; i++) {
      const w = this.waiting[i]!;
      if (w.tag === tag) {
        this.waiting.splice(i, 1);
        this.sink.complete(tag, this.local, w.opcode, CqFlag.CANCELLED, 0, 0, 0, null, null);
        this.pump(nowNs);
        return;
      }
    }
    for (const [cid, o] of this.outstanding) {
      if (o.tag !== tag || o.cancelled) continue;
      o.cancelled = true;
      this.sink.complete(tag, this.local, o.opcode, CqFlag.CANCELLED, 0, 0, 0, null, null);
      this.controller.abort(cid, nowNs);
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

  /** Requests not yet answered: waiting in the FIFO plus in the controller's hands. */
  get pending(): number {
    let n = this.waiting.length - this.waitHead;
    for (const o of this.outstanding.values()) if (!o.cancelled) n++;
    return n;
  }

  /**
   * A Controller Level Reset caused by `kind` (controller reset, conventional reset, NVM subsystem reset):
   * activates pending firmware if that reset suffices, reverts features, re-creates the admin queues. The
   * mux has no request for this yet; only legal with nothing outstanding (parked AERs excepted: dropped).
   */
  resetController(kind: 'controller' | 'conventional' | 'subsystem', nowNs: number): void {
    for (const o of this.outstanding.values()) {
      if (o.opcode !== 0x0c) throw new Error(`${this.id}: cannot reset with commands outstanding`);
    }
    if (this.waiting.length > this.waitHead) throw new Error(`${this.id}: cannot reset with commands waiting`);
    for (const [, o] of this.outstanding) {
      if (!o.cancelled) this.sink.complete(o.tag, this.local, o.opcode, CqFlag.CANCELLED, 0, 0, 0, null, null);
    }
    this.outstanding.clear();
    this.bufferOwner = -1;
    this.controller.reset(kind);
    this.enable();
    this.pump(nowNs);
  }
}
