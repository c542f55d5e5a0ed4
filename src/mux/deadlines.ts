import { RecordQueue } from './record-queue.js';
import type { RequestRecord } from './request.js';
// the module binding, not the global: globalThis.performance is a lazy getter Node runs on every access
import { performance } from 'node:perf_hooks';

/** empty per-timeout FIFOs kept for reuse while there are at most this many distinct timeouts */
const KEEP_EMPTY = 8;

/**
 * Request timeouts without a timer per request. Requests with the same timeout value expire in submission
 * order, so each distinct value gets a FIFO; settled heads are pruned on every poll, and one timer is armed
 * for the earliest live head.
 */
export class Deadlines {
  private readonly queues = new Map<number, RecordQueue<RequestRecord>>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  /** most requests use the same timeout: skip the map lookup for a repeat */
  private lastKey = NaN;
  private lastQueue: RecordQueue<RequestRecord> | undefined = undefined;

  constructor(private readonly onExpire: (p: RequestRecord) => void) {}

  /** `nowMs` is performance.now(), read once per batch of sends by the caller. */
  add(p: RequestRecord, timeoutMs: number, nowMs: number): void {
    p.deadline = nowMs + timeoutMs;
    let q = timeoutMs === this.lastKey ? this.lastQueue : this.queues.get(timeoutMs);
    if (q === undefined) {
      q = new RecordQueue<RequestRecord>();
      this.queues.set(timeoutMs, q);
    }
    this.lastKey = timeoutMs;
    this.lastQueue = q;
    q.push(p);
    if (p.deadline < this.timerAt) this.arm(p.deadline);
  }

  /**
   * Drops settled requests from the queue heads (cheap: completions mostly arrive in order). The timer is
   * left armed even when nothing is left: re-arming it per request would cost a setTimeout + clearTimeout
   * (~1 µs) on every round trip; a timer that fires with nothing to expire does no harm. It is unref'd, so
   * it never keeps the process alive by itself.
   */
  prune(): void {
    this.queues.forEach(this.pruneQueue);
  }

  private readonly pruneQueue = (q: RecordQueue<RequestRecord>, k: number): void => {
    q.peekActive();
    this.dropIfSpare(q, k);
  };

  /**
   * An empty queue is kept for the next request with the same timeout (one round trip after another would
   * otherwise build and drop a FIFO and a map entry each time); only many distinct timeouts are dropped.
   */
  private dropIfSpare(q: RecordQueue<RequestRecord>, k: number): void {
    if (q.length === 0 && this.queues.size > KEEP_EMPTY) this.dropQueue(k);
  }

  private arm(at: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.max(0, Math.ceil(at - performance.now())));
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const [k, q] of this.queues) {
      for (;;) {
        const p = q.peekActive();
        if (p === undefined) break;
        if (p.deadline > now) {
          if (p.deadline < next) next = p.deadline;
          break;
        }
        q.shift();
        this.onExpire(p);
      }
      this.dropIfSpare(q, k);
    }
    if (next !== Infinity) this.arm(next);
  };

  private dropQueue(k: number): void {
    this.queues.delete(k);
    if (k === this.lastKey) {
      this.lastKey = NaN;
      this.lastQueue = undefined;
    }
  }

  clear(): void {
    this.lastKey = NaN;
    this.lastQueue = undefined;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
    this.queues.clear();
  }
}
