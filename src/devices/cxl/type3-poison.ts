import type { CciRequest, CommandDef } from '../cci/command-table.js';
import { Effect } from '../cci/effects.js';
import { deviceTime, outputLimit } from '../cci/generic.js';
import { Rc } from '../cci/return-codes.js';
import { SparseBytes } from '../sparse-bytes.js';
import { EventLogType } from './event-log.js';
import { generalMediaRecord, MediaDescriptor, MediaEventType, postType3Event, TransactionType } from './type3-events.js';
import {
  bump, checkLineRange, Counter, LINE, mediaEnd, type PoisonRecord, type PoisonState, readU64, type Type3State,
} from './type3-state.js';

/**
 * Poison list (CXL r3.1 8.2.9.9.4.1-8.2.9.9.4.3): Get Poison List, Inject Poison, Clear Poison.
 *
 * Besides injected poison, every device has LATENT_ERRORS latent media errors at DPAs derived from its serial
 * number (no storage): they are not in the poison list until a Scan Media covering them finds them, and Clear
 * Poison or Sanitize repairs them. `latentDone` remembers which were found or repaired.
 */

/** Poison list capacity (Identify Memory Device 3Ch) and how many injected records it accepts (3Fh). */
export const POISON_MAX_RECORDS = 256;
export const INJECT_POISON_LIMIT = 32;
export const LATENT_ERRORS = 2;
export const LATENT_ALL_DONE = (1 << LATENT_ERRORS) - 1;

/** Media error record source (address bits 2:0). */
export const PoisonSource = { UNKNOWN: 0, EXTERNAL: 1, INTERNAL: 2, INJECTED: 3, VENDOR: 7 } as const;

const RECORD_BYTES = 0x10;

export function poisonState(dev: Type3State): PoisonState {
  if (dev.poison === null) dev.poison = { records: [], overflow: false, overflowTs: 0n, cursor: null };
  return dev.poison;
}

