import type { CciRequest, CommandDef } from '../cci/command-table.js';
import { Effect } from '../cci/effects.js';
import { eventLogs, outputLimit } from '../cci/generic.js';
import { Rc } from '../cci/return-codes.js';
import { uuidBytes } from '../cci/uuid.js';
import { EventLogType, newEventRecord } from './event-log.js';
import {
  bump, Counter, DC_BLOCK_BYTES, DC_REGION_BYTES, DC_REGION_COUNT, type DcExtent, type DcState, dcRegionBase,
  readU64, type Type3State,
} from './type3-state.js';

/**
 * Dynamic Capacity (CXL r3.1 8.2.9.9.9): two DC regions after the static capacity, an extent list the host
 * builds by accepting offers, and the Dynamic Capacity event log that carries the offers.
 *
 * Every device powers on with one pending add-capacity offer (128 MiB at the start of region 0), announced by a
 * Dynamic Capacity event record. The DC state and that record are materialized on first use (ensureDc), which
 * a host cannot tell from power-on: the record's timestamp is the power-on device time (0) and, because every
 * path that creates event records calls ensureDc first, it always has handle 0001h.
 */

export const DC_EVENT_UUID = uuidBytes('ca95afa7-f183-4018-8c2f-95268e101a2a');
/** Extents the device can track (Get DC Configuration trailer); tags are not supported. */
export const DC_MAX_EXTENTS = 32;
export const DC_OFFER_BYTES = 128 * 1024 * 1024;
const EXTENT_BYTES = 0x28;
const REGION_BYTES = 0x28;

export const DcEventType = {
  ADD_CAPACITY: 0,
  RELEASE_CAPACITY: 1,
  FORCED_CAPACITY_RELEASE: 2,
  REGION_CONFIGURATION_UPDATED: 3,
  ADD_CAPACITY_RESPONSE: 4,
  CAPACITY_RELEASED: 5,
} as const;

/** Dynamic Capacity event record (8.2.9.2.1.6): type at 30h, host ID 32h, region 34h, flags 35h, extent 38h. */
function dcRecord(type: number, region: number, e: DcExtent, availableExtents: number): Uint8Array {
  const r = newEventRecord(DC_EVENT_UUID, 0);
  const v = new DataView(r.buffer);
  r[0x30] = type;
  r[0x34] = region;
  v.setBigUint64(0x38, BigInt(e.start), true);
  v.setBigUint64(0x40, BigInt(e.length), true);
  v.setUint32(0x78, availableExtents, true);
  v.setUint32(0x7c, 0, true);
  return r;
}

/** The device's DC state, created with its power-on offer on first use. */
export function ensureDc(dev: Type3State): DcState {
  if (dev.dc !== null) return dev.dc;
  const offer: DcExtent = { start: dcRegionBase(dev, 0), length: DC_OFFER_BYTES };
  const dc: DcState = { accepted: [], pending: [[offer]], generation: 0 };
  dev.dc = dc;
  eventLogs(dev).post(EventLogType.DYNAMIC_CAPACITY, dcRecord(DcEventType.ADD_CAPACITY, 0, offer, DC_MAX_EXTENTS), 0n);
  return dc;
}

/** Index of the DC region wholly containing [start, start+length), or -1. */
function regionOf(dev: Type3State, start: number, length: number): number {
  for (let i = 0; i < DC_REGION_COUNT; i++) {
    const base = dcRegionBase(dev, i);
    if (start >= base && start + length <= base + DC_REGION_BYTES) return i;
  }
  return -1;
}

const overlaps = (a: DcExtent, b: DcExtent): boolean => a.start < b.start + b.length && b.start < a.start + a.length;
const contains = (outer: DcExtent, e: DcExtent): boolean => e.start >= outer.start && e.start + e.length <= outer.start + outer.length;

/**
 * Reads and checks the extent list of 4802h/4803h: { le32 n, u8 flags, 3 rsvd, n x { le64 start, le64 length,
 * 8 rsvd } }. Outside a DC region -> Invalid Physical Address; zero length, not block-aligned, or overlapping
 * another extent of the list -> Invalid Extent List. Returns the rc, or the extents.
 */
