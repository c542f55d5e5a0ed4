import { BadRequestError, ProtocolError } from '../../errors.js';
import { decodeCqe } from './cqe.js';
import { CQE_BYTES, SQE_BYTES } from './layout.js';
import { encodeSqe } from './sqe.js';
import { acceptsHostData, NVME_IO_OPCODE_BASE, NvmeArg0 } from './transfer.js';

/**
 * Main-thread side of the NVMe device kind: request encoding for the submission ring and decoding of what
 * the worker's NvmeEndpoint answers.
 *
 * Ring request payload: a 64-byte SQE (opcode, NSID, CDW10-15, the caller's CID if given; PRPs and MPTR
 * left 0 for the worker's host driver to fill) followed by the host-to-controller data. Descriptor OPCODE
 * = the admin opcode, or 100h + the I/O opcode for a request to an I/O queue; ARG0 = the queue (SQ id) and
 * the "own CID" bit (transfer.ts). Completion payload: the 16 CQE bytes, then the data the controller
 * transferred (controller-to-host commands that succeeded). Descriptor ARG0 = the status field, as in `rc`.
 */
/** The NVMe fields of a request: queue, namespace id, command dwords 10-15 and host-to-controller data. */
export interface NvmeCommandFields {
  /**
   * The submission queue: 0 (default) the admin queue, opcode = an admin opcode; 1 and up an I/O queue the
   * controller has (created with Create I/O Completion Queue 05h and Create I/O Submission Queue 01h), opcode
   * = an NVM command set I/O opcode (00h Flush, 01h Write, 02h Read, 08h Write Zeroes, 09h Dataset Mgmt)
   */
  queue?: number;
  /** command identifier to use (default: the host driver picks a free one); it must not be in use on that queue */
  cid?: number;
  nsid?: number;
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
  cdw13?: number;
  cdw14?: number;
  cdw15?: number;
  /**
   * host-to-controller data (Firmware Image Download, Write, Dataset Management ranges, vendor commands that
   * take data). For a Write to a namespace whose metadata is in a separate buffer (FLBAS MSET = 0): the data
   * blocks, then the metadata of every block; a Read answers the same way.
   */
  data?: Uint8Array;
}

export interface NvmeRequest extends NvmeCommandFields {
  opcode: number;
}

export interface NvmeCompletion {
  /**
   * The CQE status field without the phase tag: SC 7:0, SCT 10:8, CRD 12:11, M 13, DNR 14 (CQE bytes 14-15
   * shifted right by one). 0 = success; see status.ts for names.
   */
  rc: number;
  /** the 16 raw CQE bytes */
  cqe: Uint8Array;
  /** data the controller transferred to the host (e.g. 4096 bytes for Identify); empty if none */
  payload: Uint8Array;
}

/**
 * Asynchronous Event Request (NVMe Base 2.0 5.2): the controller answers it only when an event occurs, so it
 * may stay outstanding indefinitely. The mux gives such long-lived commands slots of their own.
 */
export const ASYNC_EVENT_REQUEST = 0x0c;

/** True for admin commands that stay outstanding until the device has something to say. */
export function isLongLivedNvme(opcode: number): boolean {
  return opcode === ASYNC_EVENT_REQUEST;
}

const DWORDS = ['nsid', 'cdw10', 'cdw11', 'cdw12', 'cdw13', 'cdw14', 'cdw15'] as const;

/** A value for an error message; never throws (BigInt, symbols, cycles). */
function show(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object' && v !== null) return Object.prototype.toString.call(v);
  return String(v);
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(2, '0');
}

function u16(v: unknown, field: string): number {
  if (v === undefined) return -1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) {
    throw new BadRequestError(`NVMe ${field} must be an integer from 0 to 65535 (got ${show(v)})`, { field, value: v });
  }
  return v;
}

/**
 * Descriptor OPCODE and ARG0 of a (validated) request: the admin opcode and SQ 0, or 100h + the I/O opcode
 * and the I/O queue; bit 16 of ARG0 says the SQE carries the caller's CID.
 */
export function nvmeRingFields(req: NvmeRequest): { opcode: number; a0: number } {
  const queue = req.queue ?? 0;
  return {
    opcode: queue === 0 ? req.opcode : NVME_IO_OPCODE_BASE | req.opcode,
    a0: queue | (req.cid === undefined ? 0 : NvmeArg0.OWN_CID),
  };
}

/** Validates a request and builds its ring payload. Throws BadRequestError naming the field at fault. */
export function encodeNvmeRequest(req: NvmeRequest, maxTransferBytes: number): Uint8Array {
  if (typeof req !== 'object' || req === null) throw new BadRequestError('an NVMe request is an object: { opcode, queue?, cid?, nsid?, cdw10?..cdw15?, data? }');
  const op = req.opcode;
  if (typeof op !== 'number' || !Number.isInteger(op) || op < 0 || op > 0xff) {
    throw new BadRequestError(`NVMe opcode must be an integer from 0 to 255 (got ${show(op)})`, { field: 'opcode', value: op });
  }
  u16(req.queue, 'queue');
  const cid = u16(req.cid, 'cid');
  for (const k of DWORDS) {
    const v = req[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new BadRequestError(`NVMe ${k} must be an integer from 0 to 0xFFFFFFFF (got ${show(v)})`, { field: k, value: v });
    }
  }
  const data = req.data;
  if (data !== undefined && !(data instanceof Uint8Array)) throw new BadRequestError('NVMe data must be a Uint8Array (or Buffer)', { field: 'data' });
  const len = data === undefined ? 0 : data.byteLength;
  if (len > 0) {
    if (!acceptsHostData(op)) {
      throw new BadRequestError(`NVMe opcode ${hex(op)} transfers no data from the host (opcode bits 1:0 = ${(op & 3).toString(2).padStart(2, '0')}b); drop data`,
        { field: 'data', opcode: op });
    }
    if (len % 4 !== 0) throw new BadRequestError(`NVMe data must be whole dwords: ${len} bytes is not a multiple of 4`, { field: 'data', length: len });
    if (len > maxTransferBytes) {
      throw new BadRequestError(`NVMe data of ${len} bytes exceeds the device's maximum transfer of ${maxTransferBytes} bytes`,
        { field: 'data', length: len, limit: maxTransferBytes });
    }
  }
  const out = new Uint8Array(SQE_BYTES + len);
  encodeSqe({
    opcode: op, cid: Math.max(cid, 0), nsid: req.nsid ?? 0, cdw10: req.cdw10 ?? 0, cdw11: req.cdw11 ?? 0, cdw12: req.cdw12 ?? 0,
    cdw13: req.cdw13 ?? 0, cdw14: req.cdw14 ?? 0, cdw15: req.cdw15 ?? 0,
  }, out, 0);
  if (len > 0) out.set(data!, SQE_BYTES);
  return out;
}

/** Splits a completion payload into status, CQE and data (views into `payload`, no copies). */
export function decodeNvmeCompletion(payload: Uint8Array): NvmeCompletion {
  if (!(payload instanceof Uint8Array) || payload.byteLength < CQE_BYTES) {
    throw new ProtocolError(`an NVMe completion payload starts with a 16-byte CQE; got ${payload instanceof Uint8Array ? payload.byteLength : typeof payload} bytes`);
  }
  const cqe = payload.subarray(0, CQE_BYTES);
  return { rc: decodeCqe(cqe).status, cqe, payload: payload.subarray(CQE_BYTES) };
}
