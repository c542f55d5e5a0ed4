import type { VendorMode } from '../../fleet/types.js';
import type { NvmeCommandDef } from './controller-state.js';
import { getFeatures, setFeatures, setFeaturesAllowedDuringSanitize } from './features.js';
import { firmwareCommit, firmwareImageDownload } from './firmware.js';
import { formatNvm, sanitize } from './format-sanitize.js';
import { identify } from './identify.js';
import { getLogAllowedDuringSanitize, getLogPage } from './logs.js';
import { CSE_MASK, Effects, EFFECTS_RESERVED_MASK } from './effects.js';
import { IO_COMMANDS } from './nvm-io.js';
import { createIoCq, createIoSq, deleteIoCq, deleteIoSq } from './queue-admin.js';
import { VENDOR_COMMANDS } from './vendor.js';

const always = (): boolean => true;
const never = (): boolean => false;
const E = Effects;

/**
 * The admin command set. Effects, as a host should see them (the permission policy derives from them):
 * reads are CSUPP alone and report no scope; commands that change state carry the scope they act on;
 * Format NVM and Sanitize carry the bits Linux assumes whatever a device says (Format LBCC|NCC|CSE,
 * Sanitize LBCC|CSE), with CSE = 010b because both can reach every namespace. Queue management and Abort
 * act on the controller's queues (controller scope) and may run during a sanitize: a host must be able to
 * (re)build its queues and abort commands meanwhile.
 */
export const ADMIN_COMMANDS: readonly NvmeCommandDef[] = [
  { opcode: 0x00, name: 'Delete I/O Submission Queue', effects: E.SCOPE_CONTROLLER, duringSanitize: always, handler: deleteIoSq },
  { opcode: 0x01, name: 'Create I/O Submission Queue', effects: E.SCOPE_CONTROLLER, duringSanitize: always, handler: createIoSq },
  { opcode: 0x02, name: 'Get Log Page', effects: 0, duringSanitize: getLogAllowedDuringSanitize, handler: getLogPage },
  { opcode: 0x04, name: 'Delete I/O Completion Queue', effects: E.SCOPE_CONTROLLER, duringSanitize: always, handler: deleteIoCq },
  { opcode: 0x05, name: 'Create I/O Completion Queue', effects: E.SCOPE_CONTROLLER, duringSanitize: always, handler: createIoCq },
  { opcode: 0x06, name: 'Identify', effects: 0, duringSanitize: always, handler: identify },
  { opcode: 0x08, name: 'Abort', effects: E.SCOPE_CONTROLLER, duringSanitize: always, handler: (c, x) => c.abortCommand(x) },
  { opcode: 0x09, name: 'Set Features', effects: E.SCOPE_CONTROLLER, duringSanitize: setFeaturesAllowedDuringSanitize, handler: setFeatures },
  { opcode: 0x0a, name: 'Get Features', effects: 0, duringSanitize: always, handler: getFeatures },
  { opcode: 0x0c, name: 'Asynchronous Event Request', effects: 0, duringSanitize: always, handler: (c, x) => c.asyncEventRequest(x) },
  { opcode: 0x10, name: 'Firmware Commit', effects: E.CCC | E.SCOPE_SUBSYSTEM, duringSanitize: never, handler: firmwareCommit },
  { opcode: 0x11, name: 'Firmware Image Download', effects: E.SCOPE_SUBSYSTEM, duringSanitize: never, handler: firmwareImageDownload },
  { opcode: 0x80, name: 'Format NVM', effects: E.LBCC | E.NCC | E.CSE_ANY_NS | E.SCOPE_NS, duringSanitize: never, handler: formatNvm },
  { opcode: 0x84, name: 'Sanitize', effects: E.LBCC | E.CSE_ANY_NS | E.SCOPE_SUBSYSTEM, duringSanitize: never, handler: sanitize },
  ...VENDOR_COMMANDS,
];

export { IO_COMMANDS } from './nvm-io.js';

export const EFFECTS_LOG_BYTES = 4096;

