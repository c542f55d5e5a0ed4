import type { ComponentState } from '../cci/cci.js';
import { Effect } from '../cci/effects.js';
import { FeatureAttr, type FeatureDef } from '../cci/features.js';
import { Rc } from '../cci/return-codes.js';
import { uuidBytes } from '../cci/uuid.js';
import { Counter, type Type3State } from './type3-state.js';

/**
 * Features a type-3 device offers through Get Supported Features / Get Feature / Set Feature (CXL r3.1 8.2.9.6).
 * Indexes are the order of TYPE3_FEATURES.
 *
 * 0. Device Patrol Scrub Control (the spec's feature, UUID 96dad7d6-...; r3.1 8.2.9.9.11.1). Readable 4 bytes:
 *    00h scrub cycle capabilities ([0] cycle changeable), 01h le16 scrub cycle ([7:0] current hours, [15:8]
 *    minimum hours supported), 03h flags ([0] enabled). Writable 2 bytes: 00h cycle hours (>= minimum, else
 *    Invalid Input), 01h flags ([0] enable). Version 1/1. Changing it changes configuration immediately.
 * 1. Vendor Media Telemetry (vendor UUID), read-only 16 bytes: 00h format version 1, 01h life used %,
 *    02h s16 temperature (deg C), 04h le32 poison list records, 08h le32 completed scans, 0Ch le32 dirty shutdowns.
 * 2. Vendor Power State Limits (vendor UUID), 256 bytes read and written: 64 x le32 power limit in mW per power
 *    state, each 0 (state unused) or 1000..25000 (else Invalid Input). Takes effect at the next cold reset.
 */

export const PATROL_SCRUB_UUID = uuidBytes('96dad7d6-fde8-482b-a733-75774e06db8a');
export const MEDIA_TELEMETRY_UUID = uuidBytes('5cfc2940-64df-43d8-b844-3e84ad2ab9f0');
export const POWER_LIMITS_UUID = uuidBytes('1422deae-3ab8-44c7-9bc9-da9c739f7df3');

export const PATROL_SCRUB_MIN_CYCLE_HOURS = 1;
export const POWER_STATES = 64;

const powerDefaults = new Uint8Array(POWER_STATES * 4);
{
  const v = new DataView(powerDefaults.buffer);
  for (let i = 0; i < 4; i++) v.setUint32(i * 4, 25000 - 5000 * i, true);
}

const patrolScrub: FeatureDef = {
  uuid: PATROL_SCRUB_UUID,
  name: 'Device Patrol Scrub Control',
  getSize: 4,
  setSize: 2,
  attributes: FeatureAttr.CHANGEABLE | FeatureAttr.PERSIST_COLD_RESET | FeatureAttr.PERSIST_ACROSS_FW_UPDATE
    | FeatureAttr.DEFAULT_SELECTION | FeatureAttr.SAVED_SELECTION,
  getVersion: 1,
  setVersion: 1,
  setEffects: Effect.IMMEDIATE_CONFIG_CHANGE,
  defaults: Uint8Array.of(12, 0x01),
  read(_dev, data, out) {
    out[0] = 0x01;
    out[1] = data![0]!;
    out[2] = PATROL_SCRUB_MIN_CYCLE_HOURS;
    out[3] = data![1]! & 1;
  },
  check(_dev, data) {
    return data[0]! < PATROL_SCRUB_MIN_CYCLE_HOURS ? Rc.INVALID_INPUT : Rc.SUCCESS;
  },
};

const mediaTelemetry: FeatureDef = {
  uuid: MEDIA_TELEMETRY_UUID,
  name: 'Vendor Media Telemetry',
  getSize: 16,
  setSize: 0,
  attributes: 0,
  getVersion: 1,
  setVersion: 0,
  setEffects: 0,
  defaults: null,
  read(dev: ComponentState, _data, out) {
    const d = dev as Type3State;
    const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
    v.setUint8(0, 1);
    v.setUint8(1, d.health.lifeUsed);
    v.setInt16(2, d.health.temperature, true);
    v.setUint32(4, d.poison?.records.length ?? 0, true);
    v.setUint32(8, d.counters?.[Counter.SCANS_COMPLETED] ?? 0, true);
    v.setUint32(12, d.health.dirtyShutdowns, true);
  },
};

const powerLimits: FeatureDef = {
  uuid: POWER_LIMITS_UUID,
  name: 'Vendor Power State Limits',
  getSize: POWER_STATES * 4,
  setSize: POWER_STATES * 4,
  attributes: FeatureAttr.CHANGEABLE | FeatureAttr.PERSIST_COLD_RESET | FeatureAttr.DEFAULT_SELECTION | FeatureAttr.SAVED_SELECTION,
  getVersion: 1,
  setVersion: 1,
  setEffects: Effect.CONFIG_CHANGE_COLD_RESET,
  defaults: powerDefaults,
  read(_dev, data, out) {
    out.set(data!, 0);
  },
  check(_dev, data) {
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let i = 0; i < POWER_STATES; i++) {
      const mw = v.getUint32(i * 4, true);
      if (mw !== 0 && (mw < 1000 || mw > 25000)) return Rc.INVALID_INPUT;
    }
    return Rc.SUCCESS;
  },
};

export const TYPE3_FEATURES: readonly FeatureDef[] = [patrolScrub, mediaTelemetry, powerLimits];
