import type { CciRequest, CommandDef } from '../cci/command-table.js';
import { Effect } from '../cci/effects.js';
import { Rc } from '../cci/return-codes.js';
import { evaluateHealth } from './type3-health.js';
import { COUNTER_COUNT, type Type3State } from './type3-state.js';

/**
 * Vendor-specific commands (opcodes C000h-FFFFh). Whether a device has them, and whether its CEL lists them,
 * depends on its VendorMode (type3.ts).
 *
 * C000h Get Vendor Debug Counters (read-only, effects 0), no input; output 28h bytes: 00h le16 format version 1,
 *   02h le16 counter count (8), 04h 4 reserved, 08h 8 x le32: poison injected, poison cleared, scans completed,
 *   scans aborted, sanitizes, secure erases, DC extents added, DC extents released.
 * C001h Set Vendor Health Override (effects: immediate configuration change + immediate log change), input 0Ch:
 *   00h u8 fields to set ([0] life used, [1] temperature, [2] corrected volatile count, [3] corrected persistent
 *   count; 0 or bits 7:4 -> Invalid Input), 01h u8 life used % (0..100), 02h s16 temperature deg C (-100..200),
 *   04h le32 corrected volatile error count, 08h le32 corrected persistent error count. The device behaves as if
 *   it measured these values: alert thresholds are evaluated and Memory Module records are posted for each
 *   status that changes (how a lab injects a health event).
 */

export const VENDOR_OPCODES: readonly number[] = [0xc000, 0xc001];

function getDebugCounters(dev: Type3State, req: CciRequest): number {
  const len = 8 + COUNTER_COUNT * 4;
  req.payload.fill(0, 0, len);
  const v = req.view;
  v.setUint16(0, 1, true);
  v.setUint16(2, COUNTER_COUNT, true);
  const c = dev.counters;
  if (c !== null) for (let i = 0; i < COUNTER_COUNT; i++) v.setUint32(8 + i * 4, c[i]!, true);
  req.outLen = len;
  return Rc.SUCCESS;
}

function setHealthOverride(dev: Type3State, req: CciRequest): number {
  const v = req.view;
  const fields = v.getUint8(0);
  const life = v.getUint8(1);
  const temp = v.getInt16(2, true);
  if (fields === 0 || (fields & 0xf0) !== 0) return Rc.INVALID_INPUT;
  if ((fields & 1) !== 0 && life > 100) return Rc.INVALID_INPUT;
  if ((fields & 2) !== 0 && (temp < -100 || temp > 200)) return Rc.INVALID_INPUT;
  const h = dev.health;
  if ((fields & 1) !== 0) h.lifeUsed = life;
  if ((fields & 2) !== 0) h.temperature = temp;
  if ((fields & 4) !== 0) h.correctedVolatile = v.getUint32(4, true);
  if ((fields & 8) !== 0) h.correctedPersistent = v.getUint32(8, true);
  evaluateHealth(dev, req.nowNs, true);
  return Rc.SUCCESS;
}

export const VENDOR_COMMANDS: readonly CommandDef<Type3State>[] = [
  { opcode: 0xc000, name: 'Get Vendor Debug Counters', input: 0, effects: 0, handler: getDebugCounters },
  {
    opcode: 0xc001, name: 'Set Vendor Health Override', input: 0x0c,
    effects: Effect.IMMEDIATE_CONFIG_CHANGE | Effect.IMMEDIATE_LOG_CHANGE, handler: setHealthOverride,
  },
];
