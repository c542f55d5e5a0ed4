import { MLD_COMMAND_SET } from '../devices/cxl/mld.js';
import { SWITCH_COMMAND_SET } from '../devices/cxl/switch.js';
import { type3CommandSet } from '../devices/cxl/type3.js';
import { nvmeAdminCommandSet } from '../devices/nvme/commands.js';
import { BadRequestError } from '../errors.js';
import type { DeviceKind } from '../fleet/types.js';
import type { Mux } from '../mux/mux.js';

/**
 * Command names per command-set family, taken from the device command tables themselves (so a name here is
 * exactly what the emulated device implements), plus NVMe shorthands that fix Identify's CNS or Get Log
 * Page's log id ("Identify Controller", "SMART / Health Information", ...). Lookups ignore case, spaces and
 * punctuation: "get health info", "GET_HEALTH_INFO" and "Get Health Info" are the same name.
 */

/** The command set a device speaks: an MCTP endpoint speaks the set of the CXL component it fronts. */
export type CommandFamily = 'cxl-type3' | 'cxl-switch' | 'cxl-mld' | 'nvme';

/** NVMe command fields a named command fixes. */
export interface NamedFields {
  nsid?: number;
  cdw10?: number;
  cdw11?: number;
}

export interface KnownCommand {
  name: string;
  opcode: number;
  fields?: NamedFields;
}

/** cdw10 of Get Log Page for `bytes` of log `lid` (NUMDL = dwords - 1 in 31:16). */
export function getLogCdw10(lid: number, bytes: number): number {
  return (lid | (((bytes / 4 - 1) & 0xffff) << 16)) >>> 0;
}

const NVME_ALIASES: KnownCommand[] = [
  { name: 'Identify Namespace', opcode: 0x06, fields: { cdw10: 0x00, nsid: 1 } },
  { name: 'Identify Controller', opcode: 0x06, fields: { cdw10: 0x01 } },
  { name: 'Identify Active Namespace List', opcode: 0x06, fields: { cdw10: 0x02 } },
  { name: 'Identify Namespace Identification Descriptor List', opcode: 0x06, fields: { cdw10: 0x03, nsid: 1 } },
  { name: 'Supported Log Pages', opcode: 0x02, fields: { cdw10: getLogCdw10(0x00, 1024) } },
  { name: 'Error Information', opcode: 0x02, fields: { cdw10: getLogCdw10(0x01, 512) } },
  { name: 'SMART / Health Information', opcode: 0x02, fields: { cdw10: getLogCdw10(0x02, 512), nsid: 0xffffffff } },
  { name: 'SMART Log', opcode: 0x02, fields: { cdw10: getLogCdw10(0x02, 512), nsid: 0xffffffff } },
  { name: 'Firmware Slot Information', opcode: 0x02, fields: { cdw10: getLogCdw10(0x03, 512) } },
  { name: 'Commands Supported and Effects', opcode: 0x02, fields: { cdw10: getLogCdw10(0x05, 4096) } },
  { name: 'Sanitize Status', opcode: 0x02, fields: { cdw10: getLogCdw10(0x81, 512) } },
];

/** Short names agents tend to use for the CXL commands. */
const CXL_ALIASES: [alias: string, name: string][] = [
  ['Health', 'Get Health Info'],
  ['Get Health Information', 'Get Health Info'],
  ['Firmware Info', 'Get FW Info'],
  ['Get Firmware Info', 'Get FW Info'],
  ['Identify Memory', 'Identify Memory Device'],
  ['Tunnel', 'Tunnel Management Command'],
  ['Tunnel Management', 'Tunnel Management Command'],
  ['Port State', 'Get Physical Port State'],
  ['Identify Switch', 'Identify Switch Device'],
  ['Background Status', 'Background Operation Status'],
];

