import { directlyAddressable } from '../fleet/expand.js';
import type { DeviceDescriptor, Fleet } from '../fleet/types.js';

export const Wire = { CXL: 0, NVME: 1, MCTP: 2 } as const;

/**
 * The per-device facts the request path reads, in parallel typed arrays indexed by the device's global
 * index. With 10,000+ devices hit at random, reading them from the descriptor objects cost a cache miss
 * each; these arrays stay small and dense.
 */
export class DeviceTable {
  readonly byId: Map<string, number>;
  readonly shard: Uint16Array;
  readonly local: Uint32Array;
  readonly maxPayload: Uint32Array;
  readonly direct: Uint8Array;
  /** 0: a CXL mailbox (type-3, switch), 1: NVMe, 2: MCTP endpoint */
  readonly wire: Uint8Array;
  readonly desc: readonly DeviceDescriptor[];

  constructor(fleet: Fleet) {
    const n = fleet.devices.length;
    this.desc = fleet.devices;
    this.byId = new Map();
    this.shard = new Uint16Array(n);
    this.local = new Uint32Array(n);
    this.maxPayload = new Uint32Array(n);
    this.direct = new Uint8Array(n);
    this.wire = new Uint8Array(n);
    for (const d of fleet.devices) {
      this.wire[d.index] = d.kind === 'nvme' ? Wire.NVME : d.kind === 'mctp-pcc' ? Wire.MCTP : Wire.CXL;
      this.byId.set(d.id, d.index);
      this.shard[d.index] = d.shard;
      this.local[d.index] = d.local;
      this.maxPayload[d.index] = d.mailboxBytes;
      this.direct[d.index] = directlyAddressable(d.kind) ? 1 : 0;
    }
  }

  /** Global index of a device id, or -1. */
  find(id: unknown): number {
    if (typeof id !== 'string') return -1;
    const i = this.byId.get(id);
    return i === undefined ? -1 : i;
  }
}
