import type { ComponentState } from '../cci/cci.js';
import { Via } from '../cci/command-table.js';
import { Rc } from '../cci/return-codes.js';
import type { CompletionSink, DeviceEndpoint } from '../endpoint.js';
import { executeWithFaults, type FaultInjector } from '../faults.js';
import { CqFlag, packStatus, WorkerFailure } from '../../mux/protocol.js';
import type { MailboxRegisters } from './mailbox.js';

const encoder = new TextEncoder();

interface Waiting {
  tag: number;
  opcode: number;
  payload: Uint8Array;
}

/**
 * A CXL component behind its primary mailbox, served inside a shard worker. This class plays both roles of
 * the register handshake: the host driver (one command at a time: a mailbox has one set of payload
 * registers, so further commands wait in FIFO order like Linux's mailbox mutex) and the device (runs the
 * command from its table, at once or after an injected delay).
 */
export class CxlMailboxEndpoint implements DeviceEndpoint {
  private active: { tag: number; opcode: number; dueNs: number } | null = null;
  /** commands waiting while the mailbox is busy; allocated on first need (most devices never queue) */
  private waiting: Waiting[] | null = null;
  private waitHead = 0;
  private lastOut: Uint8Array | null = null;

  constructor(
    readonly id: string,
    readonly local: number,
    readonly regs: MailboxRegisters,
    readonly dev: ComponentState,
    readonly sink: CompletionSink,
    readonly faults: FaultInjector,
  ) {}

  submit(tag: number, opcode: number, _flags: number, payload: Uint8Array, _a0: number, _a1: number, _a2: number, nowNs: number): void {
    this.faults.crashCheck(opcode, this.id);
    if (this.active !== null || (this.waiting !== null && this.waitHead < this.waiting.length)) {
      (this.waiting ??= []).push({ tag, opcode, payload: payload.slice() });
      return;
    }
    this.start(tag, opcode, payload, nowNs);
  }

  private start(tag: number, opcode: number, payload: Uint8Array, nowNs: number): void {
    const refused = this.regs.hostSubmit(opcode, payload.byteLength === 0 ? null : payload);
    if (refused >= 0) {
      this.sink.complete(tag, this.local, opcode, 0, packStatus(refused, 0), 0, 0, null, null);
      return;
    }
    const f = this.faults;
    if (f.active && (f.hangs(opcode) || f.delayNs() > 0)) {
      this.active = { tag, opcode, dueNs: f.hangs(opcode) ? Infinity : nowNs + f.delayNs() };
      return;
    }
    this.service(nowNs);
    this.reap(tag, opcode);
  }

  /** Device side: the doorbell is set; run the command and clear it. */
  private service(nowNs: number): void {
    const regs = this.regs;
    const req = regs.req;
    req.opcode = regs.commandOpcode();
    req.inLen = regs.commandLength();
    req.nowNs = nowNs;
    req.via = Via.MAILBOX;
    const rc = executeWithFaults(this.faults, this.dev, req);
    const bg = this.dev.bg;
    regs.deviceComplete(rc, req.vendorStatus, req.outLen, bg.running);
    this.mirrorBackground();
  }

  private mirrorBackground(): void {
    const bg = this.dev.bg;
    if (bg.opcode !== 0) this.regs.deviceBackground(bg.opcode, bg.percent, bg.rc, bg.vendorStatus, bg.running);
  }

  /** Host side: the doorbell is clear; read status and output, answer the request. */
  private reap(tag: number, opcode: number): void {
    const regs = this.regs;
    const len = regs.commandLength();
    if (len > regs.payload.byteLength) {
      // A Payload Length past the payload registers: the output cannot be read, so nothing of it is delivered.
      this.sink.complete(tag, this.local, opcode, CqFlag.FAILED, 0, WorkerFailure.PROTOCOL, 0, null, encoder.encode(
        `${this.id} answered opcode ${opcode.toString(16).padStart(4, '0')}h with a Payload Length of ${len} bytes, more than its ${regs.payload.byteLength}-byte payload registers hold`));
      return;
    }
    const flags = regs.statusBackground() ? CqFlag.BACKGROUND : 0;
    this.sink.complete(tag, this.local, opcode, flags, packStatus(regs.statusRc(), regs.statusVendor()), 0, 0, null,
      len === 0 ? null : this.outputView(len));
  }

  /** The output registers' first `len` bytes. A device answers the same command with the same length, so the
   *  last view is kept: the worker makes no garbage per command on this path (its GC pauses stall the shard). */
  private outputView(len: number): Uint8Array {
    if (this.lastOut === null || this.lastOut.byteLength !== len) this.lastOut = this.regs.payload.subarray(0, len);
    return this.lastOut;
  }

  private startNext(nowNs: number): void {
    const q = this.waiting;
    while (q !== null && this.active === null && this.waitHead < q.length) {
      const w = q[this.waitHead]!;
      q[this.waitHead++] = undefined as unknown as Waiting;
      if (this.waitHead === q.length) {
        q.length = 0;
        this.waitHead = 0;
      }
      this.start(w.tag, w.opcode, w.payload, nowNs);
    }
  }

  cancel(tag: number, nowNs: number): void {
    if (this.active !== null && this.active.tag === tag) {
      // The host gives up on the command in the registers (as a driver does after its mailbox timeout):
      // the doorbell is withdrawn so the next command can be served.
      const opcode = this.active.opcode;
      this.active = null;
      this.regs.deviceComplete(Rc.ABORTED, 0, 0, this.dev.bg.running);
      this.sink.complete(tag, this.local, opcode, CqFlag.CANCELLED, 0, 0, 0, null, null);
      this.startNext(nowNs);
      return;
    }
    const q = this.waiting;
    if (q === null) return;
    for (let i = this.waitHead; i < q.length; i++) {
      const w = q[i]!;
      if (w.tag === tag) {
        q.splice(i, 1);
        this.sink.complete(tag, this.local, w.opcode, CqFlag.CANCELLED, 0, 0, 0, null, null);
        return;
      }
    }
  }

  poll(nowNs: number): number {
    const a = this.active;
    if (a !== null && a.dueNs <= nowNs) {
      this.active = null;
      this.service(nowNs);
      this.reap(a.tag, a.opcode);
      this.startNext(nowNs);
    }
    const bg = this.dev.bg;
    if (bg.running) {
      bg.update(nowNs);
      this.mirrorBackground();
    }
    return this.deadline();
  }

  deadline(): number {
    return Math.min(this.active === null ? Infinity : this.active.dueNs, this.dev.bg.deadlineNs);
  }
}
