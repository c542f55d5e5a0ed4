import { FACTORY_FW_REVISION, FW_SLOTS, INTERRUPT_VECTORS, MAX_IO_QUEUES, WCTEMP_K } from './constants.js';
import type { NamespaceStore, SanitizedMedia } from './namespace-store.js';
import type { ControllerQueues, ControllerSq, NvmeRegion } from './queues.js';
import type { Sqe } from './sqe.js';

/**
 * The leaf of the NVMe controller's files: what a command handler sees (its context, the controller as
 * `ControllerState`), the command-def type, and the controller's lazily created state records. Dependencies run
 * one way: controller.ts -> commands.ts (the table) -> the handler files -> this file; nothing here imports
 * any of them.
 */

/**
 * What a handler sees of the command it runs (admin or I/O). One object per thread, reused for every
 * command.
 */
export interface AdminContext {
  sqe: Sqe;
  /** the SQ the command came from (its CQ gets the completion) */
  sq: ControllerSq;
  /** monotonic clock, ns */
  nowNs: number;
  /** controller-to-host data: handlers get it zeroed from ControllerState.out(), which sets outLen */
  buf: Uint8Array;
  view: DataView;
  outLen: number;
  /** completion DW0/DW1 */
  dw0: number;
  dw1: number;
  /** Error Information "Parameter Error Location" (byte of the SQE in 7:0, bit in 10:8); FFFFh = none */
  errLoc: number;
  /** Error Information "LBA": the first logical block an I/O error concerns */
  errLba: number;
}

/**
 * One admin command as data: the controller dispatches from it, the effects log (LID 05h) is generated from
 * it, and its sanitize rule decides whether it may run while a sanitize operation is in progress.
 */
export interface NvmeCommandDef {
  opcode: number;
  name: string;
  /** Commands Supported and Effects entry (CSUPP is added when the log is generated) */
  effects: number;
  /** NVMe Base 2.0 8.21 (Sanitize Operations): true if the command may run while a sanitize is in progress */
  duringSanitize: (sqe: Sqe) => boolean;
  /** a vendor-specific command (C0h-FFh): exposed per the device's VendorMode */
  vendor?: boolean;
  /** Runs the command; returns a status field (status.ts) or ADMIN_PARKED. */
  handler: (c: ControllerState, x: AdminContext) => number;
}

/**
 * One controller as its command handlers see it (NvmeController in controller.ts implements it): identity and
 * limits, the state records, and the plumbing a handler calls (data transfer, events, completions).
 */
export interface ControllerState {
  readonly q: ControllerQueues;
  readonly region: NvmeRegion;
  readonly serial: bigint;
  /** 32-bit seed for deterministic per-device values */
  readonly seed: number;
  readonly namespaces: number;
  /** Identify NN: highest valid NSID; NSIDs above `namespaces` are valid but inactive */
  readonly nn: number;
  /** bytes of each namespace (deterministic from the serial) */
  readonly nsBytes: number;
  /** Identify MDTS: 2^mdts pages (0 = the field's "no limit", used only for a single-page buffer) */
  readonly mdts: number;
  /** largest transfer the controller accepts */
  readonly maxTransfer: number;
  readonly io: IoCounters;

  // state records, null until first used (each handler file creates its own)
  feat: FeatureValues | null;
  fw: FirmwareState | null;
  formats: NamespaceFormats | null;
  san: SanitizeState | null;
  vendor: VendorState | null;
  /** lifetime error count (Error Information entries and SMART "Number of Error Information Log Entries") */
  readonly errorCount: number;
  /** Sanitize Status GDE: no user data written since manufacture or the last successful sanitize */
  gde: boolean;

  /** Output buffer for a controller-to-host transfer: zeroed, `len` bytes, recorded as the transfer. */
  out(x: AdminContext, len: number): DataView;
  /** DMA of `len` host-to-controller bytes described by the command's PRPs, or a status. */
  dataIn(x: AdminContext, len: number): Uint8Array | number;
  /** Host-to-controller separate metadata (`len` bytes at MPTR), or a status. */
  metaIn(x: AdminContext, len: number): Uint8Array | number;
  /** Controller-to-host separate metadata to MPTR; a status. */
  metaOut(x: AdminContext, bytes: Uint8Array): number;
  nsActive(nsid: number): boolean;
  nsValid(nsid: number): boolean;
  /** Queues an asynchronous event (type, info, log page). */
  raiseEvent(type: number, info: number, lid: number): void;
  /** Reading log `lid` with RAE = 0 unmasks the event type that names it. */
  logRead(lid: number, rae: boolean): void;
  /** Posts (or holds) a completion on the SQ's CQ. */
  complete(sq: ControllerSq, sqe: Sqe, dw0: number, dw1: number, status: number, errLoc?: number, lba?: number): void;
  /** Waiting Aborts that name SQ `sqid` give up (the SQ is being deleted). */
  releaseAborts(sqid: number): void;
  /** 08h Abort and 0Ch Asynchronous Event Request: they park in the controller itself. */
  abortCommand(x: AdminContext): number;
  asyncEventRequest(x: AdminContext): number;
  /** Error Information entries; null until an error occurs. */
  errorLog(): Uint8Array | null;
  /** Commands Supported and Effects log (LID 05h), generated from this controller's command set. */
  effectsLog(): Uint8Array;
}

