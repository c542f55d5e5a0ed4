import type { MessagePort } from 'node:worker_threads';
import { buildShardEndpoints } from '../devices/build.js';
import type { CompletionSink, DeviceEndpoint } from '../devices/endpoint.js';
import { CompletionBell } from '../doorbell/async-waiter.js';
import { nowNs } from '../doorbell/doorbell.js';
import { SpinGate } from '../doorbell/spin-gate.js';
import { WorkerWaiter } from '../doorbell/worker-waiter.js';
import { buildFleet } from '../fleet/expand.js';
import type { FleetInput, FleetSlice } from '../fleet/types.js';
import { RingConsumer, RingProducer } from '../ring/spsc-ring.js';
import { CqFlag, MuxCtl, ShardCtl, ShardState, SqFlag, WorkerFailure, packStatus } from './protocol.js';

/** What the main thread hands a shard worker (one long-lived piscina task). */
export interface ShardTask {
  shard: number;
  shards: number;
  generation: number;
  fleet: FleetInput | undefined;
  /** the slice of the fleet the mux serves (the worker builds the same one) */
  slice: FleetSlice | undefined;
  sq: SharedArrayBuffer;
  cq: SharedArrayBuffer;
  ctl: SharedArrayBuffer;
  mux: SharedArrayBuffer;
  arena: SharedArrayBuffer;
  port: MessagePort;
  /** how long the worker spins on an empty ring before it sleeps (ns) */
  spinNs: number;
  /** how many workers of the mux may spin at once */
  maxSpinners: number;
  /** after spinning, how long the worker naps (short timed waits, no doorbell needed) before it sleeps (ns) */
  napNs: number;
}

export interface ShardReport {
  shard: number;
  generation: number;
  requests: number;
  batches: number;
  sleeps: number;
}

/** Requests taken from the SQ per batch: bounds the time before their slots are returned and results published. */
const BATCH = 256;
/** one nap of an idle worker (ms): bounds the extra latency of a request that arrives during a nap */
const NAP_CHUNK_MS = 0.05;

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
  }

  flush(): void {
    if (this.cq.publish() > 0) this.bell.ring();
  }
}

/**
 * The shard loop: drain the SQ in batches, hand each request to its device, publish completions once per
 * batch, run device timers when due, and sleep (spin first) when there is nothing to do.
 */
export function serveShard(task: ShardTask): ShardReport {
  const sq = new RingConsumer(task.sq);
  const cq = new RingProducer(task.cq);
  const ctl = new Int32Array(task.ctl);
  const bell = new CompletionBell(new Int32Array(task.mux), MuxCtl.SEQ, MuxCtl.SLEEPING);
  const gate = new SpinGate(new Int32Array(task.mux), MuxCtl.SPINNERS, task.maxSpinners, MuxCtl.WAKES);
  const waiter = new WorkerWaiter(sq.dataBell, gate, { spinNs: task.spinNs, napNs: task.napNs, napChunkMs: NAP_CHUNK_MS });
  let idleSince = nowNs();
  const sink = new CqSink(cq, bell, task.spinNs, gate);
  // The expanded fleet is needed only to build this shard's endpoints; nothing keeps the other shards' devices.
  const eps: DeviceEndpoint[] = buildShardEndpoints(buildFleet(task.fleet, task.shards, task.slice), task.shard, task.arena, sink);
  const timed = new Set<DeviceEndpoint>();
  let nextDeadline = Infinity;
  let requests = 0;
  let batches = 0;
  const stop = (): boolean => Atomics.load(ctl, ShardCtl.STOP) !== 0;
  const runTimers = (now: number): number => {
    let next = Infinity;
    for (const ep of timed) {
      const d = ep.poll(now);
      if (d === Infinity) timed.delete(ep);
      else if (d < next) next = d;
    }
    return next;
  };

  Atomics.store(ctl, ShardCtl.GENERATION, task.generation);
  Atomics.store(ctl, ShardCtl.STATE, ShardState.SERVING);
  task.port.postMessage({ type: 'ready', shard: task.shard, generation: task.generation, devices: eps.length });

  for (;;) {
    let n = sq.available();
    if (n > 0) {
      if (n > BATCH) n = BATCH;
      const now = nowNs();
      for (let i = 0; i < n; i++) {
        const w = sq.slotWord(i);
        const tag = sq.tag(w);
        const target = sq.target(w);
        const opcode = sq.opcode(w);
        const flags = sq.flags(w);
        const ep = eps[target];
        if (ep === undefined) {
          sink.complete(tag, target, opcode, CqFlag.FAILED, packStatus(0, 0), WorkerFailure.BAD_REQUEST, 0, null,
            encoder.encode(`no device with local index ${target} in shard ${task.shard}`));
          continue;
        }
        if ((flags & SqFlag.CANCEL) !== 0) {
          ep.cancel(tag, now);
        } else {
          ep.submit(tag, opcode, flags, sq.payloadOf(w), sq.arg0(w), sq.arg1(w), sq.arg2(w), now);
          requests++;
        }
        const d = ep.deadline();
        if (d !== Infinity) {
          timed.add(ep);
          if (d < nextDeadline) nextDeadline = d;
        }
      }
      sq.release(n);
      idleSince = now;
      batches++;
      ctl[ShardCtl.STAT_REQUESTS] = requests;
      ctl[ShardCtl.STAT_BATCHES] = batches;
      // Device timers run between batches too, so a busy shard still finishes slow commands on time.
      if (timed.size > 0 && now >= nextDeadline) nextDeadline = runTimers(now);
      sink.flush();
      continue;
    }
    if (timed.size > 0) {
      const now = nowNs();
      if (now >= nextDeadline) {
        nextDeadline = runTimers(now);
        sink.flush();
        continue;
      }
    }
    if (stop()) break;
    const waitMs = nextDeadline === Infinity ? Infinity : Math.max(0, (nextDeadline - nowNs()) / 1e6);
    waiter.wait(sq.position, idleSince, waitMs, stop);
    ctl[ShardCtl.STAT_SLEEPS] = sq.dataBell.sleeps;
    ctl[ShardCtl.STAT_CQ_WAITS] = sink.cqWaits;
  }
  sink.flush();
  Atomics.store(ctl, ShardCtl.STATE, ShardState.STOPPED);
  return { shard: task.shard, generation: task.generation, requests, batches, sleeps: sq.dataBell.sleeps };
}