function build(family: CommandFamily): KnownCommand[] {
  let base: KnownCommand[];
  switch (family) {
    case 'cxl-type3':
      base = [...type3CommandSet('declared').commands()].map((c) => ({ name: c.name, opcode: c.opcode }));
      break;
    case 'cxl-switch':
      base = [...SWITCH_COMMAND_SET.commands()].map((c) => ({ name: c.name, opcode: c.opcode }));
      break;
    case 'cxl-mld':
      base = [...MLD_COMMAND_SET.commands()].map((c) => ({ name: c.name, opcode: c.opcode }));
      break;
    case 'nvme':
      return [...nvmeAdminCommandSet('declared').commands().map((c) => ({ name: c.name, opcode: c.opcode })), ...NVME_ALIASES];
  }
  const byName = new Map(base.map((c) => [norm(c.name), c]));
  for (const [alias, name] of CXL_ALIASES) {
    const c = byName.get(norm(name));
    if (c !== undefined) base.push({ name: alias, opcode: c.opcode });
  }
  return base;
}

const tables = new Map<CommandFamily, { list: KnownCommand[]; byName: Map<string, KnownCommand> }>();

function table(family: CommandFamily): { list: KnownCommand[]; byName: Map<string, KnownCommand> } {
  let t = tables.get(family);
  if (t === undefined) {
    const list = build(family);
    t = { list, byName: new Map(list.map((c) => [norm(c.name), c])) };
    tables.set(family, t);
  }
  return t;
}

export function norm(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Every name a family knows (table names first, then shorthands). */
export function commandNames(family: CommandFamily): readonly KnownCommand[] {
  return table(family).list;
}

/** The family of a device of the mux (an MCTP endpoint: its fronted component's). */
export function familyOf(mux: Mux, device: string): CommandFamily {
  const d = mux.fleet.byId.get(device);
  if (d === undefined) throw new BadRequestError(`unknown device ${JSON.stringify(device)}: list them with list_devices`, { device }, 'EMBX_UNKNOWN_DEVICE');
  return familyOfKind(d.kind === 'mctp-pcc' ? mux.fleet.devices[d.mctp!.fronts]!.kind : d.kind);
}

export function familyOfKind(kind: DeviceKind): CommandFamily {
  return kind === 'mctp-pcc' ? 'cxl-type3' : kind;
}

/**
 * An opcode (number, or text "0x4200" / "16896") or a command name -> opcode and the fields the name fixes.
 * Unknown names throw BadRequestError listing close matches.
 */
export function resolveCommand(family: CommandFamily, command: number | string): KnownCommand {
  const max = family === 'nvme' ? 0xff : 0xffff;
  if (typeof command === 'number' || /^\s*(0x[0-9a-f]+|\d+)\s*$/i.test(command)) {
    const op = typeof command === 'number' ? command : Number(command.trim());
    if (!Number.isInteger(op) || op < 0 || op > max) throw new BadRequestError(`opcode must be an integer from 0 to 0x${max.toString(16)} for ${family} (got ${String(command)})`);
    const known = table(family).list.find((c) => c.opcode === op && c.fields === undefined);
    return { name: known?.name ?? `opcode 0x${op.toString(16).padStart(family === 'nvme' ? 2 : 4, '0')}`, opcode: op };
  }
  const key = norm(command);
  const hit = table(family).byName.get(key);
  if (hit !== undefined) return hit;
  const words = command.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w.length > 2);
  const close = table(family).list.filter((c) => words.some((w) => c.name.toLowerCase().includes(w))).slice(0, 8).map((c) => c.name);
  throw new BadRequestError(`no ${family} command is named ${JSON.stringify(command)}${close.length ? `; did you mean ${close.map((n) => JSON.stringify(n)).join(', ')}?` : ''} (or give the opcode as a number)`,
    { command, family });
}

/** The table name of an opcode in a family (NVMe Get Log Page / Identify named by their log id / CNS when given). */
export function commandName(family: CommandFamily, opcode: number, fields: NamedFields = {}): string | undefined {
  const list = table(family).list;
  if (family === 'nvme' && fields.cdw10 !== undefined && (opcode === 0x02 || opcode === 0x06)) {
    const low = fields.cdw10 & 0xff;
    const alias = list.find((c) => c.opcode === opcode && c.fields?.cdw10 !== undefined && (c.fields.cdw10 & 0xff) === low);
    if (alias !== undefined) return `${opcode === 0x02 ? 'Get Log Page' : 'Identify'}: ${alias.name}`;
  }
  return list.find((c) => c.opcode === opcode && c.fields === undefined)?.name;
}