/** DPA of latent error `i`: a line inside the static capacity, fixed by the serial number. */
export function latentDpa(dev: Type3State, i: number): number {
  let x = (Number(dev.identity.serial & 0xffffffffn) ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0;
  x ^= x << 13;
  x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5;
  x >>>= 0;
  const lines = Math.floor(dev.capacityBytes / LINE);
  return (x % lines) * LINE;
}

export function scanRunning(dev: Type3State): boolean {
  return dev.bg.running && dev.bg.opcode === 0x4304;
}

/** Index of the record covering the line at `dpa`, or -1. */
export function findPoison(ps: PoisonState, dpa: number): number {
  const r = ps.records;
  for (let i = 0; i < r.length; i++) {
    const e = r[i]!;
    if (dpa >= e.dpa && dpa < e.dpa + e.lines * LINE) return i;
    if (e.dpa > dpa) break;
  }
  return -1;
}

/** Adds a record (the caller checked it does not overlap); a full list marks overflow and drops it. */
export function addPoison(dev: Type3State, rec: PoisonRecord, nowNs: number): boolean {
  const ps = poisonState(dev);
  if (ps.records.length >= POISON_MAX_RECORDS) {
    markOverflow(dev, ps, nowNs);
    return false;
  }
  let i = ps.records.length;
  while (i > 0 && ps.records[i - 1]!.dpa > rec.dpa) i--;
  ps.records.splice(i, 0, rec);
  return true;
}

function markOverflow(dev: Type3State, ps: PoisonState, nowNs: number): void {
  if (!ps.overflow) ps.overflowTs = deviceTime(dev, nowNs);
  ps.overflow = true;
}

/** Removes the line at `dpa` from the list, splitting a longer record. Returns true if the line was poisoned. */
function unpoisonLine(dev: Type3State, dpa: number, nowNs: number): boolean {
  const ps = dev.poison;
  if (ps === null) return false;
  const i = findPoison(ps, dpa);
  if (i < 0) return false;
  const e = ps.records[i]!;
  const before = (dpa - e.dpa) / LINE;
  const after = e.lines - before - 1;
  const parts: PoisonRecord[] = [];
  if (before > 0) parts.push({ dpa: e.dpa, lines: before, source: e.source });
  if (after > 0) parts.push({ dpa: dpa + LINE, lines: after, source: e.source });
  if (ps.records.length - 1 + parts.length > POISON_MAX_RECORDS) {
    parts.pop();
    markOverflow(dev, ps, nowNs);
  }
  ps.records.splice(i, 1, ...parts);
  return true;
}

export function writeMediaRecord(view: DataView, at: number, r: PoisonRecord): void {
  view.setBigUint64(at, BigInt(r.dpa) | BigInt(r.source), true);
  view.setUint32(at + 8, r.lines, true);
  view.setUint32(at + 12, 0, true);
}

/**
 * 4300h Get Poison List (8.2.9.9.4.1): { le64 start DPA, le64 length in lines } -> header 20h + 10h per record.
 * Records overlapping the range, in DPA order. When they do not fit, More (flags bit 0) is set and the next
 * Get Poison List with the same range continues after the last record returned.
 */
function getPoisonList(dev: Type3State, req: CciRequest): number {
  const bad = checkLineRange(dev, req.view, 0);
  if (bad >= 0) return bad;
  const start = readU64(req.view, 0);
  const lines = readU64(req.view, 8);
  const end = start + lines * LINE;
  const ps = dev.poison;
  const fit = Math.floor((outputLimit(dev, req) - 0x20) / RECORD_BYTES);
  let n = 0;
  let more = false;
  if (ps !== null) {
    const c = ps.cursor;
    const after = c !== null && c.start === start && c.lines === lines ? c.afterDpa : -1;
    let last = -1;
    ps.cursor = null;
    for (const r of ps.records) {
      if (r.dpa + r.lines * LINE <= start || r.dpa >= end || r.dpa <= after) continue;
      if (n === fit) {
        more = true;
        ps.cursor = { start, lines, afterDpa: last };
        break;
      }
      writeMediaRecord(req.view, 0x20 + n * RECORD_BYTES, r);
      last = r.dpa;
      n++;
    }
  }
  req.payload.fill(0, 0, 0x20);
  const v = req.view;
  v.setUint8(0, (more ? 1 : 0) | (ps?.overflow ? 2 : 0) | (scanRunning(dev) ? 4 : 0));
  v.setBigUint64(0x02, ps?.overflow ? ps.overflowTs : 0n, true);
  v.setUint16(0x0a, n, true);
  req.outLen = 0x20 + n * RECORD_BYTES;
  return Rc.SUCCESS;
}

/** The DPA of 4301h/4302h: bits 5:0 set -> Invalid Input; the line beyond the DPA space -> Invalid PA. */
function lineDpa(dev: Type3State, view: DataView): number {
  if ((view.getUint8(0) & (LINE - 1)) !== 0) return -Rc.INVALID_INPUT;
  const dpa = readU64(view, 0);
  if (dpa < 0 || dpa + LINE > mediaEnd(dev)) return -Rc.INVALID_PHYSICAL_ADDRESS;
  return dpa;
}

/**
 * 4301h Inject Poison (8.2.9.9.4.2): { le64 DPA }. Poisons one line (record source Injected) and posts a
 * General Media record. An already-poisoned line is Success with no change; past INJECT_POISON_LIMIT injected
 * records (or a full list) -> Inject Poison Limit Reached. The list is frozen while Scan Media runs (Busy).
 */
function injectPoison(dev: Type3State, req: CciRequest): number {
  const dpa = lineDpa(dev, req.view);
  if (dpa < 0) return -dpa;
  if (scanRunning(dev)) return Rc.BUSY;
  const ps = poisonState(dev);
  if (findPoison(ps, dpa) >= 0) return Rc.SUCCESS;
  let injected = 0;
  for (const r of ps.records) if (r.source === PoisonSource.INJECTED) injected++;
  if (injected >= INJECT_POISON_LIMIT || ps.records.length >= POISON_MAX_RECORDS) return Rc.INJECT_POISON_LIMIT;
  addPoison(dev, { dpa, lines: 1, source: PoisonSource.INJECTED }, req.nowNs);
  bump(dev, Counter.POISON_INJECTED);
  postType3Event(dev, EventLogType.INFORMATIONAL, generalMediaRecord(dev, EventLogType.INFORMATIONAL, dpa,
    MediaDescriptor.UNCORRECTABLE, MediaEventType.MEDIA_ECC_ERROR, TransactionType.HOST_INJECT_POISON), req.nowNs);
  return Rc.SUCCESS;
}

/**
 * 4302h Clear Poison (8.2.9.9.4.3): { le64 DPA, 64 bytes write data }. Writes the data to the line, removes it
 * from the poison list (splitting a longer record) and repairs a latent error there. Clearing a line that was
 * poisoned posts a General Media record (transaction Host Write, not uncorrectable); a clean line is Success.
 */
function clearPoison(dev: Type3State, req: CciRequest): number {
  const dpa = lineDpa(dev, req.view);
  if (dpa < 0) return -dpa;
  if (scanRunning(dev)) return Rc.BUSY;
  if (dev.media === null) dev.media = new SparseBytes();
  dev.media.write(dpa, req.payload.subarray(8, 8 + LINE));
  for (let i = 0; i < LATENT_ERRORS; i++) if (latentDpa(dev, i) === dpa) dev.latentDone |= 1 << i;
  if (unpoisonLine(dev, dpa, req.nowNs)) {
    bump(dev, Counter.POISON_CLEARED);
    postType3Event(dev, EventLogType.INFORMATIONAL, generalMediaRecord(dev, EventLogType.INFORMATIONAL, dpa,
      0, MediaEventType.MEDIA_ECC_ERROR, TransactionType.HOST_WRITE), req.nowNs);
  }
  return Rc.SUCCESS;
}

export const POISON_COMMANDS: readonly CommandDef<Type3State>[] = [
  { opcode: 0x4300, name: 'Get Poison List', input: 0x10, effects: 0, duringSanitize: 'media-disabled', handler: getPoisonList },
  {
    opcode: 0x4301, name: 'Inject Poison', input: 8, effects: Effect.IMMEDIATE_DATA_CHANGE | Effect.IMMEDIATE_LOG_CHANGE,
    duringSanitize: 'media-disabled', handler: injectPoison,
  },
  {
    opcode: 0x4302, name: 'Clear Poison', input: 0x48, effects: Effect.IMMEDIATE_DATA_CHANGE | Effect.IMMEDIATE_LOG_CHANGE,
    duringSanitize: 'media-disabled', handler: clearPoison,
  },
];
