import type { CciRequest, CommandDef } from './command-table.js';
import type {
  ComponentIdentity, ComponentState, FirmwareState, GenericState,
} from './component-state.js';
import { Effect } from './effects.js';
import { Rc } from './return-codes.js';
import { CEL_UUID, uuidEquals } from './uuid.js';
import { EVENT_LOG_COUNT, EVENT_RECORD_BYTES, EventLogs } from '../cxl/event-log.js';

/**
 * Generic component commands (CXL r3.1 8.2.9.1-8.2.9.5) shared by every CXL CCI: type-3 devices, logical
 * devices, switches and the FM-owned LD of an MLD. Features (8.2.9.6) are in features.ts.
 *
 * Stateful generic commands keep their state in `ComponentState.generic`, created by the first command that
 * changes something (see genericState()); read-only commands on an untouched component allocate nothing.
 */

// ---------------------------------------------------------------------------------------------------------------
// Shared state and helpers

/** Power-on state of the generic commands for a component with this identity. */
export function newGenericState(identity: ComponentIdentity): GenericState {
  return {
    responseLimitLog2: identity.maxMessageSizeLog2,
    eventPolicy: 0,
    events: null,
    fw: null,
    features: null,
  };
}

/** The component's generic state, created on first use. */
export function genericState(dev: ComponentState): GenericState {
  let g = dev.generic;
  if (g == null) g = dev.generic = newGenericState(dev.identity);
  return g;
}

/** The component's event logs, created on first use. */
export function eventLogs(dev: ComponentState): EventLogs {
  const g = genericState(dev);
  if (g.events === null) g.events = new EventLogs();
  return g.events;
}

/** Device time as Get Timestamp reports it (ns since 1970; 0 until Set Timestamp). Event records carry it. */
export function deviceTime(dev: ComponentState, nowNs: number): bigint {
  const t = dev.timestamp;
  if (t === null) return 0n;
  return (t.value + BigInt(Math.max(0, Math.round(nowNs - t.atNs)))) & 0xffffffffffffffffn;
}

/** Posts a 128-byte event record to `log` stamped with the device time; returns its handle (0 if the log was full). */
export function postEvent(dev: ComponentState, log: number, record: Uint8Array, nowNs: number): number {
  return eventLogs(dev).post(log, record, deviceTime(dev, nowNs));
}

/** Largest response this command may produce: the payload registers, capped by the Response Message Limit. */
export function outputLimit(dev: ComponentState, req: CciRequest): number {
  const n = dev.generic?.responseLimitLog2 ?? dev.identity.maxMessageSizeLog2;
  return Math.min(req.payload.byteLength, 2 ** n);
}

/**
 * Durations of background operations. One shared object so tests (and demos) can make them shorter or longer;
 * progress is time-based, evaluated lazily by BackgroundOp.
 */
export interface BackgroundTiming {
  /** 0201h Transfer FW, action Full */
  fwFullNs: number;
  /** 0201h Transfer FW, one part (Initiate / Continue / End) */
  fwPartNs: number;
  /** an open multi-part FW transfer is dropped after this long without a part */
  fwTransferTimeoutNs: number;
  /** 4304h Scan Media: time per GiB scanned, and the least a scan takes */
  scanMediaNsPerGiB: number;
  scanMediaMinNs: number;
  /** 4400h Sanitize: time per GiB of capacity, bounded below and above */
  sanitizeNsPerGiB: number;
  sanitizeMinNs: number;
  sanitizeMaxNs: number;
}

export const DEFAULT_BACKGROUND_TIMING: Readonly<BackgroundTiming> = Object.freeze({
  fwFullNs: 300e6,
  fwPartNs: 50e6,
  fwTransferTimeoutNs: 30e9,
  scanMediaNsPerGiB: 200e6,
  scanMediaMinNs: 1e6,
  sanitizeNsPerGiB: 1e9,
  sanitizeMinNs: 1e9,
  sanitizeMaxNs: 60e9,
});

/** The timing every background command reads. Change it with setBackgroundTiming(). */
export const BG_TIMING: BackgroundTiming = { ...DEFAULT_BACKGROUND_TIMING };

export function setBackgroundTiming(t: Partial<BackgroundTiming>): void {
  Object.assign(BG_TIMING, t);
}

