import type { CciRequest, CommandDef } from './command-table.js';
import type { ComponentState } from './cci.js';
import { Effect } from './effects.js';
import { Rc } from './return-codes.js';
import { CEL_UUID, uuidEquals } from './uuid.js';

/**
 * Generic component commands (CXL r3.1 8.2.9.1-8.2.9.5) shared by every CXL CCI: type-3 devices, logical
 * devices, switches and the FM-owned LD of an MLD.
 */

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

/** 0005h Request Abort Background Operation (8.2.9.1.5). */
function requestAbort(dev: ComponentState, req: CciRequest): number {
  const bg = dev.bg;
  bg.update(req.nowNs);
  if (!bg.running) return Rc.SUCCESS;
  const cmd = dev.commands.get(bg.opcode);
  if (cmd === undefined || (cmd.effects & Effect.REQUEST_ABORT_SUPPORTED) === 0) return Rc.REQUEST_ABORT_NOT_SUPPORTED;
  bg.abort();
  return Rc.SUCCESS;
}

/** 0300h Get Timestamp (8.2.9.4.1): 0 until set, then the set value plus elapsed time. */
function getTimestamp(dev: ComponentState, req: CciRequest): number {
  const t = dev.timestamp;
  const value = t === null ? 0n : t.value + BigInt(Math.max(0, Math.round(req.nowNs - t.atNs)));
  req.view.setBigUint64(0, value & 0xffffffffffffffffn, true);
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
  if (length > req.payload.byteLength) return Rc.INVALID_INPUT;
  if (offset > cel.byteLength || offset + length > cel.byteLength) return Rc.INVALID_INPUT;
  req.payload.set(cel.subarray(offset, offset + length), 0);
  req.outLen = length;
  return Rc.SUCCESS;
}

export const GENERIC_COMMANDS: readonly CommandDef<ComponentState>[] = [
  { opcode: 0x0001, name: 'Identify', input: 0, effects: 0, handler: identify },
  { opcode: 0x0002, name: 'Background Operation Status', input: 0, effects: 0, handler: backgroundStatus },
  { opcode: 0x0005, name: 'Request Abort Background Operation', input: 0, effects: 0, handler: requestAbort },
  { opcode: 0x0300, name: 'Get Timestamp', input: 0, effects: 0, handler: getTimestamp },
  { opcode: 0x0301, name: 'Set Timestamp', input: 8, effects: Effect.IMMEDIATE_POLICY_CHANGE, handler: setTimestamp },
  { opcode: 0x0400, name: 'Get Supported Logs', input: 0, effects: 0, handler: getSupportedLogs },
  { opcode: 0x0401, name: 'Get Log', input: 0x18, effects: 0, handler: getLog },
];
