import { BackgroundOp } from './background.js';
import { type CciRequest, type CommandDef, type CommandSet, inputSizeOk } from './command-table.js';
import { Effect } from './effects.js';
import type { GenericState } from './generic.js';
import { Rc } from './return-codes.js';

/** What every CXL component (type-3 device, LD, switch, MLD FM-owned LD) keeps for the generic commands. */
export interface ComponentState {
  readonly commands: CommandSet<any>;
  readonly identity: ComponentIdentity;
  readonly bg: BackgroundOp;
  /** Set Timestamp value (ns since 1970) and the monotonic time it was set; null until set (Get answers 0). */
  timestamp: { value: bigint; atNs: number } | null;
  /** Gate consulted before every command (sanitize in progress, media disabled...). Returns an rc, or -1 to run. */
  gate?: (cmd: CommandDef<any>, req: CciRequest) => number;
  /**
   * State of the stateful generic commands (response message limit, event logs and interrupt policy, firmware
   * slots and transfer, feature values): absent or null until the first command that changes it, so a fleet of
   * 100,000 untouched components carries none of it. generic.ts creates it (newGenericState / genericState).
   */
  generic?: GenericState | null;
  /** Revision of the running firmware (Get FW Info slot text; type-3 Identify Memory Device bytes 00h-0Fh). */
  fwRevision?: string;
}

export interface ComponentIdentity {
  vendorId: number;
  deviceId: number;
  subsystemVendorId: number;
  subsystemId: number;
  serial: bigint;
  /** log2 of the largest message this CCI accepts (Identify byte 10h) */
  maxMessageSizeLog2: number;
  /** Identify byte 11h: 00h switch, 03h type-3 device */
  componentType: number;
}

/**
 * Executes CCI commands against one component, the same way for every path that reaches it: the mailbox
 * registers, a switch tunnel, or MCTP. Checks in the order QEMU and the spec imply: unknown opcode ->
 * Unsupported; wrong input size -> Invalid Payload Length; a background command while one runs -> Busy;
 * then the device's own gate; then the handler.
 */
export function executeCci(dev: ComponentState, req: CciRequest): number {
  req.outLen = 0;
  req.vendorStatus = 0;
  const cmd = dev.commands.get(req.opcode) as CommandDef<ComponentState> | undefined;
  if (cmd === undefined) return Rc.UNSUPPORTED;
  if (!inputSizeOk(cmd.input, req.payload, req.view, req.inLen)) return Rc.INVALID_PAYLOAD_LENGTH;
  dev.bg.update(req.nowNs);
  if ((cmd.effects & Effect.BACKGROUND_OP) !== 0 && dev.bg.running) return Rc.BUSY;
  if (dev.gate !== undefined) {
    const g = dev.gate(cmd, req);
    if (g >= 0) return g;
  }
  return cmd.handler(dev, req);
}
