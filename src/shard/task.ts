import type { MessagePort } from 'node:worker_threads';
import type { FleetInput, FleetSlice } from '../fleet/types.js';

/** One shard a worker thread serves: its rings, control block and device arena. */
export interface ShardPart {
  shard: number;
  sq: SharedArrayBuffer;
  cq: SharedArrayBuffer;
  ctl: SharedArrayBuffer;
  arena: SharedArrayBuffer;
}

/** What the main thread hands a worker thread (one long-lived piscina task): the shards it serves. */
export interface ThreadTask {
  thread: number;
  /** shards of the whole mux (the fleet layout), of which `parts` are this thread's */
  shardCount: number;
  parts: ShardPart[];
  generation: number;
  fleet: FleetInput | undefined;
  /** the slice of the fleet the mux serves (the worker builds the same one) */
  slice: FleetSlice | undefined;
  /** the thread's control buffer (ThreadCtl): its doorbell and STOP */
  ctl: SharedArrayBuffer;
  /** the mux control buffer (MuxCtl): the main thread's doorbell, the spin gate */
  mux: SharedArrayBuffer;
  port: MessagePort;
  /** how long the worker spins on empty rings before it sleeps (ns) */
  spinNs: number;
  /** how many workers of the mux may spin at once */
  maxSpinners: number;
  /** after spinning, how long the worker naps (short timed waits, no doorbell needed) before it sleeps (ns) */
  napNs: number;
}

export interface ThreadReport {
  thread: number;
  generation: number;
  requests: number;
  batches: number;
  sleeps: number;
}
