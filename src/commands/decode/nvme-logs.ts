import { nvmeEffectNames } from '../../devices/nvme/effects.js';
import { ascii, hex, need, u128, view } from './bytes.js';

/** Decoders of NVMe log pages (NVMe Base 2.0 5.16.1). */

export interface NvmeSmart {
  criticalWarning: {
    raw: number; availableSpareBelowThreshold: boolean; temperature: boolean; reliabilityDegraded: boolean; readOnly: boolean;
    volatileBackupFailed: boolean; persistentMemoryReadOnly: boolean;
  };
  compositeTemperatureK: number;
  compositeTemperatureC: number;
  availableSparePercent: number;
  availableSpareThresholdPercent: number;
  percentageUsed: number;
  enduranceGroupCriticalWarningSummary: number;
  /** 128-bit counters: numbers when exact, decimal strings beyond 2^53 */
  dataUnitsRead: number | string;
  dataUnitsWritten: number | string;
  hostReadCommands: number | string;
  hostWriteCommands: number | string;
  controllerBusyTimeMinutes: number | string;
  powerCycles: number | string;
  powerOnHours: number | string;
  unsafeShutdowns: number | string;
  mediaAndDataIntegrityErrors: number | string;
  errorLogEntries: number | string;
  warningCompositeTemperatureTimeMinutes: number;
  criticalCompositeTemperatureTimeMinutes: number;
  /** sensors 1-8 that report (non-zero), in kelvin */
  temperatureSensorsK: { sensor: number; kelvin: number; celsius: number }[];
}

/** LID 02h SMART / Health Information (NVMe Base 2.0 Figure 207, 512 bytes). */
export function decodeNvmeSmart(p: Uint8Array): NvmeSmart {
  need(p, 512, 'the SMART / Health Information log');
  const v = view(p);
  const cw = p[0]!;
  const k = v.getUint16(1, true);
  const sensors: NvmeSmart['temperatureSensorsK'] = [];
  for (let i = 0; i < 8; i++) {
    const t = v.getUint16(200 + 2 * i, true);
    if (t !== 0) sensors.push({ sensor: i + 1, kelvin: t, celsius: t - 273 });
  }
  return {
    criticalWarning: {
      raw: cw, availableSpareBelowThreshold: (cw & 1) !== 0, temperature: (cw & 2) !== 0, reliabilityDegraded: (cw & 4) !== 0,
      readOnly: (cw & 8) !== 0, volatileBackupFailed: (cw & 0x10) !== 0, persistentMemoryReadOnly: (cw & 0x20) !== 0,
    },
    compositeTemperatureK: k,
    compositeTemperatureC: k - 273,
    availableSparePercent: p[3]!,
    availableSpareThresholdPercent: p[4]!,
    percentageUsed: p[5]!,
    enduranceGroupCriticalWarningSummary: p[6]!,
    dataUnitsRead: u128(v, 32),
    dataUnitsWritten: u128(v, 48),
    hostReadCommands: u128(v, 64),
    hostWriteCommands: u128(v, 80),
    controllerBusyTimeMinutes: u128(v, 96),
    powerCycles: u128(v, 112),
    powerOnHours: u128(v, 128),
    unsafeShutdowns: u128(v, 144),
    mediaAndDataIntegrityErrors: u128(v, 160),
    errorLogEntries: u128(v, 176),
    warningCompositeTemperatureTimeMinutes: v.getUint32(192, true),
    criticalCompositeTemperatureTimeMinutes: v.getUint32(196, true),
    temperatureSensorsK: sensors,
  };
}

/** LID 03h Firmware Slot Information (Figure 209), 512 bytes: AFI, then 8-byte ASCII revisions of slots 1-7 at 8. */
export function decodeFirmwareSlotLog(p: Uint8Array) {
  need(p, 64, 'the Firmware Slot Information log');
  const afi = p[0]!;
  const slots: { slot: number; revision: string | null }[] = [];
  for (let s = 1; s <= 7; s++) {
    // a slot without firmware (or unsupported) reads as zeros
    const raw = p.subarray(8 * s, 8 * s + 8);
    slots.push({ slot: s, revision: raw.every((b) => b === 0) ? null : ascii(p, 8 * s, 8) });
  }
  return { activeSlot: afi & 7, nextResetSlot: (afi >>> 4) & 7, slots };
}

/**
 * LID 05h Commands Supported and Effects (Figure 210): le32 ACS[256] (admin), le32 IOCS[256] (I/O), then
 * reserved. Only supported (CSUPP) entries are listed, named by the given lookups.
 */
export function decodeNvmeEffectsLog(p: Uint8Array, adminName: (op: number) => string | undefined, ioName: (op: number) => string | undefined) {
  need(p, 1024, 'the Commands Supported and Effects log');
  const v = view(p);
  const list = (base: number, name: (op: number) => string | undefined) => {
    const out: { opcode: string; name: string | null; effects: string[] }[] = [];
    for (let op = 0; op < 256 && base + 4 * op + 4 <= p.byteLength; op++) {
      const e = v.getUint32(base + 4 * op, true);
      if ((e & 1) === 1) out.push({ opcode: hex(op, 2), name: name(op) ?? null, effects: nvmeEffectNames(e) });
    }
    return out;
  };
  return { log: 'Commands Supported and Effects', admin: list(0, adminName), io: list(1024, ioName) };
}

const SANITIZE_STATUS = ['never sanitized', 'completed', 'in progress', 'failed', 'completed (no-deallocate)'];
export const SSTAT_IN_PROGRESS = 2;

export interface SanitizeStatus {
  status: string;
  /** SSTAT bits 2:0 */
  statusCode: number;
  /** while in progress: SPROG as a percentage (SPROG / 65536) */
  percentComplete: number | null;
  overwritePassesCompleted: number;
  globalDataErased: boolean;
  /** the CDW10 of the sanitize command that ran last */
  lastCdw10: string;
  /** estimated seconds per action; null = not reported (FFFFFFFFh) */
  estimatedSeconds: { overwrite: number | null; blockErase: number | null; cryptoErase: number | null };
}

/** LID 81h Sanitize Status (Figure 291), 512 bytes. */
export function decodeSanitizeStatus(p: Uint8Array): SanitizeStatus {
  need(p, 32, 'the Sanitize Status log');
  const v = view(p);
  const sprog = v.getUint16(0, true);
  const sstat = v.getUint16(2, true);
  const code = sstat & 7;
  const est = (at: number): number | null => (v.getUint32(at, true) === 0xffffffff ? null : v.getUint32(at, true));
  return {
    status: SANITIZE_STATUS[code] ?? `reserved (${code})`,
    statusCode: code,
    percentComplete: code === SSTAT_IN_PROGRESS ? Math.floor((sprog * 100) / 65536) : null,
    overwritePassesCompleted: (sstat >>> 3) & 0x1f,
    globalDataErased: (sstat & 0x100) !== 0,
    lastCdw10: hex(v.getUint32(4, true), 8),
    estimatedSeconds: { overwrite: est(8), blockErase: est(12), cryptoErase: est(16) },
  };
}
