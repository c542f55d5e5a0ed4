import type { FaultSpec, TestOnlyCompletionFaults } from '../fleet/types.js';
import { type ComponentState, executeCci } from './cci/cci.js';
import type { CciRequest } from './cci/command-table.js';
import { Rc } from './cci/return-codes.js';
import type { CompletionSink } from './endpoint.js';
import { TUNNEL_HEADER_BYTES, TUNNEL_OPCODE } from './cxl/tunnel.js';

/**
 * Fault injection for one emulated device, driven by its fleet entry. Random choices come from a per-device
 * xorshift32 stream seeded from the device serial, so a fleet replays the same faults run after run.
 */
export class FaultInjector {
  private state: number;

  constructor(readonly spec: FaultSpec | undefined, seed: bigint) {
    this.state = xorshiftSeed(seed);
  }

  static readonly NONE = new FaultInjector(undefined, 1n);

  get active(): boolean {
    return this.spec !== undefined;
  }

  /** uniform in [0, 1) */
  private random(): number {
    this.state = xorshift32(this.state);
    return (this.state >>> 0) / 4294967296;
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

function xorshiftSeed(seed: bigint): number {
  return Number(seed & 0xffffffffn) | 1;
}

function xorshift32(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x;
}

/**
 * TEST ONLY (faults.testOnly): sits between one device and the shard's completion ring and drops, duplicates
 * or misdelivers that device's completions, so the reliability tests can show their exactly-once checks fire.
 * Its random stream is its own (seeded from the serial, like FaultInjector's), so adding it does not change
 * which commands the other faults hit.
 */
export class TestOnlyCompletionFaultSink implements CompletionSink {
  private state: number;
  /** tag of the completion this device wrote last, or -1 */
  private lastTag = -1;

  constructor(private readonly next: CompletionSink, private readonly spec: TestOnlyCompletionFaults, seed: bigint) {
    this.state = xorshiftSeed(~seed);
  }

  private chance(p: number | undefined): boolean {
    if (p === undefined || p <= 0) return false;
    this.state = xorshift32(this.state);
    return (this.state >>> 0) / 4294967296 < p;
  }

  complete(tag: number, target: number, opcode: number, flags: number, a0: number, a1: number, a2: number,
    head: Uint8Array | null, body: Uint8Array | null): void {
    const s = this.spec;
    if (this.chance(s.dropCompletion)) return;
    if (this.chance(s.misdeliverCompletion)) {
      if (this.lastTag >= 0) this.next.complete(this.lastTag, target, opcode, flags, a0, a1, a2, head, body);
      return;
    }
    this.next.complete(tag, target, opcode, flags, a0, a1, a2, head, body);
    if (this.chance(s.duplicateCompletion)) this.next.complete(tag, target, opcode, flags, a0, a1, a2, head, body);
    this.lastTag = tag;
  }
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
