import { BadRequestError } from '../errors.js';
import type { DeviceKind } from '../fleet/types.js';
import { CEL_UUID } from '../devices/cci/uuid.js';

/** One concrete request the harness can send to a device of some kind. */
export interface MixRequest {
  opcode: number;
  payload?: Uint8Array;
}

/** A named command ("health", "log", ...) and how to express it for each device kind that has it. */
export interface NamedCommand {
  name: string;
  byKind: Partial<Record<DeviceKind, MixRequest>>;
}

const celChunk = (() => {
  const p = new Uint8Array(0x18);
  p.set(CEL_UUID, 0);
  new DataView(p.buffer).setUint32(0x14, 16, true); // the first four CEL entries: every CEL has them
  return p;
})();

/** Commands a mix may name. Each is read-only, so load runs never change device state. */
export const NAMED_COMMANDS: Record<string, NamedCommand> = {
  health: { name: 'health', byKind: { 'cxl-type3': { opcode: 0x4200 } } },
  identify: { name: 'identify', byKind: { 'cxl-type3': { opcode: 0x0001 } } },
  log: { name: 'log', byKind: { 'cxl-type3': { opcode: 0x0401, payload: celChunk } } },
  timestamp: { name: 'timestamp', byKind: { 'cxl-type3': { opcode: 0x0300 } } },
};

export interface MixEntry {
  command: NamedCommand;
  weight: number;
}

/** Parses `health=80,log=15,identify=5` (weights are relative). */
export function parseMix(text: string): MixEntry[] {
  const out: MixEntry[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z-]+)(?:=(\d+(?:\.\d+)?))?$/.exec(part);
    const cmd = m ? NAMED_COMMANDS[m[1]!] : undefined;
    if (!m || !cmd) {
      throw new BadRequestError(`bad --mix item "${part}": use name=weight with names ${Object.keys(NAMED_COMMANDS).join(', ')}`);
    }
    const weight = m[2] === undefined ? 1 : Number(m[2]);
    if (!(weight > 0)) throw new BadRequestError(`--mix weight for ${m[1]} must be > 0`);
    out.push({ command: cmd, weight });
  }
  if (out.length === 0) throw new BadRequestError('--mix is empty');
  return out;
}

export const DEFAULT_MIX = 'health=80,log=15,identify=5';

/**
 * Expands a mix over a fleet into a flat schedule of (device, request) pairs that the harness cycles through:
 * every device whose kind supports a named command takes part in that command's share.
 */
export function buildSchedule(mix: MixEntry[], devices: { id: string; kind: DeviceKind }[], size = 4096): { device: string; req: MixRequest; name: string }[] {
  const total = mix.reduce((n, e) => n + e.weight, 0);
  const out: { device: string; req: MixRequest; name: string }[] = [];
  for (const e of mix) {
    const eligible = devices.filter((d) => e.command.byKind[d.kind] !== undefined);
    if (eligible.length === 0) throw new BadRequestError(`no device in the fleet supports "${e.command.name}"`);
    const n = Math.max(1, Math.round((e.weight / total) * size));
    for (let i = 0; i < n; i++) {
      const d = eligible[(i * 7919) % eligible.length]!;
      out.push({ device: d.id, req: e.command.byKind[d.kind]!, name: e.command.name });
    }
  }
  // interleave deterministically so consecutive requests spread over commands and devices
  for (let i = out.length - 1; i > 0; i--) {
    const j = (i * 2654435761) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