export function resetBackgroundTiming(): void {
  Object.assign(BG_TIMING, DEFAULT_BACKGROUND_TIMING);
}

const abortHooks = new Map<number, (dev: any, nowNs: number) => void>();

/** Registers what to do when 0005h aborts a background `opcode` (e.g. record how far a scan got). */
export function onBackgroundAbort<S extends ComponentState>(opcode: number, hook: (dev: S, nowNs: number) => void): void {
  abortHooks.set(opcode, hook);
}

function zero(req: CciRequest, len: number): void {
  req.payload.fill(0, 0, len);
}

// ---------------------------------------------------------------------------------------------------------------
// 8.2.9.1 Information and status

/** 0001h Identify (8.2.9.1.1): 18-byte output. */
function identify(dev: ComponentState, req: CciRequest): number {
  const v = req.view;
  const id = dev.identity;
  v.setUint16(0x00, id.vendorId, true);
  v.setUint16(0x02, id.deviceId, true);
  v.setUint16(0x04, id.subsystemVendorId, true);
  v.setUint16(0x06, id.subsystemId, true);
  v.setBigUint64(0x08, id.serial, true);
  v.setUint8(0x10, id.maxMessageSizeLog2);
  v.setUint8(0x11, id.componentType);
  req.outLen = 0x12;
  return Rc.SUCCESS;
}

/** 0002h Background Operation Status (8.2.9.1.2): 8 bytes, the same facts as the BG status register. */
function backgroundStatus(dev: ComponentState, req: CciRequest): number {
  const bg = dev.bg;
  bg.update(req.nowNs);
  const v = req.view;
  v.setUint8(0, (bg.running ? 1 : 0) | (bg.percent << 1));
  v.setUint8(1, 0);
  v.setUint16(2, bg.opcode, true);
  v.setUint16(4, bg.running ? 0 : bg.rc, true);
  v.setUint16(6, bg.vendorStatus, true);
  req.outLen = 8;
  return Rc.SUCCESS;
}

/** 0003h Get Response Message Limit (8.2.9.1.3): 1 byte n. */
function getResponseLimit(dev: ComponentState, req: CciRequest): number {
  req.payload[0] = dev.generic?.responseLimitLog2 ?? dev.identity.maxMessageSizeLog2;
  req.outLen = 1;
  return Rc.SUCCESS;
}

/** 0004h Set Response Message Limit (8.2.9.1.4): n in 8..20 and not above the CCI's own maximum; echoes n. */
function setResponseLimit(dev: ComponentState, req: CciRequest): number {
  const n = req.payload[0]!;
  if (n < 8 || n > 20 || n > dev.identity.maxMessageSizeLog2) return Rc.INVALID_INPUT;
  genericState(dev).responseLimitLog2 = n;
  req.payload[0] = n;
  req.outLen = 1;
  return Rc.SUCCESS;
}

/** 0005h Request Abort Background Operation (8.2.9.1.5). */
function requestAbort(dev: ComponentState, req: CciRequest): number {
  const bg = dev.bg;
  bg.update(req.nowNs);
  if (!bg.running) return Rc.SUCCESS;
  const cmd = dev.commands.get(bg.opcode);
  if (cmd === undefined || (cmd.effects & Effect.REQUEST_ABORT_SUPPORTED) === 0) return Rc.REQUEST_ABORT_NOT_SUPPORTED;
  bg.abort();
  abortHooks.get(bg.opcode)?.(dev, req.nowNs);
  return Rc.SUCCESS;
}

// ---------------------------------------------------------------------------------------------------------------
// 8.2.9.2 Events

/** 0100h Get Event Records (8.2.9.2.2): the oldest records of one log, as many as fit; records stay until cleared. */
function getEventRecords(dev: ComponentState, req: CciRequest): number {
  const log = req.payload[0]!;
  if (log >= EVENT_LOG_COUNT) return Rc.INVALID_INPUT;
  const ring = dev.generic?.events?.ring(log) ?? null;
  const fit = Math.floor((outputLimit(dev, req) - 0x20) / EVENT_RECORD_BYTES);
  const have = ring === null ? 0 : ring.records.length;
  const n = Math.max(0, Math.min(have, fit));
  zero(req, 0x20);
  const v = req.view;
  if (ring !== null) {
    v.setUint8(0x00, (ring.overflowCount > 0 ? 1 : 0) | (have > n ? 2 : 0));
    v.setUint16(0x02, ring.overflowCount, true);
    v.setBigUint64(0x04, ring.firstOverflowTs, true);
    v.setBigUint64(0x0c, ring.lastOverflowTs, true);
    for (let i = 0; i < n; i++) req.payload.set(ring.records[i]!, 0x20 + i * EVENT_RECORD_BYTES);
  }
  v.setUint16(0x14, n, true);
  req.outLen = 0x20 + n * EVENT_RECORD_BYTES;
  return Rc.SUCCESS;
}

