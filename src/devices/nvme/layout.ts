/**
 * One emulated NVMe controller in the shard's device arena (NVMe Base 2.0 3.1.3 controller registers,
 * with the admin queues, the data buffer and the I/O queues in the "host memory" that follows).
 *
 *   0000h  controller registers: CAP 00h (64), VS 08h, INTMS 0Ch, INTMC 10h, CC 14h, CSTS 1Ch, NSSR 20h,
 *          AQA 24h, ASQ 28h (64), ACQ 30h (64). ASQ/ACQ hold the queues' byte offsets within this block.
 *   1000h  doorbells, CAP.DSTRD = 0 (stride 4 bytes): SQyTDBL at 1000h + 8y, CQyHDBL at 1004h + 8y, for
 *          y = 0 (admin) .. MAX_IO_QUEUES (1000h .. 1207h)
 *   2000h  admin submission queue, depth x 64-byte entries (ASQ: page aligned, as the spec requires)
 *   ....   admin completion queue, depth x 16-byte entries (ACQ: page aligned)
 *   ....   PRP list page (4 KiB): the host driver's list for transfers that span more than two pages
 *   ....   data buffer (4 KiB aligned), maxTransferBytes: PRP1 of every data command points here (and MPTR,
 *          after the data, for separate metadata)
 *   ....   I/O queue memory, NVME_IO_QUEUE_BYTES: the host driver places each I/O SQ and CQ it creates in
 *          whole pages of it (Create I/O SQ/CQ PRP1)
 *
 * Addresses in this "host memory" (PRP entries, MPTR, ASQ, ACQ, queue bases) are byte offsets from the start
 * of the block.
 */
export const NVME_REG_CAP = 0x00;
export const NVME_REG_VS = 0x08;
export const NVME_REG_INTMS = 0x0c;
export const NVME_REG_INTMC = 0x10;
export const NVME_REG_CC = 0x14;
export const NVME_REG_CSTS = 0x1c;
export const NVME_REG_NSSR = 0x20;
export const NVME_REG_AQA = 0x24;
export const NVME_REG_ASQ = 0x28;
export const NVME_REG_ACQ = 0x30;
export const NVME_SQ0TDBL = 0x1000;
export const NVME_CQ0HDBL = 0x1004;
/** SQyTDBL: 1000h + (2y x (4 << CAP.DSTRD)), DSTRD = 0 (NVMe Base 2.0 3.1.3.23) */
export const sqTailDoorbell = (qid: number): number => NVME_SQ0TDBL + 8 * qid;
/** CQyHDBL: 1000h + ((2y + 1) x (4 << CAP.DSTRD)) */
export const cqHeadDoorbell = (qid: number): number => NVME_CQ0HDBL + 8 * qid;
export const NVME_HOST_MEMORY = 0x2000;
export const SQE_BYTES = 64;
export const CQE_BYTES = 16;

/**
 * A DataView over one queue entry (`size` bytes at `offset`), for the SQE and CQE codecs; a buffer too short
 * for it throws RangeError naming the caller and the entry, so no codec reads or writes past its slot.
 */
export function queueEntryView(bytes: Uint8Array, offset: number, size: number, entry: string, what: string): DataView {
  if (!Number.isInteger(offset) || offset < 0 || offset + size > bytes.byteLength) {
    throw new RangeError(`${what}: a ${entry} needs ${size} bytes at offset ${offset}, the buffer has ${bytes.byteLength}`);
  }
  return new DataView(bytes.buffer, bytes.byteOffset + offset, size);
}

/** Memory page size: CC.MPS = 0 (CAP.MPSMIN = CAP.MPSMAX = 0), so 4 KiB. */
export const NVME_PAGE_BYTES = 4096;

/**
 * Host memory for I/O queues per controller: 128 pages, room for 64 queue pairs of up to 64-entry SQs and
 * 256-entry CQs, or four pairs at the largest size the controller takes (MQES + 1 = 1024 entries: a 64 KiB SQ
 * and a 16 KiB CQ). Pages nobody touches are never committed.
 */
export const NVME_IO_QUEUE_BYTES = 512 * 1024;

export interface NvmeBlockLayout {
  sq: number;
  cq: number;
  /** the host's PRP list page */
  prpList: number;
  data: number;
  /** data buffer bytes (maxTransferBytes rounded up to whole pages) */
  dataBytes: number;
  /** I/O queue memory (page aligned), ioQueueBytes long */
  ioQueues: number;
  ioQueueBytes: number;
  bytes: number;
}

const pageAlign = (n: number): number => Math.ceil(n / NVME_PAGE_BYTES) * NVME_PAGE_BYTES;

export function nvmeBlockLayout(queueDepth: number, maxTransferBytes: number): NvmeBlockLayout {
  const sq = NVME_HOST_MEMORY;
  const cq = pageAlign(sq + queueDepth * SQE_BYTES);
  const prpList = pageAlign(cq + queueDepth * CQE_BYTES);
  const data = prpList + NVME_PAGE_BYTES;
  const dataBytes = pageAlign(maxTransferBytes);
  const ioQueues = data + dataBytes;
  const ioQueueBytes = NVME_IO_QUEUE_BYTES;
  const bytes = ioQueues + ioQueueBytes;
  return { sq, cq, prpList, data, dataBytes, ioQueues, ioQueueBytes, bytes };
}
