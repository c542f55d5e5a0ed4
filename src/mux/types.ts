import type { NvmeCommandFields } from '../devices/nvme/wire.js';
import type { ResourceLimits } from 'node:worker_threads';
import type { DeviceKind, FleetInput, FleetSlice } from '../fleet/types.js';
import type { Tier } from '../policy/tiers.js';

export interface MuxOptions {
  /** worker threads (shards); default: os.availableParallelism(), at most 4 x that */
  workers?: number;
  /** the emulated fleet: counts, a fleet file object, or a path to a JSON fleet file; default DEFAULT_FLEET */
  fleet?: FleetInput | string;
  /**
   * run only this slice of the fleet (`{ index: 1, count: 3 }`: the second of three); its devices keep the ids
   * and serial numbers they have in the whole fleet, and a switch with everything below it stays in one slice
   */
  slice?: FleetSlice;
  /** descriptor slots per submission and completion ring, a power of two (default 4096) */
  ringSlots?: number;
  /** requests in flight per shard (default 1024, at most ringSlots) */
  shardWindow?: number;
  /** requests in flight per session per shard while no other session uses that shard (default 128) */
  sessionWindow?: number;
  /**
   * requests in flight per session per shard once another session has sent to that shard within the last
   * second (default 32, at most sessionWindow). Everything a session holds in a worker's ring is work the
   * other sessions' requests wait behind there: measured, a flood over a shard's devices added ~150 µs p50 and
   * 5 ms p99 to a light session's round trip with 128, ~25 µs and ~0.14 ms with 32.
   */
  sharedSessionWindow?: number;
  /**
   * requests in flight per device while one session uses the device's shard (default 16). A device runs one
   * command at a time, so more buy nothing; the rest wait in the mux, where they cannot hold ring slots that
   * other devices' requests need.
   */
  deviceWindow?: number;
  /** requests in flight per device once another session has used the shard within the last second (default 4) */
  sharedDeviceWindow?: number;
  /** worker spin budget before it sleeps, µs (default 50, at most 1 s) */
  spinUs?: number;
  /** after spinning, how long an idle worker naps in short timed waits (no doorbell needed) before it
   *  sleeps and must be woken with a notify, µs (default 0: naps add up to a timer tick of latency) */
  napUs?: number;
  /** workers allowed to spin at the same time (default cores - 1: the main thread needs a core too) */
  maxSpinners?: number;
  /** main-thread polling budget after the last completion before it arms Atomics.waitAsync, µs (default 200, at most 1 s) */
  pollUs?: number;
  /**
   * Most time per event-loop turn the main thread may spend waiting in a tight loop for the answer to a
   * request it just sent to an idle shard whose worker is awake (spinning answers in ~1 µs, well under the
   * ~3 µs of one more event-loop turn), µs (default 20, at most 100; 0: always wait for the next turn)
   */
  mainSpinUs?: number;
  /**
   * the lowest tier whose sessions may send a request with `timeoutMs: 0` (no timeout), which can hold its
   * device for good (default 'debug-write-full'). With defaultTimeoutMs 0 every session may.
   */
  noTimeoutTier?: Tier;
  /** default per-request timeout in ms (default 5000; 0 = none; at most 2^31 - 1, the longest a Node timer waits) */
  defaultTimeoutMs?: number;
  /** config gates; fabricDestructive enables the fabric-destructive tier (default off) */
  gates?: { fabricDestructive?: boolean };
  /**
   * Opcodes a device does not declare in its effects log, allowed anyway at a tier, e.g.
   * `{ cxl: { '0xc002': 'debug-write-full' } }`. A rule never lowers the tier of a declared command.
   */
  vendorRules?: { cxl?: Record<string, Tier>; nvme?: Record<string, Tier> };
  /** audit log: keep the newest `limit` records (default 10,000, at most 10 million) and append JSON lines to `file` */
  audit?: { file?: string; limit?: number };
  /** false turns the permission check off (benchmarks measure its cost this way). Never do it in production. */
  checkPermissions?: boolean;
  /** piscina resourceLimits for each worker */
  resourceLimits?: ResourceLimits;
  /** shard restarts allowed within restartWindowMs before the shard is declared dead (default 5 in 10 s) */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** how long createMux waits for workers to start (default 30 s) */
  startTimeoutMs?: number;
  /** abort creation */
  signal?: AbortSignal;
}

export interface DeviceInfo {
  id: string;
  kind: DeviceKind;
  /** position in the whole fleet, the same whichever slice serves the device: the order of devices() */
  fleetIndex: number;
  shard: number;
  host: number;
  serial: string;
  mailboxBytes: number;
  /** for an MLD's FM-owned LD: the switch and port it is reached through */
  reachableVia?: { device: string; port: number };
  /** a CXL switch: its physical ports (port 0 upstream) and the device on each occupied downstream port */
  ports?: number;
  downstream?: { port: number; device: string }[];
  /** an MCTP endpoint: the device whose CCI it fronts */
  fronts?: string;
  /** an NVMe controller: its namespaces (1..n) */
  namespaces?: number;
}

export interface SessionOptions {
  tier?: Tier;
  /** host id the session acts for (default 0) */
  host?: number;
  /** a fabric-manager session reaches devices of every host */
  fabricManager?: boolean;
  /** most requests this session may have waiting for ring room before send() fails with EMBX_BACKPRESSURE */
  queueLimit?: number;
  /** a label for audit records */
  name?: string;
}

/** A request to one device. NVMe controllers take the NvmeCommandFields (nsid, cdw10-15, data). */
export interface SendRequest extends NvmeCommandFields {
  device: string;
  /** CXL opcode (set << 8 | command), or the NVMe admin opcode for nvme<N> devices */
  opcode: number;
  /** CXL input payload (for NVMe, `data`) */
  payload?: Uint8Array;
  /** MCTP endpoints: send with this MCTP message type instead of the one the command set implies */
  mctpType?: number;
  /**
   * CXL switches: tunnel the command with Tunnel Management (5300h) through these port / LD ids, outermost
   * first ([2] = the device on port 2; [2, 1] = LD 1 of the MLD on port 2). The result is the inner answer.
   */
  tunnel?: number[];
  signal?: AbortSignal;
  /** per-request timeout, ms (0 = none; at most 2^31 - 1; default from MuxOptions.defaultTimeoutMs) */
  timeoutMs?: number;
  /** fail with EMBX_RING_FULL instead of waiting when the ring has no room right now */
  noWait?: boolean;
}

export interface CommandResult {
  /** CXL return code (CXL r3.1 Table 8-34); NVMe: the CQE status field without the phase bit */
  rc: number;
  /** output payload */
  payload: Uint8Array;
  /** CXL vendor-specific extended status */
  vendorStatus: number;
  /** a background operation was running when the command completed (mailbox Status bit 0) */
  background: boolean;
  /** NVMe: the 16 raw completion queue entry bytes */
  cqe?: Uint8Array;
  /** tunnelled commands: the status of every hop, outermost first; failedAt = hop whose tunnel refused, or -1 */
  tunnel?: { hops: { opcode: number; rc: number; vendorStatus: number }[]; failedAt: number };
}
