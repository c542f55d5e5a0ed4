import { INTERRUPT_VECTORS } from './constants.js';
import type { AdminContext, ControllerState } from './controller-state.js';
import { queuesAllocated } from './features.js';
import { CQE_BYTES, NVME_PAGE_BYTES, SQE_BYTES } from './layout.js';
import { Cap } from './queues.js';
import { St } from './status.js';

/**
 * I/O queue management (NVMe Base 2.0 5.3 - 5.6), the commands an I/O controller on memory-based queues
 * must have. The queues are created in host memory the host names in PRP1 and run on the same ring code as
 * the admin pair (queues.ts).
 *
 *   05h Create I/O Completion Queue  CDW10 QID 15:0, QSIZE 31:16 (0's based); CDW11 PC 0, IEN 1, IV 31:16
 *   01h Create I/O Submission Queue  CDW10 QID 15:0, QSIZE 31:16; CDW11 PC 0, QPRIO 2:1, CQID 31:16
 *   04h Delete I/O Completion Queue  CDW10 QID 15:0
 *   00h Delete I/O Submission Queue  CDW10 QID 15:0
 *
 * A queue ID is valid from 1 to the number of queues allocated (Number of Queues feature, NSQA / NCQA + 1);
 * one in use, 0, or beyond that is Invalid Queue Identifier. A queue holds 2 to MQES + 1 entries (Invalid
 * Queue Size). An SQ names an existing I/O CQ (else Completion Queue Invalid): the CQ comes first, and cannot
 * be deleted while an SQ posts to it (Invalid Queue Deletion). CAP.CQR = 1: PC = 0 is Invalid Field; PRP1 must
 * be page aligned (PRP Offset Invalid) and lie in host memory (Invalid Field). QPRIO only matters with
 * weighted round robin arbitration, which this controller does not offer (CAP.AMS = 0): it is ignored.
 * Checks run in this order: (SQ: the CQ,) the queue ID, the size, PRP1, PC, (CQ: the interrupt vector).
 */

const MAX_ENTRIES = Cap.MQES + 1;

/** QSIZE and the queue's base address; a status, or null when they are good. */
function queueMemory(c: ControllerState, x: AdminContext, entries: number, entryBytes: number): number | null {
  if (entries < 2 || entries > MAX_ENTRIES) {
    x.errLoc = 42; // CDW10 bytes 3:2, QSIZE
    return St.INVALID_QUEUE_SIZE;
  }
  const prp1 = x.sqe.prp1;
  if (prp1 % BigInt(NVME_PAGE_BYTES) !== 0n) {
    x.errLoc = 24;
    return St.PRP_OFFSET_INVALID;
  }
  if (!c.region.inHost(prp1, entries * entryBytes)) {
    x.errLoc = 24;
    return St.INVALID_FIELD;
  }
  if ((x.sqe.cdw11 & 1) === 0) {
    x.errLoc = 44; // PC: physically contiguous queues are required
    return St.INVALID_FIELD;
  }
  return null;
}

/** 05h Create I/O Completion Queue. */
export function createIoCq(c: ControllerState, x: AdminContext): number {
  const { cdw10, cdw11 } = x.sqe;
  const qid = cdw10 & 0xffff;
  const entries = (cdw10 >>> 16) + 1;
  const ncqa = (queuesAllocated(c) >>> 16) + 1;
  if (qid === 0 || qid > ncqa || c.q.cqs[qid] !== undefined) {
    x.errLoc = 40;
    return St.INVALID_QUEUE_IDENTIFIER;
  }
  const bad = queueMemory(c, x, entries, CQE_BYTES);
  if (bad !== null) return bad;
  const iv = cdw11 >>> 16;
  if (iv >= INTERRUPT_VECTORS) {
    x.errLoc = 46;
    return St.INVALID_INTERRUPT_VECTOR;
  }
  c.q.createCq(qid, Number(x.sqe.prp1), entries, iv, ((cdw11 >>> 1) & 1) === 1);
  return St.SUCCESS;
}

/** 01h Create I/O Submission Queue. */
export function createIoSq(c: ControllerState, x: AdminContext): number {
  const { cdw10, cdw11 } = x.sqe;
  const qid = cdw10 & 0xffff;
  const entries = (cdw10 >>> 16) + 1;
  const cqid = cdw11 >>> 16;
  if (cqid === 0 || c.q.cqs[cqid] === undefined) {
    x.errLoc = 46; // CDW11 bytes 3:2, CQID
    return St.COMPLETION_QUEUE_INVALID;
  }
  const nsqa = (queuesAllocated(c) & 0xffff) + 1;
  if (qid === 0 || qid > nsqa || c.q.sqs[qid] !== undefined) {
    x.errLoc = 40;
    return St.INVALID_QUEUE_IDENTIFIER;
  }
  const bad = queueMemory(c, x, entries, SQE_BYTES);
  if (bad !== null) return bad;
  c.q.createSq(qid, Number(x.sqe.prp1), entries, cqid);
  return St.SUCCESS;
}

/**
 * 00h Delete I/O Submission Queue. Every command of the SQ the controller still holds (executing, or queued
 * and not fetched) completes first, on the SQ's CQ, with Command Aborted due to SQ Deletion; Aborts waiting
 * for a command of this SQ complete "not aborted". Then the SQ is gone and the Delete completes.
 */
export function deleteIoSq(c: ControllerState, x: AdminContext): number {
  const qid = x.sqe.cdw10 & 0xffff;
  const sq = qid === 0 ? undefined : c.q.sqs[qid];
  if (sq === undefined) {
    x.errLoc = 40;
    return St.INVALID_QUEUE_IDENTIFIER;
  }
  const e = sq.executing;
  if (e !== null) {
    sq.executing = null;
    c.complete(sq, e.sqe, 0, 0, St.ABORTED_SQ_DELETION);
  }
  while (sq.hasCommand()) c.complete(sq, sq.fetch(), 0, 0, St.ABORTED_SQ_DELETION);
  c.releaseAborts(qid);
  c.q.deleteSq(sq);
  return St.SUCCESS;
}

/** 04h Delete I/O Completion Queue: only once no SQ posts to it. */
export function deleteIoCq(c: ControllerState, x: AdminContext): number {
  const qid = x.sqe.cdw10 & 0xffff;
  const cq = qid === 0 ? undefined : c.q.cqs[qid];
  if (cq === undefined) {
    x.errLoc = 40;
    return St.INVALID_QUEUE_IDENTIFIER;
  }
  if (cq.sqs > 0) return St.INVALID_QUEUE_DELETION;
  c.q.deleteCq(cq);
  return St.SUCCESS;
}