/**
 * 0101h Clear Event Records (8.2.9.2.3): { log, flags, n, 3 rsvd, n x le16 handle }. The handles must name the
 * oldest records of the log, in order; otherwise Invalid Handle and nothing is cleared. Clear All (flags bit 0,
 * n = 0) empties the log, and is only valid once the log has overflowed.
 */
function clearEventRecords(dev: ComponentState, req: CciRequest): number {
  const p = req.payload;
  const log = p[0]!;
  const clearAll = (p[1]! & 1) !== 0;
  const n = p[2]!;
  if (log >= EVENT_LOG_COUNT) return Rc.INVALID_INPUT;
  const ring = dev.generic?.events?.ring(log) ?? null;
  if (clearAll) {
    if (n !== 0 || ring === null || ring.overflowCount === 0) return Rc.INVALID_INPUT;
    dev.generic!.events!.clearLog(log);
    return Rc.SUCCESS;
  }
  if (n === 0) return Rc.SUCCESS;
  if (ring === null || n > ring.records.length) return Rc.INVALID_HANDLE;
  for (let i = 0; i < n; i++) if (req.view.getUint16(6 + 2 * i, true) !== ring.handleAt(i)) return Rc.INVALID_HANDLE;
  dev.generic!.events!.clearOldest(log, n);
  return Rc.SUCCESS;
}

/** Interrupt message number this emulator reports for event interrupts in MSI/MSI-X mode (vector 0 = mailbox). */
export const EVENT_INTERRUPT_MESSAGE_NUMBER = 1;

/** 0102h Get Event Interrupt Policy (8.2.9.2.4): 5 settings bytes. */
function getEventPolicy(dev: ComponentState, req: CciRequest): number {
  const pol = dev.generic?.eventPolicy ?? 0;
  for (let i = 0; i < EVENT_LOG_COUNT; i++) req.payload[i] = Math.floor(pol / 2 ** (8 * i)) & 0xff;
  req.outLen = EVENT_LOG_COUNT;
  return Rc.SUCCESS;
}

/**
 * 0103h Set Event Interrupt Policy (8.2.9.2.5): 4 or 5 settings bytes (the 5th, Dynamic Capacity, is optional).
 * Per byte: [1:0] mode 0 none, 1 MSI/MSI-X, 2 FW interrupt, 3 reserved (Invalid Input); [7:4] the FW interrupt
 * vector in FW mode. In MSI/MSI-X mode the device reports its own message number.
 */
function setEventPolicy(dev: ComponentState, req: CciRequest): number {
  const p = req.payload;
  for (let i = 0; i < req.inLen; i++) if ((p[i]! & 3) === 3) return Rc.INVALID_INPUT;
  const g = genericState(dev);
  let pol = g.eventPolicy;
  for (let i = 0; i < req.inLen; i++) {
    const mode = p[i]! & 3;
    const byte = mode === 0 ? 0 : mode === 1 ? 1 | (EVENT_INTERRUPT_MESSAGE_NUMBER << 4) : 2 | (p[i]! & 0xf0);
    const old = Math.floor(pol / 2 ** (8 * i)) & 0xff;
    pol += (byte - old) * 2 ** (8 * i);
  }
  g.eventPolicy = pol;
  return Rc.SUCCESS;
}

// ---------------------------------------------------------------------------------------------------------------
// 8.2.9.3 Firmware update

/** Firmware slots of every component (Get FW Info byte 00h). Slot 1 holds the power-on firmware. */
export const FW_SLOTS = 2;
/**
 * Image format this emulator verifies at the end of a transfer (a real device checks a signature; we check a
 * header): bytes 0-3 the magic "MBXF" (4Dh 42h 58h 46h), bytes 4-19 the revision in ASCII, NUL-padded and not
 * empty. Anything else fails with FW Verification Failed (0Ah).
 */
