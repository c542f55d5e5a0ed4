import { rcName } from '../devices/cci/return-codes.js';
import { describeStatus } from '../devices/nvme/status.js';
import { BadRequestError } from '../errors.js';
import type { Mux } from '../mux/mux.js';
import type { Session } from '../mux/session.js';
import type { CommandResult } from '../mux/types.js';
import { decodeNvmeSmart, decodePortStates, decodeType3Health, type NvmeSmart, type PortState, type Type3Health } from '../commands/decode/index.js';
import { getLogCdw10 } from '../commands/families.js';
import { commandTarget } from '../commands/target.js';

export { decodeNvmeSmart, decodePortStates, decodeType3Health, type NvmeSmart, type PortState, type Type3Health };

/**
 * Health of one device, decoded into named fields: a type-3 device's Get Health Info (4200h), an NVMe
 * controller's SMART / Health Information log (02h), a switch's Get Physical Port State (5101h) for every
 * port. An MCTP endpoint answers for the component it fronts.
 */

export type DeviceHealth =
  | { device: string; family: 'cxl-type3'; command: 'Get Health Info (4200h)'; health: Type3Health }
  | { device: string; family: 'nvme'; command: 'Get Log Page: SMART / Health Information (02h)'; health: NvmeSmart }
  | { device: string; family: 'cxl-switch'; command: 'Get Physical Port State (5101h)'; ports: PortState[]; portCount: number };

function ok(r: CommandResult, what: string, device: string, nvme = false): void {
  if (r.rc !== 0) {
    throw new BadRequestError(`${device} answered ${what} with ${nvme ? describeStatus(r.rc) : rcName(r.rc)} (rc 0x${r.rc.toString(16)})`, { device, rc: r.rc });
  }
}

/** Reads and decodes one device's health through `session` (its tier applies). */
export async function readHealth(mux: Mux, session: Session, device: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<DeviceHealth> {
  const { family } = commandTarget(mux.fleet, device);
  const base = { device, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}) };
  switch (family) {
    case 'cxl-type3': {
      const r = await session.send({ ...base, opcode: 0x4200 });
      ok(r, 'Get Health Info', device);
      return { device, family, command: 'Get Health Info (4200h)', health: decodeType3Health(r.payload) };
    }
    case 'nvme': {
      const r = await session.send({ ...base, opcode: 0x02, nsid: 0xffffffff, cdw10: getLogCdw10(0x02, 512) });
      ok(r, 'Get Log Page (SMART / Health Information)', device, true);
      return { device, family, command: 'Get Log Page: SMART / Health Information (02h)', health: decodeNvmeSmart(r.payload) };
    }
    case 'cxl-switch': {
      const id = await session.send({ ...base, opcode: 0x5100 });
      ok(id, 'Identify Switch Device', device);
      const portCount = id.payload[2] ?? 0;
      const q = new Uint8Array(1 + portCount);
      q[0] = portCount;
      for (let i = 0; i < portCount; i++) q[1 + i] = i;
      const r = await session.send({ ...base, opcode: 0x5101, payload: q });
      ok(r, 'Get Physical Port State', device);
      return { device, family, command: 'Get Physical Port State (5101h)', portCount, ports: decodePortStates(r.payload) };
    }
    case 'cxl-mld': {
      const d = mux.devices().find((x) => x.id === device);
      const via = d?.reachableVia;
      throw new BadRequestError(`${device} is an MLD's FM-owned LD: it has no health command; read its LDs with send_command`
        + (via ? ` { device: "${via.device}", tunnel: [${via.port}], opcode: "Get LD Info" } (fabric-manager sessions only)` : ''), { device });
    }
    case 'nvme-io': // commandTarget names the I/O set only for a queue, which is not asked for here
      throw new BadRequestError(`${device}: health is read on the admin queue`, { device });
  }
}
