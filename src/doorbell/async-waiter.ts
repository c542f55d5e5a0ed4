/**
 * The main thread's side of completion doorbells. The main thread must never block, so instead of
 * Atomics.wait it keeps at most ONE Atomics.waitAsync on a mux-wide sequence word, armed only when it has
 * polled for a while and found nothing.
 *
 * Words (in the mux control buffer, each on its own 128-byte line):
 *   SEQ        bumped (Atomics.add) by any worker that finds SLEEPING set after publishing completions
 *   SLEEPING   set by the main thread before it waits, cleared when it polls again
 *
 * Arming order: read SEQ, set SLEEPING, re-check every completion ring, then waitAsync(SEQ, seenSeq). A worker
 * that publishes after the re-check sees SLEEPING and bumps SEQ, so the wait returns at once: no lost wake-up.
 */
export class CompletionBell {
  constructor(
    readonly words: Int32Array,
    readonly seqIndex: number,
    readonly sleepIndex: number,
  ) {}

  /** Worker side: call after publishing completions. */
  ring(): boolean {
    if (Atomics.load(this.words, this.sleepIndex) !== 0) {
      Atomics.add(this.words, this.seqIndex, 1);
      Atomics.notify(this.words, this.seqIndex);
      return true;
    }
    return false;
  }

  seq(): number {
    return Atomics.load(this.words, this.seqIndex);
  }

  setSleeping(on: boolean): void {
    Atomics.store(this.words, this.sleepIndex, on ? 1 : 0);
  }

  sleeping(): boolean {
    return Atomics.load(this.words, this.sleepIndex) !== 0;
  }

  /** A promise that settles when SEQ moves away from `seen`, or null if it already has. */
  waitAsync(seen: number): Promise<unknown> | null {
    const r = Atomics.waitAsync(this.words, this.seqIndex, seen);
    return r.async ? r.value : null;
  }

  /** Main side: wake our own waiter (close(), tests). */
  wake(): void {
    Atomics.add(this.words, this.seqIndex, 1);
    Atomics.notify(this.words, this.seqIndex);
  }
}
