/**
 * The time source of a load run. runLoad reads the time and sets every timer through one of these, so a test
 * can drive a run in virtual time (exact counts and latencies, no wall-clock thresholds) while a real run
 * uses the real clock.
 */
export interface LoadClock {
  /** milliseconds, monotonic */
  now(): number;
  /** runs `fn` once, `ms` from now */
  setTimer(fn: () => void, ms: number): LoadTimer;
  clearTimer(t: LoadTimer): void;
  /**
   * Runs `fn` at time `at` (ms, as now() counts) or soon after. The caller re-checks the time when it runs;
   * the real clock may call it early.
   */
  wakeAt(fn: () => void, at: number): void;
}

/** An opaque timer handle of a LoadClock. */
export type LoadTimer = object;

/** Node timers and performance.now(). */
export const realClock: LoadClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
  wakeAt(fn, at) {
    // timers are ~1 ms coarse: sleep on one only when the time is comfortably far away, else come back in the
    // next event-loop turn
    const wait = at - performance.now();
    if (wait > 3) setTimeout(fn, Math.min(wait - 2, 50));
    else setImmediate(fn);
  },
};
