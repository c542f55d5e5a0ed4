import type { CciRequest, CommandDef } from '../cci/command-table.js';
import { Effect } from '../cci/effects.js';
import { Rc } from '../cci/return-codes.js';
import { EventFlag, EventLogType, newEventRecord } from './event-log.js';
import { MEMORY_MODULE_UUID, postType3Event } from './type3-events.js';
import type { AlertConfig, Type3State } from './type3-state.js';

/**
 * Health and alerts (CXL r3.1 8.2.9.9.3): Get Health Info, Get/Set Alert Configuration, and the Memory Module
 * event records a device posts when a health value crosses a threshold.
 */

/** Critical thresholds: fixed by the device, reported by Get Alert Configuration. */
export const LIFE_USED_CRITICAL = 90;
export const OVER_TEMPERATURE_CRITICAL = 85;
export const UNDER_TEMPERATURE_CRITICAL = -10;

/** Alert bits (4201h bytes 00h/01h, 4202h bytes 00h/01h). */
export const Alert = {
  LIFE_USED: 1 << 0,
  OVER_TEMPERATURE: 1 << 1,
  UNDER_TEMPERATURE: 1 << 2,
  CORRECTED_VOLATILE: 1 << 3,
  CORRECTED_PERSISTENT: 1 << 4,
} as const;
/** Every programmable warning is programmable on this device. */
export const PROGRAMMABLE_ALERTS = 0x1f;

/** Power-on programmable warnings: thresholds set, none enabled. Shared by every device until it changes them. */
export const DEFAULT_ALERTS: Readonly<AlertConfig> = Object.freeze({
  valid: 0,
  lifeWarn: 75,
  overTempWarn: 75,
  underTempWarn: 0,
  correctedVolatileWarn: 100,
  correctedPersistentWarn: 100,
});

/** Memory Module event: device event type (30h). */
export const ModuleEventType = {
  HEALTH_STATUS_CHANGE: 0x00,
  MEDIA_STATUS_CHANGE: 0x01,
  LIFE_USED_CHANGE: 0x02,
  TEMPERATURE_CHANGE: 0x03,
  DATA_PATH_ERROR: 0x04,
  LSA_ERROR: 0x05,
} as const;

export function alertsOf(dev: Type3State): Readonly<AlertConfig> {
  return dev.alerts ?? DEFAULT_ALERTS;
}

/** The 18-byte health block of 4200h, also embedded in Memory Module records at 31h. */
export function writeHealth(dev: Type3State, view: DataView, at: number): void {
  const h = dev.health;
  view.setUint8(at + 0x00, h.status);
  view.setUint8(at + 0x01, h.media);
  view.setUint8(at + 0x02, h.additional);
  view.setUint8(at + 0x03, h.lifeUsed);
  view.setInt16(at + 0x04, h.temperature, true);
  view.setUint32(at + 0x06, h.dirtyShutdowns, true);
  view.setUint32(at + 0x0a, h.correctedVolatile, true);
  view.setUint32(at + 0x0e, h.correctedPersistent, true);
}

/**
 * Additional status (4200h byte 02h) from the health values and thresholds: [1:0] life used and [3:2] device
 * temperature (0 normal, 1 warning = an enabled programmable warning reached, 2 critical), [4]/[5] corrected
 * volatile/persistent error count at or above its enabled warning threshold.
 */
export function additionalStatus(dev: Type3State): number {
  const h = dev.health;
  const a = alertsOf(dev);
  const life = h.lifeUsed >= LIFE_USED_CRITICAL ? 2 : (a.valid & Alert.LIFE_USED) !== 0 && h.lifeUsed >= a.lifeWarn ? 1 : 0;
  const t = h.temperature;
  const temp = t >= OVER_TEMPERATURE_CRITICAL || t <= UNDER_TEMPERATURE_CRITICAL ? 2
    : ((a.valid & Alert.OVER_TEMPERATURE) !== 0 && t >= a.overTempWarn) || ((a.valid & Alert.UNDER_TEMPERATURE) !== 0 && t <= a.underTempWarn) ? 1 : 0;
  const cv = (a.valid & Alert.CORRECTED_VOLATILE) !== 0 && h.correctedVolatile >= a.correctedVolatileWarn ? 1 : 0;
  const cp = (a.valid & Alert.CORRECTED_PERSISTENT) !== 0 && h.correctedPersistent >= a.correctedPersistentWarn ? 1 : 0;
  return life | (temp << 2) | (cv << 4) | (cp << 5);
}

/** Memory Module event record (8.2.9.2.1.3): event type at 30h, the health block at 31h. */
export function memoryModuleRecord(dev: Type3State, eventType: number, severity: number, flags = 0): Uint8Array {
  const r = newEventRecord(MEMORY_MODULE_UUID, severity, flags);
  r[0x30] = eventType;
  writeHealth(dev, new DataView(r.buffer), 0x31);
  return r;
}

const LOG_FOR_LEVEL = [EventLogType.INFORMATIONAL, EventLogType.WARNING, EventLogType.FAILURE];

/**
 * Re-evaluates the additional status and the health status bits it drives ([0] maintenance needed while life
 * used is critical, [1] performance degraded while the temperature is critical). With `emit`, posts one Memory
 * Module record per status that changed, to the log matching its new level (normal -> informational, warning ->
 * warning, critical -> failure). Returns the number of records posted.
 */