export const FW_IMAGE_MAGIC = Uint8Array.of(0x4d, 0x42, 0x58, 0x46);
export const FW_IMAGE_HEADER_BYTES = 20;
/** Largest FW package accepted (offset + length beyond it is Invalid Input). */
export const FW_MAX_IMAGE_BYTES = 16 * 1024 * 1024;
const FW_UNIT = 128;
const TRANSFER_FW_OPCODE = 0x0201;

function firmware(dev: ComponentState): FirmwareState {
  const g = genericState(dev);
  if (g.fw === null) {
    const slots: (string | null)[] = new Array(FW_SLOTS).fill(null);
    slots[0] = dev.fwRevision ?? '';
    g.fw = { slots, active: 1, staged: 0, xfer: null };
  }
  return g.fw;
}

/** Revision named by an image header, or null if the image does not verify. */
function imageRevision(header: Uint8Array): string | null {
  for (let i = 0; i < 4; i++) if (header[i] !== FW_IMAGE_MAGIC[i]) return null;
  let s = '';
  for (let i = 4; i < FW_IMAGE_HEADER_BYTES; i++) {
    const c = header[i]!;
    if (c === 0) break;
    if (c < 0x20 || c > 0x7e) return null;
    s += String.fromCharCode(c);
  }
  return s.length === 0 ? null : s;
}

function writeAscii(p: Uint8Array, at: number, text: string, width: number): void {
  for (let i = 0; i < width; i++) p[at + i] = i < text.length ? text.charCodeAt(i) & 0x7f : 0;
}

/** 0200h Get FW Info (8.2.9.3.1): 50h bytes. */
function getFwInfo(dev: ComponentState, req: CciRequest): number {
  const fw = dev.generic?.fw ?? null;
  const p = req.payload;
  zero(req, 0x50);
  p[0x00] = FW_SLOTS;
  p[0x01] = (fw?.active ?? 1) | ((fw?.staged ?? 0) << 3);
  p[0x02] = 0x01; // online activation supported
  for (let s = 0; s < FW_SLOTS; s++) {
    const rev = fw === null ? (s === 0 ? dev.fwRevision ?? '' : null) : fw.slots[s]!;
    if (rev !== null) writeAscii(p, 0x10 + 0x10 * s, rev, 16);
  }
  req.outLen = 0x50;
  return Rc.SUCCESS;
}

const FwAction = { FULL: 0, INITIATE: 1, CONTINUE: 2, END: 3, ABORT: 4 } as const;

/**
 * 0201h Transfer FW (8.2.9.3.2), a background command: { action, slot, 2 rsvd, le32 offset in 128-byte units,
 * 78h rsvd, data }. Data is a non-empty multiple of 128 bytes. Parts must arrive in order (an identical
 * retransmission of the last part is accepted); a part out of order ends the transfer with 09h. A part is only
 * counted once its background operation completes, so an aborted part (0005h) can simply be sent again.
 */
