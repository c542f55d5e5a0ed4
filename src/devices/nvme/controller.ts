import type { DeviceDescriptor } from '../../fleet/types.js';
import type { FaultInjector } from '../faults.js';
import { nvmeAdminCommandSet, type NvmeCommandSet } from './commands.js';
import {
  ABORT_LIMIT, ABORT_WAIT_NS, ADMIN_PARKED, AER_LIMIT, AerType, ERROR_ENTRY_BYTES, ERROR_LOG_ENTRIES, MIN_NN,
} from './constants.js';
import {
  IoCounters, type AdminContext, type ControllerState, type FeatureValues, type FirmwareState, type NamespaceFormats,
  type SanitizeState, type VendorState,
} from './controller-state.js';
import { NVME_PAGE_BYTES } from './layout.js';
import { ControllerQueues, type ControllerSq, type NvmeRegion } from './queues.js';
import { emptySqe, type Sqe } from './sqe.js';
import { St, STATUS_MORE, statusIsSuccess } from './status.js';

/** Controller scratch for command data, shared by every controller of the thread (commands run one at a time). */
let scratch = new Uint8Array(2 * NVME_PAGE_BYTES);
function scratchFor(bytes: number): Uint8Array {
  if (scratch.byteLength < bytes) scratch = new Uint8Array(Math.max(bytes, scratch.byteLength * 2));
  return scratch;
}
/** Separate metadata (MPTR) of one command: at most maxTransfer / 64 bytes. */
let metaScratch = new Uint8Array(512);

/** The context handlers see; one per thread, since a thread runs one command at a time. */
const ctx: AdminContext = {
  sqe: emptySqe(), sq: null as unknown as ControllerSq, nowNs: 0, buf: scratch, view: new DataView(scratch.buffer), outLen: 0,
  dw0: 0, dw1: 0, errLoc: 0xffff, errLba: 0,
};

