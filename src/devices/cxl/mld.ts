import { BackgroundOp } from '../cci/background.js';
import type { ComponentState } from '../cci/cci.js';
import { type CciRequest, type CommandDef, CommandSet } from '../cci/command-table.js';
import { Effect } from '../cci/effects.js';
import { GENERIC_COMMANDS } from '../cci/generic.js';
import { Rc } from '../cci/return-codes.js';
import type { DeviceDescriptor } from '../../fleet/types.js';
import { tunnelCommand } from './tunnel.js';
import { EMULATOR_VENDOR_ID, TYPE3_DEVICE_ID } from './type3.js';

/**
 * The FM-owned LD (LD FFFFh) of a multi-logical device: the CCI a fabric manager reaches through a switch
 * tunnel. Commands: the generic component set, the MLD Component set 54h (Get LD Info, Get / Set LD
 * Allocations, CXL r3.2 §7.6.7.4) and Tunnel Management 5300h to LD n (§7.6.7.3.1).
 */

/** Memory Granularity codes of Get/Set LD Allocations (0 = 256 MB, 1 = 512 MB, 2 = 1 GB). */
export const LdGranularity = { MB256: 0, MB512: 1, GB1: 2 } as const;
const GRANULARITY_BYTES = [256 * 2 ** 20, 512 * 2 ** 20, 2 ** 30];

/** 5400h output size (Table: le64 memory size, le16 LD count, u8 QoS telemetry capability) */
export const LD_INFO_BYTES = 0x0b;
/** one LD allocation entry: le64 Range 1 multiplier, le64 Range 2 multiplier */
export const LD_ALLOCATION_ENTRY_BYTES = 16;

export interface MldState extends ComponentState {
  /** the logical devices, LD i at index i: the same state objects their own mailboxes serve */
  readonly lds: readonly ComponentState[];
  /** Memory Size of Get LD Info: all the capacity the LDs can be given */
  readonly memoryBytes: number;
  /** granularity code (LdGranularity) */
  readonly granularity: number;
  /** [2i] Range 1 and [2i+1] Range 2 multiplier of LD i, in granularity units */
  readonly alloc: Float64Array;
}

function ldCapacity(c: ComponentState): number {
  const cap = (c as { capacityBytes?: unknown }).capacityBytes;
  return typeof cap === 'number' && Number.isFinite(cap) && cap > 0 ? cap : 0;
}

/** 5400h Get LD Info (§7.6.7.4.1): 0Bh bytes. */
function getLdInfo(dev: MldState, req: CciRequest): number {
  const v = req.view;
  v.setBigUint64(0x00, BigInt(dev.memoryBytes), true);
  v.setUint16(0x08, dev.lds.length, true);
  v.setUint8(0x0a, 0); // QoS telemetry: neither egress-port congestion nor temporary throughput reduction
  req.outLen = LD_INFO_BYTES;
  return Rc.SUCCESS;
}

function writeAllocation(dev: MldState, req: CciRequest, at: number, ld: number): void {
  req.view.setBigUint64(at, BigInt(dev.alloc[2 * ld]!), true);
  req.view.setBigUint64(at + 8, BigInt(dev.alloc[2 * ld + 1]!), true);
}

/**
 * 5401h Get LD Allocations (§7.6.7.4.2): { Start LD ID, List Limit } -> { Number of LDs, Granularity,
 * Start LD ID, List Length L, L entries }. L = min(limit, LDs from Start on, what fits the payload); a start
 * past the last LD gives an empty list (the spec lists no Invalid Input for this command).
 */
function getLdAllocations(dev: MldState, req: CciRequest): number {
  const p = req.payload;
  const start = p[0]!;
  const limit = p[1]!;
  const n = dev.lds.length;
  const fits = Math.floor((p.byteLength - 4) / LD_ALLOCATION_ENTRY_BYTES);
  const count = Math.max(0, Math.min(limit, n - start, fits));
  p[0] = n;
  p[1] = dev.granularity;
  p[2] = start;
  p[3] = count;
  for (let i = 0; i < count; i++) writeAllocation(dev, req, 4 + i * LD_ALLOCATION_ENTRY_BYTES, start + i);
  req.outLen = 4 + count * LD_ALLOCATION_ENTRY_BYTES;
  return Rc.SUCCESS;
}

/**
 * 5402h Set LD Allocations (§7.6.7.4.3): { Number of LDs N, Start LD ID, 2 rsvd, N entries } -> the same
 * layout with the allocations now in force. All or nothing: N = 0, LDs past the last one, or a total over
 * the memory size -> Invalid Input (Resources Exhausted is not among this command's return codes), and
 * nothing changes. A type-3 LD's capacity follows its allocation (what Identify Memory Device reports).
 */
