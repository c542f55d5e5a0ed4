import { buildShardEndpoints } from '../devices/build.js';
import type { CompletionSink, DeviceEndpoint } from '../devices/endpoint.js';
import type { CompletionBell } from '../doorbell/async-waiter.js';
import type { SpinGate } from '../doorbell/spin-gate.js';
import type { Fleet } from '../fleet/types.js';
import { RingConsumer, RingProducer } from '../ring/spsc-ring.js';
import { CqFlag, ShardCtl, ShardState, SqFlag, WorkerFailure, packStatus } from './protocol.js';
import type { ShardPart } from './task.js';

/** Requests taken from the SQ per batch: bounds the time before their slots are returned and results published. */
const BATCH = 256;
/**
 * Completions are published as soon as this many wait, not only at a batch's end: the main thread takes the
 * first answers of a batch while the worker still runs the rest (one Atomics.store per chunk).
 */
const PUBLISH_CHUNK = 32;

const encoder = new TextEncoder();

/** Writes completions into the CQ; when the CQ is full it publishes, rings the main thread and waits. */
class CqSink implements CompletionSink {
  cqWaits = 0;
  constructor(
    private readonly cq: RingProducer,
    private readonly bell: CompletionBell,
    private readonly spinNs: number,
    private readonly gate: SpinGate,
  ) {}

  complete(tag: number, target: number, opcode: number, flags: number, a0: number, a1: number, a2: number,
    head: Uint8Array | null, body: Uint8Array | null): void {
    const hl = head === null ? 0 : head.byteLength;
    const len = hl + (body === null ? 0 : body.byteLength);
    let at = this.cq.reserve(len);
    while (at < 0) {
      this.flush();
      this.cqWaits++;
      this.cq.waitForRoom(this.spinNs, 50, undefined, this.gate);
      at = this.cq.reserve(len);
    }
    if (head !== null) this.cq.payload.set(head, at);
    if (body !== null) this.cq.payload.set(body, at + hl);
    this.cq.commit(tag, target, opcode, flags, a0, a1, a2);
    if (this.cq.unpublished >= PUBLISH_CHUNK) this.flush();
  }

  flush(): void {
    if (this.cq.publish() > 0) this.bell.ring();
  }
}

/**
 * One shard, served by the worker thread that holds it: drains its SQ in batches, hands each request to its
 * device, publishes completions once per batch, and runs device timers when due. The thread's loop
 * (thread-server.ts) calls it; it never waits.
 */
export class ShardServer {
  private readonly sq: RingConsumer;
  private readonly cq: RingProducer;
  private readonly ctl: Int32Array;
  private readonly sink: CqSink;
  private readonly eps: DeviceEndpoint[];
  private readonly timed = new Set<DeviceEndpoint>();
  /** the earliest time (ns) a device of this shard has timer work, or Infinity */
  nextDeadline = Infinity;
  requests = 0;
  batches = 0;

  constructor(readonly shard: number, part: ShardPart, fleet: Fleet, generation: number, bell: CompletionBell, spinNs: number, gate: SpinGate) {
    this.sq = new RingConsumer(part.sq);
    this.cq = new RingProducer(part.cq);
    this.ctl = new Int32Array(part.ctl);
    this.sink = new CqSink(this.cq, bell, spinNs, gate);
    this.eps = buildShardEndpoints(fleet, shard, part.arena, this.sink);
    Atomics.store(this.ctl, ShardCtl.GENERATION, generation);
    Atomics.store(this.ctl, ShardCtl.STATE, ShardState.SERVING);
  }

  get devices(): number {
    return this.eps.length;
  }

  /** True if the SQ holds published requests (one Atomics.load of its TAIL). */
  hasWork(): boolean {
    return this.sq.available() > 0;
  }

  /** Serves up to BATCH requests from the SQ and publishes their completions; returns how many it took. */
  serveBatch(now: number): number {
    const sq = this.sq;
    let n = sq.available();
    if (n === 0) return 0;
    if (n > BATCH) n = BATCH;
    const eps = this.eps;
    const sink = this.sink;
    for (let i = 0; i < n; i++) {
      const w = sq.slotWord(i);
      const tag = sq.tag(w);
      const target = sq.target(w);
      const opcode = sq.opcode(w);
      const flags = sq.flags(w);
      const ep = eps[target];
      if (ep === undefined) {
        sink.complete(tag, target, opcode, CqFlag.FAILED, packStatus(0, 0), WorkerFailure.BAD_REQUEST, 0, null,
          encoder.encode(`no device with local index ${target} in shard ${this.shard}`));
        continue;
      }
      if ((flags & SqFlag.CANCEL) !== 0) {
        ep.cancel(tag, now);
      } else {
        ep.submit(tag, opcode, flags, sq.payloadOf(w), sq.arg0(w), sq.arg1(w), sq.arg2(w), now);
        this.requests++;
      }
      const d = ep.deadline();
      if (d !== Infinity) {
        this.timed.add(ep);
        if (d < this.nextDeadline) this.nextDeadline = d;
      }
    }
    sq.release(n);
    this.batches++;
    const ctl = this.ctl;
    ctl[ShardCtl.STAT_REQUESTS] = this.requests;
    ctl[ShardCtl.STAT_BATCHES] = this.batches;
    // Device timers run between batches too, so a busy shard still finishes slow commands on time.
    if (this.timed.size > 0 && now >= this.nextDeadline) this.runTimers(now);
    sink.flush();
    return n;
  }

  /** Runs the device timers that are due; returns true if any device had timer work. */
  runTimers(now: number): boolean {
    if (this.timed.size === 0 || now < this.nextDeadline) return false;
    let next = Infinity;
    for (const ep of this.timed) {
      const d = ep.poll(now);
      if (d === Infinity) this.timed.delete(ep);
      else if (d < next) next = d;
    }
    this.nextDeadline = next;
    this.sink.flush();
    this.ctl[ShardCtl.STAT_CQ_WAITS] = this.sink.cqWaits;
    return true;
  }

  stop(): void {
    this.sink.flush();
    this.ctl[ShardCtl.STAT_CQ_WAITS] = this.sink.cqWaits;
    Atomics.store(this.ctl, ShardCtl.STATE, ShardState.STOPPED);
  }
}
