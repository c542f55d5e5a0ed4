import type { BackgroundOp } from './background.js';
import type { CciRequest, CommandDef, CommandSet } from './command-table.js';
import type { EventLogs } from '../cxl/event-log.js';

/**
 * The leaf of the CCI files: what every CXL component keeps, as the command handlers see it. cci.ts (the
 * dispatcher) and generic.ts (the generic commands) both import it; it imports neither.
 */

/** What every CXL component (type-3 device, LD, switch, MLD FM-owned LD) keeps for the generic commands. */
export interface ComponentState {
  readonly commands: CommandSet<any>;
  readonly identity: ComponentIdentity;
  readonly bg: BackgroundOp;
  /** Set Timestamp value (ns since 1970) and the monotonic time it was set; null until set (Get answers 0). */
  timestamp: { value: bigint; atNs: number } | null;
  /** Gate consulted before every command (sanitize in progress, media disabled...). Returns an rc, or -1 to run. */
  gate?: (cmd: CommandDef<any>, req: CciRequest) => number;
  /**
   * State of the stateful generic commands (response message limit, event logs and interrupt policy, firmware
   * slots and transfer, feature values): absent or null until the first command that changes it, so a fleet of
   * 100,000 untouched components carries none of it. generic.ts creates it (newGenericState / genericState).
   */
  generic?: GenericState | null;
  /** Revision of the running firmware (Get FW Info slot text; type-3 Identify Memory Device bytes 00h-0Fh). */
  fwRevision?: string;
}

export interface ComponentIdentity {
  vendorId: number;
  deviceId: number;
  subsystemVendorId: number;
  subsystemId: number;
  serial: bigint;
  /** log2 of the largest message this CCI accepts (Identify byte 10h) */
  maxMessageSizeLog2: number;
  /** Identify byte 11h: 00h switch, 03h type-3 device */
  componentType: number;
}

// State of the generic commands (generic.ts and features.ts create and change it)

/** Per-component state of the generic commands. */
export interface GenericState {
  /** 0003h/0004h Response Message Limit n: responses are at most 2^n bytes */
  responseLimitLog2: number;
  /** 0102h/0103h Event Interrupt Policy: settings byte i (info, warning, failure, fatal, DC) at bits 8i+7..8i */
  eventPolicy: number;
  events: EventLogs | null;
  fw: FirmwareState | null;
  features: FeatureState | null;
}

/** Firmware slots and the open multi-part transfer (0200h-0202h). */
export interface FirmwareState {
  /** revision text per slot (index 0 = slot 1), null = empty slot */
  slots: (string | null)[];
  /** 1-based active slot; staged slot for the next cold reset (0 = none) */
  active: number;
  staged: number;
  /** the open multi-part transfer: bytes received so far, last part, when, and the image header */
  xfer: { next: number; lastOffset: number; lastLen: number; lastNs: number; header: Uint8Array } | null;
}

/** Feature values and the open multi-part Set Feature (0500h-0502h). */
export interface FeatureState {
  /** writable data per feature index, set by the host (undefined = still the default) */
  current: (Uint8Array | undefined)[];
  saved: (Uint8Array | undefined)[];
  /** the open multi-part Set Feature: which feature, the data so far, the next expected offset */
  xfer: { index: number; data: Uint8Array; next: number } | null;
}
