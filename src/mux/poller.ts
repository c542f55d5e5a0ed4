import type { CompletionBell } from '../doorbell/async-waiter.js';
import { nowNs } from '../doorbell/doorbell.js';
import { MAX_TURN_NS } from './options.js';
import type { ShardScheduler, TurnOwner } from './scheduler.js';
import type { Tally } from './tally.js';
// the module binding, not the global: globalThis.performance is a lazy getter Node runs on every access
import { performance } from 'node:perf_hooks';

/**
 * A burst's writes are published as soon as this many wait in one SQ, not only at the burst's end: the worker
 * starts on the first ones while the caller is still writing the rest (one Atomics.store per chunk).
 */
const PUBLISH_CHUNK = 16;
/**
 * the clock is read once per this many looks at the CQs while spinning: a look is a few loads (~10-20 ns), a
 * clock read ~50 ns and a heap number, which at one per 16 looks made most of the main thread's garbage at
 * light load
 */
const LOOKS_PER_CLOCK = 128;
/**
 * Microtasks are queued as reactions to this settled promise: ~100 bytes each, where queueMicrotask() makes an
 * AsyncResource and a bound function (~270 bytes). The same queue and order (a reaction runs after the ones
 * queued before it); the tasks never throw.
 */
const SETTLED = Promise.resolve();

export interface PollSettings {
  /** keep looking for completions every event-loop turn for this long after the last one, then sleep (ns) */
  pollNs: number;
  /** most time per event-loop turn spent waiting in a tight loop for an answer that is due (ns) */
  mainSpinNs: number;
}

/**
 * The one owner of the main thread's event-loop turn: it alone decides when what the schedulers wrote is
 * published, when completion rings are drained, when the main thread spins for an answer and when it sleeps.
 * Every scheduling flag and clock of the main thread lives here.
 *
 *   write ──► wrote(): the first request to an idle shard is published at once, then every PUBLISH_CHUNK
 *             writes; the rest of a burst at its end (the flush microtask: one store per SQ, pumps)
 *   turn  ──► poll (setImmediate while requests are in flight) runs steps until the turn is MAX_TURN_NS old:
 *   step  ──► publish, drain every CQ (callbacks write the next requests), publish again, and again while
 *             completions keep coming. When send() promises were settled, the next step is a microtask, so
 *             their callers' code runs between steps, in the same turn. When nothing came but a reply is due
 *             (requests in flight on an awake worker), spin on the CQs: at most mainSpinUs per turn.
 *   idle  ──► nothing for pollUs: arm one Atomics.waitAsync on SEQ (the workers ring it only then)
 *   keep-alive: a ref'd timer while requests are outstanding (Atomics.waitAsync does not keep Node alive)
 *
 * So under load the caller's code, the mux and the workers overlap: a worker takes the first requests of a
 * burst while the rest are written, the main thread takes the first answers of a batch while the worker still
 * runs the rest, and no wake-up is needed while either side keeps looking.
 */
export class CompletionPoller implements TurnOwner {
  /** when the current event-loop turn began (ns) */
  turnStartNs = 0;
  /** time spent spinning since the turn began */
  private turnSpinNs = 0;
  /** when a completion last arrived (or polling began) */
  private lastActivityNs = 0;
  private flushScheduled = false;
  private pollScheduled = false;
  private stepScheduled = false;
  private inStep = false;
  private waiter: Promise<unknown> | null = null;
  private kept = false;
  /** the burst clock (nowMs): valid until this burst's flush microtask runs */
  private clockMs = 0;
  private clockFresh = false;
  /** per shard: written to since the last publish / asked to pump at the next flush */
  private readonly dirty: Uint8Array;
  private readonly needsPump: Uint8Array;
  /** spins begun, and how many of them got an answer */
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

  wrote(sched: ShardScheduler, now: boolean): void {
    const i = sched.index;
    if (now) {
      // The first request to an idle shard goes out now (a spinning worker starts on it while the caller's
      // burst, if any, is still being written), and so does a light session's: it does not wait for the rest of
      // the turn's work. Otherwise every PUBLISH_CHUNK writes, the rest at the burst's end (the microtask).
      sched.link.publish();
      this.dirty[i] = 0;
      this.ensurePolling();
      this.scheduleStep();
    } else if (sched.link.sq.unpublished >= PUBLISH_CHUNK) {
      sched.link.publish();
      this.dirty[i] = 0;
      this.ensurePolling();
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
      void SETTLED.then(this.flushTask);
    }
  }

