import { executeCci } from '../src/devices/cci/cci.js';
import { newCciRequest } from '../src/devices/cci/command-table.js';
import { newType3State, type Type3State } from '../src/devices/cxl/type3.js';
import { buildFleet } from '../src/fleet/expand.js';

/**
 * The same device work the baselines do per command: execute one CCI command on an emulated type-3 device
 * from the same command table mbxmux uses. Keeps the comparison about transport, not about device models.
 */
export class BaselineDevices {
  private readonly states: Type3State[];
  private readonly req = newCciRequest(new Uint8Array(4096));

  constructor(count: number) {
    const fleet = buildFleet({ devices: [{ kind: 'cxl-type3', count }] }, 1);
    this.states = fleet.devices.map((d) => newType3State(d));
  }

  /** Runs `opcode` on device `index`; returns rc and a copy of the output. */
  execute(index: number, opcode: number, payload: Uint8Array | null): { rc: number; payload: Uint8Array } {
    const req = this.req;
    req.opcode = opcode;
    req.inLen = payload === null ? 0 : payload.byteLength;
    if (payload !== null) req.payload.set(payload);
    req.nowNs = performance.now() * 1e6;
    const rc = executeCci(this.states[index % this.states.length]!, req);
    return { rc, payload: req.payload.slice(0, req.outLen) };
  }
}
