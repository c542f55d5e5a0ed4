/** Device kinds a fleet can hold. `cxl-mld` is the FM-owned side of a multi-logical device (reached by tunnel). */
export type DeviceKind = 'cxl-type3' | 'cxl-switch' | 'cxl-mld' | 'nvme' | 'mctp-pcc';

/** Fleet given as counts: `{ 'cxl-type3': 1024, 'cxl-switch': 4, nvme: 256, 'mctp-pcc': 16 }`. */
export interface FleetCounts {
  'cxl-type3'?: number;
  'cxl-switch'?: number;
  nvme?: number;
  'mctp-pcc'?: number;
  /** deterministic seed for serial numbers and per-device variation (default 1) */
  seed?: number;
  /** hosts the switch-attached logical devices are spread over (default 2) */
  hosts?: number;
}

/** Vendor command exposure: implemented and in the CEL, implemented but absent from the CEL, or not at all. */
export type VendorMode = 'declared' | 'hidden' | 'none';

/** Fault injection for one device (see README "Faults"). Probabilities are per command, 0..1. */
export interface FaultSpec {
  /** the device never completes these opcodes (or all, if `true`) */
  hang?: boolean | number[];
  /** extra completion delay in ms for every command */
  slowMs?: number;
  /** probability that a command answers Busy without running */
  busy?: number;
  /** probability that a command answers `errorRc` without running */
  error?: number;
  errorRc?: number;
  /** MCTP: probability that a packet of a message is dropped */
  dropFragments?: number;
  /** the worker serving this device throws when it sees this opcode (worker-loss tests) */
  crashOn?: number;
  /** the worker thread exits when this device sees this opcode */
  exitOn?: number;
  /** the worker allocates until it runs out of memory when this device sees this opcode */
  oomOn?: number;
  /** the device's Command Effects Log reports effects 0 for every command (it lies) */
  lieEffects?: boolean;
  /**
   * CXL components: the answer to these opcodes (or all, if `true`) is malformed, its length field claiming
   * one byte more than the answer carries: a 5300h answer's Response Length, else the mailbox's Payload Length
   * (past the payload registers) or, over MCTP, the CCI header's payload length.
   */
  malformed?: boolean | number[];
  /**
   * TEST ONLY: breaks the worker's completion path on purpose, so the reliability tests can show that their
   * exactly-once checks fire. Never set it in a real fleet: the device's answers get lost or go astray.
   */
  testOnly?: TestOnlyCompletionFaults;
}

/**
 * Per-completion probabilities (0..1), for test fleets only: `dropCompletion` never writes the completion,
 * `duplicateCompletion` writes it twice, `misdeliverCompletion` writes it under the tag of the completion this
 * device wrote before (its own request then gets no answer; that tag's slot may already serve another request).
 */
export interface TestOnlyCompletionFaults {
  dropCompletion?: number;
  duplicateCompletion?: number;
  misdeliverCompletion?: number;
}

export interface Type3Spec {
  kind: 'cxl-type3';
  count?: number;
  host?: number;
  /** mailbox payload bytes, a power of two 256 .. 1 MiB (default 4096) */
  mailboxBytes?: number;
  vendorCommands?: VendorMode;
  /** total capacity in bytes, a multiple of 256 MiB (default 1 GiB) */
  capacityBytes?: number;
  /** label storage area bytes (default 128 KiB) */
  lsaBytes?: number;
  faults?: FaultSpec;
}

export interface MldSpec {
  kind: 'cxl-mld';
  /** one entry per logical device; each LD belongs to one host */
  lds: { host: number; capacityBytes?: number }[];
  mailboxBytes?: number;
  vendorCommands?: VendorMode;
  faults?: FaultSpec;
}

export interface SwitchPortSpec {
  port: number;
  device: Omit<Type3Spec, 'count'> | MldSpec;
}

export interface SwitchSpec {
  kind: 'cxl-switch';
  count?: number;
  host?: number;
  /** physical ports; port 0 is the upstream port (default 5) */
  ports?: number;
  /** devices on downstream ports; omitted = the default topology (SLD, MLD of 4 LDs, SLD, empty) */
  downstream?: SwitchPortSpec[];
  mailboxBytes?: number;
  vendorCommands?: VendorMode;
  faults?: FaultSpec;
}

export interface NvmeSpec {
  kind: 'nvme';
  count?: number;
  host?: number;
  namespaces?: number;
  /** admin queue entries (SQ and CQ), 2 .. 4096 (default 32) */
  queueDepth?: number;
  /** largest data transfer in bytes (default 128 KiB) */
  maxTransferBytes?: number;
  vendorCommands?: VendorMode;
  faults?: FaultSpec;
}

export interface MctpSpec {
  kind: 'mctp-pcc';
  count?: number;
  /** device ids this endpoint fronts, one per endpoint (cycled); default: switches first, then memory devices */
  fronts?: string[];
  /** MCTP transmission unit in bytes, 64 .. 4096 (default 64) */
  mtu?: number;
  faults?: FaultSpec;
}

export type DeviceSpec = Type3Spec | SwitchSpec | NvmeSpec | MctpSpec;

/** A fleet file: explicit topology. */
export interface FleetFile {
  seed?: number;
  hosts?: number;
  devices: DeviceSpec[];
}

export type FleetInput = FleetCounts | FleetFile;

/** The `index`-th of `count` slices of a fleet (numbered from 0): the part one server serves (see slice.ts). */
export interface FleetSlice {
  index: number;
  count: number;
}

/** One expanded device, identical on the main thread and in every worker (expansion is deterministic). */
export interface DeviceDescriptor {
  id: string;
  kind: DeviceKind;
  /** index in this fleet (or slice): the order of devices(), and what other descriptors refer to */
  index: number;
  /** index in the whole fleet, the same in every slice (equal to `index` when the fleet is not sliced) */
  fleetIndex: number;
  /** affinity group: a switch with everything below it and the MCTP endpoints fronting any of them */
  group: number;
  shard: number;
  /** index among the devices of its shard (descriptor TARGET field) */
  local: number;
  host: number;
  /** mailbox payload bytes (CXL CCIs), NVMe max transfer, MCTP reassembly limit */
  mailboxBytes: number;
  serial: bigint;
  vendorCommands: VendorMode;
  faults: FaultSpec | undefined;
  /** shared device memory: byte offset and size in the shard's device arena */
  memOffset: number;
  memBytes: number;
  /** kind-specific facts */
  type3?: { capacityBytes: number; lsaBytes: number; mld?: { parent: number; ld: number } };
  switchInfo?: { ports: number; downstream: { port: number; target: number }[] };
  mld?: { lds: number[] };
  nvme?: { namespaces: number; queueDepth: number };
  mctp?: { fronts: number; mtu: number; eid: number };
  /** devices reachable only through a tunnel (the FM-owned LD of an MLD) */
  tunnelOnly?: { via: number; port: number };
}

export interface Fleet {
  /** set when this is one slice of a fleet: only that slice's devices are here */
  slice?: FleetSlice;
  /** devices in the whole fleet (more than devices.length in a slice) */
  fleetDevices: number;
  seed: number;
  hosts: number;
  shards: number;
  devices: DeviceDescriptor[];
  byId: Map<string, DeviceDescriptor>;
  /** bytes of each shard's device arena */
  arenaBytes: number[];
  /** device indexes per shard, in local order */
  perShard: number[][];
}
