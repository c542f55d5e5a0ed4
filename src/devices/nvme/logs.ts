import { ERROR_ENTRY_BYTES, ERROR_LOG_ENTRIES } from './constants.js';
import { TEMP_SENSORS, type AdminContext, type ControllerState } from './controller-state.js';
import { compositeTemperatureK, sensorTemperatureK, temperatureWarning } from './features.js';
import { firmwareSlotLog } from './firmware.js';
import { sanitizeStatusLog, SANITIZE_LOG_BYTES } from './format-sanitize.js';
import { setU128 } from './identify.js';
import { getLogBytes, getLogOffset, type Sqe } from './sqe.js';
import { St } from './status.js';

/**
 * 02h Get Log Page (NVMe Base 2.0 5.16). CDW10: LID 7:0, LSP 14:8 (unused by these logs), RAE 15,
 * NUMDL 31:16; CDW11: NUMDU 15:0, LSI 31:16; CDW12/13: LPOL/LPOU byte offset; CDW14: UUID index 6:0,
 * OT 23, CSI 31:24. Transfers min(size - offset, length) bytes from the page; the rest of the host buffer
 * is left as it was. An unsupported LID is Invalid Log Page (SCT 1h / 09h) as the spec says (QEMU and
 * Linux nvmet answer Invalid Field instead).
 */
export const Lid = {
  SUPPORTED_LOG_PAGES: 0x00,
  ERROR_INFORMATION: 0x01,
  SMART_HEALTH: 0x02,
  FIRMWARE_SLOT: 0x03,
  COMMANDS_SUPPORTED_AND_EFFECTS: 0x05,
  SANITIZE_STATUS: 0x81,
} as const;

interface LogDef {
  lid: number;
  name: string;
  bytes: number;
  /** NVMe Base 2.0 8.21: may be read while a sanitize operation is in progress */
  duringSanitize: boolean;
  /** writes the whole page into `page` (zeroed, `bytes` long); returns a status */
  build: (c: ControllerState, x: AdminContext, page: Uint8Array, v: DataView) => number;
}

const LOGS: readonly LogDef[] = [
  { lid: Lid.SUPPORTED_LOG_PAGES, name: 'Supported Log Pages', bytes: 1024, duringSanitize: true, build: supportedLogPages },
  { lid: Lid.ERROR_INFORMATION, name: 'Error Information', bytes: ERROR_LOG_ENTRIES * ERROR_ENTRY_BYTES, duringSanitize: true, build: errorInformation },
  { lid: Lid.SMART_HEALTH, name: 'SMART / Health Information', bytes: 512, duringSanitize: true, build: smartHealth },
  { lid: Lid.FIRMWARE_SLOT, name: 'Firmware Slot Information', bytes: 512, duringSanitize: true, build: (c, _x, p) => (firmwareSlotLog(c, p), St.SUCCESS) },
  { lid: Lid.COMMANDS_SUPPORTED_AND_EFFECTS, name: 'Commands Supported and Effects', bytes: 4096, duringSanitize: true, build: effects },
  { lid: Lid.SANITIZE_STATUS, name: 'Sanitize Status', bytes: SANITIZE_LOG_BYTES, duringSanitize: true, build: (c, x, _p, v) => (sanitizeStatusLog(c, v, x.nowNs), St.SUCCESS) },
];

const byLid = new Map(LOGS.map((l) => [l.lid, l]));

/** Scratch for building one whole page before the requested window is copied out. */
const page = new Uint8Array(4096);
const pageView = new DataView(page.buffer);

export function getLogPage(c: ControllerState, x: AdminContext): number {
  const { cdw10, cdw11, cdw12, cdw13, cdw14 } = x.sqe;
  const log = byLid.get(cdw10 & 0xff);
  if (log === undefined) {
    x.errLoc = 40;
    return St.INVALID_LOG_PAGE;
  }
  const len = getLogBytes(cdw10, cdw11);
  const off = getLogOffset(cdw12, cdw13);
  if (len > c.maxTransfer) {
    x.errLoc = 42;
    return St.INVALID_FIELD;
  }
  if (off % 4 !== 0 || off >= log.bytes) {
    x.errLoc = 48;
    return St.INVALID_FIELD;
  }
  if ((cdw14 >>> 23) & 1) {
    x.errLoc = 58 | (7 << 8); // OT: no log here is indexed
    return St.INVALID_FIELD;
  }
  page.fill(0, 0, log.bytes);
  const st = log.build(c, x, page, pageView);
  if (st !== St.SUCCESS) return st;
  const n = Math.min(log.bytes - off, len);
  c.out(x, n);
  x.buf.set(page.subarray(off, off + n));
  c.logRead(log.lid, ((cdw10 >>> 15) & 1) === 1);
  return St.SUCCESS;
}

