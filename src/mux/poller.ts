import type { CompletionBell } from '../doorbell/async-waiter.js';
import { nowNs } from '../doorbell/doorbell.js';
import { MAX_TURN_NS } from './options.js';
import type { ShardScheduler, TurnOwner } from './scheduler.js';
import type { Tally } from './tally.js';
// the module binding, not the global: globalThis.performance is a lazy getter Node runs on every access
import { performance } from 'node:perf_hooks';

/** quick polls only follow a publish to a shard with at most this many requests in flight */
const QUICK_MAX_IN_FLIGHT = 4;

export interface PollSettings {
  /** keep looking for completions every event-loop turn for this long after the last one, then sleep (ns) */
  pollNs: number;
  /** most time per event-loop turn spent waiting in a tight loop for an answer that is due (ns) */
  mainSpinNs: number;
}

/**
 * The one owner of the main thread's event-loop turn: it alone decides when what the schedulers wrote is
 * published, when completion rings are drained, when the main thread spins for an answer and when it sleeps.
 * Every scheduling flag and clock of the main thread lives here:
 *
 *   write ──► wrote(): the first request to an idle shard is published at once, the rest are marked dirty
 *   flush (one microtask per burst): pump shards that asked for it, publish every dirty SQ (one store each)
 *   poll (setImmediate, every turn while requests are in flight): drain every CQ, then flush what the
 *       completions' callers wrote; after pollUs without a completion, arm one Atomics.waitAsync on SEQ
 *   quick poll (a microtask after a publish to a lightly loaded, awake shard): spin on the CQs for at most
 *       mainSpinUs per turn, never in a turn already MAX_TURN_NS long
 *   keep-alive: a ref'd timer while requests are outstanding (Atomics.waitAsync does not keep Node alive)
 */
export class CompletionPoller implements TurnOwner {
  /** when the current event-loop turn's poll began (ns) */
  turnStartNs = 0;
  /** time spent in quick polls since the turn began */
  private turnSpinNs = 0;
  /** when a completion last arrived (or polling began) */
  private lastActivityNs = 0;
  private flushScheduled = false;
  private pollScheduled = false;
  private quickScheduled = false;
  private waiter: Promise<unknown> | null = null;
  private kept = false;
  /** the burst clock (nowMs): valid until this burst's flush microtask runs */
  private clockMs = 0;
  private clockFresh = false;
  /** per shard: written to since the last publish / asked to pump at the next flush */
  private readonly dirty: Uint8Array;
  private readonly needsPump: Uint8Array;
  quickPolls = 0;
  quickHits = 0;
  private readonly keepAlive: NodeJS.Timeout;

  constructor(
    private readonly shards: readonly ShardScheduler[],
    private readonly bell: CompletionBell,
    private readonly s: PollSettings,
    private readonly tally: Tally,
    /** after completions were taken (the deadline queues drop what settled) */
    private readonly onCompletions: () => void,
  ) {
    this.dirty = new Uint8Array(shards.length);
    this.needsPump = new Uint8Array(shards.length);
    this.keepAlive = setInterval(() => {}, 1 << 30);
    this.keepAlive.unref();
  }

  // ------------------------------------------------------------------ what schedulers tell the turn owner

  wrote(sched: ShardScheduler, toIdleShard: boolean): void {
    const i = sched.index;
    if (this.dirty[i] === 0 && toIdleShard) {
      // The first request to an idle shard goes out now: a spinning worker starts on it while the caller's
      // burst (if any) is still being written; the rest of the burst is published once, at the microtask.
      sched.link.publish();
      this.ensurePolling();
      this.scheduleQuickPoll(sched);
    } else {
      this.dirty[i] = 1;
      this.scheduleFlush();
    }
  }

  pumpSoon(sched: ShardScheduler): void {
    if (this.needsPump[sched.index] === 0) {
      this.needsPump[sched.index] = 1;
      this.scheduleFlush();
    }
  }

  nowMs(): number {
    if (!this.clockFresh) {
      this.clockMs = performance.now();
      this.clockFresh = true;
      this.scheduleFlush(); // which ends the burst: the next one reads the clock again
    }
    return this.clockMs;
  }

  hold(): void {
    if (!this.kept) {
      this.kept = true;
      this.keepAlive.ref();
    }
  }

  /** Publishes every dirty SQ (one Atomics.store each) and makes sure someone watches for completions. */
  flush(): void {
    for (const sched of this.shards) {
      const i = sched.index;
      if (this.needsPump[i] !== 0) {
        this.needsPump[i] = 0;
        sched.pump();
      }
      if (this.dirty[i] === 0) continue;
      this.dirty[i] = 0;
      sched.link.publish();
      this.scheduleQuickPoll(sched);
    }
    if (this.tally.inFlight > 0) this.ensurePolling();
  }