function setLdAllocations(dev: MldState, req: CciRequest): number {
  const p = req.payload;
  const v = req.view;
  const count = p[0]!;
  const start = p[1]!;
  const n = dev.lds.length;
  if (count === 0 || start + count > n) return Rc.INVALID_INPUT;
  const unit = BigInt(GRANULARITY_BYTES[dev.granularity]!);
  const limit = BigInt(dev.memoryBytes) / unit;
  let total = 0n;
  for (let ld = 0; ld < n; ld++) {
    if (ld >= start && ld < start + count) {
      const at = 4 + (ld - start) * LD_ALLOCATION_ENTRY_BYTES;
      total += v.getBigUint64(at, true) + v.getBigUint64(at + 8, true);
    } else {
      total += BigInt(dev.alloc[2 * ld]!) + BigInt(dev.alloc[2 * ld + 1]!);
    }
    if (total > limit) return Rc.INVALID_INPUT;
  }
  for (let i = 0; i < count; i++) {
    const ld = start + i;
    const at = 4 + i * LD_ALLOCATION_ENTRY_BYTES;
    const r1 = Number(v.getBigUint64(at, true));
    const r2 = Number(v.getBigUint64(at + 8, true));
    dev.alloc[2 * ld] = r1;
    dev.alloc[2 * ld + 1] = r2;
    const target = dev.lds[ld] as { capacityBytes?: unknown };
    if (typeof target.capacityBytes === 'number') target.capacityBytes = (r1 + r2) * Number(unit);
  }
  p[2] = 0;
  p[3] = 0;
  for (let i = 0; i < count; i++) writeAllocation(dev, req, 4 + i * LD_ALLOCATION_ENTRY_BYTES, start + i);
  req.outLen = 4 + count * LD_ALLOCATION_ENTRY_BYTES;
  return Rc.SUCCESS;
}

/** Tunnel target at an MLD: LD n, 0 <= n < LD count. The FM-owned LD itself (FFFFh) is not a target. */
function resolveLd(dev: MldState, ld: number): ComponentState | number {
  return ld < dev.lds.length ? dev.lds[ld]! : Rc.INVALID_INPUT;
}

/** Set LD Allocations effects: config change after cold / conventional / CXL reset + immediate config and
 *  data change, with bit 9 saying bits 11:10 are valid (spec numbering: 0E07h). */
export const SET_LD_ALLOCATIONS_EFFECTS =
  Effect.CONFIG_CHANGE_COLD_RESET | Effect.IMMEDIATE_CONFIG_CHANGE | Effect.IMMEDIATE_DATA_CHANGE |
  Effect.CONVENTIONAL_CXL_RESET_VALID | Effect.CONFIG_CHANGE_CONVENTIONAL_RESET | Effect.CONFIG_CHANGE_CXL_RESET;

const MLD_COMMANDS: readonly CommandDef<MldState>[] = [
  ...(GENERIC_COMMANDS as readonly CommandDef<MldState>[]),
  tunnelCommand<MldState>(resolveLd),
  { opcode: 0x5400, name: 'Get LD Info', input: 0, effects: 0, handler: getLdInfo },
  { opcode: 0x5401, name: 'Get LD Allocations', input: 2, effects: 0, handler: getLdAllocations },
  {
    opcode: 0x5402, name: 'Set LD Allocations',
    input: { min: 4, exact: (p) => 4 + LD_ALLOCATION_ENTRY_BYTES * p[0]! },
    effects: SET_LD_ALLOCATIONS_EFFECTS, handler: setLdAllocations,
  },
];

/** The MLD FM-owned LD command set (one instance for every MLD). */
export const MLD_COMMAND_SET = new CommandSet<MldState>('cxl-mld-fm-ld', MLD_COMMANDS);

export function isMldState(c: ComponentState): c is MldState {
  return c.commands === MLD_COMMAND_SET;
}

/**
 * Power-on state of an MLD's FM-owned LD. `lds[i]` is LD i's state (the object that LD's own mailbox
 * serves, so tunnelled and direct commands see one state). Memory Size is the sum of the LDs' capacities;
 * each LD starts with its capacity as its Range 1 allocation (256 MB granularity).
 */
export function newMldState(d: DeviceDescriptor, lds: ComponentState[]): MldState {
  if (lds.length < 1 || lds.length > 16) throw new RangeError(`${d.id}: an MLD has 1 to 16 LDs, got ${lds.length}`);
  const granularity = LdGranularity.MB256;
  const unit = GRANULARITY_BYTES[granularity]!;
  const alloc = new Float64Array(2 * lds.length);
  let memoryBytes = 0;
  lds.forEach((ld, i) => {
    const cap = ldCapacity(ld);
    alloc[2 * i] = Math.floor(cap / unit);
    memoryBytes += cap;
  });
  return {
    commands: MLD_COMMAND_SET,
    identity: {
      vendorId: EMULATOR_VENDOR_ID,
      deviceId: TYPE3_DEVICE_ID,
      subsystemVendorId: EMULATOR_VENDOR_ID,
      subsystemId: 0x0002,
      serial: d.serial,
      maxMessageSizeLog2: Math.log2(d.mailboxBytes),
      componentType: 0x03,
    },
    bg: new BackgroundOp(),
    timestamp: null,
    lds: lds.slice(),
    memoryBytes,
    granularity,
    alloc,
  };
}
