import type { CciRequest, CommandDef } from '../cci/command-table.js';
import { Effect } from '../cci/effects.js';
import { BG_TIMING, onBackgroundAbort, outputLimit } from '../cci/generic.js';
import { Rc } from '../cci/return-codes.js';
import { EventLogType } from './event-log.js';
import { generalMediaRecord, MediaDescriptor, MediaEventType, postType3Event, TransactionType } from './type3-events.js';
import {
  addPoison, findPoison, LATENT_ERRORS, latentDpa, PoisonSource, poisonState, writeMediaRecord,
} from './type3-poison.js';
import { bump, checkLineRange, Counter, GiB, LINE, readU64, type ScanState, type Type3State } from './type3-state.js';

/**
 * Scan Media (CXL r3.1 8.2.9.9.4.4-8.2.9.9.4.6): capabilities, the background scan, and its results.
 *
 * A scan finds the device's latent media errors inside its range (adding them to the poison list as source
 * Internal, with a General Media record in the warning log unless flag No Event Log is set) and reports every
 * poisoned line of the range. It can be aborted with 0005h: the results then cover what was scanned, and the
 * restart DPA/length say where to continue.
 */

export const SCAN_MEDIA_OPCODE = 0x4304;
const RECORD_BYTES = 0x10;

/** How long scanning `bytes` takes (BG_TIMING). */
export function scanNs(bytes: number): number {
  return Math.max(BG_TIMING.scanMediaMinNs, (BG_TIMING.scanMediaNsPerGiB * bytes) / GiB);
}

/** 4303h Get Scan Media Capabilities (8.2.9.9.4.4): { le64 DPA, le64 lines } -> le32 estimated scan time, ms. */
function getScanCapabilities(dev: Type3State, req: CciRequest): number {
  const bad = checkLineRange(dev, req.view, 0);
  if (bad >= 0) return bad;
  const lines = readU64(req.view, 8);
  req.view.setUint32(0, Math.max(1, Math.ceil(scanNs(lines * LINE) / 1e6)), true);
  req.outLen = 4;
  return Rc.SUCCESS;
}

/** Scans [from, to): finds latent errors there and collects the poisoned lines as the scan's results. */
function scanRange(dev: Type3State, scan: ScanState, from: number, to: number, nowNs: number): void {
  for (let i = 0; i < LATENT_ERRORS; i++) {
    const dpa = latentDpa(dev, i);
    if ((dev.latentDone & (1 << i)) !== 0 || dpa < from || dpa >= to) continue;
    dev.latentDone |= 1 << i;
    const ps = poisonState(dev);
    const added = findPoison(ps, dpa) >= 0 || addPoison(dev, { dpa, lines: 1, source: PoisonSource.INTERNAL }, nowNs);
    if (!scan.noEventLog) {
      const desc = MediaDescriptor.UNCORRECTABLE | (added ? 0 : MediaDescriptor.POISON_LIST_OVERFLOW);
      postType3Event(dev, EventLogType.WARNING, generalMediaRecord(dev, EventLogType.WARNING, dpa, desc,
        MediaEventType.MEDIA_ECC_ERROR, TransactionType.HOST_SCAN_MEDIA), nowNs);
    }
  }
  scan.results = [];
  for (const r of dev.poison?.records ?? []) {
    if (r.dpa + r.lines * LINE > from && r.dpa < to) scan.results.push({ ...r });
  }
  scan.next = 0;
}

/**
 * 4304h Scan Media (8.2.9.9.4.5), background: { le64 DPA, le64 lines, u8 flags [0] No Event Log }. Discards the
 * previous results. While it runs the poison list is frozen (Inject/Clear Poison answer Busy).
 */
function scanMedia(dev: Type3State, req: CciRequest): number {
  const bad = checkLineRange(dev, req.view, 0);
  if (bad >= 0) return bad;
  const start = readU64(req.view, 0);
  const lines = readU64(req.view, 8);
  const scan: ScanState = {
    start, lines, noEventLog: (req.payload[0x10]! & 1) !== 0, running: true,
    results: [], next: 0, stopped: false, restartDpa: 0, restartLines: 0,
  };
  dev.scan = scan;
  const durationNs = scanNs(lines * LINE);
  const doneNs = req.nowNs + durationNs;
  dev.bg.start(SCAN_MEDIA_OPCODE, req.nowNs, durationNs, () => {
    scanRange(dev, scan, start, start + lines * LINE, doneNs);
    scan.running = false;
    bump(dev, Counter.SCANS_COMPLETED);
    return Rc.SUCCESS;
  });
  return Rc.BACKGROUND_STARTED;
}

onBackgroundAbort<Type3State>(SCAN_MEDIA_OPCODE, (dev, nowNs) => {
  const scan = dev.scan;
  if (scan === null || !scan.running) return;
  const scanned = Math.floor((scan.lines * dev.bg.percent) / 100);
  const restart = scan.start + scanned * LINE;
  scanRange(dev, scan, scan.start, restart, nowNs);
  scan.running = false;
  scan.stopped = true;
  scan.restartDpa = restart;
  scan.restartLines = scan.lines - scanned;
  bump(dev, Counter.SCANS_ABORTED);
});

/**
 * 4305h Get Scan Media Results (8.2.9.9.4.6): header 20h (le64 restart DPA, le64 restart length, flags [0] More
 * [1] stopped prematurely, le16 count) + 10h per record. Returned records are consumed; More says some remain.
 * No scan since power-on -> Invalid Input (QEMU answers Unsupported); a scan still running -> Busy.
 */
function getScanResults(dev: Type3State, req: CciRequest): number {
  const scan = dev.scan;
  if (scan === null) return Rc.INVALID_INPUT;
  if (scan.running) return Rc.BUSY;
  const fit = Math.floor((outputLimit(dev, req) - 0x20) / RECORD_BYTES);
  const remaining = scan.results.length - scan.next;
  const n = Math.min(fit, remaining);
  const len = 0x20 + n * RECORD_BYTES;
  req.payload.fill(0, 0, 0x20);
  const v = req.view;
  if (scan.stopped) {
    v.setBigUint64(0x00, BigInt(scan.restartDpa), true);
    v.setBigUint64(0x08, BigInt(scan.restartLines), true);
  }
  v.setUint8(0x10, (remaining > n ? 1 : 0) | (scan.stopped ? 2 : 0));
  v.setUint16(0x12, n, true);
  for (let i = 0; i < n; i++) writeMediaRecord(v, 0x20 + i * RECORD_BYTES, scan.results[scan.next + i]!);
  scan.next += n;
  req.outLen = len;
  return Rc.SUCCESS;
}

export const SCAN_COMMANDS: readonly CommandDef<Type3State>[] = [
  { opcode: 0x4303, name: 'Get Scan Media Capabilities', input: 0x10, effects: 0, duringSanitize: 'media-disabled', handler: getScanCapabilities },
  {
    opcode: SCAN_MEDIA_OPCODE, name: 'Scan Media', input: 0x11,
    effects: Effect.IMMEDIATE_LOG_CHANGE | Effect.BACKGROUND_OP | Effect.REQUEST_ABORT_SUPPORTED,
    // a background command: while Sanitize (also one) runs it is Busy before the gate sees it
    duringSanitize: 'media-disabled', handler: scanMedia,
  },
  { opcode: 0x4305, name: 'Get Scan Media Results', input: 0, effects: 0, duringSanitize: 'media-disabled', handler: getScanResults },
];
