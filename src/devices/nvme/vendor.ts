import { VendorState, type AdminContext, type ControllerState, type NvmeCommandDef } from './controller-state.js';
import { Effects } from './effects.js';
import { St } from './status.js';

/**
 * Vendor-specific admin commands (opcodes C0h-FFh). The encodings follow those of a real vendor's SSDs as
 * driven by the public nvme-cli vendor plugin (diagnostics transport C6h with a command/subcommand in CDW12,
 * Purge DDh and Purge Monitor DEh). Identify AVSCC = 1, so they use the standard vendor format: CDW10 =
 * NDT (data dwords), CDW11 = NDM (metadata dwords, must be 0 here). Response layouts other than the
 * Purge Monitor structure are the emulator's own.
 *
 * Exposure follows the fleet's VendorMode: 'declared' (executed and listed in log 05h), 'hidden' (executed,
 * absent from the log) or 'none' (Invalid Command Opcode).
 */
export const VendorOpcode = {
  DIAGNOSTICS: 0xc6,
  PURGE: 0xdd,
  PURGE_MONITOR: 0xde,
} as const;

/** CDW12 of C6h: subcommand << 8 | command. */
export const DiagCommand = {
  DRIVE_LOG: 0x0020,
  DRIVE_LOG_SIZE: 0x0120,
  CLEAR_PCIE_CORRECTABLE: 0x0422,
} as const;

export const PurgeMonitorState = { IDLE: 0, DONE: 1, BUSY: 2 } as const;

export const DRIVE_LOG_BYTES = 16 * 1024;
/** Purge Monitor data: 42 bytes (progress total at 20, current at 24). */
export const PURGE_MONITOR_BYTES = 42;
export const PURGE_NS = 3e9;
const PROGRESS_TOTAL = 1000;

function state(c: ControllerState): VendorState {
  return (c.vendor ??= new VendorState());
}

/** NDT in bytes, or a status if NDM is set or the transfer is too large. */
function ndtBytes(c: ControllerState, x: AdminContext): number {
  if (x.sqe.cdw11 !== 0) {
    x.errLoc = 44;
    return -St.INVALID_FIELD;
  }
  const bytes = x.sqe.cdw10 * 4;
  if (bytes > c.maxTransfer) {
    x.errLoc = 40;
    return -St.INVALID_FIELD;
  }
  return bytes;
}

/** Deterministic drive log: "MBXDRVLG", serial, PCIe correctable error count, then seeded bytes. */
function driveLogByte(c: ControllerState, at: number): number {
  if (at < 8) return 'MBXDRVLG'.charCodeAt(at);
  if (at < 16) return Number((c.serial >> BigInt(8 * (at - 8))) & 0xffn);
  if (at < 20) return at === 16 ? (c.vendor?.pcieCleared ? 0 : c.seed % 50) : 0;
  let x = (Math.imul(c.seed ^ (at >>> 2), 0x9e3779b1) >>> 0) ^ 0x5bd1e995;
  x ^= x >>> 15;
  return (x >>> (8 * (at & 3))) & 0xff;
}

function diagnostics(c: ControllerState, x: AdminContext): number {
  const bytes = ndtBytes(c, x);
  if (bytes < 0) return -bytes;
  switch (x.sqe.cdw12) {
    case DiagCommand.DRIVE_LOG_SIZE: {
      if (bytes < 4) {
        x.errLoc = 40;
        return St.INVALID_FIELD;
      }
      c.out(x, bytes).setUint32(0, DRIVE_LOG_BYTES, true);
      return St.SUCCESS;
    }
    case DiagCommand.DRIVE_LOG: {
      const off = x.sqe.cdw13 * 4; // dword offset into the log
      if (off >= DRIVE_LOG_BYTES) {
        x.errLoc = 52;
        return St.INVALID_FIELD;
      }
      const n = Math.min(bytes, DRIVE_LOG_BYTES - off);
      c.out(x, n);
      for (let i = 0; i < n; i++) x.buf[i] = driveLogByte(c, off + i);
      return St.SUCCESS;
    }
    case DiagCommand.CLEAR_PCIE_CORRECTABLE:
      state(c).pcieCleared = true;
      return St.SUCCESS;
    default:
      x.errLoc = 48;
      return St.INVALID_FIELD;
  }
}

/** DDh Purge: erases all user data in the background; a second Purge while one runs is a Command Sequence Error. */
function purge(c: ControllerState, x: AdminContext): number {
  const bytes = ndtBytes(c, x);
  if (bytes < 0) return -bytes;
  const p = state(c);
  if (p.running) return St.COMMAND_SEQUENCE_ERROR;
  p.running = true;
  p.done = false;
  p.startNs = x.nowNs;
  p.endNs = x.nowNs + PURGE_NS;
  return St.SUCCESS;
}

/** DEh Purge Monitor: CQE DW0 = state (0 idle, 1 done, 2 busy); data = the 42-byte monitor structure. */
function purgeMonitor(c: ControllerState, x: AdminContext): number {
  const bytes = ndtBytes(c, x);
  if (bytes < 0) return -bytes;
  if (bytes < PURGE_MONITOR_BYTES) {
    x.errLoc = 40;
    return St.INVALID_FIELD;
  }
  const p = c.vendor;
  const v = c.out(x, bytes);
  const current = p === null ? 0 : p.running
    ? Math.min(PROGRESS_TOTAL - 1, Math.floor(((x.nowNs - p.startNs) / (p.endNs - p.startNs)) * PROGRESS_TOTAL))
    : p.done ? PROGRESS_TOTAL : 0;
  v.setUint32(20, PROGRESS_TOTAL, true); // entire progress total
  v.setUint32(24, current, true); // entire progress current
  x.dw0 = p === null ? PurgeMonitorState.IDLE : p.running ? PurgeMonitorState.BUSY : p.done ? PurgeMonitorState.DONE : PurgeMonitorState.IDLE;
  return St.SUCCESS;
}

const never = (): boolean => false;

export const VENDOR_COMMANDS: readonly NvmeCommandDef[] = [
  { opcode: VendorOpcode.DIAGNOSTICS, name: 'Vendor Diagnostics (drive log)', effects: Effects.SCOPE_CONTROLLER, duringSanitize: never, vendor: true, handler: diagnostics },
  { opcode: VendorOpcode.PURGE, name: 'Vendor Purge', effects: Effects.LBCC | Effects.CSE_ANY_NS | Effects.SCOPE_SUBSYSTEM, duringSanitize: never, vendor: true, handler: purge },
  { opcode: VendorOpcode.PURGE_MONITOR, name: 'Vendor Purge Monitor', effects: 0, duringSanitize: never, vendor: true, handler: purgeMonitor },
];
