import { createRing, RingConsumer, RingProducer } from '../ring/spsc-ring.js';
import { nextPowerOfTwo } from '../ring/layout.js';
import { SHARD_CTL_BYTES, ShardCtl } from './protocol.js';
import type { Pending } from './pending.js';
import type { Session } from './session.js';

export type ShardStatus = 'starting' | 'ready' | 'restarting' | 'dead' | 'stopped';

/** Geometry shared by every shard of a mux. */
export interface ShardGeometry {
  slots: number;
  window: number;
  payloadBytes: number;
}

/** Ring payload area for the largest message: twice the largest payload (see RingProducer.allocPayload). */
export function payloadAreaFor(maxMessageBytes: number): number {
  return nextPowerOfTwo(Math.max(4 * 1024 * 1024, 2 * (maxMessageBytes + 4096)));
}

/**
 * The main thread's side of one shard: its rings, the table of requests in flight (indexed by tag), the
 * sessions waiting for room, and the supervision state of its worker task.
 */
export class ShardLink {
  status: ShardStatus = 'starting';
  generation = 0;
  sqBuf!: SharedArrayBuffer;
  cqBuf!: SharedArrayBuffer;
  ctlBuf!: SharedArrayBuffer;
  sq!: RingProducer;
  cq!: RingConsumer;
  ctl!: Int32Array;
  /** in-flight table: tag -> request; a tag is a slot index, reused only after its completion arrives */
  readonly slots: (Pending | undefined)[];
  readonly free: number[];
  /**
   * Long-lived requests (NVMe AERs) in flight: they count here instead of in the session and device windows,
   * which they would otherwise hold for good, and at most longLivedCap of the tags may be theirs.
   */
  longLived = 0;
  readonly longLivedCap: number;
  /** sessions with requests waiting for this shard, served round-robin */
  readonly rr: Session[] = [];
  /** tags to cancel, waiting for SQ room */
  readonly cancels: Pending[] = [];
  dirty = false;
  /** requests were queued while the shard had room: pump at the next flush */
  needsPump = false;
  restarts: number[] = [];
  /** the session that sent here last, and until when (ns, the mux's turn clock) the shard counts as shared */
  lastSession: Session | null = null;
  /** the turn clock when lastSession last sent here */
  lastSendNs = 0;
  sharedUntilNs = 0;
  task: Promise<void> | null = null;
  onReady: (() => void) | null = null;

  constructor(
    readonly index: number,
    readonly arena: SharedArrayBuffer,
    readonly geometry: ShardGeometry,
    /** every wake-up of this shard's worker is counted here (SpinGate WAKES) */
    private readonly wakeCounter: { words: Int32Array; index: number } | null = null,
  ) {
    this.slots = new Array<Pending | undefined>(geometry.window).fill(undefined);
    this.longLivedCap = Math.max(1, Math.floor(geometry.window / 4));
    this.free = [];
    for (let i = geometry.window - 1; i >= 0; i--) this.free.push(i);
    this.freshRings();
  }

  /** New rings and control block for a (re)started worker: nothing of a dead worker's traffic carries over. */
  freshRings(): void {
    this.sqBuf = createRing({ slots: this.geometry.slots, payloadBytes: this.geometry.payloadBytes });
    this.cqBuf = createRing({ slots: this.geometry.slots, payloadBytes: this.geometry.payloadBytes });
    this.ctlBuf = new SharedArrayBuffer(SHARD_CTL_BYTES);
    this.sq = new RingProducer(this.sqBuf);
    this.sq.dataBell.wakeCounter = this.wakeCounter;
    this.cq = new RingConsumer(this.cqBuf);
    this.ctl = new Int32Array(this.ctlBuf);
  }

  get inFlight(): number {
    return this.geometry.window - this.free.length;
  }

  /** Asks the worker to return from its task and wakes it if it sleeps on the SQ. */
  requestStop(): void {
    Atomics.store(this.ctl, ShardCtl.STOP, 1);
    this.sq.wakeConsumer();
  }
}
