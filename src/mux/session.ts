import { type Tier, TierLevel } from '../policy/tiers.js';
import { RecordQueue } from './record-queue.js';
import type { Completion, RequestRecord, RequestSession } from './request.js';
import type { CommandResult, SendRequest } from './types.js';

/** What a Session needs from its mux (kept narrow so sessions stay thin). */
export interface SessionHost {
  dispatch(session: Session, req: SendRequest): Promise<CommandResult>;
  submit(session: Session, req: SendRequest, onDone: Completion): void;
  closeSession(session: Session): void;
}

/**
 * A client's handle on the mux: a tier, a host identity, and its own queues (one per shard) so the mux can
 * serve sessions round-robin and one flooding session cannot starve the others.
 */
export class Session implements RequestSession {
  readonly queues: RecordQueue<RequestRecord>[];
  readonly inFlight: Int32Array;
  queued = 0;
  parked: Map<number, RecordQueue<RequestRecord>> | null = null;
  sent = 0;
  closed = false;
  /** the tier as a level, for the policy check */
  readonly level: number;

  constructor(
    readonly id: number,
    private readonly host_: SessionHost,
    readonly tier: Tier,
    readonly host: number,
    readonly fabricManager: boolean,
    readonly queueLimit: number,
    readonly name: string,
    shards: number,
    /** the mux's own session (enumeration): not subject to the policy, not listed */
    readonly system = false,
  ) {
    this.level = TierLevel[tier];
    this.queues = Array.from({ length: shards }, () => new RecordQueue<RequestRecord>());
    this.inFlight = new Int32Array(shards);
  }

  /** Sends one command; resolves with the device's answer (a non-zero rc is an answer, not an error). */
  send(req: SendRequest): Promise<CommandResult> {
    return this.host_.dispatch(this, req);
  }

  /**
   * Sends one command and calls `onDone(null, answer)` with the device's answer, or `onDone(error, null)`:
   * exactly once, and never before submit() returns. No promise and no result object are made: `answer` is a
   * view the mux reuses, valid only until onDone returns (read its fields, call `answer.payload()` for the
   * bytes, or `answer.result()` for a copy of your own). Timeouts, aborts, worker loss and close settle it as
   * they settle send(). For code that runs many requests (load generators, servers); send() is built on it.
   */
  submit(req: SendRequest, onDone: Completion): void {
    this.host_.submit(this, req, onDone);
  }

  /** The mux this session belongs to (diagnostics messages carry it so listeners can tell muxes apart). */
  get mux(): SessionHost {
    return this.host_;
  }

  /**
   * Stops accepting requests from this session and rejects what it still has outstanding with EMBX_CLOSED;
   * requests a worker holds are cancelled there, as a timeout cancels them. Await your requests first to let
   * them finish.
   */
  close(): void {
    this.closed = true;
    this.host_.closeSession(this);
  }
}
