import { type Tier, TierLevel } from '../policy/tiers.js';
import { Fifo } from './fifo.js';
import type { Pending } from './pending.js';
import type { CommandResult, SendRequest } from './types.js';

/** What a Session needs from its mux (kept narrow so sessions stay thin). */
export interface SessionHost {
  dispatch(session: Session, req: SendRequest): Promise<CommandResult>;
  closeSession(session: Session): void;
  /** a request was settled a second time (a bug the reliability tests look for; see Pending) */
  noteSettledTwice(): void;
}

/**
 * A client's handle on the mux: a tier, a host identity, and its own queues (one per shard) so the mux can
 * serve sessions round-robin and one flooding session cannot starve the others.
 */
export class Session {
  readonly queues: Fifo<Pending>[];
  /** requests in flight per shard (bounded by the mux's sessionWindow) */
  readonly inFlight: Int32Array;
  /** live requests waiting in `queues` or `parked` (settled ones are skipped lazily) */
  queued = 0;
  /**
   * Requests set aside because their device already has deviceWindow requests in flight, per device, in
   * order: they wait here so requests for other devices behind them in `queues` are not blocked.
   */
  parked: Map<number, Fifo<Pending>> | null = null;
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
    this.queues = Array.from({ length: shards }, () => new Fifo<Pending>());
    this.inFlight = new Int32Array(shards);
  }

  /** Sends one command; resolves with the device's answer (a non-zero rc is an answer, not an error). */
  send(req: SendRequest): Promise<CommandResult> {
    return this.host_.dispatch(this, req);
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
