import { SleepFlag } from './sleep-flag.js';

/**
 * The doorbell of a worker thread that serves several rings (the SQs of its shards): one place to sleep and
 * one place to be woken, however many rings there are. Two Int32 words in the thread's control buffer, each
 * on its own 128-byte line:
 *
 *   SEQ       bumped by the waking side (Atomics.add); the worker sleeps in Atomics.wait(SEQ, seen)
 *   SLEEPING  set by the worker just before it sleeps; cleared by whoever ends the sleep
 *
 * Worker (sleep):  seen = load(SEQ); store(SLEEPING, 1); if any ring has work: store(SLEEPING, 0), return;
 *                  Atomics.wait(SEQ, seen, timeout); store(SLEEPING, 0)
 * Main (ring), after publishing a ring's TAIL:
 *                  if load(SLEEPING) = 1 and exchange(SLEEPING, 0) = 1: add(SEQ, 1); notify(SEQ)
 *
 * No lost wake-up (Dekker, Atomics being sequentially consistent): the worker stores SLEEPING then loads every
 * TAIL; main stores a TAIL then loads SLEEPING, so at least one of them sees the other's store. If main sees
 * SLEEPING it moves SEQ past `seen`, which the worker read before setting SLEEPING, so its wait returns even if
 * the notify came first. The exchange makes the wake-up once per sleep: the other publishes before the worker
 * runs again find SLEEPING clear and cost one load, however many rings or batches they cover.
 */
export class ThreadBell extends SleepFlag {
  constructor(
    words: Int32Array,
    readonly seqIndex: number,
    sleepIndex: number,
  ) {
    super(words, sleepIndex);
  }

  /** Main side, after publishing: wakes the worker if it sleeps (once per sleep). Returns true if it notified. */
  ring(): boolean {
    const w = this.words;
    if (Atomics.load(w, this.sleepIndex) === 0 || Atomics.exchange(w, this.sleepIndex, 0) === 0) return false;
    this.wake();
    return true;
  }

  /** Bumps SEQ and notifies, whether or not the worker sleeps (stop requests). */
  wake(): void {
    this.countNotify();
    Atomics.add(this.words, this.seqIndex, 1);
    Atomics.notify(this.words, this.seqIndex);
  }

  /**
   * Worker side: sleeps until woken, `timeoutMs` passes, or `hasWork()` / `stop()` already hold after the flag
   * is set. Returns whether it actually slept.
   */
  sleep(hasWork: () => boolean, timeoutMs: number, stop?: () => boolean): boolean {
    const w = this.words;
    const seen = Atomics.load(w, this.seqIndex);
    Atomics.store(w, this.sleepIndex, 1);
    let slept = false;
    if (!hasWork() && !(stop !== undefined && stop())) {
      this.sleeps++;
      slept = true;
      Atomics.wait(w, this.seqIndex, seen, timeoutMs);
    }
    Atomics.store(w, this.sleepIndex, 0);
    return slept;
  }

  /** Worker side: a timed wait with the flag clear, so nobody pays for a notify (see WorkerWaiter's naps). */
  nap(ms: number): void {
    const w = this.words;
    Atomics.wait(w, this.seqIndex, Atomics.load(w, this.seqIndex), ms);
  }
}
