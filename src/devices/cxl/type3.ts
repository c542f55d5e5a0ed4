import { BackgroundOp } from '../cci/background.js';
import { type CciRequest, type CommandDef, CommandSet } from '../cci/command-table.js';
import { Effect } from '../cci/effects.js';
import { featureCommands } from '../cci/features.js';
import { GENERIC_COMMANDS, outputLimit } from '../cci/generic.js';
import { Rc } from '../cci/return-codes.js';
import { SparseBytes } from '../sparse-bytes.js';
import type { DeviceDescriptor, VendorMode } from '../../fleet/types.js';
import { EVENT_LOG_DEPTH, EventLogType } from './event-log.js';
import { ensureDc, DCD_COMMANDS } from './type3-dcd.js';
import { TYPE3_FEATURES } from './type3-features.js';
import { HEALTH_COMMANDS } from './type3-health.js';
import { PARTITION_ALIGN_UNITS, PARTITION_COMMANDS, totalUnits } from './type3-partition.js';
import { INJECT_POISON_LIMIT, POISON_COMMANDS, POISON_MAX_RECORDS } from './type3-poison.js';
import { SANITIZE_COMMANDS, sanitizeGate } from './type3-sanitize.js';
import { SCAN_COMMANDS } from './type3-scan.js';
import { CAPACITY_UNIT, type Type3State } from './type3-state.js';
import { VENDOR_COMMANDS, VENDOR_OPCODES } from './type3-vendor.js';

/**
 * CXL type-3 memory device: its command set (CXL r3.1 8.2.9 generic + 8.2.9.9 memory device commands) and
 * power-on state. The commands live in type3-*.ts by area; this file assembles them.
 */

export { CAPACITY_UNIT, type Type3State } from './type3-state.js';

export const EMULATOR_VENDOR_ID = 0x1e98;
export const TYPE3_DEVICE_ID = 0x0d93;

function writeAscii(req: CciRequest, at: number, text: string, width: number): void {
  for (let i = 0; i < width; i++) req.payload[at + i] = i < text.length ? text.charCodeAt(i) & 0x7f : 0;
}

/** 4000h Identify Memory Device (8.2.9.9.1.1): 45h bytes (r3.x layout). */
function identifyMemoryDevice(dev: Type3State, req: CciRequest): number {
  const v = req.view;
  writeAscii(req, 0x00, dev.fwRevision, 16);
  v.setBigUint64(0x10, BigInt(totalUnits(dev)), true); // total
  v.setBigUint64(0x18, 0n, true); // volatile-only
  v.setBigUint64(0x20, 0n, true); // persistent-only
  v.setBigUint64(0x28, BigInt(PARTITION_ALIGN_UNITS), true); // partition alignment: the device is partitionable
  v.setUint16(0x30, EVENT_LOG_DEPTH, true); // informational event log size
  v.setUint16(0x32, EVENT_LOG_DEPTH, true); // warning
  v.setUint16(0x34, EVENT_LOG_DEPTH, true); // failure
  v.setUint16(0x36, EVENT_LOG_DEPTH, true); // fatal
  v.setUint32(0x38, dev.lsaBytes, true);
  v.setUint16(0x3c, POISON_MAX_RECORDS & 0xffff, true); // poison list maximum media error records (3 bytes)
  v.setUint8(0x3e, POISON_MAX_RECORDS >>> 16);
  v.setUint16(0x3f, INJECT_POISON_LIMIT, true);
  v.setUint8(0x41, 0); // poison handling capabilities
  v.setUint8(0x42, 0); // QoS telemetry capabilities
  v.setUint16(0x43, EVENT_LOG_DEPTH, true); // dynamic capacity event log size
  req.outLen = 0x45;
  return Rc.SUCCESS;
}

/** 4102h Get LSA (8.2.9.9.2.3): { le32 offset, le32 length } -> length bytes. */
function getLsa(dev: Type3State, req: CciRequest): number {
  const offset = req.view.getUint32(0, true);
  const length = req.view.getUint32(4, true);
  if (offset + length > dev.lsaBytes || length > outputLimit(dev, req)) return Rc.INVALID_INPUT;
  dev.lsa.read(offset, req.payload.subarray(0, length));
  req.outLen = length;
  return Rc.SUCCESS;
}