function transferFw(dev: ComponentState, req: CciRequest): number {
  const p = req.payload;
  const action = p[0]!;
  const slot = p[1]!;
  const offset = req.view.getUint32(4, true) * FW_UNIT;
  const dataLen = req.inLen - 0x80;
  if (action > FwAction.ABORT) return Rc.INVALID_INPUT;
  if (action === FwAction.ABORT) {
    const fw = dev.generic?.fw;
    if (fw) fw.xfer = null;
    return Rc.SUCCESS;
  }
  if (dataLen === 0 || dataLen % FW_UNIT !== 0) return Rc.INVALID_INPUT;
  const fw = firmware(dev);
  let x = fw.xfer;
  if (x !== null && req.nowNs - x.lastNs > BG_TIMING.fwTransferTimeoutNs) x = fw.xfer = null;
  const slotOk = slot >= 1 && slot <= FW_SLOTS && slot !== fw.active;

  if (action === FwAction.FULL || action === FwAction.INITIATE) {
    if (x !== null) return Rc.FW_TRANSFER_IN_PROGRESS;
    if (dataLen > FW_MAX_IMAGE_BYTES) return Rc.INVALID_INPUT;
    const header = p.slice(0x80, 0x80 + FW_IMAGE_HEADER_BYTES);
    if (action === FwAction.FULL) {
      if (!slotOk) return Rc.INVALID_SLOT;
      return startFw(dev, req, BG_TIMING.fwFullNs, () => {
        const rev = imageRevision(header);
        if (rev === null) return Rc.FW_VERIFICATION_FAILED;
        fw.slots[slot - 1] = rev;
        return Rc.SUCCESS;
      });
    }
    if (offset !== 0) return Rc.INVALID_INPUT;
    const doneNs = req.nowNs + BG_TIMING.fwPartNs;
    return startFw(dev, req, BG_TIMING.fwPartNs, () => {
      fw.xfer = { next: dataLen, lastOffset: 0, lastLen: dataLen, lastNs: doneNs, header };
      return Rc.SUCCESS;
    });
  }

  // Continue or End
  if (x === null) return Rc.FW_TRANSFER_OUT_OF_ORDER;
  const retransmit = offset === x.lastOffset && dataLen === x.lastLen;
  if (offset !== x.next && !retransmit) {
    fw.xfer = null;
    return Rc.FW_TRANSFER_OUT_OF_ORDER;
  }
  if (offset + dataLen > FW_MAX_IMAGE_BYTES) return Rc.INVALID_INPUT;
  if (action === FwAction.END && !slotOk) return Rc.INVALID_SLOT;
  const open = x;
  const doneNs = req.nowNs + BG_TIMING.fwPartNs;
  return startFw(dev, req, BG_TIMING.fwPartNs, () => {
    open.next = offset + dataLen;
    open.lastOffset = offset;
    open.lastLen = dataLen;
    open.lastNs = doneNs;
    if (action === FwAction.CONTINUE) return Rc.SUCCESS;
    fw.xfer = null;
    const rev = imageRevision(open.header);
    if (rev === null) return Rc.FW_VERIFICATION_FAILED;
    fw.slots[slot - 1] = rev;
    return Rc.SUCCESS;
  });
}

function startFw(dev: ComponentState, req: CciRequest, durationNs: number, finish: () => number): number {
  dev.bg.start(req.opcode, req.nowNs, durationNs, finish);
  return Rc.BACKGROUND_STARTED;
}

/**
 * 0202h Activate FW (8.2.9.3.3): { action 0 online / 1 at next cold reset, slot }. The slot must hold firmware
 * and not be the active one (Invalid Slot). Online activation completes at once. While a Transfer FW part is
 * being written, activation waits: FW Transfer in Progress.
 */
function activateFw(dev: ComponentState, req: CciRequest): number {
  const action = req.payload[0]!;
  const slot = req.payload[1]!;
  if (action > 1) return Rc.INVALID_INPUT;
  if (dev.bg.running && dev.bg.opcode === TRANSFER_FW_OPCODE) return Rc.FW_TRANSFER_IN_PROGRESS;
  const fw = dev.generic?.fw ?? null;
  const active = fw?.active ?? 1;
  if (fw === null || slot < 1 || slot > FW_SLOTS || slot === active || fw.slots[slot - 1] === null) return Rc.INVALID_SLOT;
  if (action === 0) {
    fw.active = slot;
    fw.staged = 0;
    dev.fwRevision = fw.slots[slot - 1]!;
  } else {
    fw.staged = slot;
  }
  return Rc.SUCCESS;
}

// ---------------------------------------------------------------------------------------------------------------
// 8.2.9.4 Timestamp, 8.2.9.5 Logs

/** 0300h Get Timestamp (8.2.9.4.1): 0 until set, then the set value plus elapsed time. */
function getTimestamp(dev: ComponentState, req: CciRequest): number {
  req.view.setBigUint64(0, deviceTime(dev, req.nowNs), true);
  req.outLen = 8;
  return Rc.SUCCESS;
}

/** 0301h Set Timestamp (8.2.9.4.2): 8-byte ns since the epoch. */
function setTimestamp(dev: ComponentState, req: CciRequest): number {
  dev.timestamp = { value: req.view.getBigUint64(0, true), atNs: req.nowNs };
  return Rc.SUCCESS;
}

