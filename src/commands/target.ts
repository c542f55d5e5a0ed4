import { BadRequestError } from '../errors.js';
import { tunnelHop } from '../fleet/tunnel-hop.js';
import type { DeviceDescriptor, Fleet } from '../fleet/types.js';
import { type CommandFamily, familyOfKind } from './families.js';

/**
 * Which device a command finally reaches, and so which command set names it: an MCTP endpoint passes its
 * commands to the CXL component it fronts; a tunnel (switch port, then MLD logical device) ends at the
 * device on its last hop. The same walk the permission check makes (fleet/tunnel-hop.ts).
 */
export interface CommandTarget {
  /** the device the command runs on */
  device: DeviceDescriptor;
  family: CommandFamily;
  /** device ids from the one addressed to the one that runs the command */
  path: string[];
}

export function unknownDevice(device: string): BadRequestError {
  return new BadRequestError(`unknown device ${JSON.stringify(device)}: list them with \`mbxmux devices\` or list_devices`, { device }, 'EMBX_UNKNOWN_DEVICE');
}

/** `queue` 1 and up: an NVMe I/O queue, whose commands are named from the NVM command set. */
export function commandTarget(fleet: Fleet, device: string, opts: { tunnel?: readonly number[] | undefined; queue?: number | undefined } = {}): CommandTarget {
  const tunnel = opts.tunnel ?? [];
  const addressed = fleet.byId.get(device);
  if (addressed === undefined) throw unknownDevice(device);
  let cur = addressed.mctp !== undefined ? fleet.devices[addressed.mctp.fronts]! : addressed;
  const path = cur === addressed ? [addressed.id] : [addressed.id, cur.id];
  for (const id of tunnel) {
    const next = tunnelHop(fleet, cur.index, id);
    if (next < 0) {
      throw new BadRequestError(`tunnel [${tunnel.join(', ')}] from ${device}: ${cur.id} has no component at ${cur.kind === 'cxl-switch' ? 'port' : 'LD'} ${id}`,
        { device, tunnel: [...tunnel] });
    }
    cur = fleet.devices[next]!;
    path.push(cur.id);
  }
  if (cur.kind === 'mctp-pcc') throw new BadRequestError(`${cur.id} fronts nothing a command can reach`, { device });
  const family = familyOfKind(cur.kind);
  return { device: cur, family: family === 'nvme' && (opts.queue ?? 0) > 0 ? 'nvme-io' : family, path };
}