/** Host reads and writes since power-on, added to the SMART / Health log's counters. */
export class IoCounters {
  readCommands = 0;
  writeCommands = 0;
  bytesRead = 0;
  bytesWritten = 0;

  read(bytes: number): void {
    this.readCommands++;
    this.bytesRead += bytes;
  }

  write(bytes: number): void {
    this.writeCommands++;
    this.bytesWritten += bytes;
  }
}

// ------------------------------------------------------------------------------ feature values (features.ts)

/** Value slots: one per feature, the temperature threshold has one per (sensor, over/under). */
export const Slot = {
  ARB: 0,
  PM: 1,
  /** + 2 * sensor (0 composite, 1..2 sensors) + THSEL */
  TEMP: 2,
  VWC: 8,
  NQ: 9,
  IC: 10,
  AEC: 11,
  WAN: 12,
} as const;
const SLOTS = 13;
/** Temperature sensors reported in SMART (Temperature Sensor 1 and 2) besides the composite. */
export const TEMP_SENSORS = 2;

export function defaultOf(slot: number): number {
  if (slot === Slot.ARB) return 7; // AB 111b: no burst limit, all weights 0
  if (slot === Slot.VWC) return 1; // write cache enabled
  if (slot === Slot.NQ) return (MAX_IO_QUEUES - 1) | ((MAX_IO_QUEUES - 1) << 16);
  if (slot >= Slot.TEMP && slot < Slot.TEMP + 2 * (TEMP_SENSORS + 1)) {
    const i = slot - Slot.TEMP;
    const under = i & 1;
    if (under) return 0;
    return i === 0 ? WCTEMP_K : 0xffff; // composite over = WCTEMP; sensors: FFFFh (no threshold)
  }
  return 0;
}

/**
 * CD of vector `iv` by default: the admin completion queue's vector (0) never coalesces (NVMe Base 2.0
 * 5.27.1.8: coalescing does not apply to the admin CQ), so it reads CD = 1; I/O vectors start with 0.
 */
export const defaultCd = (iv: number): number => (iv === 0 ? 1 : 0);

/** Feature values of one controller, created on the first Set Features. */
export class FeatureValues {
  readonly cur = new Uint32Array(SLOTS);
  readonly saved = new Uint32Array(SLOTS);
  savedMask = 0;
  /** Number of Queues allocated since the last reset (later Sets answer the same allocation) */
  queuesAllocated = false;
  /** Error Recovery per namespace (index NSID - 1): current, saved, and which are saved */
  readonly errCur: Uint32Array;
  readonly errSaved: Uint32Array;
  readonly errSavedSet: Uint8Array;
  /** Interrupt Vector Configuration: CD per vector */
  readonly ivCd = new Uint8Array(INTERRUPT_VECTORS);

  constructor(namespaces: number) {
    for (let i = 0; i < SLOTS; i++) this.cur[i] = defaultOf(i);
    this.errCur = new Uint32Array(namespaces);
    this.errSaved = new Uint32Array(namespaces);
    this.errSavedSet = new Uint8Array(namespaces);
    for (let iv = 0; iv < INTERRUPT_VECTORS; iv++) this.ivCd[iv] = defaultCd(iv);
  }

  /** Controller Level Reset: saved values, else defaults. */
  onReset(): void {
    for (let i = 0; i < SLOTS; i++) this.cur[i] = (this.savedMask & (1 << i)) !== 0 ? this.saved[i]! : defaultOf(i);
    for (let n = 0; n < this.errCur.length; n++) this.errCur[n] = this.errSavedSet[n] === 1 ? this.errSaved[n]! : 0;
    for (let iv = 0; iv < INTERRUPT_VECTORS; iv++) this.ivCd[iv] = defaultCd(iv);
    this.queuesAllocated = false;
  }
}

// ----------------------------------------------------------------------------- firmware slots (firmware.ts)

/** Byte 12 of the emulated image header: the reset an activation needs (firmware.ts documents the format). */
export const Activation = { ANY_RESET: 0, CONVENTIONAL: 1, SUBSYSTEM: 2, EXCEEDS_MTFA: 3 } as const;
export const FW_HEADER_BYTES = 16;

export interface FirmwareSlot {
  revision: string;
  activation: number;
}