/** 0400h Get Supported Logs (8.2.9.5.1): one entry, the CEL. */
function getSupportedLogs(dev: ComponentState, req: CciRequest): number {
  const v = req.view;
  v.setUint16(0, 1, true);
  for (let i = 2; i < 8; i++) v.setUint8(i, 0);
  req.payload.set(CEL_UUID, 8);
  v.setUint32(0x18, dev.commands.cel().byteLength, true);
  req.outLen = 0x1c;
  return Rc.SUCCESS;
}

/** 0401h Get Log (8.2.9.5.2): { uuid, le32 offset, le32 length } -> length bytes of the log. */
function getLog(dev: ComponentState, req: CciRequest): number {
  const v = req.view;
  const offset = v.getUint32(0x10, true);
  const length = v.getUint32(0x14, true);
  if (!uuidEquals(req.payload, 0, CEL_UUID)) return Rc.INVALID_LOG;
  const cel = dev.commands.cel();
  if (length > outputLimit(dev, req)) return Rc.INVALID_INPUT;
  if (offset > cel.byteLength || offset + length > cel.byteLength) return Rc.INVALID_INPUT;
  req.payload.set(cel.subarray(offset, offset + length), 0);
  req.outLen = length;
  return Rc.SUCCESS;
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * The generic commands every CXL component offers. Effects use the spec numbering (effects.ts):
 * - 0201h Transfer FW is a background operation that 0005h can abort (bits 6 and 8);
 * - 0202h Activate FW changes configuration now (online) or at the next cold reset (bits 1 and 0);
 * - 0004h and 0103h change configuration immediately (QEMU reports 0 for 0004h; the response size does change).
 * Features (0500h-0502h) depend on a catalog: add featureCommands(catalog) from features.ts.
 */
export const GENERIC_COMMANDS: readonly CommandDef<ComponentState>[] = [
  { opcode: 0x0001, name: 'Identify', input: 0, effects: 0, handler: identify },
  { opcode: 0x0002, name: 'Background Operation Status', input: 0, effects: 0, duringSanitize: 'run', handler: backgroundStatus },
  { opcode: 0x0003, name: 'Get Response Message Limit', input: 0, effects: 0, handler: getResponseLimit },
  { opcode: 0x0004, name: 'Set Response Message Limit', input: 1, effects: Effect.IMMEDIATE_CONFIG_CHANGE, handler: setResponseLimit },
  { opcode: 0x0005, name: 'Request Abort Background Operation', input: 0, effects: 0, handler: requestAbort },
  { opcode: 0x0100, name: 'Get Event Records', input: 1, effects: 0, handler: getEventRecords },
  {
    opcode: 0x0101, name: 'Clear Event Records', input: { min: 6, exact: (p) => 6 + 2 * p[2]! },
    effects: Effect.IMMEDIATE_LOG_CHANGE, handler: clearEventRecords,
  },
  { opcode: 0x0102, name: 'Get Event Interrupt Policy', input: 0, effects: 0, handler: getEventPolicy },
  { opcode: 0x0103, name: 'Set Event Interrupt Policy', input: { min: 4, max: 5 }, effects: Effect.IMMEDIATE_CONFIG_CHANGE, handler: setEventPolicy },
  { opcode: 0x0200, name: 'Get FW Info', input: 0, effects: 0, handler: getFwInfo },
  {
    opcode: TRANSFER_FW_OPCODE, name: 'Transfer FW', input: { min: 0x80 },
    effects: Effect.BACKGROUND_OP | Effect.REQUEST_ABORT_SUPPORTED, handler: transferFw,
  },
  {
    opcode: 0x0202, name: 'Activate FW', input: 2,
    effects: Effect.CONFIG_CHANGE_COLD_RESET | Effect.IMMEDIATE_CONFIG_CHANGE, handler: activateFw,
  },
  { opcode: 0x0300, name: 'Get Timestamp', input: 0, effects: 0, handler: getTimestamp },
  { opcode: 0x0301, name: 'Set Timestamp', input: 8, effects: Effect.IMMEDIATE_POLICY_CHANGE, handler: setTimestamp },
  { opcode: 0x0400, name: 'Get Supported Logs', input: 0, effects: 0, handler: getSupportedLogs },
  { opcode: 0x0401, name: 'Get Log', input: 0x18, effects: 0, handler: getLog },
];
