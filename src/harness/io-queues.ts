import { MAX_IO_QUEUES } from '../devices/nvme/constants.js';
import { BadRequestError, PermissionError } from '../errors.js';
import type { CommandResult, SendRequest } from '../mux/types.js';
import { MIX_IO_QUEUE } from './mix.js';
import type { ExecutionSegment } from './segment.js';

/** Entries of the I/O queue pair a load run creates (at most 63 commands in flight per controller). */
const ENTRIES = 64;
/** Status field SCT 1h SC 01h, Invalid Queue Identifier: the queue exists already. */
const QUEUE_IN_USE = 0x101;

/**
 * The I/O queue a run's read / write items use: MIX_IO_QUEUE (1), or 1 + k for segment k of N. Generators that
 * run the segments of one test against the same controllers each create, use and delete their own queue: one
 * that finishes first takes down only its own, and each has its own 63 slots. A controller has MAX_IO_QUEUES
 * (64) I/O queues, so a mix with read or write runs in at most that many segments. Throws BadRequestError.
 */
export function ioQueueFor(segment: ExecutionSegment | undefined): number {
  if (segment === undefined) return MIX_IO_QUEUE;
  if (MIX_IO_QUEUE + segment.count - 1 > MAX_IO_QUEUES) {
    throw new BadRequestError(`segment ${segment.index}/${segment.count}: read / write give each segment its own NVMe I/O queue (1 + k), `
      + `and a controller has ${MAX_IO_QUEUES}: with read or write in the mix, run at most ${MAX_IO_QUEUES - MIX_IO_QUEUE + 1} segments (got ${segment.count})`);
  }
  return MIX_IO_QUEUE + segment.index;
}

/**
 * Creates I/O queue `qid` (CQ, then SQ, NVMe Base 2.0 5.4 / 5.5) on every controller a `read` or `write` mix
 * item runs on, with the load session itself, so its tier applies (queue creation needs debug-write). A queue
 * that already exists (a mux handed to runLoad may have it) is used as it is and left alone. Returns the
 * function that deletes what this created (SQ, then CQ), and nothing else: never a queue another run made.
 */
export async function openIoQueues(session: { send(req: SendRequest): Promise<CommandResult> }, tier: string, devices: readonly string[], qid: number): Promise<() => Promise<void>> {
  const made: { device: string; cq: boolean; sq: boolean }[] = [];
  const undo = async (): Promise<void> => {
    for (const m of made.reverse()) {
      if (m.sq) await session.send({ device: m.device, opcode: 0x00, cdw10: qid });
      if (m.cq) await session.send({ device: m.device, opcode: 0x04, cdw10: qid });
    }
  };
  const create = async (device: string, opcode: number, cdw11: number): Promise<boolean> => {
    let rc: number;
    try {
      rc = (await session.send({ device, opcode, cdw10: (qid | ((ENTRIES - 1) << 16)) >>> 0, cdw11 })).rc;
    } catch (e) {
      if (!(e instanceof PermissionError)) throw e;
      throw new BadRequestError(`the read and write mixes run on NVMe I/O queue ${qid}, which the load creates first: `
        + `creating it needs tier debug-write (write itself debug-write-full); the session has ${tier}. Pass --tier debug-write or higher`);
    }
    if ((rc & 0x7ff) === QUEUE_IN_USE) return false;
    if (rc !== 0) throw new BadRequestError(`${device} refused to create I/O queue ${qid} (status 0x${rc.toString(16)})`);
    return true;
  };
  try {
    for (const device of devices) {
      const m = { device, cq: false, sq: false };
      made.push(m);
      m.cq = await create(device, 0x05, 1); // PC (contiguous); no interrupts: the host polls
      m.sq = await create(device, 0x01, 1 | (qid << 16));
    }
  } catch (e) {
    await undo();
    throw e;
  }
  return undo;
}