/** Checks one table's entries; vendor commands are C0h-FFh in the admin set and 80h-FFh in the I/O set. */
function checkEntry(c: NvmeCommandDef, set: 'admin' | 'I/O', seen: (NvmeCommandDef | undefined)[]): void {
  const where = `nvme ${set} ${c.name} (0x${c.opcode.toString(16)})`;
  if (!Number.isInteger(c.opcode) || c.opcode < 0 || c.opcode > 0xff) throw new Error(`${where}: opcode out of range`);
  if (seen[c.opcode] !== undefined) throw new Error(`${where}: opcode listed twice`);
  if ((c.effects & EFFECTS_RESERVED_MASK) !== 0) throw new Error(`${where}: sets reserved effect bits`);
  if ((c.effects & CSE_MASK) > E.CSE_ANY_NS) throw new Error(`${where}: reserved CSE value`);
  const vendorFrom = set === 'admin' ? 0xc0 : 0x80;
  if ((c.vendor === true) !== (c.opcode >= vendorFrom)) throw new Error(`${where}: vendor commands are exactly ${vendorFrom.toString(16).toUpperCase()}h-FFh`);
}

/** The admin and I/O command sets of one VendorMode, indexed by opcode; one shared instance per mode. */
export class NvmeCommandSet {
  private readonly byOpcode: (NvmeCommandDef | undefined)[] = new Array(256);
  private readonly ioByOpcode: (NvmeCommandDef | undefined)[] = new Array(256);
  /** opcodes executed but left out of the effects log */
  readonly hidden: ReadonlySet<number>;
  private log: Uint8Array | null = null;

  constructor(readonly mode: VendorMode, commands: readonly NvmeCommandDef[] = ADMIN_COMMANDS, io: readonly NvmeCommandDef[] = IO_COMMANDS) {
    const hidden = new Set<number>();
    for (const c of commands) {
      checkEntry(c, 'admin', this.byOpcode);
      if (c.vendor) {
        if (mode === 'none') continue;
        if (mode === 'hidden') hidden.add(c.opcode);
      }
      this.byOpcode[c.opcode] = c;
    }
    for (const c of io) {
      checkEntry(c, 'I/O', this.ioByOpcode);
      this.ioByOpcode[c.opcode] = c;
    }
    this.hidden = hidden;
  }

  get(opcode: number): NvmeCommandDef | undefined {
    return this.byOpcode[opcode & 0xff];
  }

  /** The I/O command (NVM command set) with this opcode. */
  getIo(opcode: number): NvmeCommandDef | undefined {
    return this.ioByOpcode[opcode & 0xff];
  }

  /** I/O commands, ascending. */
  ioCommands(): NvmeCommandDef[] {
    return this.ioByOpcode.filter((c): c is NvmeCommandDef => c !== undefined);
  }

  /** Commands this set executes, ascending. */
  commands(): NvmeCommandDef[] {
    return this.byOpcode.filter((c): c is NvmeCommandDef => c !== undefined);
  }

  /** The ACS entry of `opcode` as log 05h reports it: 0 if unsupported or hidden, else effects | CSUPP. */
  effectsOf(opcode: number): number {
    const c = this.get(opcode);
    return c === undefined || this.hidden.has(c.opcode) ? 0 : (c.effects | E.CSUPP) >>> 0;
  }

  /**
   * Commands Supported and Effects log (LID 05h, 4096 bytes): le32 ACS[256] for admin opcodes (bytes
   * 0-1023), le32 IOCS[256] for the NVM command set's I/O opcodes (1024-2047), 2048 reserved bytes. Both
   * halves are generated from the tables the controller dispatches from.
   */
  effectsLog(): Uint8Array {
    if (this.log !== null) return this.log;
    const out = new Uint8Array(EFFECTS_LOG_BYTES);
    const v = new DataView(out.buffer);
    for (let op = 0; op < 256; op++) v.setUint32(op * 4, this.effectsOf(op), true);
    for (const c of this.ioCommands()) v.setUint32(1024 + c.opcode * 4, (c.effects | E.CSUPP) >>> 0, true);
    this.log = out;
    return out;
  }
}

const sets = new Map<VendorMode, NvmeCommandSet>();

export function nvmeAdminCommandSet(mode: VendorMode): NvmeCommandSet {
  let s = sets.get(mode);
  if (s === undefined) {
    s = new NvmeCommandSet(mode);
    sets.set(mode, s);
  }
  return s;
}

export { Effects, EFFECTS_RESERVED_MASK, nvmeEffectNames } from './effects.js';
export type { AdminContext, NvmeCommandDef } from './controller-state.js';
