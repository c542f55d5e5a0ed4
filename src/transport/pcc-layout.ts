/**
 * ACPI PCC extended subspaces (ACPI 6.5 14.1.6, types 3 initiator and 4 responder) as held in the shard's
 * device arena, one pair per MCTP endpoint. Each subspace block:
 *
 *   00h  doorbell register (32-bit): the sender writes 1 to ring, the receiver writes 0 when it took the message
 *   04h  command complete register (32-bit): bit 0 command complete, bit 1 SCI doorbell, bit 2 error,
 *        bit 3 platform notification (the status bits of the generic communication channel)
 *   08h  reserved (8 bytes)
 *   10h  shared memory region: signature (le32 0x50434300 | subspace id), flags (le32, bit 0 notify on
 *        completion), length (le32: bytes of command + data), command (le32), then data (MCTP packet)
 */
export const PCC_DOORBELL = 0x00;
export const PCC_COMPLETE = 0x04;
export const PCC_SHMEM = 0x10;
export const PCC_SIGNATURE = 0x10;
export const PCC_FLAGS = 0x14;
export const PCC_LENGTH = 0x18;
export const PCC_COMMAND = 0x1c;
export const PCC_DATA = 0x20;

export const PCC_STATUS_COMPLETE = 1 << 0;
export const PCC_STATUS_SCI_DOORBELL = 1 << 1;
export const PCC_STATUS_ERROR = 1 << 2;
export const PCC_STATUS_PLATFORM_NOTIFY = 1 << 3;

export const PCC_SIGNATURE_BASE = 0x50434300;
/** MCTP over PCC puts the ASCII bytes "MCTP" in the command field (DSP0292). */
export const PCC_COMMAND_MCTP = 0x5054434d;

/** MCTP packet header bytes. */
export const MCTP_HEADER_BYTES = 4;

export function pccSubspaceBytes(mtu: number): number {
  return Math.ceil((PCC_DATA + MCTP_HEADER_BYTES + mtu) / 64) * 64;
}

/** Both subspaces of one endpoint: initiator (host -> device) at 0, responder (device -> host) after it. */
export function pccBlockBytes(mtu: number): number {
  return 2 * pccSubspaceBytes(mtu);
}
