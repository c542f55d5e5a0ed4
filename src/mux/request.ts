import type { DeviceDescriptor } from '../fleet/types.js';
import type { MbxError } from '../errors.js';
import type { AuditLog, AuditRecord } from '../policy/audit.js';
import type { PolicySubject } from '../policy/engine.js';
import type { Answer } from './answer.js';
import { Channels } from './diagnostics.js';
import type { Filler } from './encode.js';
import type { RecordQueue } from './record-queue.js';
import type { CommandResult } from './types.js';

export const enum RState {
  /** in the pool, carrying no request */
  FREE = 0,
  QUEUED = 1,
  IN_FLIGHT = 2,
  DONE = 3,
  /** rejected (timeout, abort, close) while its ring slot is still held by the worker */
  CANCELLED = 4,
}

/**
 * What `session.submit()` calls once per request: `(null, answer)` with the device's answer (valid until the
 * callback returns, see Answer), or `(error, null)`. Never called before submit() returns.
 */
export type Completion = (err: MbxError | null, answer: Answer | null) => void;

/**
 * What a request needs from the session that sent it: the policy subject, and the session's scheduling state
 * (its queue and in-flight count per shard, the requests it parked per device). `Session` implements it;
 * declaring it here keeps the dependency one way (session -> request).
 */
export interface RequestSession extends PolicySubject {
  readonly queues: RecordQueue<RequestRecord>[];
  /** requests in flight per shard (bounded by the session windows) */
  readonly inFlight: Int32Array;
  /** live requests waiting in `queues` or `parked` (settled ones are dropped lazily) */
  queued: number;
  /** requests set aside per device while the device's window is full, in order */
  parked: Map<number, RecordQueue<RequestRecord>> | null;
  sent: number;
  readonly closed: boolean;
  readonly queueLimit: number;
  /** the mux's own session (enumeration): not subject to the policy */
  readonly system: boolean;
  /** the mux, named in diagnostics messages */
  readonly mux: object;
}

const NO_SESSION = {} as RequestSession;
const NO_DEVICE = {} as DeviceDescriptor;
const noFill: Filler = () => {};

/**
 * One request from submit()/send() until it settles. Records are pooled (RecordPool): the hot path allocates
 * nothing per request. A record goes back to the pool once it is settled and holds no ring slot; `gen` counts its
 * reuses, so an entry for it left in a lazily cleaned queue (RecordQueue) can tell it no longer holds that
 * request. One monomorphic class; every field is set in the constructor.
 */
export class RequestRecord {
  state: RState = RState.FREE;
  /** bumped every time the record returns to the pool */
  gen = 0;
  session: RequestSession = NO_SESSION;
  device: DeviceDescriptor = NO_DEVICE;
  /** global device index, and (copied from the device table: the hot path never dereferences the descriptor)
   *  its shard and local index */
  di = 0;
  shard = 0;
  local = 0;
  opcode = 0;
  flags = 0;
  payload: Uint8Array | null = null;
  a0 = 0;
  a1 = 0;
  a2 = 0;
  fill: Filler = noFill;
  /** the device may hold it indefinitely (NVMe AER): counted in its shard's long-lived slots, not in windows */
  longLived = false;
  /** ring tag (slot index in the shard's in-flight table) while IN_FLIGHT or CANCELLED, else -1 */
  tag = -1;
  /** performance.now() ms after which the request times out (Infinity = never) */
  deadline = Infinity;
  /** submit(): the caller's callback; send(): null, and the promise's functions below */
  onDone: Completion | null = null;
  resolve: ((v: CommandResult) => void) | null = null;
  reject: ((e: unknown) => void) | null = null;
  abortCleanup: (() => void) | null = null;
  /** the audit record of an allowed write-class command, completed with its result */
  audit: AuditRecord | null = null;
  auditLog: AuditLog | null = null;
  /** non-zero when someone subscribes to mbxmux:request:end */
  traceId = 0;

  constructor(private readonly pool: RecordPool) {}

  get active(): boolean {
    return this.state === RState.QUEUED || this.state === RState.IN_FLIGHT;
  }

  /** Fills a fresh record (from RecordPool.take) with an admitted request. */
  init(session: RequestSession, device: DeviceDescriptor, di: number, shard: number, local: number, opcode: number, flags: number,
    payload: Uint8Array | null, a0: number, fill: Filler, longLived: boolean): void {
    this.state = RState.QUEUED;
    this.session = session;
    this.device = device;
    this.di = di;
    this.shard = shard;
    this.local = local;
    this.opcode = opcode;
    this.flags = flags;
    this.payload = payload;
    this.a0 = a0;
    this.fill = fill;
    this.longLived = longLived;
  }

