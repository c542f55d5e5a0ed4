import { FleetError } from '../errors.js';
import type { DeviceDescriptor, Fleet } from '../fleet/types.js';
import type { ComponentState } from './cci/cci.js';
import { CxlMailboxEndpoint } from './cxl/mailbox-endpoint.js';
import { MailboxRegisters } from './cxl/mailbox.js';
import { newMldState } from './cxl/mld.js';
import { newSwitchState } from './cxl/switch.js';
import { newType3State } from './cxl/type3.js';
import type { CompletionSink, DeviceEndpoint } from './endpoint.js';
import { FaultInjector, TestOnlyCompletionFaultSink } from './faults.js';
import { NvmeEndpoint } from './nvme/endpoint.js';
import { MctpPccEndpoint } from '../transport/mctp-endpoint.js';

/** Kinds this build can emulate. */
export const IMPLEMENTED_KINDS: ReadonlySet<string> = new Set(['cxl-type3', 'cxl-switch', 'cxl-mld', 'nvme', 'mctp-pcc']);

/**
 * Component states of one shard, by global device index, built in dependency order: type-3 devices and
 * logical devices first, then MLDs over their LDs, then switches over what their ports reach. A device
 * reached several ways (its own mailbox, a tunnel, MCTP) is ONE state object, so every path sees the same
 * device.
 */
function buildStates(fleet: Fleet, shard: number): Map<number, ComponentState> {
  const states = new Map<number, ComponentState>();
  const mine = fleet.perShard[shard]!.map((i) => fleet.devices[i]!);
  for (const d of mine) if (d.kind === 'cxl-type3') states.set(d.index, newType3State(d));
  for (const d of mine) if (d.kind === 'cxl-mld') states.set(d.index, newMldState(d, d.mld!.lds.map((i) => need(states, i, d))));
  for (const d of mine) {
    if (d.kind !== 'cxl-switch') continue;
    const ports = new Map(d.switchInfo!.downstream.map((p) => [p.port, need(states, p.target, d)] as const));
    states.set(d.index, newSwitchState(d, ports));
  }
  for (const d of mine) {
    const s = states.get(d.index);
    if (s !== undefined && d.faults?.lieEffects === true) (s as { commands: ComponentState['commands'] }).commands = s.commands.lying();
  }
  return states;
}

function need(states: Map<number, ComponentState>, index: number, from: DeviceDescriptor): ComponentState {
  const s = states.get(index);
  if (s === undefined) throw new FleetError(`${from.id} refers to device #${index}, which is not in its shard (fleet grouping bug)`);
  return s;
}

/**
 * Builds the endpoints of one shard, indexed by local device index, over the shard's device arena.
 * Runs inside the worker; device state starts from the descriptor (power-on state) every time.
 */
export function buildShardEndpoints(fleet: Fleet, shard: number, arena: SharedArrayBuffer, ringSink: CompletionSink): DeviceEndpoint[] {
  const states = buildStates(fleet, shard);
  const out: DeviceEndpoint[] = [];
  for (const index of fleet.perShard[shard]!) {
    const d = fleet.devices[index]!;
    const faults = d.faults ? new FaultInjector(d.faults, d.serial) : FaultInjector.NONE;
    const testOnly = d.faults?.testOnly;
    const sink = testOnly === undefined ? ringSink : new TestOnlyCompletionFaultSink(ringSink, testOnly, d.serial);
    switch (d.kind) {
      case 'cxl-type3':
      case 'cxl-switch':
      case 'cxl-mld':
        // an MLD's FM-owned LD has a mailbox block too; the mux never addresses it directly (tunnel only)
        out.push(new CxlMailboxEndpoint(d.id, d.local, new MailboxRegisters(arena, d.memOffset, d.mailboxBytes), states.get(index)!, sink, faults));
        break;
      case 'nvme':
        out.push(new NvmeEndpoint(d, arena, sink, faults));
        break;
      case 'mctp-pcc':
        // fronts a CXL component of the same shard: the very state object that component's mailbox serves
        out.push(new MctpPccEndpoint(d, arena, need(states, d.mctp!.fronts, d), sink, faults));
        break;
      default:
        throw new FleetError(`device kind ${d.kind} (${d.id}) is not emulated by this build`);
    }
  }
  return out;
}
