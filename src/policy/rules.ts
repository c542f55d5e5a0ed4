import { Effect, EFFECTS_RESERVED_MASK, IMMEDIATE_EFFECTS, RESET_EFFECTS } from '../devices/cci/effects.js';
import { CSE_MASK, Effects as NvmeEffect } from '../devices/nvme/effects.js';
import { REFUSED_LEVEL, TierLevel } from './tiers.js';

/**
 * The rules that turn a device's own effects log into the tier a command needs. Written down here and in
 * README ("Permission tiers"); the policy owns no opcode tables except FABRIC_DESTRUCTIVE below.
 *
 * CXL (Command Effects Log, spec bit numbering):
 *   - opcode absent from the CEL                                  -> refused (unless a vendor rule allows it)
 *   - reserved effect bits 15:12 set                              -> debug-write-full (an unknown attribute
 *                                                                    needs the highest fwctl scope, as pds does)
 *   - any immediate config/data/policy/log change, or security    -> debug-write-full (Linux features.c rule)
 *   - only config-change-after-reset bits (0, 10, 11)             -> debug-write
 *   - background operation bit alone                              -> debug-write: it occupies the device's one
 *                                                                    background slot and changes state over time
 *   - no change bits (bits 7-9 describe the mailbox, not effects) -> configuration for standard commands,
 *                                                                    debug-read for vendor-specific (C000h+)
 *                                                                    commands, which read vendor debug data
 *   - FABRIC_DESTRUCTIVE opcodes                                  -> fabric-destructive whatever the log says
 *                                                                    (QEMU reports 0 for Physical Port Control)
 * NVMe (Commands Supported and Effects log 05h; index 0-255 admin opcodes, 100h + opcode the I/O commands of
 * an I/O queue, read from the log's IOCS half):
 *   - CSUPP clear                                                 -> refused
 *   - vendor-specific opcode (admin C0h-FFh, I/O 80h-FFh)         -> debug-write-full
 *   - LBCC, NCC, NIC, CCC or CSE (bits 18:16 non-zero)            -> debug-write-full (immediate changes to
 *                                                                    data, namespaces or the controller)
 *   - I/O queue management and Abort (NVME_SHARED_QUEUES)         -> debug-write: the queues and the commands
 *                                                                    in them are shared by every session
 *   - CSUPP only, but the opcode sends data to the controller      -> debug-write (opcode bit 0, NVMe's
 *     (Set Features, Firmware Image Download)                        host-to-controller direction: Linux
 *                                                                    refuses such commands on a read-only fd)
 *   - CSUPP only, an I/O command returning data (Read)            -> debug-read: it discloses the namespace's
 *                                                                    user data, not configuration
 *   - CSUPP only (plus UUID selection / scope / relaxation bits)  -> configuration
 */

/** Commands that can hurt OTHER hosts: refused unless the mux gate `fabricDestructive` is on. */
export const FABRIC_DESTRUCTIVE: ReadonlyMap<number, string> = new Map([
  [0x5102, 'Physical Port Control: PERST# / reset of a port resets whatever host is bound below it'],
  [0x5201, 'Bind vPPB: hot-adds a device into a host\'s hierarchy'],
  [0x5202, 'Unbind vPPB: surprise or managed hot-remove from a host'],
  [0x5402, 'Set LD Allocations: resizes the memory of logical devices owned by other hosts'],
  [0x5404, 'Set QoS Control: changes bandwidth policy shared by every LD of the MLD'],
  [0x5407, 'Set QoS Allocated BW: takes bandwidth from other LDs'],
  [0x5409, 'Set QoS BW Limit: throttles other LDs'],
  [0x5602, 'Set DC Region Configuration: reconfigures dynamic capacity shared by hosts'],
  [0x5604, 'Initiate Dynamic Capacity Add: hands memory to a host'],
  [0x5605, 'Initiate Dynamic Capacity Release: forcibly removes another host\'s dynamic capacity'],
]);

