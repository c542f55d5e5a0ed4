import { FleetError } from '../errors.js';
import type { Fleet } from '../fleet/types.js';
import { CxlMailboxEndpoint } from './cxl/mailbox-endpoint.js';
import { MailboxRegisters } from './cxl/mailbox.js';
import { newType3State } from './cxl/type3.js';
import type { CompletionSink, DeviceEndpoint } from './endpoint.js';
import { FaultInjector } from './faults.js';

/** Kinds this build can emulate. */
export const IMPLEMENTED_KINDS: ReadonlySet<string> = new Set(['cxl-type3']);

/**
 * Builds the endpoints of one shard, indexed by local device index, over the shard's device arena.
 * Runs inside the worker; device state starts from the descriptor (power-on state) every time.
 */
export function buildShardEndpoints(fleet: Fleet, shard: number, arena: SharedArrayBuffer, sink: CompletionSink): DeviceEndpoint[] {
  const out: DeviceEndpoint[] = [];
  for (const index of fleet.perShard[shard]!) {
    const d = fleet.devices[index]!;
    const faults = d.faults ? new FaultInjector(d.faults, d.serial) : FaultInjector.NONE;
    switch (d.kind) {
      case 'cxl-type3': {
        const regs = new MailboxRegisters(arena, d.memOffset, d.mailboxBytes);
        out.push(new CxlMailboxEndpoint(d.id, d.local, regs, newType3State(d), sink, faults));
        break;
      }
      default:
        throw new FleetError(`device kind ${d.kind} (${d.id}) is not emulated by this build`);
    }
  }
  return out;
}