function readExtentList(dev: Type3State, req: CciRequest, n: number): number | DcExtent[] {
  const list: DcExtent[] = [];
  for (let i = 0; i < n; i++) {
    const at = 8 + i * 0x18;
    const start = readU64(req.view, at);
    const length = readU64(req.view, at + 8);
    if (start < 0 || length < 0 || regionOf(dev, start, length) < 0) return Rc.INVALID_PHYSICAL_ADDRESS;
    const e = { start, length };
    if (length === 0 || start % DC_BLOCK_BYTES !== 0 || length % DC_BLOCK_BYTES !== 0) return Rc.INVALID_EXTENT_LIST;
    for (const o of list) if (overlaps(o, e)) return Rc.INVALID_EXTENT_LIST;
    list.push(e);
  }
  return list;
}

function insertSorted(list: DcExtent[], e: DcExtent): void {
  let i = list.length;
  while (i > 0 && list[i - 1]!.start > e.start) i--;
  list.splice(i, 0, e);
}

/** 4800h Get Dynamic Capacity Configuration (8.2.9.9.9.1): { u8 region count, u8 starting region index }. */
function getDcConfig(dev: Type3State, req: CciRequest): number {
  const count = req.payload[0]!;
  const first = req.payload[1]!;
  if (first >= DC_REGION_COUNT) return Rc.INVALID_INPUT;
  const dc = ensureDc(dev);
  const fit = Math.floor((outputLimit(dev, req) - 8 - 0x10) / REGION_BYTES);
  const n = Math.min(count, DC_REGION_COUNT - first, fit);
  const len = 8 + n * REGION_BYTES + 0x10;
  req.payload.fill(0, 0, len);
  const v = req.view;
  v.setUint8(0, DC_REGION_COUNT);
  v.setUint8(1, n);
  for (let i = 0; i < n; i++) {
    const at = 8 + i * REGION_BYTES;
    v.setBigUint64(at, BigInt(dcRegionBase(dev, first + i)), true);
    v.setBigUint64(at + 0x08, BigInt(DC_REGION_BYTES / (256 * 1024 * 1024)), true); // decode length, 256 MiB units
    v.setBigUint64(at + 0x10, BigInt(DC_REGION_BYTES), true);
    v.setBigUint64(at + 0x18, BigInt(DC_BLOCK_BYTES), true);
    v.setUint32(at + 0x20, first + i + 1, true); // DSMAD handle
    // flags (24h): sanitize on release not set
  }
  const t = 8 + n * REGION_BYTES;
  v.setUint32(t, DC_MAX_EXTENTS, true);
  v.setUint32(t + 4, DC_MAX_EXTENTS - dc.accepted.length, true);
  v.setUint32(t + 8, 0, true); // tags supported
  v.setUint32(t + 12, 0, true); // tags available
  req.outLen = len;
  return Rc.SUCCESS;
}

/** 4801h Get Dynamic Capacity Extent List (8.2.9.9.9.2): { le32 extent count, le32 starting extent index }. */
function getDcExtentList(dev: Type3State, req: CciRequest): number {
  const count = req.view.getUint32(0, true);
  const first = req.view.getUint32(4, true);
  const dc = ensureDc(dev);
  const total = dc.accepted.length;
  if (first > total) return Rc.INVALID_INPUT;
  const fit = Math.floor((outputLimit(dev, req) - 0x10) / EXTENT_BYTES);
  const n = Math.min(count, total - first, fit);
  const len = 0x10 + n * EXTENT_BYTES;
  req.payload.fill(0, 0, len);
  const v = req.view;
  v.setUint32(0, n, true);
  v.setUint32(4, total, true);
  v.setUint32(8, dc.generation, true);
  for (let i = 0; i < n; i++) {
    const e = dc.accepted[first + i]!;
    const at = 0x10 + i * EXTENT_BYTES;
    v.setBigUint64(at, BigInt(e.start), true);
    v.setBigUint64(at + 8, BigInt(e.length), true);
    // tag (10h) null, shared extent sequence (20h) 0: regions are not sharable
  }
  req.outLen = len;
  return Rc.SUCCESS;
}

