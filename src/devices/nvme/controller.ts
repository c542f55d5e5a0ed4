import type { DeviceDescriptor } from '../../fleet/types.js';
import type { FaultInjector } from '../faults.js';
import { nvmeAdminCommandSet, type AdminContext, type NvmeCommandSet } from './commands.js';
import type { FeatureValues } from './features.js';
import type { FirmwareState } from './firmware.js';
import type { NamespaceFormats, SanitizeState } from './format-sanitize.js';
import { ADMIN_PARKED, AER_LIMIT, AerType, ERROR_ENTRY_BYTES, ERROR_LOG_ENTRIES, MIN_NN } from './constants.js';
import { NVME_PAGE_BYTES } from './layout.js';
import { ControllerQueues, type NvmeRegion } from './queues.js';
import { emptySqe, type Sqe } from './sqe.js';
import { St, STATUS_MORE, statusIsSuccess } from './status.js';
import type { VendorState } from './vendor.js';

/** One command the controller fetched but has not completed (injected delay or hang). */
interface Executing {
  sqe: Sqe;
  dueNs: number;
}

interface Held {
  dw0: number;
  dw1: number;
  cid: number;
  status: number;
}

/** Controller scratch for command data, shared by every controller of the thread (commands run one at a time). */
let scratch = new Uint8Array(2 * NVME_PAGE_BYTES);
function scratchFor(bytes: number): Uint8Array {
  if (scratch.byteLength < bytes) scratch = new Uint8Array(Math.max(bytes, scratch.byteLength * 2));
  return scratch;
}

