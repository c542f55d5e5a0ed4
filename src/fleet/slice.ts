import { FleetError } from '../errors.js';
import type { DeviceDescriptor, FleetSlice } from './types.js';

/**
 * Slices of a fleet: `mbxmux serve --slice i/N` serves the i-th of N parts of one fleet description, so a
 * fleet too big for one process (or one host) runs as N servers. Slicing works on affinity groups (a switch
 * with everything below it and the MCTP endpoints fronting any of them form one group), so a tunnel or an
 * MCTP front never crosses servers. Every device keeps the id, serial number and per-device variation it has
 * in the whole fleet: they are computed before slicing, from the device's position in the whole fleet.
 */

/** Parses `i/N` (slices are numbered from 0, like StatefulSet ordinals and Indexed Job completion indexes). */
export function parseSlice(text: string, what = '--slice'): FleetSlice {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (m === null) throw new FleetError(`${what} must be i/N, e.g. 0/3 for the first of three slices (got "${text}")`);
  return checkSlice({ index: Number(m[1]), count: Number(m[2]) }, what);
}

/** Checks a slice's numbers (not yet against a fleet). */
export function checkSlice(s: FleetSlice, what = 'slice'): FleetSlice {
  if (typeof s !== 'object' || s === null) throw new FleetError(`${what} must be { index, count }`);
  const { index, count } = s;
  if (!Number.isInteger(count) || count < 1 || count > 65536) throw new FleetError(`${what}: the slice count must be an integer from 1 to 65536 (got ${JSON.stringify(count)})`);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new FleetError(`${what}: slice ${JSON.stringify(index)} of ${count} does not exist; slices are numbered 0 to ${count - 1}`);
  }
  return { index, count };
}

/**
 * Puts groups, in group order, each into the bin that holds the fewest devices so far (ties: the lowest bin).
 * Deterministic and balanced by device count; used for slices of the fleet and for shards of a slice.
 */
export function balanceGroups(groupSize: ReadonlyMap<number, number>, bins: number): Map<number, number> {
  const load = new Array<number>(bins).fill(0);
  const binOf = new Map<number, number>();
  for (const [g, size] of [...groupSize.entries()].sort((a, b) => a[0] - b[0])) {
    let best = 0;
    for (let b = 1; b < bins; b++) if (load[b]! < load[best]!) best = b;
    binOf.set(g, best);
    load[best]! += size;
  }
  return binOf;
}

/** Devices per affinity group. */
export function groupSizes(devices: readonly Pick<DeviceDescriptor, 'group'>[]): Map<number, number> {
  const sizes = new Map<number, number>();
  for (const d of devices) sizes.set(d.group, (sizes.get(d.group) ?? 0) + 1);
  return sizes;
}

type Sliceable = Pick<DeviceDescriptor, 'index' | 'fleetIndex' | 'group' | 'type3' | 'switchInfo' | 'mld' | 'mctp' | 'tunnelOnly'>;

/**
 * The devices of one slice, renumbered 0..n-1 in their fleet order, with every reference between devices
 * (switch ports, MLD logical devices, MCTP fronts, tunnel routes) rewritten to the new numbers. References
 * never leave a slice, since a slice holds whole groups. Mutates the descriptors it keeps.
 */
export function sliceDevices<D extends Sliceable>(all: D[], slice: FleetSlice): D[] {
  const sizes = groupSizes(all);
  if (slice.count > sizes.size) {
    throw new FleetError(`slice ${slice.index}/${slice.count} would be empty: this fleet has ${sizes.size} device group${sizes.size === 1 ? '' : 's'} `
      + '(a switch with everything below it is one group), so it splits into at most that many slices');
  }
  const sliceOf = balanceGroups(sizes, slice.count);
  const kept = all.filter((d) => sliceOf.get(d.group) === slice.index);
  const renumber = new Int32Array(all.length).fill(-1);
  kept.forEach((d, i) => (renumber[d.index] = i));
  const to = (i: number): number => {
    const n = renumber[i]!;
    if (n < 0) throw new FleetError(`device #${i} is referenced from slice ${slice.index} but lives in another (fleet grouping bug)`);
    return n;
  };
  for (const d of kept) {
    if (d.type3?.mld) d.type3.mld.parent = to(d.type3.mld.parent);
    if (d.switchInfo) for (const p of d.switchInfo.downstream) p.target = to(p.target);
    if (d.mld) d.mld.lds = d.mld.lds.map(to);
    if (d.mctp) d.mctp.fronts = to(d.mctp.fronts);
    if (d.tunnelOnly) d.tunnelOnly.via = to(d.tunnelOnly.via);
  }
  for (const d of kept) d.index = renumber[d.index]!;
  return kept;
}
