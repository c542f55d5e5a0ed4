import type { PaceLike } from './segment.js';

/**
 * When request k of the open loop is due (ms after the start). With rampUp, the warm-up ramps the rate
 * linearly from 10% to 100% (a cold system is not flooded before its code is compiled and its caches are
 * warm); from the end of warm-up on, one request every 1000/rate ms.
 */
export class Pace implements PaceLike {
  private readonly r0: number;
  private readonly a: number;
  /** requests due during the warm-up ramp */
  private readonly nRamp: number;

  constructor(readonly rate: number, readonly warmupMs: number, rampUp: boolean) {
    const R = rate / 1000; // per ms
    this.r0 = rampUp && warmupMs > 0 ? R / 10 : R;
    this.a = rampUp && warmupMs > 0 ? (R - this.r0) / (2 * warmupMs) : 0; // N(t) = r0 t + a t^2 for t <= warmupMs
    this.nRamp = this.r0 * warmupMs + this.a * warmupMs * warmupMs;
  }

  /** requests due in [0, t): the count whose intended time is < t (or <= t with `inclusive`) */
  countBefore(t: number, inclusive = false): number {
    if (t <= 0) return inclusive && t === 0 ? 1 : 0;
    const n = t <= this.warmupMs ? this.r0 * t + this.a * t * t : this.nRamp + ((t - this.warmupMs) * this.rate) / 1000;
    // at(k) < t exactly when k < n, and at(k) <= t when k <= n (the epsilon absorbs float error at whole n)
    return inclusive ? Math.floor(n + 1e-9) + 1 : Math.ceil(n - 1e-9);
  }

  /** intended send time of request k, ms after the start */
  at(k: number): number {
    if (k >= this.nRamp) return this.warmupMs + ((k - this.nRamp) * 1000) / this.rate;
    if (this.a === 0) return k / this.r0;
    return (-this.r0 + Math.sqrt(this.r0 * this.r0 + 4 * this.a * k)) / (2 * this.a);
  }
}
