import type { FaultSpec } from '../fleet/types.js';
import { type ComponentState, executeCci } from './cci/cci.js';
import type { CciRequest } from './cci/command-table.js';
import { Rc } from './cci/return-codes.js';
import { TUNNEL_HEADER_BYTES, TUNNEL_OPCODE } from './cxl/tunnel.js';

/**
 * Fault injection for one emulated device, driven by its fleet entry. Random choices come from a per-device
 * xorshift32 stream seeded from the device serial, so a fleet replays the same faults run after run.
 */
export class FaultInjector {
  private state: number;

  constructor(readonly spec: FaultSpec | undefined, seed: bigint) {
    this.state = Number(seed & 0xffffffffn) | 1;
  }

  static readonly NONE = new FaultInjector(undefined, 1n);

  get active(): boolean {
    return this.spec !== undefined;
  }

  /** uniform in [0, 1) */
  private random(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x;
    return (x >>> 0) / 4294967296;
  }

  hangs(opcode: number): boolean {
    const h = this.spec?.hang;
    return h === true || (Array.isArray(h) && h.includes(opcode));
  }

  malforms(opcode: number): boolean {
    const m = this.spec?.malformed;
    return m === true || (Array.isArray(m) && m.includes(opcode));
  }

  delayNs(): number {
    return (this.spec?.slowMs ?? 0) * 1e6;
  }

  /** Busy storms: true when this command should be answered Busy without running. */
  busy(): boolean {
    const p = this.spec?.busy;
    return p !== undefined && p > 0 && this.random() < p;
  }

  /** A forced return code for this command, or -1. */
  error(): number {
    const p = this.spec?.error;
    return p !== undefined && p > 0 && this.random() < p ? this.spec!.errorRc! : -1;
  }

  dropFragment(): boolean {
    const p = this.spec?.dropFragments;
    return p !== undefined && p > 0 && this.random() < p;
  }

  /**
   * Worker-loss faults, checked when a request reaches the device: `crashOn` throws out of the shard loop,
   * `exitOn` ends the worker thread (process.exit inside a worker), `oomOn` allocates until the worker's
   * resourceLimits kill it.
   */
  crashCheck(opcode: number, deviceId: string): void {
    const f = this.spec;
    if (f === undefined) return;
    if (f.crashOn === opcode) {
      throw new Error(`injected crash: device ${deviceId} received opcode 0x${opcode.toString(16)} (faults.crashOn)`);
    }
    if (f.exitOn === opcode) process.exit(70);
    if (f.oomOn === opcode) {
      const hoard: number[][] = [];
      for (;;) hoard.push(new Array<number>(1 << 20).fill(hoard.length));
    }
  }
}

/**
 * Runs one CCI command the way a device with these faults answers it, whatever path it came in by (mailbox,
 * tunnel, MCTP): a busy storm answers Busy and an injected error answers its code without running the
 * command; otherwise the device's handler runs, and `malformed` then corrupts the length of its answer.
 */
export function executeWithFaults(faults: FaultInjector, dev: ComponentState, req: CciRequest): number {
  const forced = faults.active ? (faults.busy() ? Rc.BUSY : faults.error()) : -1;
  if (forced < 0) {
    const rc = executeCci(dev, req);
    if (faults.active && faults.malforms(req.opcode)) malform(req, rc);
    return rc;
  }
  req.outLen = 0;
  req.vendorStatus = 0;
  return forced;
}

/**
 * faults.malformed: the answer's length field claims one byte more than the answer carries. In a tunnel
 * response that is its Response Length (CXL r3.2 Table 7-38), left for the requester to catch; otherwise the
 * output length the transport reports (mailbox Payload Length, MCTP CCI payload length) exceeds the message
 * buffer, which no answer can fill.
 */
function malform(req: CciRequest, rc: number): void {
  if (req.opcode === TUNNEL_OPCODE && rc === Rc.SUCCESS && req.outLen >= TUNNEL_HEADER_BYTES) {
    const claimed = (req.payload[0]! | (req.payload[1]! << 8)) + 1;
    req.payload[0] = claimed & 0xff;
    req.payload[1] = (claimed >>> 8) & 0xff;
    return;
  }
  req.outLen = req.payload.byteLength + 1;
}