/** Get Log Page while a sanitize runs: the logs marked so; SMART only for the controller (NSID 0 or FFFFFFFFh). */
export function getLogAllowedDuringSanitize(sqe: Sqe): boolean {
  const lid = sqe.cdw10 & 0xff;
  const log = byLid.get(lid);
  if (log === undefined) return true; // answered Invalid Log Page
  if (lid === Lid.SMART_HEALTH && sqe.nsid !== 0 && sqe.nsid !== 0xffffffff) return false;
  return log.duringSanitize;
}

/** LID 00h (1024 bytes): le32 per LID, bit 0 LSUPP. Generated from the table above. */
function supportedLogPages(_c: ControllerState, _x: AdminContext, _p: Uint8Array, v: DataView): number {
  for (const l of LOGS) v.setUint32(4 * l.lid, 1, true);
  return St.SUCCESS;
}

function errorInformation(c: ControllerState, _x: AdminContext, p: Uint8Array): number {
  const log = c.errorLog();
  if (log !== null) p.set(log);
  return St.SUCCESS;
}

/**
 * LID 02h SMART / Health Information (512 bytes), NVMe Base 2.0 Figure 207. Values are deterministic from
 * the serial; LPA bit 0 is 0, so only the controller-wide page exists (NSID 0 or FFFFFFFFh).
 */
function smartHealth(c: ControllerState, x: AdminContext, _p: Uint8Array, v: DataView): number {
  const nsid = x.sqe.nsid;
  if (nsid !== 0 && nsid !== 0xffffffff) {
    x.errLoc = 4;
    return St.INVALID_FIELD;
  }
  const s = c.seed;
  v.setUint8(0, temperatureWarning(c) ? 0x02 : 0); // Critical Warning: bit 1 temperature
  v.setUint16(1, compositeTemperatureK(c), true); // Composite Temperature, K
  v.setUint8(3, 100 - (s % 5)); // Available Spare, %
  v.setUint8(4, 10); // Available Spare Threshold, %
  v.setUint8(5, s % 20); // Percentage Used
  v.setUint8(6, 0); // Endurance Group Critical Warning Summary
  // a deterministic history from the serial, plus the reads and writes since power-on (data units are
  // thousands of 512-byte units, rounded up)
  const historyRead = BigInt(1_000_000 + (s % 100_000) * 37);
  const historyWritten = BigInt(500_000 + (s % 100_000) * 23);
  const io = c.io;
  setU128(v, 32, historyRead + BigInt(Math.ceil(io.bytesRead / 512_000))); // Data Units Read
  setU128(v, 48, historyWritten + BigInt(Math.ceil(io.bytesWritten / 512_000))); // Data Units Written
  setU128(v, 64, historyRead * 4n + BigInt(io.readCommands)); // Host Read Commands
  setU128(v, 80, historyWritten * 3n + BigInt(io.writeCommands)); // Host Write Commands
  setU128(v, 96, BigInt(100 + (s % 900))); // Controller Busy Time, minutes
  setU128(v, 112, BigInt(10 + (s % 90))); // Power Cycles
  setU128(v, 128, BigInt(1000 + (s % 9000))); // Power On Hours
  setU128(v, 144, BigInt(s % 7)); // Unsafe Shutdowns
  setU128(v, 160, 0n); // Media and Data Integrity Errors
  setU128(v, 176, BigInt(c.errorCount)); // Number of Error Information Log Entries
  v.setUint32(192, 0, true); // Warning Composite Temperature Time, minutes
  v.setUint32(196, 0, true); // Critical Composite Temperature Time
  for (let i = 1; i <= TEMP_SENSORS; i++) v.setUint16(200 + 2 * (i - 1), sensorTemperatureK(c, i), true); // sensors 3-8: 0
  return St.SUCCESS;
}

/** LID 05h Commands Supported and Effects: generated from the command table (CSI 00h, the NVM command set). */
function effects(c: ControllerState, x: AdminContext, p: Uint8Array): number {
  if ((x.sqe.cdw14 >>> 24) !== 0) {
    x.errLoc = 59;
    return St.INVALID_FIELD;
  }
  p.set(c.effectsLog());
  return St.SUCCESS;
}