  /** A shard's worker is ready again (started or restarted): move what waits for it. */
  shardReady(sched: ShardScheduler): void {
    sched.pump();
    this.flush();
  }

  // ------------------------------------------------------------------ the turn

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushTask);
    }
  }

  private readonly flushTask = (): void => {
    this.flushScheduled = false;
    this.clockFresh = false;
    this.flush();
  };

  private scheduleQuickPoll(sched: ShardScheduler): void {
    // only for a lightly loaded shard: under load an answer is either already there or behind a batch, and the
    // spin would only take time from the requests being processed
    if (this.s.mainSpinNs > 0 && !this.quickScheduled && sched.inFlightShortLived <= QUICK_MAX_IN_FLIGHT && !sched.link.thread.bell.peerSleeping()) {
      this.quickScheduled = true;
      queueMicrotask(this.quickPoll);
    }
  }

  private ensurePolling(): void {
    if (this.bell.sleeping()) this.bell.setSleeping(false);
    if (!this.pollScheduled) {
      this.lastActivityNs = nowNs();
      this.pollScheduled = true;
      setImmediate(this.pollTask);
    }
  }

  /** Drains every serving shard's CQ and refills the shards that freed slots; returns the completions taken. */
  private drainAll(): number {
    let got = 0;
    for (const sched of this.shards) {
      if (!sched.link.ready) continue;
      const n = sched.drain();
      if (n > 0) {
        got += n;
        sched.pump();
      }
    }
    return got;
  }

  /**
   * A request went to an idle shard whose worker is awake: its answer is ~1 µs away, while waiting for the
   * next event-loop turn costs ~3 µs. So, once the caller's synchronous code is done (a microtask), watch
   * the completion rings in a tight loop, at most mainSpinUs per event-loop turn in all: the main thread is
   * never held longer than that, and a turn whose budget is spent falls back to pollTask.
   */
  private readonly quickPoll = (): void => {
    this.quickScheduled = false;
    const budget = this.s.mainSpinNs - this.turnSpinNs;
    if (budget <= 0 || this.tally.inFlight === 0 || this.tally.closed) return;
    const t0 = nowNs();
    if (t0 - this.turnStartNs > MAX_TURN_NS) return;
    this.quickPolls++;
    const until = t0 + budget;
    let got = 0;
    let now = t0;
    // the clock is read once per 16 looks: a look is a few loads, a clock read ~50 ns and a heap number
    for (let i = 1; ; i++) {
      got = this.drainAll();
      if (got > 0 || (i & 15) === 0) {
        now = nowNs();
        if (got > 0 || now >= until) break;
      }
    }
    this.turnSpinNs += now - t0;
    if (got > 0) {
      this.quickHits++;
      this.lastActivityNs = now;
      this.flush();
    }
  };

  private readonly pollTask = (): void => {
    this.pollScheduled = false;
    this.turnSpinNs = 0;
    this.turnStartNs = nowNs();
    const got = this.drainAll();
    if (got > 0) {
      this.onCompletions();
      this.flush();
    }
    const now = nowNs();
    if (got > 0) this.lastActivityNs = now;
    if (this.tally.inFlight === 0) {
      this.becameIdle();
      return;
    }
    if (now - this.lastActivityNs < this.s.pollNs) {
      if (!this.pollScheduled) {
        this.pollScheduled = true;
        setImmediate(this.pollTask);
      }
    } else {
      this.armBell();
    }
  };

  private anyCompletion(): boolean {
    for (const sched of this.shards) if (sched.link.ready && sched.link.cq.available() > 0) return true;
    return false;
  }

  /** Nothing arrived for pollUs: sleep in Atomics.waitAsync until a worker rings (see CompletionBell). */
  private armBell(): void {
    const seq = this.bell.seq();
    this.bell.setSleeping(true);
    if (this.anyCompletion()) {
      this.ensurePolling();
      return;
    }
    if (this.waiter !== null) return; // the pending waitAsync is still armed on an unchanged SEQ
    const w = this.bell.waitAsync(seq);
    if (w === null) {
      this.ensurePolling();
      return;
    }
    this.waiter = w.then(() => {
      this.waiter = null;
      if (this.tally.closed) return;
      if (this.bell.sleeping()) this.ensurePolling();
    });
  }

  private becameIdle(): void {
    this.onCompletions();
    if (this.tally.queued === 0 && this.kept) {
      this.kept = false;
      this.keepAlive.unref();
    }
    this.tally.checkDrained();
  }

  /** close(): no timer or waiter is left behind. */
  stop(): void {
    this.bell.wake();
    clearInterval(this.keepAlive);
  }
}
