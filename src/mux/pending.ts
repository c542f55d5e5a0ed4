import type { DeviceDescriptor } from '../fleet/types.js';
import type { MbxError } from '../errors.js';
import type { AuditLog, AuditRecord } from '../policy/audit.js';
import { Channels } from './diagnostics.js';
import type { Session } from './session.js';

export const enum PState {
  QUEUED = 1,
  IN_FLIGHT = 2,
  DONE = 3,
  /** rejected (timeout, abort, close) while its ring slot is still held by the worker */
  CANCELLED = 4,
}

/**
 * Decodes a completion into the caller's result. The answer's bytes are `ring[at, at + len)`, a view of the
 * completion ring valid only during the call: a decoder copies what it returns into bytes of their own, sized
 * exactly, so no caller can reach another request's answer through `.buffer`.
 */
export type Decoder = (rc32: number, flags: number, a1: number, a2: number, ring: Uint8Array, at: number, len: number) => unknown;

/** One request from send() until its promise settles. Monomorphic class: the hot path allocates one per request. */
export class Pending {
  state: PState = PState.QUEUED;
  /** ring tag (slot index in the shard's in-flight table) while IN_FLIGHT or CANCELLED */
  tag = -1;
  /** performance.now() ms after which the request times out (Infinity = never) */
  deadline = Infinity;
  resolve!: (v: unknown) => void;
  reject!: (e: unknown) => void;
  abortCleanup: (() => void) | null = null;
  /** the audit record of an allowed write-class command, completed with its result */
  audit: AuditRecord | null = null;
  auditLog: AuditLog | null = null;
  /** non-zero when someone subscribes to mbxmux:request:end */
  traceId = 0;
  /** the device may hold it indefinitely (NVMe AER): counted in its shard's long-lived slots, not in windows */
  longLived = false;

  constructor(
    readonly session: Session,
    readonly device: DeviceDescriptor,
    /** global device index, and (copied from the device table: the hot path never dereferences the
     *  descriptor) its shard and local index */
    readonly di: number,
    readonly shard: number,
    readonly local: number,
    readonly opcode: number,
    readonly flags: number,
    public payload: Uint8Array | null,
    readonly a0: number,
    readonly a1: number,
    readonly a2: number,
    readonly decode: Decoder,
  ) {}

  get active(): boolean {
    return this.state === PState.QUEUED || this.state === PState.IN_FLIGHT;
  }

  /**
   * settle / settleError / fail take an active request (QUEUED or IN_FLIGHT) to its end, exactly once. A second
   * call (a completion for a request already rejected, a failure after its answer) would be swallowed by the
   * promise, so it is counted on the mux instead (mux.stats().settledTwice) and otherwise ignored.
   */
  private settledAlready(): boolean {
    if (this.active) return false;
    this.session.mux.noteSettledTwice();
    return true;
  }

  settle(value: unknown): void {
    if (this.settledAlready()) return;
    this.state = PState.DONE;
    this.cleanup();
    if (this.audit !== null) this.auditLog!.finish(this.audit, (value as { rc: number }).rc);
    if (this.traceId !== 0) Channels.requestEnd.publish({ id: this.traceId, mux: this.session.mux, device: this.device.id, result: value, time: performance.now() });
    this.resolve(value);
  }

  /** Rejects a request that no longer holds a ring slot. */
  settleError(err: MbxError): void {
    if (this.settledAlready()) return;
    this.state = PState.DONE;
    this.cleanup(err);
    this.reject(err);
  }

  /** Rejects; a request whose slot the worker still holds becomes CANCELLED until its completion returns. */
  fail(err: MbxError): void {
    if (this.settledAlready()) return;
    this.state = this.state === PState.IN_FLIGHT ? PState.CANCELLED : PState.DONE;
    this.cleanup(err);
    this.reject(err);
  }

  private cleanup(err?: MbxError): void {
    if (err !== undefined && this.audit !== null) this.auditLog!.finish(this.audit, err.code);
    if (err !== undefined && this.traceId !== 0) Channels.requestEnd.publish({ id: this.traceId, mux: this.session.mux, device: this.device.id, error: err, time: performance.now() });
    if (this.abortCleanup !== null) {
      this.abortCleanup();
      this.abortCleanup = null;
    }
  }
}