/** FNV-1a over the serial's 8 bytes: a well-mixed 32-bit seed for per-device values. */
function serialHash(serial: bigint): number {
  let h = 0x811c9dc5;
  for (let i = 0n; i < 64n; i += 8n) {
    h ^= Number((serial >> i) & 0xffn);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** An Abort (08h) whose command was not found yet: it waits ABORT_WAIT_NS for that command to be submitted. */
interface ParkedAbort {
  /** the Abort's own CID (on the admin SQ) */
  cid: number;
  sqid: number;
  target: number;
  dueNs: number;
}

/**
 * One NVMe controller (NVMe Base 2.0): its queues in shared memory, its command tables, and its state.
 *
 * Each SQ is served in submission order: a fetched command runs at once, unless an injected delay or hang
 * holds it (it is then the SQ's `executing` command, and the commands behind it in that SQ wait; other SQs
 * go on). The admin SQ is served first, then the I/O SQs round robin. Asynchronous Event Requests, and Abort
 * commands whose target is not found yet, are parked: they complete later and do not hold up the queue.
 *
 * State is kept small for fleets of thousands: everything beyond the identity is allocated on first use
 * (feature values, firmware staging, namespace formats and blocks, sanitize status, error log).
 */
export class NvmeController implements ControllerState {
  readonly q: ControllerQueues;
  readonly commands: NvmeCommandSet;
  readonly id: string;
  // the fields of ControllerState (documented there)
  readonly serial: bigint;
  readonly seed: number;
  readonly namespaces: number;
  readonly nn: number;
  readonly nsBytes: number;
  readonly mdts: number;
  readonly maxTransfer: number;

  // lazily created state (records in controller-state.ts, created by the handler files that use them)
  feat: FeatureValues | null = null;
  fw: FirmwareState | null = null;
  formats: NamespaceFormats | null = null;
  san: SanitizeState | null = null;
  vendor: VendorState | null = null;
  private errLog: Uint8Array | null = null;
  /** lifetime error count (Error Information entries and SMART "Number of Error Information Log Entries") */
  errorCount = 0;
  /** Sanitize Status GDE: no user data written since manufacture or the last successful sanitize */
  gde = true;
  readonly io = new IoCounters();

  // asynchronous events
  private aerCids: number[] = [];
  private aerEvents: number[] = [];
  /** event types reported and not yet cleared by reading their log page with RAE = 0 */
  private aerMasked = 0;

  private readonly parkedAborts: ParkedAbort[] = [];
  /** commands executed (including error completions) */
  executed = 0;

  constructor(d: DeviceDescriptor, readonly region: NvmeRegion, readonly faults: FaultInjector) {
    this.q = new ControllerQueues(region);
    this.commands = nvmeAdminCommandSet(d.vendorCommands);
    this.id = d.id;
    this.serial = d.serial;
    this.seed = serialHash(d.serial);
    this.namespaces = d.nvme?.namespaces ?? 1;
    this.nn = Math.max(MIN_NN, this.namespaces);
    this.nsBytes = 16 * 2 ** 30 * (1 + (this.seed % 4));
    const pages = Math.max(1, Math.floor(region.layout.dataBytes / NVME_PAGE_BYTES));
    this.mdts = Math.floor(Math.log2(pages));
    this.maxTransfer = NVME_PAGE_BYTES * 2 ** this.mdts;
    this.q.powerOn();
  }

  // ------------------------------------------------------------------------------------ command plumbing

  /** Output buffer for a controller-to-host transfer: zeroed, `len` bytes, recorded as the transfer. */
  out(x: AdminContext, len: number): DataView {
    const buf = scratchFor(len);
    if (buf !== x.buf) {
      x.buf = buf;
      x.view = new DataView(buf.buffer);
    }
    buf.fill(0, 0, len);
    x.outLen = len;
    return x.view;
  }

  /** DMA of `len` host-to-controller bytes described by the command's PRPs into the scratch. */
  dataIn(x: AdminContext, len: number): Uint8Array | number {
    if (len > this.maxTransfer) return St.INVALID_FIELD;
    const buf = scratchFor(len);
    const u8 = this.region.u8;
    const st = this.q.dma(x.sqe.prp1, x.sqe.prp2, len, (host, at, n) => buf.set(u8.subarray(host, host + n), at));
    return st === St.SUCCESS ? buf.subarray(0, len) : st;
  }

  private dataOut(x: AdminContext): number {
    const u8 = this.region.u8;
    const buf = x.buf;
    return this.q.dma(x.sqe.prp1, x.sqe.prp2, x.outLen, (host, at, n) => u8.set(buf.subarray(at, at + n), host));
  }

  /** MPTR of a command with separate metadata: a dword-aligned contiguous buffer in host memory, or a status. */
  private mptr(x: AdminContext, len: number): number {
    const m = x.sqe.mptr;
    if ((m & 3n) !== 0n) {
      x.errLoc = 16;
      return -St.INVALID_FIELD;
    }
    return this.region.inHost(m, len) ? Number(m) : -St.DATA_TRANSFER_ERROR;
  }

  /** Host-to-controller separate metadata (`len` bytes at MPTR), or a status. */
  metaIn(x: AdminContext, len: number): Uint8Array | number {
    const at = this.mptr(x, len);
    if (at < 0) return -at;
    if (metaScratch.byteLength < len) metaScratch = new Uint8Array(len);
    metaScratch.set(this.region.u8.subarray(at, at + len));
    return metaScratch.subarray(0, len);
  }

  /** Controller-to-host separate metadata to MPTR; a status. */
  metaOut(x: AdminContext, bytes: Uint8Array): number {
    const at = this.mptr(x, bytes.byteLength);
    if (at < 0) return -at;
    this.region.u8.set(bytes, at);
    return St.SUCCESS;
  }

  effectsLog(): Uint8Array {
    return this.commands.effectsLog();
  }

  /** True when `nsid` names an active namespace. */
  nsActive(nsid: number): boolean {
    return nsid >= 1 && nsid <= this.namespaces;
  }

  /** True when `nsid` is a valid NSID (active or not). */
  nsValid(nsid: number): boolean {
    return nsid >= 1 && nsid <= this.nn;
  }

  // ------------------------------------------------------------------------------------------ execution

  /**
   * Controller work up to `nowNs`: background operations, Aborts whose wait ended, completions held for room
   * in their CQ, then each SQ (admin first, then the I/O SQs round robin): a delayed command that is due, then
   * new commands until one must wait, its CQ is full, or the SQ is empty.
   */
  service(nowNs: number): void {
    this.tick(nowNs);
    this.expireAborts(nowNs);
    const q = this.q;
    if (!q.enabled) return;
    q.admin.cq.flush();
    for (const cq of q.ioCqs) cq.flush();
    this.serviceSq(q.admin, nowNs);
    const io = q.ioSqs;
    // by index: an SQ deleted meanwhile (by an admin command above) is no longer in the list
    for (let i = 0; i < io.length; i++) this.serviceSq(io[i]!, nowNs);
  }

  private serviceSq(sq: ControllerSq, nowNs: number): void {
    const cq = sq.cq;
    if (cq.held.length > 0) return;
    const c = sq.executing;
    if (c !== null) {
      if (c.dueNs > nowNs) return;
      sq.executing = null;
      this.run(sq, c.sqe, nowNs);
    }
    const f = this.faults;
    while (sq.executing === null && this.q.sqs[sq.qid] === sq && cq.held.length === 0 && sq.hasCommand() && !cq.full()) {
      const sqe = sq.fetch();
      if (this.abortedOnFetch(sq, sqe)) continue;
      const op = sq.qid === 0 ? sqe.opcode : 0x100 | sqe.opcode;
      if (f.active && (f.hangs(op) || f.delayNs() > 0)) {
        sq.executing = { sqe, dueNs: f.hangs(op) ? Infinity : nowNs + f.delayNs() };
        return;
      }
      this.run(sq, sqe, nowNs);
    }
  }

  /** Completes background operations that ended by `nowNs` (sanitize, vendor purge). */
  tick(nowNs: number): void {
    const s = this.san;
    if (s !== null && s.running && nowNs >= s.endNs) {
      s.finish(this);
      this.raiseEvent(AerType.IO_COMMAND_SET, 0x01, 0x81); // Sanitize Operation Completed
    }
    const v = this.vendor;
    if (v !== null && v.running && nowNs >= v.endNs) v.finish(this);
  }

  /** Next time (ns) this controller has timed work, or Infinity. */
  deadline(): number {
    let d = Infinity;
    const q = this.q;
    if (q.enabled) {
      if (q.admin.executing !== null) d = q.admin.executing.dueNs;
      for (const sq of q.ioSqs) if (sq.executing !== null) d = Math.min(d, sq.executing.dueNs);
    }
    for (const a of this.parkedAborts) d = Math.min(d, a.dueNs);
    if (this.san?.running) d = Math.min(d, this.san.endNs);
    if (this.vendor?.running) d = Math.min(d, this.vendor.endNs);
    return d;
  }

  /** Executes one fetched command (or its injected busy/error answer) and posts its completion. */
  private run(sq: ControllerSq, sqe: Sqe, nowNs: number): void {
    const x = ctx;
    x.sqe = sqe;
    x.sq = sq;
    x.nowNs = nowNs;
    x.outLen = 0;
    x.dw0 = 0;
    x.dw1 = 0;
    x.errLoc = 0xffff;
    x.errLba = 0;
    this.executed++;
    let st: number;
    const f = this.faults;
    if (f.active && f.busy()) {
      st = St.COMMAND_INTERRUPTED;
    } else {
      const forced = f.active ? f.error() : -1;
      if (forced !== -1) {
        st = typeof forced === 'number' && Number.isInteger(forced) && forced >= 0 ? forced & 0x7fff : St.INTERNAL_ERROR;
      } else {
        st = this.execute(x);
        if (st === ADMIN_PARKED) return;
        if (statusIsSuccess(st) && x.outLen > 0) {
          const dma = this.dataOut(x);
          if (dma !== St.SUCCESS) st = dma;
        }
      }
    }
    this.complete(sq, sqe, x.dw0, x.dw1, st, x.errLoc, x.errLba);
  }

  /** Dispatch: opcode from the SQ's table (admin or I/O), common field checks, the sanitize gate, the handler. */
  private execute(x: AdminContext): number {
    const sqe = x.sqe;
    const cmd = x.sq.qid === 0 ? this.commands.get(sqe.opcode) : this.commands.getIo(sqe.opcode);
    if (cmd === undefined) {
      x.errLoc = 0;
      return St.INVALID_OPCODE;
    }
    if (sqe.fuse !== 0 || sqe.psdt !== 0) {
      x.errLoc = 1; // byte 1: FUSE / PSDT (no fused operations, no SGLs)
      return St.INVALID_FIELD;
    }
    this.tick(x.nowNs);
    if (this.san?.running && !cmd.duringSanitize(sqe)) return St.SANITIZE_IN_PROGRESS;
    return cmd.handler(this, x);
  }

  /**
   * Posts a completion on the SQ's CQ now, or holds it until the host frees a slot. A failed command gets an
   * Error Information entry and, to say so, M (status bit 13, "more information in the Error Information
   * log", NVMe Base 2.0 4.2.3) in its CQE, as Linux's NVMe target does.
   */
  complete(sq: ControllerSq, sqe: Sqe, dw0: number, dw1: number, status: number, errLoc = 0xffff, lba = 0): void {
    if (!statusIsSuccess(status)) {
      this.logError(sq, sqe, status & ~STATUS_MORE, errLoc, lba);
      status |= STATUS_MORE;
    }
    sq.cq.complete(sq, dw0, dw1, sqe.cid, status);
  }

  // --------------------------------------------------------------------------------------------- abort

  /**
   * Aborts command `cid` of SQ `sq` if the controller holds it: the command an SQ is executing (injected
   * delay or hang), a parked admin command (AER, waiting Abort), both completed with Command Abort Requested
   * now ('aborted'); or one still queued in the SQ, completed so when fetched ('marked'). 'absent': already
   * completed, or not submitted yet.
   */
  abortTarget(sq: ControllerSq, cid: number): 'aborted' | 'marked' | 'absent' {
    const c = sq.executing;
    if (c !== null && c.sqe.cid === cid) {
      sq.executing = null;
      this.complete(sq, c.sqe, 0, 0, St.ABORT_REQUESTED);
      return 'aborted';
    }
    if (sq.qid === 0) {
      const ai = this.aerCids.indexOf(cid);
      if (ai >= 0) {
        this.aerCids.splice(ai, 1);
        this.complete(sq, parkedSqe(cid, 0x0c), 0, 0, St.ABORT_REQUESTED);
        return 'aborted';
      }
      const pi = this.parkedAborts.findIndex((a) => a.cid === cid);
      if (pi >= 0) {
        this.parkedAborts.splice(pi, 1);
        this.complete(sq, parkedSqe(cid, 0x08), 0, 0, St.ABORT_REQUESTED);
        return 'aborted';
      }
    }
    const n = sq.pending();
    for (let i = 0; i < n; i++) {
      if (sq.peekCid(i) === cid) {
        sq.aborts.push(cid);
        return 'marked';
      }
    }
    return 'absent';
  }

  /**
   * The host driver's cancel of command (`sqid`, `cid`), as an Abort command would do it (one piece of code
   * serves both). Returns false if the controller does not hold it.
   */
  abort(sqid: number, cid: number, nowNs: number): boolean {
    const sq = this.q.enabled ? this.q.sqs[sqid] : undefined;
    if (sq === undefined) return false;
    const r = this.abortTarget(sq, cid);
    if (r === 'aborted') this.service(nowNs);
    return r !== 'absent';
  }

  /**
   * 08h Abort (NVMe Base 2.0 5.1). CDW10: SQID 15:0, CID 31:16. CQE DW0 bit 0: 0 = the command was aborted,
   * 1 = not. A command the controller holds is aborted at once; one not found may still be on its way (the
   * host can place it before ringing the doorbell), so the Abort waits ABORT_WAIT_NS for it, then completes
   * "not aborted". At most ABORT_LIMIT Aborts may be outstanding at once (Identify ACL, 0's based): the next
   * gets Abort Command Limit Exceeded. An SQID with no queue is Invalid Field (as QEMU answers).
   */
  abortCommand(x: AdminContext): number {
    if (this.parkedAborts.length >= ABORT_LIMIT) return St.ABORT_COMMAND_LIMIT_EXCEEDED;
    const sqid = x.sqe.cdw10 & 0xffff;
    const target = x.sqe.cdw10 >>> 16;
    const sq = this.q.sqs[sqid];
    if (sq === undefined) {
      x.errLoc = 40;
      return St.INVALID_FIELD;
    }
    if (this.abortTarget(sq, target) !== 'absent') {
      x.dw0 = 0;
      return St.SUCCESS;
    }
    this.parkedAborts.push({ cid: x.sqe.cid, sqid, target, dueNs: x.nowNs + ABORT_WAIT_NS });
    return ADMIN_PARKED;
  }

  /** On fetch: a command an Abort marked, or one a waiting Abort names, completes Command Abort Requested. */
  private abortedOnFetch(sq: ControllerSq, sqe: Sqe): boolean {
    const mi = sq.aborts.indexOf(sqe.cid);
    if (mi >= 0) {
      sq.aborts.splice(mi, 1);
      this.complete(sq, sqe, 0, 0, St.ABORT_REQUESTED);
      return true;
    }
    if (this.parkedAborts.length === 0) return false;
    const pi = this.parkedAborts.findIndex((a) => a.sqid === sq.qid && a.target === sqe.cid);
    if (pi < 0) return false;
    const a = this.parkedAborts.splice(pi, 1)[0]!;
    this.complete(sq, sqe, 0, 0, St.ABORT_REQUESTED);
    this.complete(this.q.admin, parkedSqe(a.cid, 0x08), 0, 0, St.SUCCESS); // DW0 0: aborted
    return true;
  }

  /** Waiting Aborts whose time is up complete "not aborted" (DW0 bit 0 = 1). */
  private expireAborts(nowNs: number): void {
    for (let i = 0; i < this.parkedAborts.length;) {
      const a = this.parkedAborts[i]!;
      if (a.dueNs > nowNs || !this.q.enabled) {
        i++;
        continue;
      }
      this.parkedAborts.splice(i, 1);
      this.complete(this.q.admin, parkedSqe(a.cid, 0x08), 1, 0, St.SUCCESS);
    }
  }

  /** Waiting Aborts that name SQ `sqid` give up (the SQ is being deleted): "not aborted". */
  releaseAborts(sqid: number): void {
    for (let i = 0; i < this.parkedAborts.length;) {
      const a = this.parkedAborts[i]!;
      if (a.sqid !== sqid) {
        i++;
        continue;
      }
      this.parkedAborts.splice(i, 1);
      this.complete(this.q.admin, parkedSqe(a.cid, 0x08), 1, 0, St.SUCCESS);
    }
  }

  /** True while a fetched admin command waits for its injected delay (or hangs). */
  get busy(): boolean {
    return this.q.enabled && this.q.admin.executing !== null;
  }

  /** Abort commands waiting for their target. */
  get parkedAbortCount(): number {
    return this.parkedAborts.length;
  }

  // ------------------------------------------------------------------------------- asynchronous events

  /** 0Ch: parks the request, or completes it at once with an event already waiting. */
  asyncEventRequest(x: AdminContext): number {
    if (this.aerCids.length >= AER_LIMIT) return St.AER_LIMIT_EXCEEDED;
    this.aerCids.push(x.sqe.cid);
    this.deliverEvents();
    return ADMIN_PARKED;
  }

  /** Queues an event (type, info, log page) for the next unmasked Asynchronous Event Request. */
  raiseEvent(type: number, info: number, lid: number): void {
    this.aerEvents.push((type & 7) | ((info & 0xff) << 8) | ((lid & 0xff) << 16));
    this.deliverEvents();
  }

  /** Reading a log page with RAE = 0 unmasks the event type that names it. */
  logRead(lid: number, rae: boolean): void {
    if (rae) return;
    const type = lid === 0x01 ? AerType.ERROR : lid === 0x02 ? AerType.SMART : lid === 0x03 ? AerType.NOTICE
      : lid === 0x81 ? AerType.IO_COMMAND_SET : -1;
    if (type >= 0) {
      this.aerMasked &= ~(1 << type);
      this.deliverEvents();
    }
  }

  private deliverEvents(): void {
    if (!this.q.enabled) return;
    for (let i = 0; i < this.aerEvents.length && this.aerCids.length > 0;) {
      const ev = this.aerEvents[i]!;
      const bit = 1 << (ev & 7);
      if ((this.aerMasked & bit) !== 0) {
        i++;
        continue;
      }
      this.aerEvents.splice(i, 1);
      this.aerMasked |= bit;
      this.complete(this.q.admin, parkedSqe(this.aerCids.shift()!, 0x0c), ev, 0, St.SUCCESS);
    }
  }

  /** Outstanding (parked) Asynchronous Event Requests. */
  get parkedEvents(): number {
    return this.aerCids.length;
  }

  // ---------------------------------------------------------------------------------------- error log

  /** Records an Error Information entry (LID 01h, NVMe Base 2.0 5.16.1.2), newest first. */
  private logError(sq: ControllerSq, sqe: Sqe, status: number, errLoc: number, lba: number): void {
    this.errorCount++;
    const log = (this.errLog ??= new Uint8Array(ERROR_LOG_ENTRIES * ERROR_ENTRY_BYTES));
    log.copyWithin(ERROR_ENTRY_BYTES, 0, (ERROR_LOG_ENTRIES - 1) * ERROR_ENTRY_BYTES);
    log.fill(0, 0, ERROR_ENTRY_BYTES);
    const v = new DataView(log.buffer, 0, ERROR_ENTRY_BYTES);
    v.setBigUint64(0, BigInt(this.errorCount), true);
    v.setUint16(8, sq.qid, true);
    v.setUint16(10, sqe.cid, true);
    v.setUint16(12, ((status & 0x7fff) << 1) | sq.cq.phase, true); // status field with the phase at posting
    v.setUint16(14, errLoc, true);
    v.setBigUint64(16, BigInt(lba), true); // LBA: the first block the error concerns (I/O commands)
    v.setUint32(24, sqe.nsid, true);
  }

  /** The Error Information entries (ERROR_LOG_ENTRIES x 64 bytes); all zero until an error occurs. */
  errorLog(): Uint8Array | null {
    return this.errLog;
  }

  // -------------------------------------------------------------------------------------------- resets

  /**
   * A Controller Level Reset (CC.EN 1 -> 0 -> 1). `kind` says which reset caused it: 'controller' (a plain
   * controller reset or FLR), 'conventional' (PCIe conventional reset), 'subsystem' (NVM Subsystem Reset);
   * a pending firmware activation happens only if it asked for that kind of reset or less. Every queue is
   * deleted (the host re-creates the admin pair at once and its I/O queues if it wants them); parked AERs and
   * Aborts and held completions are dropped; features return to their saved or default values. The caller
   * (the host side) must have nothing outstanding.
   */
  reset(kind: 'controller' | 'conventional' | 'subsystem'): void {
    this.q.disable();
    this.parkedAborts.length = 0;
    this.aerCids.length = 0;
    this.aerEvents.length = 0;
    this.aerMasked = 0;
    this.fw?.onReset(kind);
    this.feat?.onReset();
  }
}

/** The SQE of a parked admin command when it completes: only its CID and opcode matter. */
function parkedSqe(cid: number, opcode: number): Sqe {
  const sqe = emptySqe();
  sqe.cid = cid;
  sqe.opcode = opcode;
  return sqe;
}
