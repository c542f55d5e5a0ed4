import { isMbxError, type MbxError } from '../errors.js';
import type { SendRequest } from '../mux/types.js';
import type { LoadClock } from './clock.js';
import type { LoadSession, Submitted } from './types.js';

/** What the closed and the open loop both use to send and to wait. */

/** submit() over a session that only has send(): a promise per request. */
export function submitOf(session: LoadSession): (req: SendRequest, onDone: Submitted) => void {
  if (session.submit !== undefined) return (req, onDone) => session.submit!(req, onDone);
  return (req, onDone) => {
    session.send(req).then((r) => onDone(null, r), (e: unknown) => onDone(e as MbxError, null));
  };
}

/** Waits `ms` on the run's clock, or until the signal aborts. */
export function sleep(clock: LoadClock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clock.clearTimer(t);
      resolve();
    };
    const t = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error code a failed request is counted under. */
export const codeOf = (e: unknown): string => (isMbxError(e) ? e.code : 'EUNKNOWN');
