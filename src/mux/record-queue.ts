/** What a queue needs of a pooled record: its generation, and whether it holds a live request. */
export interface Reusable {
  readonly gen: number;
  readonly active: boolean;
}

/**
 * A FIFO of request records that knows which of its entries still hold their request. Records are pooled: once
 * a request settles, its record may carry another request, while entries for it are still in queues that drop
 * settled requests lazily (a session's queue, a parked queue, a deadline queue, the cancels). So each entry keeps
 * the record's generation from when it was pushed, and an entry counts only while the record has that generation
 * and is still active (QUEUED or IN_FLIGHT; or CANCELLED, for `state` checks of the cancel queue).
 *
 *   recs:  [ .  A  B  C  .  . ]      head -> A, count 3; gens[i] = recs[i].gen at push
 *   gens:  [ .  7  2  9  .  . ]      A.gen still 7: A's entry is live; A.gen now 8: A was reused, entry stale
 *
 * Power-of-two circular arrays: O(1) push/shift, grown by doubling, never shrunk.
 */
export class RecordQueue<T extends Reusable> {
  private recs: (T | undefined)[];
  private gens: Int32Array;
  private head = 0;
  private count = 0;

  constructor(capacity = 16) {
    let c = 1;
    while (c < capacity) c *= 2;
    this.recs = new Array<T | undefined>(c);
    this.gens = new Int32Array(c);
  }

  /** Entries, live or stale. */
  get length(): number {
    return this.count;
  }

  push(r: T): void {
    if (this.count === this.recs.length) this.grow();
    const i = (this.head + this.count) & (this.recs.length - 1);
    this.recs[i] = r;
    this.gens[i] = r.gen;
    this.count++;
  }

  /** The oldest entry's record if that entry still holds its request (same generation), else undefined. */
  peek(): T | undefined {
    if (this.count === 0) return undefined;
    const r = this.recs[this.head]!;
    return r.gen === this.gens[this.head] ? r : undefined;
  }

  /** The oldest entry whose request is still active, dropping the entries before it; undefined if none. */
  peekActive(): T | undefined {
    while (this.count > 0) {
      const r = this.peek();
      if (r !== undefined && r.active) return r;
      this.shift();
    }
    return undefined;
  }

  /** Drops the oldest entry. */
  shift(): void {
    if (this.count === 0) return;
    this.recs[this.head] = undefined;
    this.head = (this.head + 1) & (this.recs.length - 1);
    this.count--;
  }

  /** The records of the entries that still hold an active request, oldest first, as they are now. */
  active(): T[] {
    const out: T[] = [];
    const mask = this.recs.length - 1;
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & mask;
      const r = this.recs[i]!;
      if (r.gen === this.gens[i] && r.active) out.push(r);
    }
    return out;
  }

  clear(): void {
    while (this.count > 0) this.shift();
  }

  private grow(): void {
    const n = this.recs.length * 2;
    const recs = new Array<T | undefined>(n);
    const gens = new Int32Array(n);
    const mask = this.recs.length - 1;
    for (let k = 0; k < this.count; k++) {
      const i = (this.head + k) & mask;
      recs[k] = this.recs[i];
      gens[k] = this.gens[i]!;
    }
    this.recs = recs;
    this.gens = gens;
    this.head = 0;
  }
}
