import { BadRequestError } from '../errors.js';
import { loadFleetFile, parseFleetFlag } from '../fleet/expand.js';
import type { FleetInput } from '../fleet/types.js';

/** A usage error: printed as one line, exit code 2. */
export class UsageError extends Error {}

/** "5s", "500ms", "2m", "1.5" (seconds) -> ms */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${what}: expected a duration like 5s, 500ms or 2m (got "${text}")`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

export function parseIntArg(text: string | undefined, what: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text, 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${what} must be an integer from ${min} to ${max} (got "${text}")`);
  return n;
}

/** --fleet: counts ("cxl-type3=1024,nvme=4") or a path to a JSON fleet file. */
export function parseFleetArg(text: string | undefined): FleetInput | undefined {
  if (text === undefined) return undefined;
  try {
    return text.includes('=') ? parseFleetFlag(text) : loadFleetFile(text);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function parseHex(text: string, what: string): Uint8Array {
  const clean = text.replace(/\s+/g, '').replace(/^0x/i, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(clean)) throw new UsageError(`${what} must be hex bytes, e.g. 0a0b0c (got "${text}")`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function isUsage(e: unknown): boolean {
  return e instanceof UsageError || e instanceof BadRequestError;
}
