import type { VendorMode } from '../../fleet/types.js';
import type { NvmeController } from './controller.js';
import { getFeatures, setFeatures, setFeaturesAllowedDuringSanitize } from './features.js';
import { firmwareCommit, firmwareImageDownload } from './firmware.js';
import { formatNvm, sanitize } from './format-sanitize.js';
import { identify } from './identify.js';
import { getLogAllowedDuringSanitize, getLogPage } from './logs.js';
import { CSE_MASK, Effects, EFFECTS_RESERVED_MASK } from './effects.js';
import type { Sqe } from './sqe.js';
import { VENDOR_COMMANDS } from './vendor.js';

/** What a handler sees of the command it runs. One object per thread, reused for every command. */
export interface AdminContext {
  sqe: Sqe;
  /** monotonic clock, ns */
  nowNs: number;
  /** controller-to-host data: handlers get it zeroed from NvmeController.out(), which sets outLen */
  buf: Uint8Array;
  view: DataView;
  outLen: number;
  /** completion DW0/DW1 */
  dw0: number;
  dw1: number;
  /** Error Information "Parameter Error Location" (byte of the SQE in 7:0, bit in 10:8); FFFFh = none */
  errLoc: number;
}

/**
 * One admin command as data: the controller dispatches from it, the effects log (LID 05h) is generated from
 * it, and its sanitize rule decides whether it may run while a sanitize operation is in progress.
 */
export interface NvmeCommandDef {
  opcode: number;
  name: string;
  /** Commands Supported and Effects entry (CSUPP is added when the log is generated) */
  effects: number;
  /** NVMe Base 2.0 8.21 (Sanitize Operations): true if the command may run while a sanitize is in progress */
  duringSanitize: (sqe: Sqe) => boolean;
  /** a vendor-specific command (C0h-FFh): exposed per the device's VendorMode */
  vendor?: boolean;
  /** Runs the command; returns a status field (status.ts) or ADMIN_PARKED. */
  handler: (c: NvmeController, x: AdminContext) => number;
}

const always = (): boolean => true;
const never = (): boolean => false;
const E = Effects;

/**
 * The admin command set. Effects, as a host should see them (the permission policy derives from them):
 * reads are CSUPP alone and report no scope; commands that change state carry the scope they act on;
 * Format NVM and Sanitize carry the bits Linux assumes whatever a device says (Format LBCC|NCC|CSE,
 * Sanitize LBCC|CSE), with CSE = 010b because both can reach every namespace.
 */
export const ADMIN_COMMANDS: readonly NvmeCommandDef[] = [
  { opcode: 0x02, name: 'Get Log Page', effects: 0, duringSanitize: getLogAllowedDuringSanitize, handler: getLogPage },
  { opcode: 0x06, name: 'Identify', effects: 0, duringSanitize: always, handler: identify },
  { opcode: 0x09, name: 'Set Features', effects: E.SCOPE_CONTROLLER, duringSanitize: setFeaturesAllowedDuringSanitize, handler: setFeatures },
  { opcode: 0x0a, name: 'Get Features', effects: 0, duringSanitize: always, handler: getFeatures },
  { opcode: 0x0c, name: 'Asynchronous Event Request', effects: 0, duringSanitize: always, handler: (c, x) => c.asyncEventRequest(x) },
  { opcode: 0x10, name: 'Firmware Commit', effects: E.CCC | E.SCOPE_SUBSYSTEM, duringSanitize: never, handler: firmwareCommit },
  { opcode: 0x11, name: 'Firmware Image Download', effects: E.SCOPE_SUBSYSTEM, duringSanitize: never, handler: firmwareImageDownload },
  { opcode: 0x80, name: 'Format NVM', effects: E.LBCC | E.NCC | E.CSE_ANY_NS | E.SCOPE_NS, duringSanitize: never, handler: formatNvm },
  { opcode: 0x84, name: 'Sanitize', effects: E.LBCC | E.CSE_ANY_NS | E.SCOPE_SUBSYSTEM, duringSanitize: never, handler: sanitize },
  ...VENDOR_COMMANDS,
];

/**
 * The NVM command set's I/O commands, for the IOCS half of log 05h (CSI 00h). The emulator has no I/O
 * queues; this static set describes the namespaces' command set as a real controller would (it matches
 * Identify ONCS: Dataset Management and Write Zeroes).
 */
export const NVM_IO_COMMANDS: readonly { opcode: number; name: string; effects: number }[] = [
  { opcode: 0x00, name: 'Flush', effects: E.SCOPE_NS },
  { opcode: 0x01, name: 'Write', effects: E.LBCC | E.SCOPE_NS },
  { opcode: 0x02, name: 'Read', effects: E.SCOPE_NS },
  { opcode: 0x08, name: 'Write Zeroes', effects: E.LBCC | E.SCOPE_NS },
  { opcode: 0x09, name: 'Dataset Management', effects: E.LBCC | E.SCOPE_NS },
];

export const EFFECTS_LOG_BYTES = 4096;

/** The admin command set of one VendorMode, indexed by opcode; one shared instance per mode. */
export class NvmeCommandSet {
  private readonly byOpcode: (NvmeCommandDef | undefined)[] = new Array(256);
  /** opcodes executed but left out of the effects log */
  readonly hidden: ReadonlySet<number>;
  private log: Uint8Array | null = null;

  constructor(readonly mode: VendorMode, commands: readonly NvmeCommandDef[] = ADMIN_COMMANDS) {
    const hidden = new Set<number>();
    for (const c of commands) {
      const where = `nvme admin ${c.name} (0x${c.opcode.toString(16)})`;
      if (!Number.isInteger(c.opcode) || c.opcode < 0 || c.opcode > 0xff) throw new Error(`${where}: opcode out of range`);
      if (this.byOpcode[c.opcode] !== undefined) throw new Error(`${where}: opcode listed twice`);
      if ((c.effects & EFFECTS_RESERVED_MASK) !== 0) throw new Error(`${where}: sets reserved effect bits`);
      if ((c.effects & CSE_MASK) > E.CSE_ANY_NS) throw new Error(`${where}: reserved CSE value`);
      if ((c.vendor === true) !== (c.opcode >= 0xc0)) throw new Error(`${where}: vendor commands are exactly C0h-FFh`);
      if (c.vendor) {
        if (mode === 'none') continue;
        if (mode === 'hidden') hidden.add(c.opcode);
      }
      this.byOpcode[c.opcode] = c;
    }
    this.hidden = hidden;
  }

  get(opcode: number): NvmeCommandDef | undefined {
    return this.byOpcode[opcode & 0xff];
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
   * Commands Supported and Effects log (LID 05h, 4096 bytes): le32 ACS[256] for admin opcodes, le32
   * IOCS[256] for the NVM command set's I/O opcodes, 2048 reserved bytes. Generated from the tables.
   */
  effectsLog(): Uint8Array {
    if (this.log !== null) return this.log;
    const out = new Uint8Array(EFFECTS_LOG_BYTES);
    const v = new DataView(out.buffer);
    for (let op = 0; op < 256; op++) v.setUint32(op * 4, this.effectsOf(op), true);
    for (const c of NVM_IO_COMMANDS) v.setUint32(1024 + c.opcode * 4, (c.effects | E.CSUPP) >>> 0, true);
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
