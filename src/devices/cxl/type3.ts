import { BackgroundOp } from '../cci/background.js';
import type { ComponentState } from '../cci/cci.js';
import { type CciRequest, type CommandDef, CommandSet } from '../cci/command-table.js';
import { GENERIC_COMMANDS } from '../cci/generic.js';
import { Effect } from '../cci/effects.js';
import { Rc } from '../cci/return-codes.js';
import { SparseBytes } from '../sparse-bytes.js';
import type { DeviceDescriptor, VendorMode } from '../../fleet/types.js';

/** Capacity unit of Identify Memory Device and partition commands (CXL r3.1 8.2.9.9.1.1). */
export const CAPACITY_UNIT = 256 * 1024 * 1024;

export const EMULATOR_VENDOR_ID = 0x1e98;
export const TYPE3_DEVICE_ID = 0x0d93;

/** State of one type-3 memory device (or one logical device of an MLD). Small: sub-structures are lazy. */
export interface Type3State extends ComponentState {
  capacityBytes: number;
  lsaBytes: number;
  /** label storage area, stored sparsely in 4 KiB pages allocated on first write (untouched pages read 0) */
  lsa: SparseBytes;
  fwRevision: string;
  health: {
    status: number;
    media: number;
    additional: number;
    lifeUsed: number;
    temperature: number;
    dirtyShutdowns: number;
    correctedVolatile: number;
    correctedPersistent: number;
  };
}

function writeAscii(req: CciRequest, at: number, text: string, width: number): void {
  for (let i = 0; i < width; i++) req.payload[at + i] = i < text.length ? text.charCodeAt(i) & 0x7f : 0;
}

/** 4000h Identify Memory Device (8.2.9.9.1.1): 45h bytes (r3.x layout). */
function identifyMemoryDevice(dev: Type3State, req: CciRequest): number {
  const v = req.view;
  writeAscii(req, 0x00, dev.fwRevision, 16);
  const units = BigInt(Math.floor(dev.capacityBytes / CAPACITY_UNIT));
  v.setBigUint64(0x10, units, true); // total
  v.setBigUint64(0x18, 0n, true); // volatile-only
  v.setBigUint64(0x20, 0n, true); // persistent-only
  v.setBigUint64(0x28, 1n, true); // partition alignment: 256 MiB, so the device is partitionable
  v.setUint16(0x30, 8, true); // informational event log size
  v.setUint16(0x32, 8, true); // warning
  v.setUint16(0x34, 8, true); // failure
  v.setUint16(0x36, 8, true); // fatal
  v.setUint32(0x38, dev.lsaBytes, true);
  v.setUint16(0x3c, 256, true); // poison list max records (3 bytes)
  v.setUint8(0x3e, 0);
  v.setUint16(0x3f, 0, true); // inject poison limit: 0 = no limit
  v.setUint8(0x41, 0);
  v.setUint8(0x42, 0);
  v.setUint16(0x43, 8, true); // dynamic capacity event log size
  req.outLen = 0x45;
  return Rc.SUCCESS;
}

/** 4102h Get LSA (8.2.9.9.2.3): { le32 offset, le32 length } -> length bytes. */
function getLsa(dev: Type3State, req: CciRequest): number {
  const offset = req.view.getUint32(0, true);
  const length = req.view.getUint32(4, true);
  if (offset + length > dev.lsaBytes || length > req.payload.byteLength) return Rc.INVALID_INPUT;
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

/** 4200h Get Health Info (8.2.9.9.3.1): 12h bytes. */
function getHealthInfo(dev: Type3State, req: CciRequest): number {
  const v = req.view;
  const h = dev.health;
  v.setUint8(0x00, h.status);
  v.setUint8(0x01, h.media);
  v.setUint8(0x02, h.additional);
  v.setUint8(0x03, h.lifeUsed);
  v.setInt16(0x04, h.temperature, true);
  v.setUint32(0x06, h.dirtyShutdowns, true);
  v.setUint32(0x0a, h.correctedVolatile, true);
  v.setUint32(0x0e, h.correctedPersistent, true);
  req.outLen = 0x12;
  return Rc.SUCCESS;
}

const TYPE3_COMMANDS: readonly CommandDef<Type3State>[] = [
  ...(GENERIC_COMMANDS as readonly CommandDef<Type3State>[]),
  { opcode: 0x4000, name: 'Identify Memory Device', input: 0, effects: 0, handler: identifyMemoryDevice },
  { opcode: 0x4102, name: 'Get LSA', input: 8, effects: 0, handler: getLsa },
  { opcode: 0x4103, name: 'Set LSA', input: { min: 8 }, effects: Effect.IMMEDIATE_CONFIG_CHANGE | Effect.IMMEDIATE_DATA_CHANGE, handler: setLsa },
  { opcode: 0x4200, name: 'Get Health Info', input: 0, effects: 0, handler: getHealthInfo },
];

const sets = new Map<VendorMode, CommandSet<Type3State>>();

/** The type-3 command set for a vendor-command exposure; one shared instance per mode. */
export function type3CommandSet(vendor: VendorMode): CommandSet<Type3State> {
  let s = sets.get(vendor);
  if (s === undefined) {
    s = new CommandSet<Type3State>(`cxl-type3/${vendor}`, TYPE3_COMMANDS);
    sets.set(vendor, s);
  }
  return s;
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
  };
}
