import { createRing, RingConsumer, RingProducer } from '../ring/spsc-ring.js';
import { nextPowerOfTwo } from '../ring/layout.js';
import { SHARD_CTL_BYTES, ShardCtl } from '../shard/protocol.js';

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
 * The main thread's end of one shard: its rings and control block (new ones for every worker generation), its
 * device arena (which outlives workers), and whether a worker serves it. The scheduler writes requests into
 * `sq` and reads completions from `cq`; the supervisor replaces the rings when it restarts the worker.
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

  constructor(
    readonly index: number,
    readonly arena: SharedArrayBuffer,
    readonly geometry: ShardGeometry,
    /** every wake-up of this shard's worker is counted here (SpinGate WAKES) */
    private readonly wakeCounter: { words: Int32Array; index: number } | null = null,
  ) {
    this.freshRings();
  }

  get ready(): boolean {
    return this.status === 'ready';
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

  /** Asks the worker to return from its task and wakes it if it sleeps on the SQ. */
  requestStop(): void {
    Atomics.store(this.ctl, ShardCtl.STOP, 1);
    this.sq.wakeConsumer();
  }
}