  private readonly flushTask = (): void => {
    this.flushScheduled = false;
    this.clockFresh = false;
    this.flush();
  };

  /** A step soon (a microtask): after a publish to an idle shard, its answer may be a microsecond away. */
  private scheduleStep(): void {
    if (!this.stepScheduled && !this.inStep && this.s.mainSpinNs > 0) {
      this.stepScheduled = true;
      void SETTLED.then(this.stepTask);
    }
  }

  private readonly stepTask = (): void => {
    this.stepScheduled = false;
    if (!this.tally.closed) this.step();
  };

  private ensurePolling(): void {
    if (this.bell.sleeping()) this.bell.setSleeping(false);
    if (!this.pollScheduled) {
      this.lastActivityNs = nowNs();
      this.pollScheduled = true;
      setImmediate(this.pollTask);
    }
  }

  private readonly pollTask = (): void => {
    this.pollScheduled = false;
    this.turnSpinNs = 0;
    this.turnStartNs = nowNs();
    if (!this.stepScheduled) this.step();
  };

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
   * Publish, drain, publish ... while completions keep coming and the turn is young; when none came but one
   * is due, spin for it within the turn's budget. Ends by yielding to promise callers (a microtask step), to
   * the event loop (the next turn's poll), or to sleep (waitAsync).
   */
  private step(): void {
    const tally = this.tally;
    this.inStep = true;
    let got = 0;
    let now = nowNs();
    for (;;) {
      this.flush();
      const promised = tally.promised;
      let n = this.drainAll();
      if (n === 0 && tally.inFlight > 0 && this.replyDue()) n = this.spin(now);
      if (n === 0) break;
      got += n;
      now = nowNs();
      this.lastActivityNs = now;
      if (tally.promised !== promised) {
        // send() callers continue in microtasks queued by their promises: let them run (and write) first
        this.flush();
        this.onCompletions();
        this.inStep = false;
        if (now - this.turnStartNs < MAX_TURN_NS) {
          this.stepScheduled = true;
          void SETTLED.then(this.stepTask);
        } else {
          this.ensurePolling();
        }
        return;
      }
      if (now - this.turnStartNs >= MAX_TURN_NS) break;
    }
    this.flush();
    if (got > 0) this.onCompletions();
    this.inStep = false;
    if (tally.inFlight === 0) {
      this.becameIdle();
      return;
    }
    if (this.pollScheduled) return;
    if (now - this.lastActivityNs < this.s.pollNs) {
      this.pollScheduled = true;
      setImmediate(this.pollTask);
    } else {
      this.armBell();
    }
  }

  /** An answer is due soon: a request in flight (not long-lived) on a shard whose worker thread is awake. */
  private replyDue(): boolean {
    for (const sched of this.shards) {
      if (sched.inFlightShortLived > 0 && sched.link.ready && !sched.link.thread.bell.peerSleeping()) return true;
    }
    return false;
  }

  /**
   * Waits in a tight loop (Atomics.load only) for a completion, within what is left of this turn's mainSpinUs
   * and never in a turn already MAX_TURN_NS long: a spinning worker answers in ~1 µs, one more turn costs more.
   * Returns the completions taken.
   */
  private spin(t0: number): number {
    const budget = this.s.mainSpinNs - this.turnSpinNs;
    if (budget <= 0 || t0 - this.turnStartNs > MAX_TURN_NS) return 0;
    this.quickPolls++;
    const until = t0 + budget;
    let got = 0;
    let now = t0;
    for (let i = 1; ; i++) {
      got = this.drainAll();
      if (got > 0 || i % LOOKS_PER_CLOCK === 0) {
        now = nowNs();
        if (got > 0 || now >= until) break;
      }
    }
    this.turnSpinNs += now - t0;
    if (got > 0) this.quickHits++;
    return got;
  }

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
