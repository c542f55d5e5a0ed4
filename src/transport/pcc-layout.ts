/**
 * ACPI PCC extended subspaces (ACPI 6.2+ §14, type 3 "extended PCC initiator" and type 4 "extended PCC
 * responder") as held in the shard's device arena: one pair per MCTP endpoint (DSP0292 / Linux mctp-pcc:
 * the DMT0001 device's _CRS names an outbox, type 3, host -> platform, then an inbox, type 4,
 * platform -> host). Outbox block at the endpoint's memOffset, inbox block right after it.
 *
 * Extended subspaces have no status field in shared memory (the command-complete / SCI / error /
 * notify status bits belong to the generic type 0-2 layout). Completion and errors travel in registers
 * the PCCT entry points at with GAS structures. We model each register as one 32-bit word at the start of
 * the block, using bit 0 as its mask; each is written with Atomics.store after the plain stores of the
 * region (release) and read with Atomics.load before reading it (acquire). Block layout:
 *
 *   00h  Doorbell register. Type 3: OSPM sets bit 0 after writing the region; the platform clears it when
 *        it takes the frame. Type 4: OSPM sets it after consuming a frame whose flags b0 is set; the
 *        platform clears it when it sees it.
 *   04h  Command Complete register (the Check and Update registers are the same word here; mask bit 0).
 *        Type 3: 1 = done / channel free; OSPM clears it before ringing, the platform sets it when done.
 *        Type 4: 1 = OSPM consumed the last notification; the platform clears it when it posts one, OSPM
 *        sets it once it has read the frame.
 *   08h  Error Status register (type 3 only; bit 0). The platform sets it on a failed command; OSPM clears
 *        it (reg & ~mask) when reaping the completion.
 *   0Ch  Platform interrupt (level line + Ack register): the platform sets bit 0 when it raises the
 *        interrupt (type 3: completion with flags b0 set; type 4: notification posted); OSPM acks with 0.
 *   10h  Shared memory region ("communications channel", ACPI 14.3 extended layout):
 *          +00h le32 signature = 50434300h | subspace id (bytes: id, 43h, 43h, 50h)
 *          +04h le32 flags: b0 notify on completion (type 3) / ring doorbell after consuming (type 4)
 *          +08h le32 length = bytes of payload including the 4-byte command field
 *          +0Ch le32 command; MCTP over PCC: ASCII "MCTP" (bytes 4Dh 43h 54h 50h)
 *          +10h one MCTP packet (4-byte header + payload), exactly one per doorbell
 *        MCTP over PCC: length = packet length + 4; length >= 8; length <= region bytes - 12.
 */
export const PCC_DOORBELL = 0x00;
export const PCC_COMPLETE = 0x04;
export const PCC_ERROR = 0x08;
export const PCC_IRQ = 0x0c;
export const PCC_SHMEM = 0x10;
/** Absolute offsets (from the block start) of the shared memory fields. */
export const PCC_SIGNATURE = 0x10;
export const PCC_FLAGS = 0x14;
export const PCC_LENGTH = 0x18;
export const PCC_COMMAND = 0x1c;
export const PCC_DATA = 0x20;

/** Offsets inside the shared memory region (what a PCC frame codec sees). */
export const FRAME_SIGNATURE = 0x00;
export const FRAME_FLAGS = 0x04;
export const FRAME_LENGTH = 0x08;
export const FRAME_COMMAND = 0x0c;
export const FRAME_DATA = 0x10;
/** signature + flags + length + command */
export const PCC_FRAME_HEADER_BYTES = 0x10;

/** Bit 0 of each register word (doorbell write mask, complete check/update mask, error mask, ack mask). */
export const PCC_DOORBELL_BIT = 1 << 0;
export const PCC_COMPLETE_BIT = 1 << 0;
export const PCC_ERROR_BIT = 1 << 0;
export const PCC_IRQ_BIT = 1 << 0;

/** Shared-memory flags b0: type 3 notify on completion; type 4 ring the doorbell after consuming. */
export const PCC_FLAG_NOTIFY = 1 << 0;

export const PCC_SUBSPACE_INITIATOR = 3;
export const PCC_SUBSPACE_RESPONDER = 4;
export type PccSubspaceType = typeof PCC_SUBSPACE_INITIATOR | typeof PCC_SUBSPACE_RESPONDER;

export const PCC_SIGNATURE_BASE = 0x50434300;
/** MCTP over PCC puts the ASCII bytes "MCTP" in the command field (DSP0292): le32 5054434Dh. */
export const PCC_COMMAND_MCTP = 0x5054434d;
/** length field minimum for MCTP over PCC: command (4) + MCTP header (4) (Linux mctp-pcc RX check) */
export const PCC_MCTP_MIN_LENGTH = 8;
/** Linux rejects channels smaller than 16 + 68 bytes (68 = baseline MTU 64 + MCTP header). */
export const PCC_MCTP_MIN_REGION_BYTES = 84;

/** MCTP packet header bytes. */
export const MCTP_HEADER_BYTES = 4;

/**
 * Each emulated endpoint models its own platform whose PCCT holds two subspaces: the outbox (type 3) at
 * index 0 and the inbox (type 4) at index 1. The index is what the frame signature's low byte carries.
 */
export const MCTP_PCC_OUTBOX_ID = 0;
export const MCTP_PCC_INBOX_ID = 1;

/** Bytes of one subspace block (registers + region) for an MCTP transmission unit of `mtu` payload bytes. */
export function pccSubspaceBytes(mtu: number): number {
  return Math.ceil((PCC_DATA + MCTP_HEADER_BYTES + mtu) / 64) * 64;
}

/** Bytes of the shared memory region of one subspace block (block minus the register words). */
export function pccRegionBytes(mtu: number): number {
  return pccSubspaceBytes(mtu) - PCC_SHMEM;
}

/** Largest MCTP packet (header + payload) one frame of the region carries: region - 16. */
export function pccMaxPacketBytes(regionBytes: number): number {
  return regionBytes - PCC_FRAME_HEADER_BYTES;
}

/** Both subspaces of one endpoint: initiator (host -> device) at 0, responder (device -> host) after it. */
export function pccBlockBytes(mtu: number): number {
  return 2 * pccSubspaceBytes(mtu);
}

/** Offset of the inbox (type 4) block from the endpoint's block start. */
export function pccInboxOffset(mtu: number): number {
  return pccSubspaceBytes(mtu);
}
