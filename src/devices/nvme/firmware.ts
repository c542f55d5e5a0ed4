import { AerType, FACTORY_FW_REVISION, FW_MAX_IMAGE_BYTES, FW_SLOTS, FWUG_UNITS, OAES_FW_ACTIVATION } from './constants.js';
import {
  Activation, FirmwareState, FW_HEADER_BYTES, type AdminContext, type ControllerState, type FirmwareSlot,
} from './controller-state.js';
import { asyncEventConfig } from './features.js';
import { St } from './status.js';

/**
 * Firmware Image Download (11h) and Firmware Commit (10h), NVMe Base 2.0 5.13 / 5.12.
 *
 * Emulated image format (the controller keeps only the header and the byte count, never the image):
 *   bytes 0-3   magic "MBXF"
 *   bytes 4-11  firmware revision, 8 ASCII bytes (becomes the slot's FRS and, once active, Identify FR)
 *   byte 12     activation requirement: 0 none (any Controller Level Reset, or immediately with CA 011b),
 *               1 conventional reset, 2 NVM subsystem reset, 3 immediate activation would exceed MTFA
 *   bytes 13-15 reserved; the rest is payload
 * An image shorter than 16 bytes or without the magic is an Invalid Firmware Image at commit.
 */
export const FW_MAGIC = 0x4658424d; // "MBXF" read as le32
export const CommitAction = {
  REPLACE: 0,
  REPLACE_ACTIVATE_ON_RESET: 1,
  ACTIVATE_ON_RESET: 2,
  REPLACE_ACTIVATE_NOW: 3,
} as const;

const FWUG_BYTES = FWUG_UNITS * 4096;

function state(c: ControllerState): FirmwareState {
  return (c.fw ??= new FirmwareState());
}

export function activeFirmwareRevision(c: ControllerState): string {
  const fw = c.fw;
  return fw === null ? FACTORY_FW_REVISION : fw.running;
}

/**
 * 11h Firmware Image Download. CDW10 NUMD (dwords - 1), CDW11 OFST (dword offset). Pieces arrive in order:
 * OFST 0 starts a new image; a piece must start where the image ends (a piece inside what was received is
 * an Overlapping Range, a gap is an Invalid Field). OFST must be a multiple of FWUG (4 KiB); a piece may be
 * short only if it is the last one.
 */
export function firmwareImageDownload(c: ControllerState, x: AdminContext): number {
  const len = (x.sqe.cdw10 + 1) * 4;
  const off = x.sqe.cdw11 * 4;
  if (len > c.maxTransfer) {
    x.errLoc = 40;
    return St.INVALID_FIELD;
  }
  if (off % FWUG_BYTES !== 0 || off + len > FW_MAX_IMAGE_BYTES) {
    x.errLoc = 44;
    return St.INVALID_FIELD;
  }
  const fw = state(c);
  if (off === 0) fw.staged = 0;
  else if (off < fw.staged) return St.OVERLAPPING_RANGE;
  else if (off > fw.staged || fw.staged % FWUG_BYTES !== 0) {
    x.errLoc = 44;
    return St.INVALID_FIELD; // out of order, or a short piece that was not the last
  }
  const data = c.dataIn(x, len);
  if (typeof data === 'number') return data;
  if (off < FW_HEADER_BYTES) fw.header.set(data.subarray(0, Math.min(len, FW_HEADER_BYTES - off)), off);
  fw.staged = off + len;
  return St.SUCCESS;
}

/** Takes the staged image if it is valid: its slot record, or a status. */
function takeImage(fw: FirmwareState): FirmwareSlot | number {
  const ok = fw.staged >= FW_HEADER_BYTES && new DataView(fw.header.buffer).getUint32(0, true) === FW_MAGIC;
  const image = ok ? { revision: String.fromCharCode(...fw.header.subarray(4, 12)).replace(/[\0 ]+$/, ''), activation: fw.header[12]! & 3 } : null;
  fw.staged = 0;
  fw.header.fill(0);
  return image ?? St.INVALID_FW_IMAGE;
}

