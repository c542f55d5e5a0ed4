import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';
import { BadRequestError } from '../errors.js';
import type { VendorRules } from '../policy/policy-table.js';
import { parseTier, TierLevel } from '../policy/tiers.js';
import { intOption, maxWorkers, maxWorkersWhy, numberOption, timeoutOption } from '../validate.js';
import type { MuxOptions } from './types.js';

/** quick polls (see Mux.quickPoll) never extend one event-loop turn beyond this: timers and I/O get their turn */
export const MAX_TURN_NS = 100_000;
/** spin, nap and poll budgets above a second only burn a core */
const MAX_BUDGET_US = 1_000_000;
const MAX_COUNT = 1 << 20;
/** in-flight counters per device are 16 bits wide */
const MAX_DEVICE_WINDOW = 65535;
const MAX_AUDIT_RECORDS = 10_000_000;
const RESOURCE_LIMITS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;

/** MuxOptions checked and resolved to what the mux runs with (every default filled in). */
export interface MuxSettings {
  workers: number;
  ringSlots: number;
  shardWindow: number;
  sessionWindow: number;
  sharedSessionWindow: number;
  deviceWindow: number;
  sharedDeviceWindow: number;
  spinNs: number;
  napNs: number;
  pollNs: number;
  mainSpinNs: number;
  maxSpinners: number;
  defaultTimeoutMs: number;
  maxRestarts: number;
  restartWindowMs: number;
  startTimeoutMs: number;
  auditLimit: number;
  resourceLimits: ResourceLimits | undefined;
  vendorRules: VendorRules;
  noTimeoutLevel: number;
}

/**
 * Checks every option before anything is started (the shared validators of src/validate.ts) and fills in
 * the defaults documented on MuxOptions. Throws BadRequestError naming the option and its range.
 */
export function resolveMuxOptions(opts: MuxOptions): MuxSettings {
  if (typeof opts !== 'object' || opts === null) throw new BadRequestError('createMux() takes an options object');
  const cores = availableParallelism();
  const ringSlots = intOption(opts.ringSlots, 'ringSlots', 2, MAX_COUNT, 4096);
  if ((ringSlots & (ringSlots - 1)) !== 0) throw new BadRequestError(`ringSlots must be a power of two (got ${ringSlots})`, { option: 'ringSlots' });
  const sessionWindow = intOption(opts.sessionWindow, 'sessionWindow', 1, MAX_COUNT, 128);
  const deviceWindow = intOption(opts.deviceWindow, 'deviceWindow', 1, MAX_DEVICE_WINDOW, 16);
  return {
    workers: intOption(opts.workers, 'workers', 1, maxWorkers(), cores, maxWorkersWhy()),
    ringSlots,
    shardWindow: Math.min(intOption(opts.shardWindow, 'shardWindow', 1, MAX_COUNT, 1024), ringSlots / 2),
    sessionWindow,
    sharedSessionWindow: Math.min(sessionWindow, intOption(opts.sharedSessionWindow, 'sharedSessionWindow', 1, MAX_COUNT, 32)),
    deviceWindow,
    sharedDeviceWindow: Math.min(deviceWindow, intOption(opts.sharedDeviceWindow, 'sharedDeviceWindow', 1, MAX_DEVICE_WINDOW, 4)),
    spinNs: numberOption(opts.spinUs, 'spinUs', 0, MAX_BUDGET_US, 50) * 1000,
    napNs: numberOption(opts.napUs, 'napUs', 0, MAX_BUDGET_US, 0) * 1000,
    pollNs: numberOption(opts.pollUs, 'pollUs', 0, MAX_BUDGET_US, 200) * 1000,
    mainSpinNs: numberOption(opts.mainSpinUs, 'mainSpinUs', 0, MAX_TURN_NS / 1000, 20, ' (the most one event-loop turn may poll)') * 1000,
    maxSpinners: intOption(opts.maxSpinners, 'maxSpinners', 0, maxWorkers(), Math.max(0, cores - 1)),
    defaultTimeoutMs: timeoutOption(opts.defaultTimeoutMs, 'defaultTimeoutMs', 5000),
    maxRestarts: intOption(opts.maxRestarts, 'maxRestarts', 0, MAX_COUNT, 5),
    restartWindowMs: timeoutOption(opts.restartWindowMs, 'restartWindowMs', 10_000),
    startTimeoutMs: timeoutOption(opts.startTimeoutMs, 'startTimeoutMs', 30_000, 1),
    auditLimit: intOption(opts.audit?.limit, 'audit.limit', 1, MAX_AUDIT_RECORDS, 10_000),
    resourceLimits: resourceLimitsOf(opts.resourceLimits),
    vendorRules: parseVendorRules(opts.vendorRules),
    noTimeoutLevel: TierLevel[parseTier(opts.noTimeoutTier ?? 'debug-write-full')],
  };
}

function resourceLimitsOf(v: MuxOptions['resourceLimits']): ResourceLimits | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null) throw new BadRequestError('resourceLimits must be an object', { option: 'resourceLimits' });
  for (const k of Object.keys(v)) {
    if (!(RESOURCE_LIMITS as readonly string[]).includes(k)) throw new BadRequestError(`resourceLimits.${k} is not a worker resource limit; use ${RESOURCE_LIMITS.join(', ')}`);
    numberOption(v[k as keyof ResourceLimits], `resourceLimits.${k}`, 0, MAX_COUNT, 0);
  }
  return v;
}

/** `{ cxl: { '0xc002': 'debug-write-full' }, nvme: { '0xc5': 'debug-write-full' } }` -> opcode -> level maps. */
function parseVendorRules(v: MuxOptions['vendorRules']): VendorRules {
  const out: Record<'cxl' | 'nvme', Map<number, number>> = { cxl: new Map(), nvme: new Map() };
  for (const proto of ['cxl', 'nvme'] as const) {
    for (const [k, tier] of Object.entries(v?.[proto] ?? {})) {
      const op = Number(k);
      const max = proto === 'cxl' ? 0xffff : 0xff;
      if (!Number.isInteger(op) || op < 0 || op > max) throw new BadRequestError(`vendorRules.${proto}: "${k}" is not an opcode (0..0x${max.toString(16)})`);
      out[proto].set(op, TierLevel[parseTier(tier)]);
    }
  }
  return out;
}
