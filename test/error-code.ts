/**
 * The `code` a function throws with ('ok' when it returns, 'plain' for an error without one): tests of
 * synchronous validators compare codes, so a refusal of the wrong family (or none) fails the assertion.
 */
export function thrownCode(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? 'plain';
  }
}

/** The same for a promise: 'resolved', or the rejection's `code` ('untyped: message' without one). */
export function rejectedCode(p: Promise<unknown>): Promise<string> {
  return p.then(() => 'resolved', (e: { code?: string; message?: string }) => e.code ?? `untyped: ${e.message}`);
}
