import { Rc } from './return-codes.js';

/**
 * The one background operation a CCI may run at a time (CXL r3.1 8.2.8.4.7 Background Command Status).
 * Progress is a function of elapsed time, evaluated lazily, so a shard worker needs no timer per device:
 * it only asks for `deadlineNs` to update the mailbox registers when the operation ends.
 */
export class BackgroundOp {
  opcode = 0;
  rc = Rc.SUCCESS as number;
  vendorStatus = 0;
  running = false;
  /** percent complete (0..100) of the current or last operation */
  percent = 0;
  private startNs = 0;
  private durationNs = 0;
  private finish: (() => number) | null = null;

  /** Starts `opcode`; `finish` runs once at 100% and returns the final return code. */
  start(opcode: number, nowNs: number, durationNs: number, finish: () => number): void {
    this.opcode = opcode;
    this.rc = Rc.SUCCESS;
    this.vendorStatus = 0;
    this.running = true;
    this.percent = 0;
    this.startNs = nowNs;
    this.durationNs = Math.max(1, durationNs);
    this.finish = finish;
  }

  /** When the running operation completes (ns), or Infinity. */
  get deadlineNs(): number {
    return this.running ? this.startNs + this.durationNs : Infinity;
  }

  /** Advances progress to `nowNs`; returns true if the operation finished in this call. */
  update(nowNs: number): boolean {
    if (!this.running) return false;
    const elapsed = nowNs - this.startNs;
    if (elapsed < this.durationNs) {
      this.percent = Math.min(99, Math.floor((elapsed * 100) / this.durationNs));
      return false;
    }
    this.running = false;
    this.percent = 100;
    const f = this.finish;
    this.finish = null;
    this.rc = f ? f() : Rc.SUCCESS;
    return true;
  }

  /** Request Abort (CXL r3.1 8.2.9.1.5): stops the operation; its return code becomes Aborted. */
  abort(): void {
    if (!this.running) return;
    this.running = false;
    this.finish = null;
    this.rc = Rc.ABORTED;
  }
}
