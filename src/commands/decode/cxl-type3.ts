import { hex, need, u64, view, ascii } from './bytes.js';

/** Decoders of the CXL type-3 memory device commands' output (CXL r3.1 8.2.9.9). */

/** 4000h Identify Memory Device (8.2.9.9.1.1): 45h bytes (r3.1 layout); capacities in 256 MiB units. */
export function decodeIdentifyMemoryDevice(p: Uint8Array) {
  need(p, 0x43, 'Identify Memory Device output');
  const v = view(p);
  return {
    fwRevision: ascii(p, 0x00, 16),
    /** capacities are multiples of 256 MiB */
    totalCapacityUnits256MiB: u64(v, 0x10),
    volatileOnlyCapacityUnits256MiB: u64(v, 0x18),
    persistentOnlyCapacityUnits256MiB: u64(v, 0x20),
    partitionAlignmentUnits256MiB: u64(v, 0x28),
    eventLogSizes: {
      informational: v.getUint16(0x30, true), warning: v.getUint16(0x32, true), failure: v.getUint16(0x34, true), fatal: v.getUint16(0x36, true),
      ...(p.byteLength >= 0x45 ? { dynamicCapacity: v.getUint16(0x43, true) } : {}),
    },
    lsaBytes: v.getUint32(0x38, true),
    poisonListMaxMediaErrorRecords: v.getUint16(0x3c, true) | (p[0x3e]! << 16),
    injectPoisonLimit: v.getUint16(0x3f, true),
    poisonHandlingCapabilities: hex(p[0x41]!, 2),
    qosTelemetryCapabilities: hex(p[0x42]!, 2),
  };
}

const LEVEL = ['normal', 'warning', 'critical', 'reserved'];
const MEDIA_STATUS = [
  'normal', 'not ready', 'write persistency lost', 'all data lost', 'write persistency loss on power loss',
  'write persistency loss on shutdown', 'write persistency loss imminent', 'all data loss on power loss',
  'all data loss on shutdown', 'all data loss imminent',
];

export interface Type3Health {
  healthStatus: { raw: number; maintenanceNeeded: boolean; performanceDegraded: boolean; hardwareReplacementNeeded: boolean };
  mediaStatus: { raw: number; text: string };
  additionalStatus: { raw: number; lifeUsed: string; deviceTemperature: string; correctedVolatileErrorsOverWarning: boolean; correctedPersistentErrorsOverWarning: boolean };
  /** percent, or null when the device does not report it (FFh) */
  lifeUsedPercent: number | null;
  /** degrees Celsius, or null when not reported (7FFFh) */
  temperatureC: number | null;
  dirtyShutdownCount: number;
  correctedVolatileErrorCount: number;
  correctedPersistentErrorCount: number;
}

/** 4200h Get Health Info output (CXL r3.1 Table 8-100, 12h bytes). */
export function decodeType3Health(p: Uint8Array): Type3Health {
  need(p, 0x12, 'Get Health Info output');
  const v = view(p);
  const hs = p[0]!;
  const ms = p[1]!;
  const as = p[2]!;
  const temp = v.getInt16(4, true);
  return {
    healthStatus: { raw: hs, maintenanceNeeded: (hs & 1) !== 0, performanceDegraded: (hs & 2) !== 0, hardwareReplacementNeeded: (hs & 4) !== 0 },
    mediaStatus: { raw: ms, text: MEDIA_STATUS[ms] ?? 'reserved' },
    additionalStatus: {
      raw: as, lifeUsed: LEVEL[as & 3]!, deviceTemperature: LEVEL[(as >> 2) & 3]!,
      correctedVolatileErrorsOverWarning: (as & 0x10) !== 0, correctedPersistentErrorsOverWarning: (as & 0x20) !== 0,
    },
    lifeUsedPercent: p[3] === 0xff ? null : p[3]!,
    temperatureC: temp === 0x7fff ? null : temp,
    dirtyShutdownCount: v.getUint32(6, true),
    correctedVolatileErrorCount: v.getUint32(0x0a, true),
    correctedPersistentErrorCount: v.getUint32(0x0e, true),
  };
}

