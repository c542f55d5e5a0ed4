import type { DeviceDescriptor } from '../fleet/types.js';
import type { MbxError } from '../errors.js';
import type { AuditLog, AuditRecord } from '../policy/audit.js';
import type { PolicySubject } from '../policy/engine.js';
import { Channels } from './diagnostics.js';
import type { Fifo } from './fifo.js';

export const enum RState {
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

/**
 * What a request needs from the session that sent it: the policy subject, and the session's scheduling state
 * (its queue and in-flight count per shard, the requests it parked per device). `Session` implements it;
 * declaring it here keeps the dependency one way (session -> request).
 */
export interface RequestSession extends PolicySubject {
  readonly queues: Fifo<RequestRecord>[];
  /** requests in flight per shard (bounded by the session windows) */
  readonly inFlight: Int32Array;
  /** live requests waiting in `queues` or `parked` (settled ones are skipped lazily) */
  queued: number;
  /** requests set aside per device while the device's window is full, in order */
  parked: Map<number, Fifo<RequestRecord>> | null;
  sent: number;
  readonly closed: boolean;
  readonly queueLimit: number;
  /** the mux's own session (enumeration): not subject to the policy */
  readonly system: boolean;
  /** the mux, named in diagnostics messages; counts a request settled twice (see settledAlready) */
  readonly mux: { noteSettledTwice(): void };
}

/** One request from send() until its promise settles. Monomorphic class: the hot path allocates one per request. */
export class RequestRecord {
  state: RState = RState.QUEUED;
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
    readonly session: RequestSession,
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
    return this.state === RState.QUEUED || this.state === RState.IN_FLIGHT;
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
    this.state = RState.DONE;
    this.cleanup();
    if (this.audit !== null) this.auditLog!.finish(this.audit, (value as { rc: number }).rc);
    if (this.traceId !== 0) Channels.requestEnd.publish({ id: this.traceId, mux: this.session.mux, device: this.device.id, result: value, time: performance.now() });
    this.resolve(value);
  }

  /** Rejects a request that no longer holds a ring slot. */
  settleError(err: MbxError): void {
    if (this.settledAlready()) return;
    this.state = RState.DONE;
    this.cleanup(err);
    this.reject(err);
  }

  /** Rejects; a request whose slot the worker still holds becomes CANCELLED until its completion returns. */
  fail(err: MbxError): void {
    if (this.settledAlready()) return;
    this.state = this.state === RState.IN_FLIGHT ? RState.CANCELLED : RState.DONE;
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
