/**
 * Sections that must not inherit the heap, JIT state, threads or garbage of the runs before them run a child
 * process per measurement: the parent passes one JSON job as the last argument, the child prints one JSON line
 * (its result) and exits. Both halves of that contract live here.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Parent side: runs `script` (a compiled .js) in a fresh `node` with `job`, returns the last line it printed, parsed. */
export async function inFreshProcess<R>(script: string, job: unknown, opts: { nodeArgs?: readonly string[]; timeoutMs?: number } = {}): Promise<R> {
  const { stdout } = await exec(process.execPath, [...(opts.nodeArgs ?? []), script, JSON.stringify(job)],
    { timeout: opts.timeoutMs ?? 180_000, maxBuffer: 1 << 22 });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '') as R;
}

/** Child side: reads the job, prints what `body` returns as one JSON line; a failure exits 1 with its stack on stderr. */
export function childMain<J>(body: (job: J) => Promise<unknown>): void {
  const job = JSON.parse(process.argv[2] ?? '{}') as J;
  body(job).then(
    (row) => process.stdout.write(`${JSON.stringify(row)}\n`),
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
