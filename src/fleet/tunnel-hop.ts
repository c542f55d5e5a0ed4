import type { Fleet } from './types.js';

/**
 * The device behind one hop of a Tunnel Management Command (CXL r3.1 7.6.7.3.1): a switch's downstream
 * port, or an MLD's logical device id. Only target type 0 (port or LD) exists. Returns the device index,
 * or -1 when nothing is there. The permission check and the command-name resolver walk tunnels with it.
 */
export function tunnelHop(fleet: Fleet, from: number, id: number, targetType = 0): number {
  if (targetType !== 0) return -1;
  const d = fleet.devices[from]!;
  if (d.switchInfo) return d.switchInfo.downstream.find((p) => p.port === id)?.target ?? -1;
  if (d.mld) return d.mld.lds[id] ?? -1;
  return -1;
}
