import type { CciRequest, CommandDef } from '../cci/command-table.js';
import { Effect } from '../cci/effects.js';
import { Rc } from '../cci/return-codes.js';
import { CAPACITY_UNIT, readU64, type Type3State } from './type3-state.js';

/**
 * Capacity partitioning (CXL r3.1 8.2.9.9.2.1-8.2.9.9.2.2). The whole static capacity is partitionable
 * (Identify Memory Device: volatile-only 0, persistent-only 0) with a 256 MiB alignment. Power-on split: half
 * volatile (rounded down), the rest persistent.
 */

/** Partition alignment, 256 MiB units (Identify Memory Device 28h). */
export const PARTITION_ALIGN_UNITS = 1;

export function totalUnits(dev: Type3State): number {
  return Math.floor(dev.capacityBytes / CAPACITY_UNIT);
}

/** 4100h Get Partition Info (8.2.9.9.2.1): active volatile/persistent, next volatile/persistent (256 MiB units). */
function getPartitionInfo(dev: Type3State, req: CciRequest): number {
  const v = req.view;
  const total = totalUnits(dev);
  v.setBigUint64(0x00, BigInt(dev.volatileUnits), true);
  v.setBigUint64(0x08, BigInt(total - dev.volatileUnits), true);
  const next = dev.nextVolatileUnits;
  v.setBigUint64(0x10, next < 0 ? 0n : BigInt(next), true);
  v.setBigUint64(0x18, next < 0 ? 0n : BigInt(total - next), true);
  req.outLen = 0x20;
  return Rc.SUCCESS;
}

/**
 * 4101h Set Partition Info (8.2.9.9.2.2): { le64 volatile capacity (256 MiB units), u8 flags [0] Immediate }.
 * 9 bytes per the spec; 10 are accepted too because Linux's UAPI sends 10. The capacity must be a multiple of
 * the partition alignment and at most the total (else Invalid Input). Without Immediate the change is staged
 * for the next cold reset (Get Partition Info "next" fields).
 */
function setPartitionInfo(dev: Type3State, req: CciRequest): number {
  const vol = readU64(req.view, 0);
  const immediate = (req.payload[8]! & 1) !== 0;
  if (vol < 0 || vol > totalUnits(dev) || vol % PARTITION_ALIGN_UNITS !== 0) return Rc.INVALID_INPUT;
  if (immediate) {
    dev.volatileUnits = vol;
    dev.nextVolatileUnits = -1;
  } else {
    dev.nextVolatileUnits = vol;
  }
  return Rc.SUCCESS;
}

export const PARTITION_COMMANDS: readonly CommandDef<Type3State>[] = [
  { opcode: 0x4100, name: 'Get Partition Info', input: 0, effects: 0, duringSanitize: 'media-disabled', handler: getPartitionInfo },
  {
    opcode: 0x4101, name: 'Set Partition Info', input: { min: 9, max: 10 },
    effects: Effect.CONFIG_CHANGE_COLD_RESET | Effect.IMMEDIATE_CONFIG_CHANGE | Effect.IMMEDIATE_DATA_CHANGE,
    duringSanitize: 'media-disabled', handler: setPartitionInfo,
  },
];
