import {
  ConnectedDeviceMode, ConnectedDeviceType, LinkStateFlag, Ltssm, PortConfigState,
} from '../devices/cxl/switch-ports.js';
import { rcName } from '../devices/cci/return-codes.js';
import { describeStatus } from '../devices/nvme/status.js';
import { BadRequestError } from '../errors.js';
import type { Mux } from '../mux/mux.js';
import type { Session } from '../mux/session.js';
import type { CommandResult } from '../mux/types.js';
import { type CommandFamily, familyOf, getLogCdw10 } from './command-names.js';

/**
 * Health of one device, decoded into named fields: a type-3 device's Get Health Info (4200h), an NVMe
 * controller's SMART / Health Information log (02h), a switch's Get Physical Port State (5101h) for every
 * port. An MCTP endpoint answers for the component it fronts.
 */

const reverse = (o: Record<string, number>): Map<number, string> => new Map(Object.entries(o).map(([k, v]) => [v, k]));
const PORT_CONFIG = reverse(PortConfigState);
const DEVICE_MODE = reverse(ConnectedDeviceMode);
const DEVICE_TYPE = reverse(ConnectedDeviceType);
const LTSSM = reverse(Ltssm);
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
  if (p.byteLength < 0x12) throw new BadRequestError(`Get Health Info returned ${p.byteLength} bytes, expected 18`);
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
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

function u128(v: DataView, at: number): number | string {
  const lo = v.getBigUint64(at, true);
  const hi = v.getBigUint64(at + 8, true);
  const n = (hi << 64n) | lo;
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

/** LID 02h SMART / Health Information (NVMe Base 2.0 Figure 207, 512 bytes). */
export function decodeNvmeSmart(p: Uint8Array): NvmeSmart {
  if (p.byteLength < 512) throw new BadRequestError(`the SMART log is ${p.byteLength} bytes, expected 512`);
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
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

export interface PortState {
  port: number;
  configState: string;
  connectedDeviceMode: string;
  connectedDeviceType: string;
  maxLinkWidth: number;
  negotiatedLinkWidth: number;
  maxLinkSpeedGTs: number | null;
  currentLinkSpeedGTs: number | null;
  ltssm: string;
  perstAsserted: boolean;
  presenceDetected: boolean;
  laneReversed: boolean;
  poweredOff: boolean;
  supportedLdCount: number;
  linkUp: boolean;
}

const SPEED_GTS = [0, 2.5, 5, 8, 16, 32, 64];

/** 5101h Get Physical Port State output: { n, 3 rsvd, n x 16-byte port info } (CXL r3.2 Table 7-19). */
export function decodePortStates(p: Uint8Array): PortState[] {
  const n = p[0] ?? 0;
  const out: PortState[] = [];
  for (let i = 0; i < n && 4 + 16 * (i + 1) <= p.byteLength; i++) {
    const at = 4 + 16 * i;
    const flags = p[at + 0x0d]! | (p[at + 0x0e]! << 8);
    const ltssm = p[at + 0x0b]!;
    out.push({
      port: p[at]!,
      configState: PORT_CONFIG.get(p[at + 1]! & 0xf) ?? `0x${(p[at + 1]! & 0xf).toString(16)}`,
      connectedDeviceMode: DEVICE_MODE.get(p[at + 2]! & 0xf) ?? `0x${(p[at + 2]! & 0xf).toString(16)}`,
      connectedDeviceType: DEVICE_TYPE.get(p[at + 4]!) ?? `0x${p[at + 4]!.toString(16)}`,
      maxLinkWidth: p[at + 6]!,
      negotiatedLinkWidth: p[at + 7]!,
      maxLinkSpeedGTs: SPEED_GTS[p[at + 9]!] || null,
      currentLinkSpeedGTs: SPEED_GTS[p[at + 0x0a]!] || null,
      ltssm: LTSSM.get(ltssm) ?? `0x${ltssm.toString(16)}`,
      perstAsserted: (flags & LinkStateFlag.PERST_ASSERTED) !== 0,
      presenceDetected: (flags & LinkStateFlag.PRSNT_PRESENT) !== 0,
      laneReversed: (flags & LinkStateFlag.LANE_REVERSAL) !== 0,
      poweredOff: (flags & LinkStateFlag.POWER_OFF) !== 0,
      supportedLdCount: p[at + 0x0f]!,
      linkUp: ltssm === Ltssm.L0,
    });
  }
  return out;
}

export type DeviceHealth =
  | { device: string; family: 'cxl-type3'; command: 'Get Health Info (4200h)'; health: Type3Health }
  | { device: string; family: 'nvme'; command: 'Get Log Page: SMART / Health Information (02h)'; health: NvmeSmart }
  | { device: string; family: 'cxl-switch'; command: 'Get Physical Port State (5101h)'; ports: PortState[]; portCount: number };

function ok(r: CommandResult, what: string, device: string, nvme = false): void {
  if (r.rc !== 0) {
    throw new BadRequestError(`${device} answered ${what} with ${nvme ? describeStatus(r.rc) : rcName(r.rc)} (rc 0x${r.rc.toString(16)})`, { device, rc: r.rc });
  }
}

/** Reads and decodes one device's health through `session` (its tier applies). */
export async function readHealth(mux: Mux, session: Session, device: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<DeviceHealth> {
  const family: CommandFamily = familyOf(mux, device);
  const base = { device, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) };
  switch (family) {
    case 'cxl-type3': {
      const r = await session.send({ ...base, opcode: 0x4200 });
      ok(r, 'Get Health Info', device);
      return { device, family, command: 'Get Health Info (4200h)', health: decodeType3Health(r.payload) };
    }
    case 'nvme': {
      const r = await session.send({ ...base, opcode: 0x02, nsid: 0xffffffff, cdw10: getLogCdw10(0x02, 512) });
      ok(r, 'Get Log Page (SMART / Health Information)', device, true);
      return { device, family, command: 'Get Log Page: SMART / Health Information (02h)', health: decodeNvmeSmart(r.payload) };
    }
    case 'cxl-switch': {
      const id = await session.send({ ...base, opcode: 0x5100 });
      ok(id, 'Identify Switch Device', device);
      const portCount = id.payload[2] ?? 0;
      const q = new Uint8Array(1 + portCount);
      q[0] = portCount;
      for (let i = 0; i < portCount; i++) q[1 + i] = i;
      const r = await session.send({ ...base, opcode: 0x5101, payload: q });
      ok(r, 'Get Physical Port State', device);
      return { device, family, command: 'Get Physical Port State (5101h)', portCount, ports: decodePortStates(r.payload) };
    }
    case 'cxl-mld': {
      const d = mux.devices().find((x) => x.id === device);
      const via = d?.reachableVia;
      throw new BadRequestError(`${device} is an MLD's FM-owned LD: it has no health command; read its LDs with send_command`
        + (via ? ` { device: "${via.device}", tunnel: [${via.port}], opcode: "Get LD Info" } (fabric-manager sessions only)` : ''), { device });
    }
  }
}
