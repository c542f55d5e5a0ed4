import { BadRequestError } from '../../errors.js';

/** Small readers shared by the decoders: every decoder checks the length it needs first. */

export function view(p: Uint8Array): DataView {
  return new DataView(p.buffer, p.byteOffset, p.byteLength);
}

export function need(p: Uint8Array, bytes: number, what: string): void {
  if (p.byteLength < bytes) throw new BadRequestError(`${what} is ${p.byteLength} bytes, expected at least ${bytes}`);
}

/** ASCII text of a fixed-width field, without trailing NULs and spaces (NVMe pads with spaces, CXL with NULs). */
export function ascii(p: Uint8Array, at: number, width: number): string {
  let s = '';
  for (let i = at; i < at + width && i < p.byteLength; i++) s += String.fromCharCode(p[i]! & 0x7f);
  return s.replace(/[\0 ]+$/, '');
}

/** A little-endian unsigned 64-bit value: a number when exact, a decimal string beyond 2^53. */
export function u64(v: DataView, at: number): number | string {
  const n = v.getBigUint64(at, true);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

/** The same for 128-bit counters (NVMe SMART, capacities). */
export function u128(v: DataView, at: number): number | string {
  const n = (v.getBigUint64(at + 8, true) << 64n) | v.getBigUint64(at, true);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

export const hex = (n: number, digits: number): string => `0x${n.toString(16).padStart(digits, '0')}`;

/** Names of the set bits of `value` from a [bit, name] list. */
export function bitNames(value: number, names: readonly (readonly [number, string])[]): string[] {
  return names.filter(([bit]) => ((value >>> bit) & 1) === 1).map(([, n]) => n);
}