/** Firmware state of one controller, created on the first download or commit. */
export class FirmwareState {
  /** slots 1..FW_SLOTS (index 0 unused); null = empty */
  readonly slots: (FirmwareSlot | null)[] = [null, { revision: FACTORY_FW_REVISION, activation: Activation.ANY_RESET }];
  active = 1;
  /** revision of the running firmware (Identify FR): the active slot's image when it was activated */
  running = FACTORY_FW_REVISION;
  /** AFI 6:4: slot activated at the next reset (0 = none) */
  next = 0;
  /** reset needed for the pending activation */
  nextNeeds = 0;
  /** image being downloaded: bytes received contiguously from offset 0, and its header */
  staged = 0;
  readonly header = new Uint8Array(FW_HEADER_BYTES);

  constructor() {
    for (let i = 2; i <= FW_SLOTS; i++) this.slots.push(null);
  }

  /** After a reset the controller runs the pending image if that reset suffices, else the active slot's image. */
  onReset(kind: 'controller' | 'conventional' | 'subsystem'): void {
    const rank = kind === 'subsystem' ? 2 : kind === 'conventional' ? 1 : 0;
    const needs = this.nextNeeds === Activation.SUBSYSTEM ? 2 : this.nextNeeds === Activation.CONVENTIONAL ? 1 : 0;
    if (this.next !== 0 && rank >= needs) this.activate(this.next);
    else this.running = this.slots[this.active]!.revision;
  }

  activate(slot: number): void {
    this.active = slot;
    this.running = this.slots[slot]!.revision;
    this.next = 0;
    this.nextNeeds = 0;
  }
}

// ------------------------------------------------------------ namespace formats and sanitize (format-sanitize.ts)

/**
 * Per-namespace format and blocks, allocated on first use (until then every namespace has format 0 and no
 * allocated block). Format packed per namespace: LBAF 3:0, MSET 4, PI 7:5, PIL 8.
 */
export class NamespaceFormats {
  readonly packed: Uint16Array;
  readonly stores: (NamespaceStore | undefined)[];
  constructor(namespaces: number) {
    this.packed = new Uint16Array(namespaces);
    this.stores = new Array<NamespaceStore | undefined>(namespaces);
  }
}

/** Sanitize or purge with deallocation: every namespace loses its user data (formats unchanged). */
export function eraseAllNamespaces(c: ControllerState): void {
  c.formats?.stores.fill(undefined);
}

/** Sanitize Status SSTAT bits 2:0. */
export const SanStatus = { NEVER: 0, COMPLETED: 1, IN_PROGRESS: 2, FAILED: 3 } as const;

/** Sanitize status (log 81h), allocated on the first Sanitize command. Progress is a function of time. */
export class SanitizeState {
  status: number = SanStatus.NEVER;
  passesDone = 0;
  scdw10 = 0;
  running = false;
  startNs = 0;
  endNs = 0;
  private passes = 0;
  /** null: deallocate every block (NDAS = 0); else what stays in the blocks that remain allocated */
  private media: SanitizedMedia | null = null;

  start(cdw10: number, nowNs: number, durationNs: number, passes: number, media: SanitizedMedia | null): void {
    this.scdw10 = cdw10 >>> 0;
    this.status = SanStatus.IN_PROGRESS;
    this.running = true;
    this.startNs = nowNs;
    this.endNs = nowNs + durationNs;
    this.passes = passes;
    this.passesDone = 0;
    this.media = media;
  }

  /** SPROG: fraction done, numerator over 65536; FFFFh when no sanitize is in progress. */
  progress(nowNs: number): number {
    if (!this.running) return 0xffff;
    const f = (nowNs - this.startNs) / (this.endNs - this.startNs);
    return Math.max(0, Math.min(0xfffe, Math.floor(f * 65536)));
  }

  /** Overwrite passes completed by `nowNs` (SSTAT 7:3). */
  passesAt(nowNs: number): number {
    if (!this.running || this.passes === 0) return this.passesDone;
    return Math.min(this.passes, Math.floor(((nowNs - this.startNs) / (this.endNs - this.startNs)) * this.passes));
  }

  /**
   * The operation ends: every namespace's user data is gone. Deallocating (NDAS = 0), every block reads as
   * deallocated; otherwise the allocated blocks keep what the operation wrote. Nothing changes afterwards
   * (SANICAP.NODMMAS = 01b), so the status is Completed (001b) at once.
   */
  finish(c: ControllerState): void {
    this.running = false;
    this.status = SanStatus.COMPLETED;
    this.passesDone = this.passes;
    c.gde = true;
    if (this.media === null) eraseAllNamespaces(c);
    else for (const s of c.formats?.stores ?? []) s?.sanitizeInPlace(this.media);
  }
}

// ------------------------------------------------------------------------------------ vendor (vendor.ts)

/** Vendor command state (purge, cleared counters), created on first use. */
export class VendorState {
  running = false;
  done = false;
  startNs = 0;
  endNs = 0;
  pcieCleared = false;

  /** A purge ends: all user data is gone. */
  finish(c: ControllerState): void {
    this.running = false;
    this.done = true;
    eraseAllNamespaces(c);
  }
}