  /**
   * complete / settleError / fail take an active request (QUEUED or IN_FLIGHT) to its end, exactly once. A
   * second call (a completion for a request already rejected, a failure after its answer) would be swallowed by
   * a promise, so it is counted instead (mux.stats().settledTwice) and otherwise ignored.
   */
  private settledAlready(): boolean {
    if (this.active) return false;
    this.pool.witness.settledTwice++;
    return true;
  }

  /** The device answered: the caller gets `answer` (a view, valid during the callback) or, for send(), its copy. */
  complete(answer: Answer): void {
    if (this.settledAlready()) return;
    this.state = RState.DONE;
    this.cleanup();
    if (this.audit !== null) this.auditLog!.finish(this.audit, answer.rc);
    const cb = this.onDone;
    if (cb !== null) {
      if (this.traceId !== 0) this.traceEnd(answer.result(), undefined);
      call(cb, null, answer);
    } else {
      const result = answer.result();
      if (this.traceId !== 0) this.traceEnd(result, undefined);
      this.pool.witness.promised++;
      this.resolve!(result);
    }
    this.recycle();
  }

  /**
   * Rejects a request that holds no ring slot. `later`: the caller is still inside submit(), which must not
   * call back before it returns, so a callback runs in a microtask.
   */
  settleError(err: MbxError, later = false): void {
    if (this.settledAlready()) return;
    this.state = RState.DONE;
    this.cleanup(err);
    this.deliver(err, later);
    this.recycle();
  }

  /** Rejects; a request whose slot the worker still holds becomes CANCELLED until its completion returns. */
  fail(err: MbxError): void {
    if (this.settledAlready()) return;
    this.state = this.state === RState.IN_FLIGHT ? RState.CANCELLED : RState.DONE;
    this.cleanup(err);
    this.deliver(err, false);
    this.recycle();
  }

  /** The worker answered a request that was already rejected (CANCELLED): its slot is free now. */
  retire(): void {
    this.state = RState.DONE;
    this.recycle();
  }

  private deliver(err: MbxError, later: boolean): void {
    const cb = this.onDone;
    if (cb === null) {
      this.pool.witness.promised++;
      this.reject!(err);
    } else if (later) callLater(cb, err);
    else call(cb, err, null);
  }

  private cleanup(err?: MbxError): void {
    if (err !== undefined) {
      if (this.audit !== null) this.auditLog!.finish(this.audit, err.code);
      if (this.traceId !== 0) this.traceEnd(undefined, err);
    }
    if (this.abortCleanup !== null) {
      this.abortCleanup();
      this.abortCleanup = null;
    }
  }

  private traceEnd(result: CommandResult | undefined, error: MbxError | undefined): void {
    Channels.requestEnd.publish({
      id: this.traceId, mux: this.session.mux, device: this.device.id, ...(error === undefined ? { result } : { error }), time: performance.now(),
    });
  }

  /** Back to the pool once settled and out of the ring: every reference it held is dropped. */
  private recycle(): void {
    if (this.state !== RState.DONE || this.tag !== -1) return;
    this.state = RState.FREE;
    this.gen = (this.gen + 1) | 0;
    this.session = NO_SESSION;
    this.device = NO_DEVICE;
    this.payload = null;
    this.fill = noFill;
    this.onDone = null;
    this.resolve = null;
    this.reject = null;
    this.audit = null;
    this.auditLog = null;
    this.traceId = 0;
    this.deadline = Infinity;
    this.pool.give(this);
  }
}

/** A callback that throws must not break the drain it runs in: its error surfaces as an uncaught exception. */
function call(cb: Completion, err: MbxError | null, answer: Answer | null): void {
  try {
    cb(err, answer);
  } catch (e) {
    throwLater(e);
  }
}

/** Calls back with an error in a microtask (closures live here, not in the hot functions: see watchAbort). */
export function callLater(cb: Completion, err: MbxError): void {
  queueMicrotask(() => call(cb, err, null));
}

function throwLater(e: unknown): void {
  queueMicrotask(() => {
    throw e;
  });
}

/** Free request records of one mux: taken at admission, given back when a request settles. */
export class RecordPool {
  private readonly free: RequestRecord[] = [];

  constructor(
    /** the Tally a record counts a second settlement (exactly-once witness) and settled promises in */
    readonly witness: { settledTwice: number; promised: number },
    /** most free records kept (a burst of queued requests would otherwise pin its records for good) */
    private readonly cap = 1 << 16,
  ) {}

  take(): RequestRecord {
    return this.free.pop() ?? new RequestRecord(this);
  }

  give(r: RequestRecord): void {
    if (this.free.length < this.cap) this.free.push(r);
  }

  /** records waiting for reuse */
  get size(): number {
    return this.free.length;
  }
}
