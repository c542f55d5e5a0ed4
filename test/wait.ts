/**
 * Waiting on a condition instead of sleeping: `until` polls `cond` until it holds and fails with `what` if it
 * still does not after `withinMs` (a generous bound for a loaded machine; it only decides how long a broken
 * build takes to fail, never whether a working one passes).
 */
export async function until(cond: () => boolean, what: string, withinMs = 10_000): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${withinMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
