import { MLD_COMMAND_SET } from '../devices/cxl/mld.js';
import { SWITCH_COMMAND_SET } from '../devices/cxl/switch.js';
import { type3CommandSet } from '../devices/cxl/type3.js';
import { nvmeAdminCommandSet } from '../devices/nvme/commands.js';
import type { DeviceKind } from '../fleet/types.js';
import { CommandCatalog, type KnownCommand } from './catalog.js';

/**
 * The command names of each command-set family, taken from the device command tables themselves (a name
 * here is exactly what the emulated device implements), plus a few aliases: NVMe names that fix Identify's
 * CNS or Get Log Page's log id ("Identify Controller", "SMART / Health Information", ...) and short CXL
 * names agents and people tend to use. Every catalog is checked for collisions when first built.
 */

/**
 * The command set a device speaks. An MCTP endpoint speaks the set of the CXL component it fronts; an NVMe
 * controller has two: admin commands (`nvme`, queue 0) and the NVM command set on its I/O queues (`nvme-io`).
 */
export type CommandFamily = 'cxl-type3' | 'cxl-switch' | 'cxl-mld' | 'nvme' | 'nvme-io';

export const FAMILIES: readonly CommandFamily[] = ['cxl-type3', 'cxl-switch', 'cxl-mld', 'nvme', 'nvme-io'];

/** cdw10 of Get Log Page for `bytes` of log `lid` (NUMDL = dwords - 1 in 31:16). */
export function getLogCdw10(lid: number, bytes: number): number {
  return (lid | (((bytes / 4 - 1) & 0xffff) << 16)) >>> 0;
}

/** NVMe Identify CNS values and Get Log Page log ids named on their own (NVMe Base 2.0 Figures 273, 202). */
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

/** Short names for CXL commands: [alias, table name]. An alias whose command a family lacks is skipped. */
const CXL_ALIASES: [alias: string, name: string][] = [
  ['Health', 'Get Health Info'],
  ['Get Health Information', 'Get Health Info'],
  ['Firmware Info', 'Get FW Info'],
  ['Get Firmware Info', 'Get FW Info'],
  ['Identify Memory', 'Identify Memory Device'],
  ['Tunnel', 'Tunnel Management Command'],
  ['Port State', 'Get Physical Port State'],
  ['Identify Switch', 'Identify Switch Device'],
  ['Background Status', 'Background Operation Status'],
];

function build(family: CommandFamily): KnownCommand[] {
  const named = (cs: Iterable<{ name: string; opcode: number }>): KnownCommand[] => [...cs].map((c) => ({ name: c.name, opcode: c.opcode }));
  if (family === 'nvme') return [...named(nvmeAdminCommandSet('declared').commands()), ...NVME_ALIASES];
  if (family === 'nvme-io') return named(nvmeAdminCommandSet('declared').ioCommands());
  const base = named(family === 'cxl-type3' ? type3CommandSet('declared').commands()
    : family === 'cxl-switch' ? SWITCH_COMMAND_SET.commands() : MLD_COMMAND_SET.commands());
  const byName = new Map(base.map((c) => [c.name, c]));
  const aliases = CXL_ALIASES.flatMap(([alias, name]) => {
    const c = byName.get(name);
    return c === undefined ? [] : [{ name: alias, opcode: c.opcode }];
  });
  return [...base, ...aliases];
}

const catalogs = new Map<CommandFamily, CommandCatalog>();

/** The catalog of one family (built once, checked for name collisions). */
export function catalog(family: CommandFamily): CommandCatalog {
  let c = catalogs.get(family);
  if (c === undefined) {
    c = new CommandCatalog(family, build(family), isNvme(family));
    catalogs.set(family, c);
  }
  return c;
}

export function isNvme(family: CommandFamily): boolean {
  return family === 'nvme' || family === 'nvme-io';
}

/** The family of a device kind that speaks a command set of its own (an MCTP endpoint has none). */
export function familyOfKind(kind: Exclude<DeviceKind, 'mctp-pcc'>): CommandFamily {
  return kind;
}
