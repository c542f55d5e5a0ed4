import { BadRequestError } from '../errors.js';
import type { DeviceInfo } from '../mux/types.js';

/**
 * Which emulated devices `mbxmux expose` presents under which device paths, and the map file the preload
 * library reads (MBXMUX_MAP). One line per path:
 *
 *   <path> <device> <kind> <payload-bytes> <nsid>
 *
 * kind: `nvme` (controller), `nvme-ns` (namespace <nsid> of the controller), `cxl-mem`, `cxl-switch`;
 * payload-bytes: the CXL mailbox payload size (the driver's payload_size) or the NVMe largest transfer.
 * Lines starting with '#' are comments. The preload library only ever serves paths listed here that start
 * with /dev/nvme-mbx, /dev/cxl/mem-mbx or /dev/cxl/switch-mbx.
 */

export type ExposedKind = 'nvme' | 'nvme-ns' | 'cxl-mem' | 'cxl-switch';

export interface ExposedDevice {
  /** the device path tools open, e.g. /dev/nvme-mbx0 */
  path: string;
  /** the emulated device behind it, e.g. nvme3 */
  device: string;
  kind: ExposedKind;
  payloadBytes: number;
  /** namespace devices: the namespace id; else 0 */
  nsid: number;
}

/** Devices chosen per kind; a kind left out is not exposed, unless nothing is chosen at all (then all are). */
export interface DeviceSelection {
  /** NVMe controllers (nvme<N>), in /dev/nvme-mbx<i> order */
  nvme?: string[];
  /** CXL type-3 devices, logical devices of MLDs included (mem<N>), in /dev/cxl/mem-mbx<i> order */
  mem?: string[];
  /** CXL switches (sw<N>), in /dev/cxl/switch-mbx<i> order */
  switch?: string[];
}

const KINDS = [
  { key: 'nvme', kind: 'nvme', fleetKind: 'nvme', flag: '--nvme', what: 'NVMe controllers (nvme<N>)' },
  { key: 'mem', kind: 'cxl-mem', fleetKind: 'cxl-type3', flag: '--mem', what: 'CXL type-3 devices (mem<N>)' },
  { key: 'switch', kind: 'cxl-switch', fleetKind: 'cxl-switch', flag: '--switch', what: 'CXL switches (sw<N>)' },
] as const;

export interface SelectedDevices {
  nvme: DeviceInfo[];
  mem: DeviceInfo[];
  switch: DeviceInfo[];
}

/**
 * Resolves a selection against the server's device list. An id the server does not have, or one of the
 * wrong kind for its list, is a BadRequestError; `all` in a list takes every device of that kind.
 */
export function selectDevices(devices: readonly DeviceInfo[], sel: DeviceSelection): SelectedDevices {
  const byId = new Map(devices.map((d) => [d.id, d]));
  const none = sel.nvme === undefined && sel.mem === undefined && sel.switch === undefined;
  const out: SelectedDevices = { nvme: [], mem: [], switch: [] };
  for (const k of KINDS) {
    const ids = sel[k.key];
    if (ids === undefined) {
      if (none) out[k.key] = devices.filter((d) => d.kind === k.fleetKind);
      continue;
    }
    if (ids.length === 1 && ids[0] === 'all') {
      out[k.key] = devices.filter((d) => d.kind === k.fleetKind);
      continue;
    }
    const seen = new Set<string>();
    for (const id of ids) {
      const d = byId.get(id);
      if (d === undefined) throw new BadRequestError(`${k.flag}: the server has no device ${id}`, { device: id }, 'EMBX_UNKNOWN_DEVICE');
      if (d.kind !== k.fleetKind) throw new BadRequestError(`${k.flag} takes ${k.what}; ${id} is a ${d.kind}`, { device: id });
      if (seen.has(id)) throw new BadRequestError(`${k.flag}: ${id} is listed twice`, { device: id });
      seen.add(id);
      out[k.key].push(d);
    }
  }
  return out;
}

/** The device paths for a selection; `namespaces` lists each controller's active namespace ids. */
export function mapEntries(sel: SelectedDevices, namespaces: ReadonlyMap<string, readonly number[]>): ExposedDevice[] {
  const out: ExposedDevice[] = [];
  sel.nvme.forEach((d, i) => {
    out.push({ path: `/dev/nvme-mbx${i}`, device: d.id, kind: 'nvme', payloadBytes: d.mailboxBytes, nsid: 0 });
    for (const nsid of namespaces.get(d.id) ?? []) {
      out.push({ path: `/dev/nvme-mbx${i}n${nsid}`, device: d.id, kind: 'nvme-ns', payloadBytes: d.mailboxBytes, nsid });
    }
  });
  sel.mem.forEach((d, i) => out.push({ path: `/dev/cxl/mem-mbx${i}`, device: d.id, kind: 'cxl-mem', payloadBytes: d.mailboxBytes, nsid: 0 }));
  sel.switch.forEach((d, i) => out.push({ path: `/dev/cxl/switch-mbx${i}`, device: d.id, kind: 'cxl-switch', payloadBytes: d.mailboxBytes, nsid: 0 }));
  return out;
}

/** The map file's text. */
export function formatMap(entries: readonly ExposedDevice[], server: string): string {
  const head = [
    '# mbxmux expose device map: <path> <device> <kind> <payload-bytes> <nsid>',
    `# server ${server}`,
  ];
  return [...head, ...entries.map((e) => `${e.path} ${e.device} ${e.kind} ${e.payloadBytes} ${e.nsid}`)].join('\n') + '\n';
}

/** The active namespace ids in an Identify CNS 02h answer: LE32 ids in increasing order, ended by 0. */
export function activeNamespaces(list: Uint8Array): number[] {
  const v = new DataView(list.buffer, list.byteOffset, list.byteLength);
  const out: number[] = [];
  for (let at = 0; at + 4 <= list.byteLength; at += 4) {
    const nsid = v.getUint32(at, true);
    if (nsid === 0) break;
    out.push(nsid);
  }
  return out;
}
