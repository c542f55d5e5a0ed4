import { Rc, rcName } from '../devices/cci/return-codes.js';
import { CancelledError, MbxError } from '../errors.js';
import type { Session } from '../mux/session.js';
import type { CommandResult, SendRequest } from '../mux/types.js';
import { opcodeHex } from './catalog.js';
import { decodeBackgroundStatus, decodeSanitizeStatus } from './decode/index.js';
import { SSTAT_IN_PROGRESS } from './decode/nvme-logs.js';
import { catalog, type CommandFamily, getLogCdw10 } from './families.js';

/**
 * Following a background operation to its end, as a host does: a CXL component answers Background Started
 * (01h) and reports progress through Background Operation Status (0002h, CXL r3.1 8.2.9.1.2); an NVMe
 * Sanitize completes once started and reports progress in the Sanitize Status log (81h, NVMe Base 2.0
 * 5.16.1.25). Every poll is an ordinary request through the caller's session, so the session's tier, host
 * and fabric-manager checks apply to it exactly as to any other command.
 */

export const NVME_SANITIZE = 0x84;
/** Sanitize CDW10 SANACT 001b Exit Failure Mode starts nothing */
const SANACT_EXIT_FAILURE = 1;

/** Did this answer start a background operation that a host would now follow? */
export function startedBackground(family: CommandFamily, opcode: number, cdw10: number | undefined, r: CommandResult): boolean {
  if (family === 'nvme') return opcode === NVME_SANITIZE && r.rc === 0 && ((cdw10 ?? 0) & 7) !== SANACT_EXIT_FAILURE;
  return family !== 'nvme-io' && r.rc === Rc.BACKGROUND_STARTED;
}

export interface BackgroundState {
  device: string;
  /** how the state was read */
  source: 'Background Operation Status (0002h)' | 'Sanitize Status log (81h)';
  running: boolean;
  percentComplete: number;
  /** the operation (the last one, once none runs); "0x0000" when none has run since power-on */
  opcode: string;
  command: string | null;
  /** once it ended: its return code (CXL) or SSTAT status (NVMe) */
  returnCode?: number;
  status?: string;
}

export interface FollowOptions {
  /** poll interval, ms (default 100) */
  intervalMs?: number;
  /** stop following after this long (the operation goes on; the result says running: true) */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** called after every poll */
  onPoll?: (s: BackgroundState) => void | Promise<void>;
}

export interface FollowResult extends BackgroundState {
  /** false when following stopped at timeoutMs with the operation still running */
  done: boolean;
  polls: number;
}

/** One poll: the device's background state, read through `session`. */
export async function readBackground(session: Session, target: { device: string; tunnel?: number[] | undefined }, family: CommandFamily,
  signal?: AbortSignal): Promise<BackgroundState> {
  const base: SendRequest = { device: target.device, ...(target.tunnel ? { tunnel: target.tunnel } : {}), ...(signal ? { signal } : {}), opcode: 0 };
  if (family === 'nvme') {
    const r = await session.send({ ...base, opcode: 0x02, cdw10: getLogCdw10(0x81, 512) });
    if (r.rc !== 0) throw new MbxError('EMBX_BAD_REQUEST', `${target.device} answered the Sanitize Status log read with status 0x${r.rc.toString(16)}`);
    const s = decodeSanitizeStatus(r.payload);
    const running = s.statusCode === SSTAT_IN_PROGRESS;
    return {
      device: target.device, source: 'Sanitize Status log (81h)', running, percentComplete: running ? s.percentComplete ?? 0 : 100,
      opcode: opcodeHex(NVME_SANITIZE, true), command: 'Sanitize', ...(running ? {} : { returnCode: s.statusCode, status: s.status }),
    };
  }
  if (family === 'nvme-io') throw new MbxError('EMBX_BAD_REQUEST', 'an NVMe I/O queue has no background operations');
  const r = await session.send({ ...base, opcode: 0x0002 });
  if (r.rc !== 0) throw new MbxError('EMBX_BAD_REQUEST', `${target.device} answered Background Operation Status with ${rcName(r.rc)}`);
  const s = decodeBackgroundStatus(r.payload);
  const op = parseInt(s.opcode, 16);
  return {
    device: target.device, source: 'Background Operation Status (0002h)', running: s.running,
    percentComplete: s.running ? s.percentComplete : op === 0 ? 0 : 100, opcode: s.opcode, command: op === 0 ? null : catalog(family).nameOf(op) ?? null,
    ...(s.running || op === 0 ? {} : { returnCode: s.returnCode, status: rcName(s.returnCode) }),
  };
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError('EMBX_ABORTED', 'following the background operation was cancelled'));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new CancelledError('EMBX_ABORTED', 'following the background operation was cancelled'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Polls until the operation ends (done: true) or timeoutMs passes (done: false). */
export async function followBackground(session: Session, target: { device: string; tunnel?: number[] | undefined }, family: CommandFamily,
  opts: FollowOptions): Promise<FollowResult> {
  const interval = opts.intervalMs ?? 100;
  const deadline = performance.now() + opts.timeoutMs;
  for (let polls = 1; ; polls++) {
    const s = await readBackground(session, target, family, opts.signal);
    await opts.onPoll?.(s);
    const left = deadline - performance.now();
    if (!s.running || left <= 0) return { ...s, done: !s.running, polls };
    await pause(Math.min(interval, left), opts.signal);
  }
}
