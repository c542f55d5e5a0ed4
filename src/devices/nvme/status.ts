/**
 * NVMe completion status, in the "status field" form used throughout mbxmux: the CQE DW3 upper halfword
 * shifted right by one, so the phase tag is gone (NVMe Base 2.0 4.2.3):
 *
 *   bits 7:0 SC (status code), 10:8 SCT (status code type), 12:11 CRD, 13 M (more), 14 DNR (do not retry)
 *
 * Linux, QEMU, libnvme and nvme-cli use this same pre-shifted form, so their constants read the same. On the
 * wire (CQE bytes 14-15) the halfword is `status << 1 | phase`: see cqe.ts.
 */

export const Sct = {
  GENERIC: 0,
  COMMAND_SPECIFIC: 1,
  MEDIA: 2,
  PATH: 3,
  VENDOR: 7,
} as const;

export const STATUS_DNR = 1 << 14;
export const STATUS_MORE = 1 << 13;
/** CRD, bits 12:11 */
export const STATUS_CRD_SHIFT = 11;

/** Builds a status field. */
export function nvmeStatus(sct: number, sc: number, dnr: boolean): number {
  return ((sct & 7) << 8) | (sc & 0xff) | (dnr ? STATUS_DNR : 0);
}

export const statusSc = (st: number): number => st & 0xff;
export const statusSct = (st: number): number => (st >> 8) & 7;
export const statusDnr = (st: number): boolean => (st & STATUS_DNR) !== 0;
export const statusMore = (st: number): boolean => (st & STATUS_MORE) !== 0;
export const statusCrd = (st: number): number => (st >> STATUS_CRD_SHIFT) & 3;

const G = Sct.GENERIC;
const C = Sct.COMMAND_SPECIFIC;
const M = Sct.MEDIA;

/**
 * The statuses this controller returns, DNR included where the emulator sets it. Retryable conditions
 * (Sanitize In Progress, Command Interrupted, Abort Requested) and the "commit succeeded, activation needs a
 * reset" codes (which hosts treat as success: nvme-cli masks them and prints a reset hint) have DNR = 0.
 */
export const St = {
  SUCCESS: 0,
  // SCT 0, generic
  INVALID_OPCODE: nvmeStatus(G, 0x01, true),
  INVALID_FIELD: nvmeStatus(G, 0x02, true),
  DATA_TRANSFER_ERROR: nvmeStatus(G, 0x04, false),
  INTERNAL_ERROR: nvmeStatus(G, 0x06, false),
  ABORT_REQUESTED: nvmeStatus(G, 0x07, false),
  /** the command was in an SQ that a Delete I/O Submission Queue removed */
  ABORTED_SQ_DELETION: nvmeStatus(G, 0x08, false),
  INVALID_NAMESPACE: nvmeStatus(G, 0x0b, true),
  COMMAND_SEQUENCE_ERROR: nvmeStatus(G, 0x0c, true),
  PRP_OFFSET_INVALID: nvmeStatus(G, 0x13, true),
  SANITIZE_IN_PROGRESS: nvmeStatus(G, 0x1d, false),
  /** NVMe 1.4+: "command processing was interrupted ... the host should retry": the busy-fault answer */
  COMMAND_INTERRUPTED: nvmeStatus(G, 0x21, false),
  // SCT 0, NVM command set (80h-BFh)
  LBA_OUT_OF_RANGE: nvmeStatus(G, 0x80, true),
  /** more blocks than NCAP would be allocated (a thin-provisioned namespace) */
  CAPACITY_EXCEEDED: nvmeStatus(G, 0x81, true),
  // SCT 1, command specific
  COMPLETION_QUEUE_INVALID: nvmeStatus(C, 0x00, true),
  INVALID_QUEUE_IDENTIFIER: nvmeStatus(C, 0x01, true),
  INVALID_QUEUE_SIZE: nvmeStatus(C, 0x02, true),
  ABORT_COMMAND_LIMIT_EXCEEDED: nvmeStatus(C, 0x03, true),
  AER_LIMIT_EXCEEDED: nvmeStatus(C, 0x05, true),
  INVALID_FW_SLOT: nvmeStatus(C, 0x06, true),
  INVALID_FW_IMAGE: nvmeStatus(C, 0x07, true),
  INVALID_INTERRUPT_VECTOR: nvmeStatus(C, 0x08, true),
  INVALID_LOG_PAGE: nvmeStatus(C, 0x09, true),
  INVALID_FORMAT: nvmeStatus(C, 0x0a, true),
  FW_NEEDS_CONVENTIONAL_RESET: nvmeStatus(C, 0x0b, false),
  INVALID_QUEUE_DELETION: nvmeStatus(C, 0x0c, true),
  FEATURE_NOT_SAVEABLE: nvmeStatus(C, 0x0d, true),
  FEATURE_NOT_CHANGEABLE: nvmeStatus(C, 0x0e, true),
  FEATURE_NOT_NS_SPECIFIC: nvmeStatus(C, 0x0f, true),
  FW_NEEDS_SUBSYSTEM_RESET: nvmeStatus(C, 0x10, false),
  FW_NEEDS_CONTROLLER_RESET: nvmeStatus(C, 0x11, false),
  FW_NEEDS_MAX_TIME_VIOLATION: nvmeStatus(C, 0x12, true),
  FW_ACTIVATION_PROHIBITED: nvmeStatus(C, 0x13, true),
  OVERLAPPING_RANGE: nvmeStatus(C, 0x14, true),
  // SCT 1, NVM command set
  INVALID_PROTECTION_INFO: nvmeStatus(C, 0x81, true),
  // SCT 2, media and data integrity (NVM command set)
  GUARD_CHECK_ERROR: nvmeStatus(M, 0x82, true),
  APP_TAG_CHECK_ERROR: nvmeStatus(M, 0x83, true),
  REF_TAG_CHECK_ERROR: nvmeStatus(M, 0x84, true),
} as const;

/** True for a status the host treats as success: SC/SCT 0, or a Firmware Commit "activation needs a reset". */
export function statusIsSuccess(st: number): boolean {
  const code = st & 0x7ff;
  return code === 0 || code === (St.FW_NEEDS_CONVENTIONAL_RESET & 0x7ff) || code === (St.FW_NEEDS_SUBSYSTEM_RESET & 0x7ff)
    || code === (St.FW_NEEDS_CONTROLLER_RESET & 0x7ff);
}

const NAMES = new Map<number, string>(Object.entries(St).map(([k, v]) => [v & 0x7ff, k]));

/** 'INVALID_FIELD (SCT 0h SC 02h, DNR)' for logs and error messages. */
export function describeStatus(st: number): string {
  const name = NAMES.get(st & 0x7ff) ?? 'UNKNOWN';
  const flags = [statusDnr(st) ? 'DNR' : '', statusMore(st) ? 'M' : '', statusCrd(st) ? `CRD${statusCrd(st)}` : ''].filter(Boolean);
  return `${name} (SCT ${statusSct(st).toString(16)}h SC ${statusSc(st).toString(16).padStart(2, '0')}h${flags.length ? ', ' + flags.join(', ') : ''})`;
}
