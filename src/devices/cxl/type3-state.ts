import type { ComponentState } from '../cci/cci.js';
import { Rc } from '../cci/return-codes.js';
import type { SparseBytes } from '../sparse-bytes.js';

/**
 * State of one CXL type-3 memory device (or one logical device of an MLD), and the geometry every type-3 module
 * shares. Kept small for 100,000-device fleets: everything a host has not used yet is null and is created by the
 * first command that needs it.
 */

/** Capacity unit of Identify Memory Device and the partition commands (CXL r3.1 8.2.9.9.1.1). */
export const CAPACITY_UNIT = 256 * 1024 * 1024;
export const GiB = 1024 * 1024 * 1024;
/** Poison, scan media and clear poison work on 64-byte lines. */
export const LINE = 64;

/**
 * Dynamic capacity geometry (8.2.9.9.9): two DC regions placed right after the static capacity in DPA space,
 * each 256 MiB with 2 MiB blocks.
 */
export const DC_REGION_COUNT = 2;
export const DC_REGION_BYTES = 256 * 1024 * 1024;
export const DC_BLOCK_BYTES = 2 * 1024 * 1024;

export interface Health {
  /** Get Health Info byte 00h: [0] maintenance needed, [1] performance degraded, [2] replacement needed */
  status: number;
  /** byte 01h media status */
  media: number;
  /** byte 02h additional status, re-evaluated when health values or alert thresholds change */
  additional: number;
  lifeUsed: number;
  temperature: number;
  dirtyShutdowns: number;
  correctedVolatile: number;
  correctedPersistent: number;
}

/** Programmable warning thresholds of 4201h/4202h (critical thresholds are fixed, see type3-health.ts). */
export interface AlertConfig {
  /** which programmable warnings are enabled (bit map of 4201h byte 00h) */
  valid: number;
  lifeWarn: number;
  overTempWarn: number;
  underTempWarn: number;
  correctedVolatileWarn: number;
  correctedPersistentWarn: number;
}

/** One poison list entry: `lines` 64-byte lines from `dpa`; source 0 unknown, 1 external, 2 internal, 3 injected. */
export interface PoisonRecord {
  dpa: number;
  lines: number;
  source: number;
}

export interface PoisonState {
  /** sorted by dpa, never overlapping */
  records: PoisonRecord[];
  /** the list lost records (Get Poison List flag bit 1) and when that first happened (device time) */
  overflow: boolean;
  overflowTs: bigint;
  /** where a Get Poison List that answered More continues, for the same start and length */
  cursor: { start: number; lines: number; afterDpa: number } | null;
}

export interface ScanState {
  start: number;
  lines: number;
  noEventLog: boolean;
  running: boolean;
  /** media errors found, consumed by Get Scan Media Results from `next` */
  results: PoisonRecord[];
  next: number;
  /** aborted before the end: where to restart */
  stopped: boolean;
  restartDpa: number;
  restartLines: number;
}

export interface DcExtent {
  start: number;
  length: number;
}

export interface DcState {
  /** accepted extents, sorted by start */
  accepted: DcExtent[];
  /** offers the host has not answered yet, oldest first; each offer is a list of extents */
  pending: DcExtent[][];
  /** extent list generation number (4801h), bumped on every change */
  generation: number;
}

export interface Type3State extends ComponentState {
  capacityBytes: number;
  lsaBytes: number;
  /** label storage area, stored sparsely in 4 KiB pages allocated on first write (untouched pages read 0) */
  lsa: SparseBytes;
  fwRevision: string;
  health: Health;
  /** active volatile capacity in 256 MiB units (persistent = total - volatile) */
  volatileUnits: number;
  /** volatile capacity taking effect at the next cold reset, or -1 if nothing is pending */
  nextVolatileUnits: number;
  /** programmable alert configuration; null = power-on defaults */
  alerts: AlertConfig | null;
  poison: PoisonState | null;
  scan: ScanState | null;
  /** media lines written by Clear Poison (sparse); null = all media reads as before */
  media: SparseBytes | null;
  /** latent media errors (see type3-poison.ts) already found by a scan or repaired: bit i = error i */
  latentDone: number;
  dc: DcState | null;
  /** vendor debug counters (C000h), created on first count */
  counters: Uint32Array | null;
}

/** Vendor debug counters reported by C000h, in this order. */
export const Counter = {
  POISON_INJECTED: 0,
  POISON_CLEARED: 1,
  SCANS_COMPLETED: 2,
  SCANS_ABORTED: 3,
  SANITIZES: 4,
  SECURE_ERASES: 5,
  DC_EXTENTS_ADDED: 6,
  DC_EXTENTS_RELEASED: 7,
} as const;
export const COUNTER_COUNT = 8;

export function bump(dev: Type3State, counter: number, by = 1): void {
  if (dev.counters === null) dev.counters = new Uint32Array(COUNTER_COUNT);
  dev.counters[counter] = (dev.counters[counter]! + by) >>> 0;
}

/** First DPA of dynamic capacity region `i`. */
export function dcRegionBase(dev: Type3State, i: number): number {
  return dev.capacityBytes + i * DC_REGION_BYTES;
}

/** End of the device's DPA space: static capacity followed by the DC regions. */
export function mediaEnd(dev: Type3State): number {
  return dev.capacityBytes + DC_REGION_COUNT * DC_REGION_BYTES;
}

/** Reads a le64 field as a number, or -1 if it is beyond 2^53 (no DPA of ours is that large). */
export function readU64(view: DataView, at: number): number {
  const v = view.getBigUint64(at, true);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
}

/**
 * Checks a { le64 DPA, le64 length in 64-byte lines } pair at `at`: DPA bits 5:0 set or a zero length -> Invalid
 * Input; any part beyond the DPA space -> Invalid Physical Address. Returns the rc, or -1 if the range is good.
 */
export function checkLineRange(dev: Type3State, view: DataView, at: number): number {
  if ((view.getUint8(at) & (LINE - 1)) !== 0) return Rc.INVALID_INPUT;
  const start = readU64(view, at);
  const lines = readU64(view, at + 8);
  if (lines === 0) return Rc.INVALID_INPUT;
  if (start < 0 || lines < 0 || start + lines * LINE > mediaEnd(dev)) return Rc.INVALID_PHYSICAL_ADDRESS;
  return -1;
}