/** Commands that are destructive to other hosts only when the target serves several hosts (an MLD). */
export const DESTRUCTIVE_WHEN_SHARED: ReadonlyMap<number, string> = new Map([
  [0x4400, 'Sanitize of a device shared by several hosts'],
  [0x4401, 'Secure Erase of a device shared by several hosts'],
  [0x4803, 'Release Dynamic Capacity on a device shared by several hosts'],
]);

export interface Decision {
  level: number;
  reason: string;
}

const IMMEDIATE_OR_SECURITY = IMMEDIATE_EFFECTS | Effect.SECURITY_STATE_CHANGE;

export function cxlLevel(opcode: number, effects: number, declared: boolean, shared: boolean): Decision {
  const fd = FABRIC_DESTRUCTIVE.get(opcode) ?? (shared ? DESTRUCTIVE_WHEN_SHARED.get(opcode) : undefined);
  if (fd !== undefined) return { level: TierLevel['fabric-destructive'], reason: fd };
  if (!declared) return { level: REFUSED_LEVEL, reason: 'opcode not declared in the device\'s Command Effects Log' };
  if ((effects & EFFECTS_RESERVED_MASK) !== 0) return { level: TierLevel['debug-write-full'], reason: 'reserved effect bits set (unknown attributes)' };
  if ((effects & IMMEDIATE_OR_SECURITY) !== 0) return { level: TierLevel['debug-write-full'], reason: 'immediate configuration, data, policy, log or security change' };
  if ((effects & RESET_EFFECTS) !== 0) return { level: TierLevel['debug-write'], reason: 'configuration change after reset' };
  if ((effects & Effect.BACKGROUND_OP) !== 0) return { level: TierLevel['debug-write'], reason: 'background operation' };
  if (opcode >= 0xc000) return { level: TierLevel['debug-read'], reason: 'vendor-specific command without effects (debug data)' };
  return { level: TierLevel.configuration, reason: 'no effects' };
}

/** Index of an I/O command in an NVMe policy table: 100h + opcode (its IOCS entry in log 05h). */
export const NVME_IO_INDEX = 0x100;

/** Admin commands that act on the controller's queues, which every session of the host shares. */
export const NVME_SHARED_QUEUES: ReadonlyMap<number, string> = new Map([
  [0x00, 'Delete I/O Submission Queue: aborts the commands every session has on that queue'],
  [0x01, 'Create I/O Submission Queue: takes queue resources of the controller every session shares'],
  [0x04, 'Delete I/O Completion Queue: removes a queue sessions may be using'],
  [0x05, 'Create I/O Completion Queue: takes queue resources of the controller every session shares'],
  [0x08, 'Abort: ends a command that may be another session\'s'],
]);

/** Log 05h bits (the device's own, devices/nvme/effects.ts) that change data, namespaces or the controller, or need exclusive execution. */
const NVME_CHANGES = NvmeEffect.LBCC | NvmeEffect.NCC | NvmeEffect.NIC | NvmeEffect.CCC | CSE_MASK;

export function nvmeLevel(index: number, effects: number): Decision {
  const io = index >= NVME_IO_INDEX;
  const op = index & 0xff;
  const what = io ? 'I/O command' : 'admin command';
  if ((effects & NvmeEffect.CSUPP) === 0) return { level: REFUSED_LEVEL, reason: `${what} not supported (CSUPP clear in log page 05h)` };
  if (op >= (io ? 0x80 : 0xc0)) return { level: TierLevel['debug-write-full'], reason: `vendor-specific ${what}` };
  if ((effects & NVME_CHANGES) !== 0) {
    return { level: TierLevel['debug-write-full'], reason: `${what} that changes logical blocks, namespaces or controller capabilities, or needs exclusive execution` };
  }
  const shared = io ? undefined : NVME_SHARED_QUEUES.get(op);
  if (shared !== undefined) return { level: TierLevel['debug-write'], reason: shared };
  if ((op & 1) !== 0) return { level: TierLevel['debug-write'], reason: `${what} that sends data to the controller (host-to-controller opcode): changes device state` };
  if (io && (op & 2) !== 0) return { level: TierLevel['debug-read'], reason: 'I/O command that returns the namespace\'s user data' };
  return { level: TierLevel.configuration, reason: `${what} without effects beyond command support` };
}