/**
 * 10h Firmware Commit. CDW10: FS 2:0, CA 5:3, BPID 31. Slot 1 is read-only; FS 0 lets the controller
 * pick a writable slot for a replace. Success for CA 001b/010b carries the reset the image needs
 * (0Bh conventional, 10h NVM subsystem); CA 011b activates at once, or answers 11h (activates at the next
 * Controller Level Reset instead), 12h (would exceed MTFA) or 13h (a downgrade is prohibited).
 * Boot partitions (CA 110b/111b) are not supported (CAP.BPS = 0): Invalid Field, as for reserved 100b/101b.
 */
export function firmwareCommit(c: ControllerState, x: AdminContext): number {
  const fs = x.sqe.cdw10 & 7;
  const ca = (x.sqe.cdw10 >>> 3) & 7;
  if (ca > CommitAction.REPLACE_ACTIVATE_NOW) {
    x.errLoc = 40 | (3 << 8);
    return St.INVALID_FIELD;
  }
  const fw = state(c);
  const replaces = ca === CommitAction.REPLACE || ca === CommitAction.REPLACE_ACTIVATE_ON_RESET
    || (ca === CommitAction.REPLACE_ACTIVATE_NOW && fw.staged > 0);
  let slot = fs;
  if (slot > FW_SLOTS || (replaces && slot === 1) || (!replaces && slot === 0)) {
    x.errLoc = 40;
    return St.INVALID_FW_SLOT;
  }
  if (replaces) {
    if (slot === 0) slot = pickSlot(fw);
    const image = takeImage(fw);
    if (typeof image === 'number') return image;
    fw.slots[slot] = image;
    if (ca === CommitAction.REPLACE) return St.SUCCESS;
  }
  const image = fw.slots[slot];
  if (image === null || image === undefined) return St.INVALID_FW_IMAGE;
  if (ca !== CommitAction.REPLACE_ACTIVATE_NOW) {
    fw.next = slot;
    fw.nextNeeds = image.activation;
    if (image.activation === Activation.CONVENTIONAL) return St.FW_NEEDS_CONVENTIONAL_RESET;
    if (image.activation === Activation.SUBSYSTEM) return St.FW_NEEDS_SUBSYSTEM_RESET;
    return St.SUCCESS;
  }
  if (image.revision < activeFirmwareRevision(c)) return St.FW_ACTIVATION_PROHIBITED;
  if (image.activation === Activation.EXCEEDS_MTFA) return St.FW_NEEDS_MAX_TIME_VIOLATION;
  if (image.activation !== Activation.ANY_RESET) {
    fw.next = slot;
    fw.nextNeeds = Activation.ANY_RESET;
    return St.FW_NEEDS_CONTROLLER_RESET;
  }
  if ((asyncEventConfig(c) & OAES_FW_ACTIVATION) !== 0) c.raiseEvent(AerType.NOTICE, 0x01, 0x03); // Firmware Activation Starting
  fw.activate(slot);
  return St.SUCCESS;
}

/** FS 0 on a replace: an empty writable slot, else the first writable slot that is not running (FW_SLOTS >= 3). */
function pickSlot(fw: FirmwareState): number {
  for (let s = 2; s <= FW_SLOTS; s++) if (fw.slots[s] === null) return s;
  return fw.active === 2 ? 3 : 2;
}

/** Log 03h Firmware Slot Information (512 bytes): AFI, then FRS1..FRS7 at 8 + 8(n-1). */
export function firmwareSlotLog(c: ControllerState, u8: Uint8Array): void {
  const fw = c.fw;
  u8[0] = (fw === null ? 1 : fw.active) | ((fw === null ? 0 : fw.next) << 4);
  for (let s = 1; s <= FW_SLOTS; s++) {
    const slot = fw === null ? (s === 1 ? { revision: FACTORY_FW_REVISION } : null) : fw.slots[s];
    if (slot === null || slot === undefined) continue;
    for (let i = 0; i < 8; i++) u8[8 * s + i] = i < slot.revision.length ? slot.revision.charCodeAt(i) & 0x7f : 0x20;
  }
}
