/**
 * Shared by the switch and tunnel tests: a small fabric built from a fleet file, and one-command execution
 * on a component the way its mailbox would run it.
 */
import { executeCci, type ComponentState } from '../src/devices/cci/cci.js';
import { newCciRequest } from '../src/devices/cci/command-table.js';
import { newMldState } from '../src/devices/cxl/mld.js';
import { newSwitchState } from '../src/devices/cxl/switch.js';
import { newType3State } from '../src/devices/cxl/type3.js';
import { buildFleet } from '../src/fleet/expand.js';

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/[\s|]+/g, ''), 'hex'));
export const le64 = (n: bigint): string => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b.toString('hex');
};
export const T0 = 1e12;

/** Switch with 4 ports: 1 = SLD, 2 = MLD with 2 LDs (1 GiB, 512 MiB), 3 = empty. */
export function fabric(opts: { switchMailbox?: number; sldMailbox?: number } = {}) {
  const fleet = buildFleet({
    devices: [{
      kind: 'cxl-switch', ports: 4, mailboxBytes: opts.switchMailbox ?? 4096,
      downstream: [
        { port: 1, device: { kind: 'cxl-type3', host: 0, mailboxBytes: opts.sldMailbox ?? 4096 } },
        { port: 2, device: { kind: 'cxl-mld', lds: [{ host: 0 }, { host: 1, capacityBytes: 512 * 2 ** 20 }] } },
      ],
    }],
  }, 1);
  const dev = (kind: string) => fleet.devices.find((d) => d.kind === kind)!;
  const swD = dev('cxl-switch');
  const sldD = dev('cxl-type3');
  const mldD = dev('cxl-mld');
  const ldDs = mldD.mld!.lds.map((i) => fleet.devices[i]!);
  const sld = newType3State(sldD);
  const lds = ldDs.map((d) => newType3State(d));
  const mld = newMldState(mldD, lds);
  const sw = newSwitchState(swD, new Map<number, ComponentState>([[1, sld], [2, mld]]));
  return { fleet, swD, sldD, mldD, ldDs, sld, lds, mld, sw };
}

/** One command on a component as its mailbox would run it. */
export function run(dev: ComponentState, opcode: number, input: Uint8Array | string = '', nowNs = T0, mailbox = 4096) {
  const inp = typeof input === 'string' ? bytes(input) : input;
  const req = newCciRequest(new Uint8Array(mailbox));
  req.payload.set(inp);
  req.opcode = opcode;
  req.inLen = inp.byteLength;
  req.nowNs = nowNs;
  const rc = executeCci(dev, req);
  return { rc, out: req.payload.slice(0, req.outLen) };
}
