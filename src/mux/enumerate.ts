import { Rc } from '../devices/cci/return-codes.js';
import { CEL_UUID, uuidEquals } from '../devices/cci/uuid.js';
import type { DeviceDescriptor, Fleet } from '../fleet/types.js';
import type { Policy } from '../policy/engine.js';
import type { Session } from './session.js';
import type { CommandResult, SendRequest } from './types.js';

export interface EnumerationReport {
  devices: number;
  enumerated: number;
  failed: { device: string; reason: string }[];
  /** distinct effects tables (devices reporting the same log share one) */
  tables: number;
  ms: number;
}

const NVME_EFFECTS_LOG = 0x05;
const NVME_GET_LOG_PAGE = 0x02;
const NVME_EFFECTS_BYTES = 4096;

/**
 * Reads every device's own effects log through its own interface and builds the policy from what each
 * reports: Get Supported Logs + Get Log (CEL) for CXL mailboxes, the same through a switch tunnel for an
 * MLD's FM-owned LD, Get Log Page 05h for NVMe. MCTP endpoints have no log of their own: the policy checks
 * requests to one against the component it fronts.
 * A device that cannot be read stays without a table, and every request to it is refused.
 */
export async function enumerate(fleet: Fleet, policy: Policy, system: Session, concurrency = 4096): Promise<EnumerationReport> {
  const t0 = performance.now();
  const failed: EnumerationReport['failed'] = [];
  const tables = new Set<object>();
  // A device busy or failing transiently (Busy, Retry Required, Internal Error; NVMe Command Interrupted)
  // gets a few tries with backoff: one bad answer must not leave it without a policy.
  const send = async (req: SendRequest): Promise<CommandResult> => {
    for (let attempt = 0; ; attempt++) {
      const r = await system.send({ timeoutMs: 1000, ...req });
      if (r.rc === Rc.SUCCESS || attempt >= 6) return r;
      await new Promise((res) => setTimeout(res, 2 ** attempt));
    }
  };
  const one = async (d: DeviceDescriptor): Promise<void> => {
    try {
      if (d.kind === 'nvme') {
        const r = await send({ device: d.id, opcode: NVME_GET_LOG_PAGE, cdw10: NVME_EFFECTS_LOG | ((NVME_EFFECTS_BYTES / 4 - 1) << 16) });
        if (r.rc !== 0 || r.payload.byteLength < 1024) throw new Error(`Get Log Page 05h answered status 0x${r.rc.toString(16)} with ${r.payload.byteLength} bytes`);
        const t = policy.tableCache.nvme(r.payload);
        tables.add(t);
        policy.setTable(d.index, t);
        return;
      }
      // CXL: directly, or for an MLD's FM-owned LD through the switch port it hangs on
      const via = d.tunnelOnly ? { device: fleet.devices[d.tunnelOnly.via]!.id, tunnel: [d.tunnelOnly.port] } : { device: d.id };
      const logs = await send({ ...via, opcode: 0x0400 });
      if (logs.rc !== 0) throw new Error(`Get Supported Logs answered rc 0x${logs.rc.toString(16)}`);
      const v = new DataView(logs.payload.buffer, logs.payload.byteOffset, logs.payload.byteLength);
      const n = logs.payload.byteLength >= 8 ? v.getUint16(0, true) : 0;
      let size = -1;
      for (let i = 0; i < n && 8 + i * 0x14 + 0x14 <= logs.payload.byteLength; i++) {
        if (uuidEquals(logs.payload, 8 + i * 0x14, CEL_UUID)) size = v.getUint32(8 + i * 0x14 + 0x10, true);
      }
      if (size < 0) throw new Error('Get Supported Logs does not list the Command Effects Log');
      // Get Log in chunks that fit the mailbox (a tunnel needs room for its headers)
      const chunk = Math.max(4, Math.floor((d.mailboxBytes - (d.tunnelOnly ? 32 : 0)) / 4) * 4);
      const cel = new Uint8Array(size);
      for (let off = 0; off < size; off += chunk) {
        const len = Math.min(chunk, size - off);
        const q = new Uint8Array(0x18);
        q.set(CEL_UUID, 0);
        new DataView(q.buffer).setUint32(0x10, off, true);
        new DataView(q.buffer).setUint32(0x14, len, true);
        const part = await send({ ...via, opcode: 0x0401, payload: q });
        if (part.rc !== 0 || part.payload.byteLength !== len) throw new Error(`Get Log (CEL) at ${off} answered rc 0x${part.rc.toString(16)}`);
        cel.set(part.payload, off);
      }
      const t = policy.tableCache.cxl(cel, d.kind === 'cxl-mld');
      tables.add(t);
      policy.setTable(d.index, t);
    } catch (e) {
      failed.push({ device: d.id, reason: (e as Error).message });
    }
  };
  const queue = fleet.devices.filter((d) => d.kind !== 'mctp-pcc');
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    while (next < queue.length) await one(queue[next++]!);
  }));
  // A device can time out only because hung neighbours held the ring windows: try the failures once more,
  // one at a time, before giving up on them.
  const retry = failed.splice(0).map((f) => fleet.byId.get(f.device)!);
  for (const d of retry) await one(d);
  return { devices: fleet.devices.length, enumerated: queue.length - failed.length, failed, tables: tables.size, ms: performance.now() - t0 };
}
