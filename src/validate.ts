import { BadRequestError } from './errors.js';

/**
 * Validators for numeric options that come from callers, command lines and files (server limits, recording
 * headers, MCP tool arguments). One place, so every entry point rejects the same values the same way.
 */

/** The longest a Node timer can wait: setTimeout turns anything longer into 1 ms (TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `v` if it is an integer in [min, max]; `dflt` if undefined; else BadRequestError naming `what`. */
export function intOption(v: unknown, dflt: number, what: string, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new BadRequestError(`${what} must be an integer from ${min} to ${max} (got ${describe(v)})`);
  }
  return v;
}

/** A time in ms that a timer can wait: an integer in [min, MAX_TIMER_MS]. */
export function timerMs(v: unknown, dflt: number, what: string, min = 0): number {
  return intOption(v, dflt, what, min, MAX_TIMER_MS);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return Array.isArray(v) ? 'an array' : typeof v;
}
