import { BadRequestError } from '../errors.js';
import type { Schedule } from './mix.js';

/**
 * Execution segments, as k6 has them: N load generators each run `--segment k/N` of one test, and together
 * they produce exactly the test that one generator would run with the whole rate or concurrency.
 *
 * The whole test is one sequence of requests g = 0, 1, 2, ... (the open loop's intended send times, the
 * schedule's slots). Segment k of N takes every request with g mod N = k: striped, so the segments interleave
 * evenly over time and over the schedule, and for any number of requests G the segments' counts
 * ceil((G - k) / N) add up to exactly G. Integer quantities (callers, the in-flight limit) are split the same
 * way: floor(C / N), plus one for the first C mod N segments.
 */
export interface ExecutionSegment {
  /** 0-based, like an Indexed Job's completion index */
  index: number;
  count: number;
}

/** Parses `k/N` (0 <= k < N). */
export function parseSegment(text: string, what = '--segment'): ExecutionSegment {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (m === null) throw new BadRequestError(`${what} must be k/N, e.g. 0/2 for the first of two load generators (got "${text}")`);
  return checkSegment({ index: Number(m[1]), count: Number(m[2]) }, what);
}

export function checkSegment(s: ExecutionSegment, what = 'segment'): ExecutionSegment {
  if (typeof s !== 'object' || s === null) throw new BadRequestError(`${what} must be { index, count }`);
  if (!Number.isInteger(s.count) || s.count < 1 || s.count > 65536) throw new BadRequestError(`${what}: the segment count must be an integer from 1 to 65536 (got ${JSON.stringify(s.count)})`);
  if (!Number.isInteger(s.index) || s.index < 0 || s.index >= s.count) {
    throw new BadRequestError(`${what}: segment ${JSON.stringify(s.index)} of ${s.count} does not exist; segments are numbered 0 to ${s.count - 1}`);
  }
  return { index: s.index, count: s.count };
}

/** How many of the whole test's requests 0..total-1 belong to the segment (those with g mod N = k). */
export function stripeCount(total: number, s: ExecutionSegment): number {
  return total > s.index ? Math.ceil((total - s.index) / s.count) : 0;
}

/** The segment's share of an integer quantity (callers, in-flight limit); the shares add up to `total`. */
export function segmentShare(total: number, s: ExecutionSegment, what: string): number {
  // every segment refuses, not only the ones that would get nothing: N generators fail alike
  if (total < s.count) throw new BadRequestError(`${what} ${total} cannot be split into ${s.count} segments: give each segment at least 1 (${what} >= ${s.count})`);
  return Math.floor(total / s.count) + (s.index < total % s.count ? 1 : 0);
}

/** When the open loop's requests are due: Pace, or a segment of it. */
export interface PaceLike {
  /** intended send time of request k, ms after the start */
  at(k: number): number;
  /** requests due before t (or at t with `inclusive`) */
  countBefore(t: number, inclusive?: boolean): number;
}

/** The segment's requests of the whole test's pace: its request j is the test's request j*N + k. */
export class SegmentPace implements PaceLike {
  constructor(private readonly whole: PaceLike, private readonly s: ExecutionSegment) {}

  at(j: number): number {
    return this.whole.at(j * this.s.count + this.s.index);
  }

  countBefore(t: number, inclusive = false): number {
    return stripeCount(this.whole.countBefore(t, inclusive), this.s);
  }
}

/**
 * The segment's slots of a schedule: slot j is the whole schedule's slot (j*N + k) mod L, so a generator that
 * walks its slots in order sends exactly the whole test's requests j*N + k. The list repeats after
 * L / gcd(L, N) slots. Names, kinds and device counts stay those of the whole test.
 */
export function segmentSchedule(schedule: Schedule, s: ExecutionSegment): Schedule {
  if (s.count === 1) return schedule;
  const L = schedule.items.length;
  const period = L / gcd(L, s.count);
  const items = Array.from({ length: period }, (_, j) => schedule.items[(j * s.count + s.index) % L]!);
  return { ...schedule, items };
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
