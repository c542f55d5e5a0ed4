import { availableParallelism } from 'node:os';
import { BadRequestError, type MbxError } from './errors.js';
import { parseTier, type Tier } from './policy/tiers.js';

/**
 * The validators for numeric and tier options everywhere: the public API (createMux, openSession, send,
 * close), the load harness (runLoad) and fleet descriptions (buildFleet). One place, so every option refuses
 * NaN, negatives, infinities, fractions where a count is needed and values past its cap the same way: an error
 * naming the option, its range and why (EMBX_BAD_REQUEST, or the caller's family, e.g. EMBX_BAD_FLEET).
 */

/** Builds the error a validator throws (the caller's error family). */
export type ErrorOf = (message: string, context: Record<string, unknown>) => MbxError;

const badRequest: ErrorOf = (message, context) => new BadRequestError(message, context);

/** Node timers wait at most 2^31 - 1 ms; a longer delay fires after 1 ms with a TimeoutOverflowWarning. */
export const TIMER_MAX_MS = 2 ** 31 - 1;
const TIMER_WHY = ' (the longest a Node timer can wait)';

/** Shard workers per core: more only take turns on the same cores, and each costs a thread and its heap. */
export const WORKERS_PER_CORE = 4;

/** The most shard workers a mux may start on this machine. */
export function maxWorkers(): number {
  return WORKERS_PER_CORE * availableParallelism();
}

export function maxWorkersWhy(): string {
  return ` (${WORKERS_PER_CORE} × the ${availableParallelism()} cores of this machine)`;
}

/** A value for an error message; never throws (BigInt, symbols, NaN and infinities shown as such). */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  return Object.prototype.toString.call(v);
}

/** An integer from `min` to `max`; absent is refused too. */
export function intValue(v: unknown, what: string, min: number, max: number, why = '', err: ErrorOf = badRequest): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw err(`${what} must be an integer from ${min} to ${max}${why} (got ${show(v)})`, { option: what, value: show(v), min, max });
  }
  return v;
}

/** An integer from `min` to `max`, or `dflt` when the option is absent. */
export function intOption(v: unknown, what: string, min: number, max: number, dflt: number, why = '', err: ErrorOf = badRequest): number {
  return v === undefined ? dflt : intValue(v, what, min, max, why, err);
}

/** A finite number (fractions allowed) from `min` to `max`, or `dflt` when the option is absent. */
export function numberOption(v: unknown, what: string, min: number, max: number, dflt: number, why = '', err: ErrorOf = badRequest): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !(v >= min && v <= max)) {
    throw err(`${what} must be a number from ${min} to ${max}${why} (got ${show(v)})`, { option: what, value: show(v), min, max });
  }
  return v;
}

/** A finite number above 0 (an integer with `integer`), or `dflt` when the option is absent. */
export function positiveOption(v: unknown, what: string, integer: boolean, dflt: number, err: ErrorOf = badRequest): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw err(`${what} must be ${integer ? 'an integer' : 'a number'} > 0 (got ${show(v)})`, { option: what, value: show(v) });
  }
  return v;
}

/** A probability: a number from 0 to 1. */
export function probabilityValue(v: unknown, what: string, err: ErrorOf = badRequest): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw err(`${what} must be a probability from 0 to 1 (got ${show(v)})`, { option: what, value: show(v) });
  return v;
}

/** A permission tier by name, or `dflt` when the option is absent. */
export function tierOption(v: unknown, dflt: Tier): Tier {
  return v === undefined ? dflt : parseTier(v);
}

/** A timer delay in ms, from `min` (0 = none, where the caller allows it) to TIMER_MAX_MS. */
export function timeoutOption(v: unknown, what: string, dflt: number, min = 0): number {
  return numberOption(v, what, min, TIMER_MAX_MS, dflt, TIMER_WHY);
}
