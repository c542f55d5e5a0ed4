import type { CommandResult, SendRequest, Session } from '../src/index.js';

/** What one submit() came to: its callbacks, counted, and what the first one brought. */
export interface Submitted {
  /** 'ok' or the error's code, from the first callback */
  code: string;
  /** the answer, copied inside the callback (the Answer itself is only valid there) */
  result?: CommandResult;
  /** times the callback ran: exactly-once means 1, however long one waits */
  calls: number;
  /** the callback ran inside submit() (it must not) */
  early: boolean;
}

/**
 * session.submit() for tests: a promise of the first callback's outcome, while the returned record keeps
 * counting callbacks (a second one shows in `calls`).
 */
export function submitted(s: Session, req: SendRequest): { done: Promise<Submitted>; record: Submitted } {
  const record: Submitted = { code: 'unsettled', calls: 0, early: false };
  let inside = true;
  let resolve!: (r: Submitted) => void;
  const done = new Promise<Submitted>((r) => (resolve = r));
  s.submit(req, (err, answer) => {
    record.calls++;
    if (inside) record.early = true;
    if (record.calls > 1) return;
    if (err !== null) record.code = err.code;
    else {
      record.code = 'ok';
      record.result = answer!.result();
    }
    resolve(record);
  });
  inside = false;
  return { done, record };
}

/** submitted() for many requests: resolves when each has called back once. */
export async function submitAll(s: Session, reqs: SendRequest[]): Promise<Submitted[]> {
  return Promise.all(reqs.map((r) => submitted(s, r).done));
}
