import { DataDir, dataDirection, getLogBytes } from './sqe.js';

/**
 * How an NVMe request travels in a ring descriptor (SharedBuffers.md): OPCODE is the admin opcode (00h-FFh),
 * or 100h + the I/O opcode for a command on an I/O queue, which is also that command's index in the
 * Commands Supported and Effects log (ACS 0-255, IOCS 256-511) and so the index the permission policy uses;
 * ARG0 carries the SQ id in 15:0 and, in bit 16, "the SQE's CID is the caller's" (else the host driver
 * picks one).
 */
export const NVME_IO_OPCODE_BASE = 0x100;
export const NvmeArg0 = { SQID_MASK: 0xffff, OWN_CID: 1 << 16 } as const;

/**
 * How many bytes the host driver's data buffer must describe (PRP1/PRP2) for a command, as a host driver
 * knows it from the command itself (Linux passthrough callers pass it as data_len):
 * - host to controller (opcode bits 1:0 = 01b): the data the caller gave, or what the command says it
 *   transfers if that is longer (Firmware Image Download NUMD, vendor NDT): the controller reads that many;
 * - controller to host (10b): Identify 4096; Get Log Page (NUMD + 1) x 4; vendor commands NDT x 4
 *   (Identify AVSCC = 1); Get Features 0 (no feature implemented here uses a data buffer);
 * - no data (00b): 0.
 * The result is clamped to the buffer; the controller itself refuses transfers beyond MDTS.
 */
export function hostTransferBytes(opcode: number, cdw10: number, cdw11: number, dataBytes: number, bufferBytes: number): number {
  const dir = dataDirection(opcode);
  let n = 0;
  if (dir === DataDir.CONTROLLER_TO_HOST || dir === DataDir.BIDIRECTIONAL) {
    if (opcode === 0x06) n = 4096;
    else if (opcode === 0x02) n = getLogBytes(cdw10, cdw11);
    else if (opcode >= 0xc0) n = (cdw10 >>> 0) * 4;
  }
  if (dir === DataDir.HOST_TO_CONTROLLER || dir === DataDir.BIDIRECTIONAL) {
    let expected = dataBytes;
    if (opcode === 0x11) expected = ((cdw10 >>> 0) + 1) * 4;
    else if (opcode >= 0xc0) expected = (cdw10 >>> 0) * 4;
    n = Math.max(n, dataBytes, expected);
  }
  return Math.min(n, bufferBytes);
}

/** True if the opcode's data direction lets the host send data with it. */
export const acceptsHostData = (opcode: number): boolean =>
  dataDirection(opcode) === DataDir.HOST_TO_CONTROLLER || dataDirection(opcode) === DataDir.BIDIRECTIONAL;

/** True if the opcode's data direction returns data to the host. */
export const returnsData = (opcode: number): boolean =>
  dataDirection(opcode) === DataDir.CONTROLLER_TO_HOST || dataDirection(opcode) === DataDir.BIDIRECTIONAL;
