/**
 * What travels in ring descriptors between the main thread and a shard worker (layout in src/ring/layout.ts,
 * documented in SharedBuffers.md). Requests go down the submission ring (SQ), completions come back on the
 * completion ring (CQ). Descriptor TARGET is the device's index within its shard.
 */

/** SQ descriptor flags (bits 31:16 of OPCODE_FLAGS). */
export const SqFlag = {
  /** cancel the request whose tag is in TAG; no payload; answered by a CANCELLED completion if still held */
  CANCEL: 1 << 0,
  /** MCTP endpoints: ARG0 holds an explicit MCTP message type (else chosen from the command set) */
  MCTP_TYPE: 1 << 1,
} as const;

/** CQ descriptor flags. */
export const CqFlag = {
  /** the request was cancelled before the device answered; payload empty */
  CANCELLED: 1 << 0,
  /** the request failed below the device (ARG1 holds a WorkerFailure code); payload is UTF-8 detail text */
  FAILED: 1 << 1,
  /** CXL: a background operation was running when the command completed (Status register bit 0) */
  BACKGROUND: 1 << 2,
} as const;

/** Failure codes carried in ARG1 of a FAILED completion. */
export const WorkerFailure = {
  /** the transport lost the message (MCTP fragment dropped, reassembly timeout) */
  TRANSPORT: 1,
  /** the worker found the request malformed (it never reached the device) */
  BAD_REQUEST: 2,
  /** the device's answer is malformed (e.g. it claims more output than its mailbox holds); it is not delivered */
  PROTOCOL: 3,
} as const;

/**
 * CQ ARG0 = return code in bits 15:0 and vendor status in 31:16 for CXL; for NVMe, the CQE status field
 * (bits 15:1 of CQE DW3 upper half, phase removed) in bits 15:0.
 */
export function packStatus(rc: number, vendor: number): number {
  return (rc & 0xffff) | ((vendor & 0xffff) << 16);
}

/** Shard control buffer: Int32 word indexes, one 128-byte line each (see SharedBuffers.md). */
export const ShardCtl = {
  /** worker writes: 0 starting, 1 serving, 2 stopped */
  STATE: 0,
  /** worker writes: the generation it serves (restart count), for diagnostics */
  GENERATION: 1,
  /** main writes 1 to ask the worker to finish and return */
  STOP: 32,
  /** worker-written statistics (plain stores, read approximately by main) */
  STAT_REQUESTS: 64,
  STAT_BATCHES: 65,
  STAT_SLEEPS: 66,
  STAT_CQ_WAITS: 67,
} as const;
export const SHARD_CTL_BYTES = 128 * 3;

/** Mux control buffer: the main thread's completion doorbell, shared by all shards. */
export const MuxCtl = {
  /** bumped by a worker that published completions while the main thread sleeps */
  SEQ: 0,
  /** main sets 1 while it waits in Atomics.waitAsync */
  SLEEPING: 32,
  /** workers spinning right now (SpinGate) */
  SPINNERS: 64,
  /** wake-ups the main thread sent to sleeping workers; a spinner that sees it move yields its core */
  WAKES: 96,
} as const;
export const MUX_CTL_BYTES = 128 * 4;

export const ShardState = { STARTING: 0, SERVING: 1, STOPPED: 2 } as const;
