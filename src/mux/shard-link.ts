import { ThreadBell } from '../doorbell/thread-bell.js';
import { createRing, RingConsumer, RingProducer } from '../ring/spsc-ring.js';
import { nextPowerOfTwo } from '../ring/layout.js';
import { SHARD_CTL_BYTES, THREAD_CTL_BYTES, ThreadCtl } from '../shard/protocol.js';

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
 * device arena (which outlives workers), the worker thread that serves it, and whether that thread serves it
 * now. The scheduler writes requests into `sq` and reads completions from `cq`; the supervisor replaces the
 * rings when it restarts the thread.
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
  /** the worker thread serving this shard (set when the supervisor assigns it) */
  thread!: ThreadLink;

  constructor(
    readonly index: number,
    readonly arena: SharedArrayBuffer,
    readonly geometry: ShardGeometry,
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
    this.cq = new RingConsumer(this.cqBuf);
    this.ctl = new Int32Array(this.ctlBuf);
  }

  /**
   * Publishes what was written into the SQ (one Atomics.store of its TAIL) and wakes the serving thread if it
   * sleeps: once per sleep, whichever of its shards was published (ThreadBell). Returns how many it published.
   */
  publish(): number {
    const n = this.sq.publish(false);
    if (n > 0) this.thread.bell.ring();
    return n;
  }
}

/**
 * The main thread's end of one worker thread: the shards it serves and its control block (its doorbell and
 * STOP), new for every generation. A thread that dies takes all of its shards with it; they restart together.
 */
export class ThreadLink {
  generation = 0;
  ctlBuf!: SharedArrayBuffer;
  ctl!: Int32Array;
  bell!: ThreadBell;
  /** restart times (ms) within the restart window */
  restarts: number[] = [];
  /** wake-ups sent to earlier generations of this thread */
  private pastNotifies = 0;

  constructor(
    readonly index: number,
    readonly shards: readonly ShardLink[],
    /** every wake-up of this thread is counted here (SpinGate WAKES) */
    private readonly wakeCounter: { words: Int32Array; index: number } | null = null,
  ) {
    for (const s of shards) s.thread = this;
    this.freshCtl();
  }

  /** A new control block (and rings for every shard) for a (re)started thread. */
  fresh(): void {
    this.pastNotifies += this.bell.notifies;
    this.freshCtl();
    for (const s of this.shards) s.freshRings();
  }

  private freshCtl(): void {
    this.ctlBuf = new SharedArrayBuffer(THREAD_CTL_BYTES);
    this.ctl = new Int32Array(this.ctlBuf);
    this.bell = new ThreadBell(this.ctl, ThreadCtl.SEQ, ThreadCtl.SLEEPING);
    this.bell.wakeCounter = this.wakeCounter;
  }

  /** Wake-ups the main thread sent this thread, over every generation. */
  get notifies(): number {
    return this.pastNotifies + this.bell.notifies;
  }

  get sleeps(): number {
    return this.ctl[ThreadCtl.STAT_SLEEPS] ?? 0;
  }

  /** Asks the worker to return from its task, and wakes it if it sleeps. */
  requestStop(): void {
    Atomics.store(this.ctl, ThreadCtl.STOP, 1);
    this.bell.wake();
  }
}
