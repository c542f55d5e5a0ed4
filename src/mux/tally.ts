import { CancelledError } from '../errors.js';

/**
 * The mux-wide request counts every part updates (admission, the shard schedulers, the supervisor), the
 * exactly-once witnesses, and the promises waiting for the mux to drain (whenDrained, close).
 */
export class Tally {
  /** requests in a worker's ring (or cancelled there and not answered yet) */
  inFlight = 0;
  /** live requests waiting in a session queue or parked */
  queued = 0;
  completed = 0;
  failed = 0;
  /** completions whose ring tag held no request (a duplicated or stray completion record) */
  strayCompletions = 0;
  /** requests settled a second time (the promise ignores it) */
  settledTwice = 0;
  /**
   * send() promises settled so far: their callers continue in microtasks, which the poller lets run before it
   * looks for more completions
   */
  promised = 0;
  /** close() began: no new requests or sessions, and a shard task that returns is not restarted */
  closing = false;
  /** close() finished: the workers are gone */
  closed = false;
  private drainedWaiters: (() => void)[] = [];

  get idle(): boolean {
    return this.inFlight === 0 && this.queued === 0;
  }

  /** Wakes whenDrained() callers once nothing is queued or in flight. */
  checkDrained(): void {
    if (this.idle && this.drainedWaiters.length > 0) {
      const w = this.drainedWaiters;
      this.drainedWaiters = [];
      for (const f of w) f();
    }
  }

  whenDrained(signal?: AbortSignal): Promise<void> {
    if (this.idle) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(new CancelledError('EMBX_ABORTED', 'whenDrained() was aborted'));
    return new Promise((resolve, reject) => {
      const done = (): void => {
        signal?.removeEventListener('abort', abort);
        resolve();
      };
      const abort = (): void => {
        const i = this.drainedWaiters.indexOf(done);
        if (i >= 0) this.drainedWaiters.splice(i, 1);
        reject(new CancelledError('EMBX_ABORTED', 'whenDrained() was aborted'));
      };
      signal?.addEventListener('abort', abort, { once: true });
      this.drainedWaiters.push(done);
    });
  }
}
