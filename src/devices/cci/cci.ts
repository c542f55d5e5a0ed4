import { type CciRequest, type CommandDef, inputSizeOk } from './command-table.js';
import type { ComponentState } from './component-state.js';
import { Effect } from './effects.js';
import { Rc } from './return-codes.js';

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

// the component types, for callers that execute commands (defined in the leaf both this file and generic.ts use)
export type { ComponentIdentity, ComponentState } from './component-state.js';
