import type { SpinGate } from './spin-gate.js';
import { SleepFlag } from './sleep-flag.js';
// the module binding, not the global: globalThis.performance is a lazy getter Node runs on every access
import { performance } from 'node:perf_hooks';

/**
 * A doorbell over two Int32 words in shared memory: a published VALUE (a counter that only the ringing side
 * advances, e.g. a ring's TAIL) and a SLEEPING flag owned by the waiting side.
 *
 * Suppression protocol (Dekker-style, relies on Atomics being sequentially consistent):
 *   waiter:  store SLEEPING=1; re-load VALUE; if unchanged, Atomics.wait(VALUE, seen); store SLEEPING=0
 *   ringer:  Atomics.store VALUE (publish); if load(SLEEPING) !== 0 then Atomics.notify(VALUE)
 * Either the waiter's re-load sees the new VALUE, or the ringer's load sees SLEEPING=1 and notifies:
 * no wake-up is lost, and a ringer whose peer is awake pays one load instead of a ~40 ns notify syscall path.
 */
export class Doorbell extends SleepFlag {
  constructor(
    words: Int32Array,
    readonly valueIndex: number,
    sleepIndex: number,
  ) {
    super(words, sleepIndex);
  }

  /** Ringer side, after the value was published. */
  ring(): void {
    if (this.peerSleeping()) {
      this.countNotify();
      Atomics.notify(this.words, this.valueIndex);
    }
  }

  /**
   * Waiter side, on a thread that may block (a worker): spin up to `spinNs` watching VALUE (if `gate` lets
   * it), then sleep on it. Returns the new VALUE, or `seen` if `timeoutMs` passed or `stop()` returned true
   * (a stopper notifies VALUE).
   */
  waitSync(seen: number, spinNs: number, timeoutMs: number, stop?: () => boolean, gate?: SpinGate): number {
    if (spinNs > 0 && (gate === undefined || gate.enter())) {
      const v = this.spin(seen, nowNs() + spinNs, stop);
      gate?.leave();
      if (v !== seen) return v;
    }
    return this.sleep(seen, timeoutMs, stop);
  }

  /**
   * Spins until VALUE leaves `seen`, the clock passes `untilNs`, or `stop()` holds. The clock is read once per
   * 256 loads: a load is ~10 ns, a clock read ~30-70 ns.
   */
  spin(seen: number, untilNs: number, stop?: () => boolean): number {
    const w = this.words;
    const vi = this.valueIndex;
    for (let i = 1; ; i++) {
      const v = Atomics.load(w, vi);
      if (v !== seen) return v;
      if ((i & 255) === 0 && (nowNs() >= untilNs || (stop !== undefined && stop()))) return v;
    }
  }

  /** Sets SLEEPING, re-checks VALUE, then Atomics.wait until notified, `timeoutMs`, or `stop()`. */
  sleep(seen: number, timeoutMs: number, stop?: () => boolean): number {
    const w = this.words;
    const vi = this.valueIndex;
    Atomics.store(w, this.sleepIndex, 1);
    let v = Atomics.load(w, vi);
    if (v === seen && !(stop !== undefined && stop())) {
      this.sleeps++;
      Atomics.wait(w, vi, seen, timeoutMs);
      v = Atomics.load(w, vi);
    }
    Atomics.store(w, this.sleepIndex, 0);
    return v;
  }
}

/** Monotonic nanoseconds as a double. performance.now() allocates nothing (process.hrtime() returns an array). */
export function nowNs(): number {
  return performance.now() * 1e6;
}
