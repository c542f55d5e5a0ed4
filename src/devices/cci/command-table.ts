/*
 * How to add a CXL command (every component, a type-3 device, a switch or an MLD's FM-owned LD):
 *  1. Write the handler beside its area's other commands: cci/generic.ts (every component), cxl/type3-<area>.ts,
 *     cxl/switch.ts, cxl/mld.ts. It is `(dev, req) => rc`, named for the command, its comment naming the spec
 *     section and the payload layout. Read every input byte before writing output (the payload registers carry
 *     both directions), write at most outputLimit(dev, req) bytes into req.payload and set req.outLen. A
 *     background command starts dev.bg (background.ts) and returns Rc.BACKGROUND_STARTED.
 *  2. Add one entry to that file's table (GENERIC_COMMANDS, <AREA>_COMMANDS, SWITCH_COMMANDS, ...): opcode, the
 *     spec's name, the input size rule (InputRule below), the CEL effects (effects.ts, spec bit numbering; the
 *     permission tier is derived from them by src/policy/rules.ts), and for a type-3 command its duringSanitize
 *     rule. A new area's table is spread into its kind's set (type3.ts BASE_COMMANDS, switch.ts, mld.ts).
 *  3. That is all: dispatch on every path (mailbox, tunnel, MCTP: executeCci in cci.ts, which answers
 *     Unsupported for an opcode no table lists), the input size check, the CEL and the policy follow from the
 *     entry. Test it in test/cxl-<kind>-<area>.test.ts with request and response bytes written from the spec,
 *     its error return codes included.
 */

import { EFFECTS_RESERVED_MASK } from './effects.js';

/**
 * One command of a CCI command set, as data: the emulator dispatches from it, checks the input size with it,
 * and generates the device's Command Effects Log from it. Nothing else lists opcodes.
 */
export interface CommandDef<S> {
  opcode: number;
  name: string;
  input: InputRule;
  /** CEL effects, spec bit numbering (see effects.ts) */
  effects: number;
  /**
   * While a Sanitize runs on a type-3 device (CXL r3.1 8.2.9.9.5.1: the media is disabled): 'run' executes the
   * command, 'media-disabled' (a command that touches the media) answers Media Disabled; absent: Busy.
   */
  duringSanitize?: 'run' | 'media-disabled';
  /** Writes output into req.payload[0..req.outLen) and returns a return code. Inputs must be read first:
   *  the mailbox payload registers carry both directions. */
  handler: (dev: S, req: CciRequest) => number;
}

/**
 * Input payload size rule:
 * - a number: exactly that many bytes;
 * - { min, max? }: a range;
 * - { min, exact }: at least `min` bytes to read the header, then exactly exact(payload, len) bytes.
 */
export type InputRule =
  | number
  | { min: number; max?: number }
  | { min: number; exact: (payload: Uint8Array, view: DataView) => number };

/** The request a CCI handler sees. One object is reused per device path (no allocation per command). */
export interface CciRequest {
  opcode: number;
  /** mailbox payload bytes (input on entry, output on exit) */
  payload: Uint8Array;
  view: DataView;
  inLen: number;
  outLen: number;
  vendorStatus: number;
  /** monotonic clock, ns */
  nowNs: number;
  /** how the command arrived: mailbox, tunnel, MCTP type 7 or 8 (some commands care, e.g. FM API sets) */
  via: Via;
}

export const enum Via {
  MAILBOX = 0,
  TUNNEL = 1,
  MCTP_FM_API = 7,
  MCTP_CCI = 8,
}

export function newCciRequest(payload: Uint8Array): CciRequest {
  return {
    opcode: 0,
    payload,
    view: new DataView(payload.buffer, payload.byteOffset, payload.byteLength),
    inLen: 0,
    outLen: 0,
    vendorStatus: 0,
    nowNs: 0,
    via: Via.MAILBOX,
  };
}

/** True if `len` input bytes satisfy the rule. */
export function inputSizeOk(rule: InputRule, payload: Uint8Array, view: DataView, len: number): boolean {
  if (typeof rule === 'number') return len === rule;
  if (len < rule.min) return false;
  if ('exact' in rule) return len === rule.exact(payload, view);
  return rule.max === undefined || len <= rule.max;
}

/**
 * A command set indexed by opcode. Built once per device profile and shared by every device of that profile,
 * so 100,000 devices cost one table.
 */
export class CommandSet<S> {
  private readonly byOpcode = new Map<number, CommandDef<S>>();
  /** opcodes executed but not declared in the CEL (vendor commands some devices hide) */
  readonly hidden: ReadonlySet<number>;
  private celCache: Uint8Array | null = null;

  constructor(readonly name: string, commands: readonly CommandDef<S>[], hidden: Iterable<number> = []) {
    for (const c of commands) {
      if (this.byOpcode.has(c.opcode)) throw new Error(`${name}: opcode 0x${c.opcode.toString(16)} listed twice`);
      if ((c.effects & EFFECTS_RESERVED_MASK) !== 0) throw new Error(`${name}: ${c.name} sets reserved effect bits`);
      this.byOpcode.set(c.opcode, c);
    }
    this.hidden = new Set(hidden);
  }

  get(opcode: number): CommandDef<S> | undefined {
    return this.byOpcode.get(opcode);
  }

  commands(): IterableIterator<CommandDef<S>> {
    return this.byOpcode.values();
  }

  get size(): number {
    return this.byOpcode.size;
  }

  /** CEL entries this set declares, in ascending opcode order: [opcode, effects]. */
  celEntries(): [number, number][] {
    return [...this.byOpcode.values()]
      .filter((c) => !this.hidden.has(c.opcode))
      .sort((a, b) => a.opcode - b.opcode)
      .map((c) => [c.opcode, this.reportsZero ? 0 : c.effects]);
  }

  /** true for a set that lies: its CEL reports no effects at all (fault injection `lieEffects`). */
  protected reportsZero = false;
  private liar: CommandSet<S> | null = null;

  /**
   * The same commands, behaving the same, but with a CEL that reports effects 0 for every opcode: a device
   * that lies, for testing that the policy does not trust 0 for commands known to hurt other hosts.
   */
  lying(): CommandSet<S> {
    if (this.liar === null) {
      const l = new CommandSet<S>(`${this.name}/lying`, [...this.byOpcode.values()], this.hidden);
      l.reportsZero = true;
      this.liar = l;
    }
    return this.liar;
  }

  /** The Command Effects Log bytes (CXL r3.1 8.2.9.5.2.1): { le16 opcode; le16 effects } per entry. */
  cel(): Uint8Array {
    if (this.celCache) return this.celCache;
    const entries = this.celEntries();
    const out = new Uint8Array(entries.length * 4);
    const v = new DataView(out.buffer);
    entries.forEach(([op, eff], i) => {
      v.setUint16(i * 4, op, true);
      v.setUint16(i * 4 + 2, eff, true);
    });
    this.celCache = out;
    return out;
  }
}