export function evaluateHealth(dev: Type3State, nowNs: number, emit: boolean): number {
  const h = dev.health;
  const before = h.additional;
  const after = additionalStatus(dev);
  h.additional = after;
  h.status = (h.status & ~3) | ((after & 3) === 2 ? 1 : 0) | (((after >> 2) & 3) === 2 ? 2 : 0);
  if (!emit || before === after) return 0;
  let posted = 0;
  const groups: [mask: number, shift: number, type: number, flag: number][] = [
    [3, 0, ModuleEventType.LIFE_USED_CHANGE, EventFlag.MAINTENANCE_NEEDED],
    [3, 2, ModuleEventType.TEMPERATURE_CHANGE, EventFlag.PERFORMANCE_DEGRADED],
    [1, 4, ModuleEventType.HEALTH_STATUS_CHANGE, 0],
    [1, 5, ModuleEventType.HEALTH_STATUS_CHANGE, 0],
  ];
  for (const [mask, shift, type, flag] of groups) {
    const was = (before >> shift) & mask;
    const now = (after >> shift) & mask;
    if (was === now) continue;
    const log = LOG_FOR_LEVEL[now]!;
    postType3Event(dev, log, memoryModuleRecord(dev, type, log, now === 2 ? flag : 0), nowNs);
    posted++;
  }
  return posted;
}

/** 4200h Get Health Info (8.2.9.9.3.1): 12h bytes. */
function getHealthInfo(dev: Type3State, req: CciRequest): number {
  writeHealth(dev, req.view, 0);
  req.outLen = 0x12;
  return Rc.SUCCESS;
}

/** 4201h Get Alert Configuration (8.2.9.9.3.2): 10h bytes. */
function getAlertConfig(dev: Type3State, req: CciRequest): number {
  const a = alertsOf(dev);
  const v = req.view;
  v.setUint8(0x00, a.valid);
  v.setUint8(0x01, PROGRAMMABLE_ALERTS);
  v.setUint8(0x02, LIFE_USED_CRITICAL);
  v.setUint8(0x03, a.lifeWarn);
  v.setInt16(0x04, OVER_TEMPERATURE_CRITICAL, true);
  v.setInt16(0x06, UNDER_TEMPERATURE_CRITICAL, true);
  v.setInt16(0x08, a.overTempWarn, true);
  v.setInt16(0x0a, a.underTempWarn, true);
  v.setUint16(0x0c, a.correctedVolatileWarn, true);
  v.setUint16(0x0e, a.correctedPersistentWarn, true);
  req.outLen = 0x10;
  return Rc.SUCCESS;
}

/**
 * 4202h Set Alert Configuration (8.2.9.9.3.3): { valid alert actions, enable alert actions, life warn, rsvd,
 * s16 over-temp warn, s16 under-temp warn, u16 corrected volatile warn, u16 corrected persistent warn }.
 * For each alert named in byte 00h: enable it with the given threshold, or disable it. A warning threshold at
 * or past its critical threshold is Invalid Input, and nothing changes.
 */
function setAlertConfig(dev: Type3State, req: CciRequest): number {
  const v = req.view;
  const which = v.getUint8(0x00);
  const enable = v.getUint8(0x01);
  if ((which & ~PROGRAMMABLE_ALERTS) !== 0) return Rc.INVALID_INPUT;
  const on = (bit: number): boolean => (which & bit) !== 0 && (enable & bit) !== 0;
  const life = v.getUint8(0x02);
  const over = v.getInt16(0x04, true);
  const under = v.getInt16(0x06, true);
  if (on(Alert.LIFE_USED) && life >= LIFE_USED_CRITICAL) return Rc.INVALID_INPUT;
  if (on(Alert.OVER_TEMPERATURE) && (over >= OVER_TEMPERATURE_CRITICAL || over <= UNDER_TEMPERATURE_CRITICAL)) return Rc.INVALID_INPUT;
  if (on(Alert.UNDER_TEMPERATURE) && (under <= UNDER_TEMPERATURE_CRITICAL || under >= OVER_TEMPERATURE_CRITICAL)) return Rc.INVALID_INPUT;
  const a: AlertConfig = { ...alertsOf(dev) };
  a.valid = (a.valid & ~which) | (which & enable);
  if (on(Alert.LIFE_USED)) a.lifeWarn = life;
  if (on(Alert.OVER_TEMPERATURE)) a.overTempWarn = over;
  if (on(Alert.UNDER_TEMPERATURE)) a.underTempWarn = under;
  if (on(Alert.CORRECTED_VOLATILE)) a.correctedVolatileWarn = v.getUint16(0x08, true);
  if (on(Alert.CORRECTED_PERSISTENT)) a.correctedPersistentWarn = v.getUint16(0x0a, true);
  dev.alerts = a;
  evaluateHealth(dev, req.nowNs, false);
  return Rc.SUCCESS;
}

export const HEALTH_COMMANDS: readonly CommandDef<Type3State>[] = [
  { opcode: 0x4200, name: 'Get Health Info', input: 0, effects: 0, duringSanitize: 'run', handler: getHealthInfo },
  { opcode: 0x4201, name: 'Get Alert Configuration', input: 0, effects: 0, handler: getAlertConfig },
  { opcode: 0x4202, name: 'Set Alert Configuration', input: 0x0c, effects: Effect.IMMEDIATE_POLICY_CHANGE, handler: setAlertConfig },
];
