import { type Doorbell, nowNs } from './doorbell.js';
import type { SpinGate } from './spin-gate.js';

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
 *   3. sleep: set SLEEPING, re-check, Atomics.wait until notified or a timer is due.
 */
export class WorkerWaiter {
  constructor(
    private readonly bell: Doorbell,
    private readonly gate: SpinGate | undefined,
    private readonly phases: IdlePhases,
  ) {}

  /** One wait step; returns the current value (changed, or `seen` after a timeout / stop). */
  wait(seen: number, idleSinceNs: number, timeoutMs: number, stop?: () => boolean): number {
    const { words, valueIndex } = this.bell;
    const idle = nowNs() - idleSinceNs;
    const ph = this.phases;
    if (idle < ph.spinNs) {
      const gate = this.gate;
      if (gate === undefined || gate.enter()) {
        // stop spinning when asked to stop, or when the main thread wakes another worker (see SpinGate)
        const quit = gate === undefined ? stop : () => gate.shouldYield() || (stop !== undefined && stop());
        const v = this.bell.spin(seen, idleSinceNs + ph.spinNs, quit);
        gate?.leave();
        if (v !== seen) return v;
      }
    }
    if (idle < ph.spinNs + ph.napNs) {
      if (stop !== undefined && stop()) return seen;
      Atomics.wait(words, valueIndex, seen, Math.min(ph.napChunkMs, timeoutMs));
      return Atomics.load(words, valueIndex);
    }
    return this.bell.sleep(seen, timeoutMs, stop);
  }
}
