import { BadRequestError } from '../errors.js';
import { type KnownCommand, type NamedFields, opcodeHex } from './catalog.js';
import { catalog, type CommandFamily, isNvme } from './families.js';

/**
 * One resolver for every front (CLI, MCP, replay): what a user wrote for a command -> opcode and fields.
 *
 *   a JSON number (MCP)          the opcode itself
 *   "0x4200", "4200h"            hex
 *   "4200"                       hex too: every device kind here names its opcodes in hex (CXL 4200h, NVMe
 *                                06h), so a bare number is read as hex and the answer carries a one-line
 *                                note saying so (write 0x4200 to go without it)
 *   anything else                a command name of the target's family (see CommandCatalog.lookup)
 */

export interface ResolvedCommand extends KnownCommand {
  family: CommandFamily;
  /** set when the input was a bare number read as hex */
  note?: string;
}

const HEX_PREFIX = /^0x([0-9a-f]+)$/i;
const HEX_SUFFIX = /^([0-9a-f]+)h$/i;
const BARE_DIGITS = /^[0-9]+$/;

export function maxOpcode(family: CommandFamily): number {
  return isNvme(family) ? 0xff : 0xffff;
}

function checked(family: CommandFamily, op: number, shown: string): number {
  const max = maxOpcode(family);
  if (!Number.isInteger(op) || op < 0 || op > max) {
    throw new BadRequestError(`opcode must be 0x0 to ${opcodeHex(max, false)} for ${family} (got ${shown})`, { family, opcode: shown });
  }
  return op;
}

function byOpcode(family: CommandFamily, op: number, note?: string): ResolvedCommand {
  const name = catalog(family).nameOf(op) ?? `opcode ${opcodeHex(op, isNvme(family))}`;
  return { family, name, opcode: op, ...(note !== undefined ? { note } : {}) };
}

/** An opcode or a command name -> the command. Throws BadRequestError (unknown, ambiguous, out of range). */
export function resolveCommand(family: CommandFamily, command: number | string): ResolvedCommand {
  if (typeof command === 'number') return byOpcode(family, checked(family, command, String(command)));
  const text = command.trim();
  const hex = HEX_PREFIX.exec(text) ?? HEX_SUFFIX.exec(text);
  if (hex !== null) return byOpcode(family, checked(family, parseInt(hex[1]!, 16), JSON.stringify(command)));
  if (BARE_DIGITS.test(text)) {
    const op = checked(family, parseInt(text, 16), `${JSON.stringify(command)}, read as hex 0x${text}`);
    const r = byOpcode(family, op);
    r.note = `read "${text}" as hex ${opcodeHex(op, isNvme(family))} (${r.name}): opcodes are hex for ${family}; write 0x${text} to drop this note`;
    return r;
  }
  return { family, ...catalog(family).lookup(text) };
}

/**
 * The name of an opcode in a family. NVMe Get Log Page and Identify are named by the log id / CNS in
 * cdw10 when one of the named variants matches ("Get Log Page: SMART / Health Information").
 */
export function commandName(family: CommandFamily, opcode: number, fields: NamedFields = {}): string | undefined {
  const cat = catalog(family);
  if (family === 'nvme' && fields.cdw10 !== undefined && (opcode === 0x02 || opcode === 0x06)) {
    const low = fields.cdw10 & 0xff;
    const alias = cat.list.find((c) => c.opcode === opcode && c.fields?.cdw10 !== undefined && (c.fields.cdw10 & 0xff) === low);
    if (alias !== undefined) return `${opcode === 0x02 ? 'Get Log Page' : 'Identify'}: ${alias.name}`;
  }
  return cat.nameOf(opcode);
}
