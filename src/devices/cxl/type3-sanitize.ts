import type { CciRequest, CommandDef } from '../cci/command-table.js';
import { Effect } from '../cci/effects.js';
import { BG_TIMING } from '../cci/generic.js';
import { Rc } from '../cci/return-codes.js';
import { EventLogType } from './event-log.js';
import { postType3Event } from './type3-events.js';
import { memoryModuleRecord, ModuleEventType } from './type3-health.js';
import { LATENT_ALL_DONE, scanRunning } from './type3-poison.js';
import { bump, Counter, GiB, type Type3State } from './type3-state.js';

/**
 * Sanitize and Secure Erase (CXL r3.1 8.2.9.9.5).
 *
 * While Sanitize runs the media is disabled. Each command's table entry says what it does then (its
 * `duringSanitize` column): Get Health Info (4200h) and Background Operation Status (0002h) run; commands that
 * touch the media answer Media Disabled; every other command Busy.
 * When it completes: the LSA, the media, the poison list and scan results, and the informational, warning,
 * failure and fatal event logs are cleared (the Dynamic Capacity log is kept: it carries capacity offers, not
 * media contents), latent media errors are gone, the media is enabled again, and a Memory Module record
 * (media status change) is posted.
 */

export const SANITIZE_OPCODE = 0x4400;

export function sanitizing(dev: Type3State): boolean {
  return dev.bg.running && dev.bg.opcode === SANITIZE_OPCODE;
}

/** The sanitize part of the type-3 gate, from the command's table entry: an rc, or -1 if the command may run. */
export function sanitizeGate(dev: Type3State, cmd: CommandDef<any>): number {
  if (!sanitizing(dev) || cmd.duringSanitize === 'run') return -1;
  return cmd.duringSanitize === 'media-disabled' ? Rc.MEDIA_DISABLED : Rc.BUSY;
}

/** How long sanitizing this device takes (BG_TIMING): per GiB of capacity, bounded. */
export function sanitizeNs(dev: Type3State): number {
  const t = (BG_TIMING.sanitizeNsPerGiB * dev.capacityBytes) / GiB;
  return Math.min(BG_TIMING.sanitizeMaxNs, Math.max(BG_TIMING.sanitizeMinNs, t));
}

/** 4400h Sanitize (8.2.9.9.5.1), background, no payload. Not abortable. */
function sanitize(dev: Type3State, req: CciRequest): number {
  const durationNs = sanitizeNs(dev);
  const doneNs = req.nowNs + durationNs;
  dev.bg.start(SANITIZE_OPCODE, req.nowNs, durationNs, () => {
    dev.lsa.clear();
    dev.media = null;
    dev.poison = null;
    dev.scan = null;
    dev.latentDone = LATENT_ALL_DONE;
    const ev = dev.generic?.events;
    if (ev) for (let log = EventLogType.INFORMATIONAL; log <= EventLogType.FATAL; log++) ev.clearLog(log);
    bump(dev, Counter.SANITIZES);
    postType3Event(dev, EventLogType.INFORMATIONAL,
      memoryModuleRecord(dev, ModuleEventType.MEDIA_STATUS_CHANGE, EventLogType.INFORMATIONAL), doneNs);
    return Rc.SUCCESS;
  });
  return Rc.BACKGROUND_STARTED;
}

/**
 * 4401h Secure Erase (8.2.9.9.5.2), foreground, no payload: changes the media encryption keys, so user data
 * (the lines written by Clear Poison) is gone; the LSA, poison list and logs stay. Busy while Scan Media runs.
 */
function secureErase(dev: Type3State, _req: CciRequest): number {
  if (scanRunning(dev)) return Rc.BUSY;
  dev.media = null;
  bump(dev, Counter.SECURE_ERASES);
  return Rc.SUCCESS;
}

export const SANITIZE_COMMANDS: readonly CommandDef<Type3State>[] = [
  {
    opcode: SANITIZE_OPCODE, name: 'Sanitize', input: 0,
    effects: Effect.IMMEDIATE_DATA_CHANGE | Effect.IMMEDIATE_LOG_CHANGE | Effect.SECURITY_STATE_CHANGE | Effect.BACKGROUND_OP,
    handler: sanitize,
  },
  {
    opcode: 0x4401, name: 'Secure Erase', input: 0, effects: Effect.IMMEDIATE_DATA_CHANGE | Effect.SECURITY_STATE_CHANGE,
    duringSanitize: 'media-disabled', handler: secureErase,
  },
];