/** The context handlers see; one per thread, since a thread runs one command at a time. */
const ctx: AdminContext = {
  sqe: emptySqe(), nowNs: 0, buf: scratch, view: new DataView(scratch.buffer), outLen: 0, dw0: 0, dw1: 0, errLoc: 0xffff,
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

/**
 * One NVMe controller (NVMe Base 2.0): its admin queues in shared memory, its command table, and its state.
 * Admin commands are fetched and executed one at a time in submission order (as many controllers process
 * the admin queue); a fetched command may wait for an injected delay or hang, and later commands stay in
 * the SQ meanwhile. Asynchronous Event Requests are the exception: they are parked until an event occurs
 * and do not hold up the queue.
 *
 * State is kept small for fleets of thousands: everything beyond the identity is allocated on first use
 * (feature values, firmware staging, namespace formats, sanitize status, error log).
 */
export class NvmeController {
  readonly q: ControllerQueues;
  readonly commands: NvmeCommandSet;
  readonly id: string;
  readonly serial: bigint;
  /** 32-bit seed for deterministic per-device values */
  readonly seed: number;
  readonly namespaces: number;
  /** Identify NN: highest valid NSID; NSIDs above `namespaces` are valid but inactive */
  readonly nn: number;
  /** bytes of each namespace (deterministic from the serial) */
  readonly nsBytes: number;
  /** Identify MDTS: 2^mdts pages (0 = the field's "no limit", used only for a single-page buffer) */
  readonly mdts: number;
  /** largest transfer the controller accepts */
  readonly maxTransfer: number;

  // lazily created state (see the files that own each)
  feat: FeatureValues | null = null;
  fw: FirmwareState | null = null;
  formats: NamespaceFormats | null = null;
  san: SanitizeState | null = null;
  vendor: VendorState | null = null;
  private errLog: Uint8Array | null = null;
  /** lifetime error count (Error Information entries and SMART "Number of Error Information Log Entries") */
  errorCount = 0;

  // asynchronous events
  private aerCids: number[] = [];
  private aerEvents: number[] = [];
  /** event types reported and not yet cleared by reading their log page with RAE = 0 */
  private aerMasked = 0;

  // execution
  private current: Executing | null = null;
  private readonly held: Held[] = [];
  private readonly aborts: number[] = [];
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
   * Controller work up to `nowNs`: background operations, a delayed command that is due, completions held
   * for room in the CQ, then new commands from the SQ until one must wait or the queue is empty.
   */
  service(nowNs: number): void {
    this.tick(nowNs);
    if (!this.flushHeld()) return;
    const c = this.current;
    if (c !== null) {
      if (c.dueNs > nowNs) return;
      this.current = null;
      this.run(c.sqe, nowNs);
      if (!this.flushHeld()) return;
    }
    const q = this.q;
    const f = this.faults;
    while (q.hasCommand() && !q.cqFull()) {
      const sqe = q.fetch();
      const ai = this.aborts.indexOf(sqe.cid);
      if (ai >= 0) {
        this.aborts.splice(ai, 1);
        this.complete(sqe, 0, 0, St.ABORT_REQUESTED);
        continue;
      }
      if (f.active && (f.hangs(sqe.opcode) || f.delayNs() > 0)) {
        this.current = { sqe, dueNs: f.hangs(sqe.opcode) ? Infinity : nowNs + f.delayNs() };
        return;
      }
      this.run(sqe, nowNs);
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
    let d = this.current === null ? Infinity : this.current.dueNs;
    if (this.san?.running) d = Math.min(d, this.san.endNs);
    if (this.vendor?.running) d = Math.min(d, this.vendor.endNs);
    return d;
  }

  /** Executes one fetched command (or its injected busy/error answer) and posts its completion. */
  private run(sqe: Sqe, nowNs: number): void {
    const x = ctx;
    x.sqe = sqe;
    x.nowNs = nowNs;
    x.outLen = 0;
    x.dw0 = 0;
    x.dw1 = 0;
    x.errLoc = 0xffff;
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
    this.complete(sqe, x.dw0, x.dw1, st, x.errLoc);
  }

  /** Dispatch: opcode from the table, common field checks, the sanitize gate, then the handler. */
  private execute(x: AdminContext): number {
    const sqe = x.sqe;
    const cmd = this.commands.get(sqe.opcode);
    if (cmd === undefined) {
      x.errLoc = 0;
      return St.INVALID_OPCODE;
    }
    if (sqe.fuse !== 0 || sqe.psdt !== 0) {
      x.errLoc = 1; // byte 1: FUSE / PSDT
      return St.INVALID_FIELD;
    }
    this.tick(x.nowNs);
    if (this.san?.running && !cmd.duringSanitize(sqe)) return St.SANITIZE_IN_PROGRESS;
    return cmd.handler(this, x);
  }

  /**
   * Posts a completion now, or holds it until the host frees a CQ slot. A failed command gets an Error
   * Information entry and, to say so, M (status bit 13, "more information in the Error Information log",
   * NVMe Base 2.0 4.2.3) in its CQE, as Linux's NVMe target does.
   */
  private complete(sqe: Sqe, dw0: number, dw1: number, status: number, errLoc = 0xffff): void {
    if (!statusIsSuccess(status)) {
      this.logError(sqe, status & ~STATUS_MORE, errLoc);
      status |= STATUS_MORE;
    }
    if (this.held.length === 0 && !this.q.cqFull()) this.q.post(dw0, dw1, sqe.cid, status);
    else this.held.push({ dw0, dw1, cid: sqe.cid, status });
  }

  private flushHeld(): boolean {
    while (this.held.length > 0) {
      if (this.q.cqFull()) return false;
      const h = this.held.shift()!;
      this.q.post(h.dw0, h.dw1, h.cid, h.status);
    }
    return true;
  }

  /**
   * Aborts command `cid` as an Abort command would: the command being executed, a parked AER, or one still
   * in the SQ (completed with Command Abort Requested when fetched). Returns false if the controller does
   * not hold it (already completed).
   */
  abort(cid: number, nowNs: number): boolean {
    const c = this.current;
    if (c !== null && c.sqe.cid === cid) {
      this.current = null;
      this.complete(c.sqe, 0, 0, St.ABORT_REQUESTED);
      this.service(nowNs);
      return true;
    }
    const ai = this.aerCids.indexOf(cid);
    if (ai >= 0) {
      this.aerCids.splice(ai, 1);
      const sqe = emptySqe();
      sqe.cid = cid;
      sqe.opcode = 0x0c;
      this.complete(sqe, 0, 0, St.ABORT_REQUESTED);
      return true;
    }
    const n = this.q.sqPending();
    for (let i = 0; i < n; i++) {
      if (this.q.peekCid(i) === cid) {
        this.aborts.push(cid);
        return true;
      }
    }
    return false;
  }

  /** True while a fetched command waits for its injected delay (or hangs). */
  get busy(): boolean {
    return this.current !== null;
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
    for (let i = 0; i < this.aerEvents.length && this.aerCids.length > 0;) {
      const ev = this.aerEvents[i]!;
      const bit = 1 << (ev & 7);
      if ((this.aerMasked & bit) !== 0) {
        i++;
        continue;
      }
      this.aerEvents.splice(i, 1);
      this.aerMasked |= bit;
      const sqe = emptySqe();
      sqe.cid = this.aerCids.shift()!;
      sqe.opcode = 0x0c;
      this.complete(sqe, ev, 0, St.SUCCESS);
    }
  }

  /** Outstanding (parked) Asynchronous Event Requests. */
  get parkedEvents(): number {
    return this.aerCids.length;
  }

  // ---------------------------------------------------------------------------------------- error log

  /** Records an Error Information entry (LID 01h, NVMe Base 2.0 5.16.1.2), newest first. */
  private logError(sqe: Sqe, status: number, errLoc: number): void {
    this.errorCount++;
    const log = (this.errLog ??= new Uint8Array(ERROR_LOG_ENTRIES * ERROR_ENTRY_BYTES));
    log.copyWithin(ERROR_ENTRY_BYTES, 0, (ERROR_LOG_ENTRIES - 1) * ERROR_ENTRY_BYTES);
    log.fill(0, 0, ERROR_ENTRY_BYTES);
    const v = new DataView(log.buffer, 0, ERROR_ENTRY_BYTES);
    v.setBigUint64(0, BigInt(this.errorCount), true);
    v.setUint16(8, 0, true); // SQID: admin
    v.setUint16(10, sqe.cid, true);
    v.setUint16(12, ((status & 0x7fff) << 1) | this.q.phase, true); // status field with the phase at posting
    v.setUint16(14, errLoc, true);
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
   * a pending firmware activation happens only if it asked for that kind of reset or less. Queues are
   * deleted and re-created by the host; parked AERs and held completions are dropped; features return to
   * their saved or default values. The caller (the host side) must have nothing outstanding.
   */
  reset(kind: 'controller' | 'conventional' | 'subsystem'): void {
    this.q.disable();
    this.current = null;
    this.held.length = 0;
    this.aborts.length = 0;
    this.aerCids.length = 0;
    this.aerEvents.length = 0;
    this.aerMasked = 0;
    this.fw?.onReset(kind);
    this.feat?.onReset();
  }
}
