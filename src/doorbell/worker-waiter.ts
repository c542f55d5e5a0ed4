import { nowNs } from './doorbell.js';
import type { SpinGate } from './spin-gate.js';
import type { ThreadBell } from './thread-bell.js';

export interface IdlePhases {
  /** spin this long after the last work, if the SpinGate lets this worker spin (ns) */
  spinNs: number;
  /** then nap in short timed waits, WITHOUT the sleeping flag, until this long after the last work (ns) */
  napNs: number;
  /** length of one nap (ms) */
  napChunkMs: number;
}

/**
 * How a worker waits for work, by how long it has been idle:
 *   1. spin (bounded, and only if the SpinGate grants a place): wake-up cost ~0.2 µs;
 *   2. nap: Atomics.wait with a short timeout and the SLEEPING flag clear, so producers never pay for a
 *      notify while traffic is merely bursty (a notify to a sleeping thread measured ~3 µs p50 and ~44 µs
 *      mean under load on this 2-vCPU VM: it costs the main thread more than the requests it carries);
 *   3. sleep: set SLEEPING, re-check, Atomics.wait until notified or a timer is due (ThreadBell).
 * `hasWork()` says whether any ring the thread serves has published work (a few Atomics.load).
 */
export class WorkerWaiter {
  /** the idle period (its start, ns) in which this worker gave its core away: no more spinning until new work */
  private yieldedIn = -1;
  /**
   * Spinning that keeps ending in a yield (requests alternate between workers) only delays the worker being
   * woken: after a yield, skip spinning for the next `backoff` idle periods (doubling up to 16), and go back
   * to spinning at once when a spin catches work.
   */
  private backoff = 0;
  private skipUntilPeriods = 0;
  private lastPeriod = -1;
  private skipThis = false;

  constructor(
    private readonly bell: ThreadBell,
    private readonly gate: SpinGate | undefined,
    private readonly phases: IdlePhases,
  ) {}

  /** One wait step; returns true if work arrived (false after a timeout, a nap or `stop()`: look again). */
  wait(hasWork: () => boolean, idleSinceNs: number, timeoutMs: number, stop?: () => boolean): boolean {
    const idle = nowNs() - idleSinceNs;
    const ph = this.phases;
    if (idleSinceNs !== this.lastPeriod) {
      this.lastPeriod = idleSinceNs;
      this.skipThis = this.skipUntilPeriods > 0;
      if (this.skipThis) this.skipUntilPeriods--;
    }
    let spun = false;
    if (idle < ph.spinNs && this.yieldedIn !== idleSinceNs && !this.skipThis) {
      const gate = this.gate;
      if (gate === undefined || gate.enter()) {
        // stop spinning when asked to stop, or when the main thread wakes another worker (see SpinGate)
        const quit = gate === undefined ? stop : () => gate.shouldYield() || (stop !== undefined && stop());
        const got = spinFor(hasWork, idleSinceNs + ph.spinNs, quit);
        const yielded = gate !== undefined && gate.shouldYield();
        gate?.leave();
        if (got) {
          this.backoff = 0;
          return true;
        }
        if (yielded) {
          this.yieldedIn = idleSinceNs; // stay off the core until this worker gets work again
          this.backoff = Math.min(16, Math.max(1, this.backoff * 2));
          this.skipUntilPeriods = this.backoff;
        } else {
          spun = true;
        }
      }
    }
    // Nap only after a whole spin window: a worker the gate refused (or that yielded) must sleep with its
    // flag set, or the main thread would never notify it and it would answer a timer tick late.
    const idleNow = spun ? nowNs() - idleSinceNs : idle;
    if (ph.napNs > 0 && idleNow < ph.spinNs + ph.napNs && (spun || idleNow >= ph.spinNs)) {
      if (stop !== undefined && stop()) return false;
      this.bell.nap(Math.min(ph.napChunkMs, timeoutMs));
      return hasWork();
    }
    this.bell.sleep(hasWork, timeoutMs, stop);
    return hasWork();
  }
}

/**
 * Spins until `hasWork()`, the clock passes `untilNs`, or `quit()` holds. `quit()` (a few loads) is asked once
 * per 256 checks, the clock once per 2048: a check is a few ns, and a clock read costs ~50 ns and a heap number
 * (read every 256 checks, the clock made most of an idle worker's garbage, and its collections the helper
 * threads that compete with the busy threads for the cores). The spin overshoots by at most ~20 µs.
 */
function spinFor(hasWork: () => boolean, untilNs: number, quit?: () => boolean): boolean {
  for (let i = 1; ; i++) {
    if (hasWork()) return true;
    if ((i & 255) === 0 && ((quit !== undefined && quit()) || ((i & 2047) === 0 && nowNs() >= untilNs))) return false;
  }
}
