/**
 * Text from clients (hello names, device ids, error messages that quote them) goes into the operator's log.
 * A newline there would forge a log line; an escape sequence would move the terminal's cursor; a bidi
 * override would reorder what the operator reads. These characters are written as escapes instead.
 */

// C0 controls, DEL, C1 controls, line/paragraph separators, bidi embeddings/overrides/isolates
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_TEST = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** True if `s` holds a character printable() would escape. */
export function hasControl(s: string): boolean {
  return CONTROL_TEST.test(s);
}

/** `s` with every control character written as \xNN or \uNNNN. */
export function printable(s: string): string {
  if (!CONTROL_TEST.test(s)) return s;
  return s.replace(CONTROL, (c) => {
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

/**
 * A log sink for lines that may quote clients: escapes them, and lets at most `perSecond` lines through
 * each second (a flood of refused connections must not flood the operator's disk); the number held back
 * is reported with the next line that passes.
 */
export function guardedLog(sink: (line: string) => void, perSecond = 50, now: () => number = () => performance.now()): (line: string) => void {
  let windowStart = 0;
  let inWindow = 0;
  let held = 0;
  return (line: string): void => {
    const t = now();
    if (t - windowStart >= 1000) {
      windowStart = t;
      inWindow = 0;
    }
    if (inWindow >= perSecond) {
      held++;
      return;
    }
    inWindow++;
    const note = held > 0 ? ` (${held} earlier line${held === 1 ? '' : 's'} not logged: rate limit)` : '';
    held = 0;
    sink(`${printable(line)}${note}`);
  };
}
