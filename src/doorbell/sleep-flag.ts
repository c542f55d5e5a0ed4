/**
 * What every doorbell has, whatever word it waits on: the peer's SLEEPING flag (Int32 `sleepIndex` of `words`),
 * the counts `mux.stats()` reports, and the optional shared word every notify bumps (SpinGate WAKES, which
 * tells a spinning worker to hand its core over).
 */
export class SleepFlag {
  /** notifies sent (the peer was asleep, or a stopper woke it) */
  notifies = 0;
  /** sleeps taken by this side */
  sleeps = 0;
  /** a word counting every notify this side sends (SpinGate WAKES), or none */
  wakeCounter: { words: Int32Array; index: number } | null = null;

  constructor(
    readonly words: Int32Array,
    readonly sleepIndex: number,
  ) {}

  /** Ringer side: true while the waiting side says it sleeps (a ring would have to notify it). */
  peerSleeping(): boolean {
    return Atomics.load(this.words, this.sleepIndex) !== 0;
  }

  /** Counts one notify about to be sent (here and in the shared WAKES word). */
  protected countNotify(): void {
    this.notifies++;
    if (this.wakeCounter !== null) Atomics.add(this.wakeCounter.words, this.wakeCounter.index, 1);
  }
}