/** 4103h Set LSA (8.2.9.9.2.4): { le32 offset, le32 reserved, data }. */
function setLsa(dev: Type3State, req: CciRequest): number {
  const offset = req.view.getUint32(0, true);
  const length = req.inLen - 8;
  if (offset + length > dev.lsaBytes) return Rc.INVALID_INPUT;
  dev.lsa.write(offset, req.payload.subarray(8, 8 + length));
  return Rc.SUCCESS;
}

const BASE_COMMANDS: readonly CommandDef<Type3State>[] = [
  ...(GENERIC_COMMANDS as readonly CommandDef<Type3State>[]),
  ...(featureCommands(TYPE3_FEATURES) as CommandDef<Type3State>[]),
  { opcode: 0x4000, name: 'Identify Memory Device', input: 0, effects: 0, handler: identifyMemoryDevice },
  ...PARTITION_COMMANDS,
  { opcode: 0x4102, name: 'Get LSA', input: 8, effects: 0, duringSanitize: 'media-disabled', handler: getLsa },
  {
    opcode: 0x4103, name: 'Set LSA', input: { min: 8 }, effects: Effect.IMMEDIATE_CONFIG_CHANGE | Effect.IMMEDIATE_DATA_CHANGE,
    duringSanitize: 'media-disabled', handler: setLsa,
  },
  ...HEALTH_COMMANDS,
  ...POISON_COMMANDS,
  ...SCAN_COMMANDS,
  ...SANITIZE_COMMANDS,
  ...DCD_COMMANDS,
];

const sets = new Map<VendorMode, CommandSet<Type3State>>();

/**
 * The type-3 command set for a vendor-command exposure; one shared instance per mode. 'declared': vendor
 * commands run and the CEL lists them; 'hidden': they run but the CEL omits them; 'none': they are Unsupported.
 */
export function type3CommandSet(vendor: VendorMode): CommandSet<Type3State> {
  let s = sets.get(vendor);
  if (s === undefined) {
    const commands = vendor === 'none' ? BASE_COMMANDS : [...BASE_COMMANDS, ...VENDOR_COMMANDS];
    s = new CommandSet<Type3State>(`cxl-type3/${vendor}`, commands, vendor === 'hidden' ? VENDOR_OPCODES : []);
    sets.set(vendor, s);
  }
  return s;
}

/**
 * Gate consulted before every command (executeCci): the sanitize rule of the command's table entry, and the lazy power-on Dynamic Capacity
 * state for the commands that can observe it (DC commands, Get/Clear Event Records on the DC log; every path
 * that posts a record materializes it too). Shared by every device (called with the device as `this`).
 */
function type3Gate(this: Type3State, cmd: CommandDef<any>, req: CciRequest): number {
  const op = req.opcode;
  const g = sanitizeGate(this, cmd);
  if (g >= 0) return g;
  if (this.dc === null && ((op & 0xff00) === 0x4800 || ((op === 0x0100 || op === 0x0101) && req.payload[0] === EventLogType.DYNAMIC_CAPACITY))) {
    ensureDc(this);
  }
  return -1;
}

/** Power-on state of a type-3 device, deterministic from its descriptor. */
export function newType3State(d: DeviceDescriptor): Type3State {
  const t3 = d.type3!;
  const s = Number(d.serial & 0xffffn);
  return {
    commands: type3CommandSet(d.vendorCommands),
    identity: {
      vendorId: EMULATOR_VENDOR_ID,
      deviceId: TYPE3_DEVICE_ID,
      subsystemVendorId: EMULATOR_VENDOR_ID,
      subsystemId: t3.mld ? 0x0002 : 0x0001,
      serial: d.serial,
      maxMessageSizeLog2: Math.log2(d.mailboxBytes),
      componentType: 0x03,
    },
    bg: new BackgroundOp(),
    timestamp: null,
    gate: type3Gate,
    generic: null,
    capacityBytes: t3.capacityBytes,
    lsaBytes: t3.lsaBytes,
    lsa: new SparseBytes(),
    fwRevision: 'mbxmux-fw-1.0',
    health: {
      status: 0,
      media: 0,
      additional: 0,
      lifeUsed: s % 20,
      temperature: 30 + (s % 15),
      dirtyShutdowns: s % 3,
      correctedVolatile: 0,
      correctedPersistent: 0,
    },
    volatileUnits: Math.floor(t3.capacityBytes / CAPACITY_UNIT / 2),
    nextVolatileUnits: -1,
    alerts: null,
    poison: null,
    scan: null,
    media: null,
    latentDone: 0,
    dc: null,
    counters: null,
  };
}
