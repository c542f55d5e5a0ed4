import { TierLevel } from '../policy/tiers.js';
import type { Mux } from '../mux/mux.js';
import type { Tier } from '../policy/tiers.js';
import { opcodeHex } from './catalog.js';
import { catalog, type CommandFamily, isNvme } from './families.js';
import { type CommandHints, hintsForTier } from './hints.js';
import { type CommandTarget, commandTarget, unknownDevice } from './target.js';

/**
 * A device's effects log as the mux read it at start, with a name, the tier and the hints of each command,
 * and whether a session may send it: `mbxmux effects`, MCP read_effects_log and the effects resources all
 * print this. An NVMe controller's log has two halves: admin opcodes, and I/O opcodes (listed with set "io").
 */

export interface EffectsEntry {
  opcode: string;
  /** NVMe only: the admin queue's command set or the I/O queues' (NVM command set) */
  set?: 'admin' | 'io';
  name: string | null;
  effects: string[];
  tier: string;
  /** a session with this view's tier and host may send it */
  allowed: boolean;
  reason: string;
  hints: CommandHints;
}

export interface EffectsView {
  device: string;
  family: CommandFamily;
  sessionTier: Tier;
  /** the session may address the device at all (its host binding) */
  reachable: boolean;
  unreachableReason?: string;
  commands: number;
  entries: EffectsEntry[];
}

export interface Viewer {
  tier: Tier;
  host: number;
  fabricManager: boolean;
}

/** NVMe log 05h entries 100h-1FFh are the I/O opcodes (the policy's index for I/O queue commands). */
const NVME_IO_BASE = 0x100;

export function effectsView(mux: Mux, device: string, who: Viewer): EffectsView {
  const d = mux.fleet.byId.get(device);
  if (d === undefined) throw unknownDevice(device);
  const { family } = commandTarget(mux.fleet, device);
  const nvme = family === 'nvme';
  const level = TierLevel[who.tier];
  // an MLD's FM-owned LD answers only through a tunnel from its switch, even to the fabric manager
  const why = d.tunnelOnly !== undefined
    ? `${device} answers only through a tunnel from ${mux.fleet.devices[d.tunnelOnly.via]!.id} port ${d.tunnelOnly.port}${who.fabricManager ? '' : ', for fabric-manager sessions'}`
    : mux.policy.hostRefusal(who, d.mctp ? d.mctp.fronts : d.index);
  const entries = mux.effects(device).map((e): EffectsEntry => {
    const io = nvme && e.opcode >= NVME_IO_BASE;
    const op = io ? e.opcode - NVME_IO_BASE : e.opcode;
    const tierOk = e.tier !== 'refused' && TierLevel[e.tier as Tier] <= level && !(e.tier === 'fabric-destructive' && !mux.gates.fabricDestructive);
    return {
      opcode: opcodeHex(op, nvme),
      ...(nvme ? { set: io ? 'io' as const : 'admin' as const } : {}),
      name: catalog(io ? 'nvme-io' : family).nameOf(op) ?? null,
      effects: e.effectNames,
      tier: e.tier,
      allowed: why === null && tierOk,
      reason: e.reason,
      hints: hintsForTier(e.tier),
    };
  });
  return {
    device, family, sessionTier: who.tier, reachable: why === null, ...(why !== null ? { unreachableReason: why } : {}),
    commands: entries.length, entries,
  };
}

export interface CallHints extends CommandHints {
  /** the tier the target's effects log gives the command ('refused': the log does not declare it) */
  tier: string;
  effects: string[];
  /** where the hints come from */
  decidedBy: string;
}

/** The hints of one command on its final target (the device at the end of a tunnel or behind an endpoint). */
export function callHints(mux: Mux, target: CommandTarget, opcode: number): CallHints {
  const io = target.family === 'nvme-io';
  const index = io ? NVME_IO_BASE + opcode : opcode;
  const e = mux.effects(target.device.id).find((x) => x.opcode === index);
  const op = opcodeHex(opcode, isNvme(target.family));
  const log = isNvme(target.family) ? `Commands Supported and Effects log${io ? ' (I/O half)' : ''}` : 'Command Effects Log';
  if (e === undefined) {
    return { ...hintsForTier('refused'), tier: 'refused', effects: [], decidedBy: `${target.device.id} does not declare ${op} in its ${log}: the worst is assumed` };
  }
  return {
    ...hintsForTier(e.tier), tier: e.tier, effects: e.effectNames,
    decidedBy: `${target.device.id}'s ${log} entry for ${op}${e.effectNames.length ? ` (${e.effectNames.join(', ')})` : ' (no effects)'}: tier ${e.tier}`,
  };
}