/**
 * 4802h Add Dynamic Capacity Response (8.2.9.9.9.3): the host accepts extents of the oldest pending offer.
 * n = 0 rejects the whole offer. With More (flags bit 0) further responses for the same offer follow; without
 * it, what was not accepted is dropped.
 */
function addDcResponse(dev: Type3State, req: CciRequest): number {
  const n = req.view.getUint32(0, true);
  const more = (req.payload[4]! & 1) !== 0;
  const dc = ensureDc(dev);
  if (n === 0) {
    dc.pending.shift();
    return Rc.SUCCESS;
  }
  if (dc.accepted.length + n > DC_MAX_EXTENTS) return Rc.RESOURCES_EXHAUSTED;
  const list = readExtentList(dev, req, n);
  if (typeof list === 'number') return list;
  const offer = dc.pending[0];
  for (const e of list) {
    if (offer === undefined || !offer.some((o) => contains(o, e))) return Rc.INVALID_PHYSICAL_ADDRESS;
    if (dc.accepted.some((a) => overlaps(a, e))) return Rc.INVALID_PHYSICAL_ADDRESS;
  }
  for (const e of list) insertSorted(dc.accepted, e);
  dc.generation++;
  if (!more) dc.pending.shift();
  bump(dev, Counter.DC_EXTENTS_ADDED, n);
  return Rc.SUCCESS;
}

/**
 * 4803h Release Dynamic Capacity (8.2.9.9.9.4): gives accepted capacity back. Each range must be backed by
 * accepted extents (it may span adjacent ones, or cut one in two); splitting beyond the extents the device can
 * track is Resources Exhausted.
 */
function releaseDc(dev: Type3State, req: CciRequest): number {
  const n = req.view.getUint32(0, true);
  if (n === 0) return Rc.INVALID_INPUT;
  const dc = ensureDc(dev);
  const list = readExtentList(dev, req, n);
  if (typeof list === 'number') return list;
  let next = dc.accepted;
  for (const e of list) {
    let covered = 0;
    for (const a of next) {
      if (!overlaps(a, e)) continue;
      covered += Math.min(a.start + a.length, e.start + e.length) - Math.max(a.start, e.start);
    }
    if (covered !== e.length) return Rc.INVALID_PHYSICAL_ADDRESS;
    const out: DcExtent[] = [];
    for (const a of next) {
      if (!overlaps(a, e)) {
        out.push(a);
        continue;
      }
      if (a.start < e.start) out.push({ start: a.start, length: e.start - a.start });
      const aEnd = a.start + a.length;
      const eEnd = e.start + e.length;
      if (aEnd > eEnd) out.push({ start: eEnd, length: aEnd - eEnd });
    }
    next = out;
  }
  if (next.length > DC_MAX_EXTENTS) return Rc.RESOURCES_EXHAUSTED;
  dc.accepted = next;
  dc.generation++;
  bump(dev, Counter.DC_EXTENTS_RELEASED, n);
  return Rc.SUCCESS;
}

const extentListSize = (_p: Uint8Array, v: DataView): number => 8 + 0x18 * v.getUint32(0, true);

export const DCD_COMMANDS: readonly CommandDef<Type3State>[] = [
  { opcode: 0x4800, name: 'Get Dynamic Capacity Configuration', input: 2, effects: 0, handler: getDcConfig },
  { opcode: 0x4801, name: 'Get Dynamic Capacity Extent List', input: 8, effects: 0, handler: getDcExtentList },
  {
    opcode: 0x4802, name: 'Add Dynamic Capacity Response', input: { min: 8, exact: extentListSize }, effects: Effect.IMMEDIATE_DATA_CHANGE,
    duringSanitize: 'media-disabled', handler: addDcResponse,
  },
  {
    opcode: 0x4803, name: 'Release Dynamic Capacity', input: { min: 8, exact: extentListSize }, effects: Effect.IMMEDIATE_DATA_CHANGE,
    duringSanitize: 'media-disabled', handler: releaseDc,
  },
];
