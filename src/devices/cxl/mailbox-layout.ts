/**
 * CXL mailbox register block (CXL r3.1 8.2.8.4), as held in the shard's device arena.
 * Offsets are from the mailbox capability base; registers are little-endian.
 *
 *   00h  Capabilities (32-bit)  [4:0] payload size n (2^n bytes, 8..20), [5] doorbell IRQ capable,
 *                               [6] background-complete IRQ capable, [10:7] IRQ message number,
 *                               [18:11] mailbox ready time, [22:19] type
 *   04h  Control (32-bit)       [0] Doorbell: host sets after writing command+payload, device clears when done
 *                               (or once a background operation has started); [1] doorbell IRQ, [2] bg IRQ
 *   08h  Command (64-bit)       [15:0] opcode, [36:16] payload length (input from host, output from device)
 *   10h  Status (64-bit)        [0] background operation running, [47:32] return code, [63:48] vendor status
 *   18h  Background Command Status (64-bit) [15:0] opcode, [22:16] percent complete, [47:32] rc, [63:48] vendor
 *   20h  Command Payload registers (2^n bytes)
 */
export const MBOX_CAPS = 0x00;
export const MBOX_CTRL = 0x04;
export const MBOX_CMD = 0x08;
export const MBOX_STATUS = 0x10;
export const MBOX_BG_STATUS = 0x18;
export const MBOX_PAYLOAD = 0x20;
export const MBOX_REGS_BYTES = 0x20;

export const CTRL_DOORBELL = 1 << 0;

export const MIN_MAILBOX_BYTES = 256;
export const MAX_MAILBOX_BYTES = 1 << 20;

/** Bytes one mailbox needs in the arena. Blocks of 4 KiB payloads and up start on a page boundary so a small
 *  command touches one page (RSS matters with 100,000 devices). */
export function mailboxBlockBytes(payloadBytes: number): number {
  const raw = MBOX_REGS_BYTES + payloadBytes;
  return payloadBytes >= 4096 ? Math.ceil(raw / 4096) * 4096 : Math.ceil(raw / 64) * 64;
}

export function mailboxBlockAlign(payloadBytes: number): number {
  return payloadBytes >= 4096 ? 4096 : 64;
}
