import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { decodeMap, encodeFrame, FrameDecoder } from '../src/server/frames.js';

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** The CLI of the same build as the compiled test files. */
export const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;

export interface Served {
  child: ChildProcess;
  /** the "listening on ..." line */
  line: string;
  /** everything the server wrote to stderr so far */
  stderr: () => string;
  /** the TCP port, when it listens on one */
  port: number | undefined;
  /** SIGTERM and wait for the exit code */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/** Starts `mbxmux serve ARGS` (plus --fleet/--workers unless given) and resolves when it prints its listening line. */
export async function serve(args: string[], opts: { fleet?: string; shell?: string } = {}): Promise<Served> {
  const full = [CLI, 'serve', ...args];
  if (!args.includes('--fleet')) full.push('--fleet', opts.fleet ?? 'cxl-type3=8,cxl-switch=1,nvme=2,mctp-pcc=2');
  if (!args.includes('--workers')) full.push('--workers', '1');
  // opts.shell: run through sh with this prefix (e.g. "umask 000;")
  const child = opts.shell !== undefined
    ? spawn('sh', ['-c', `${opts.shell} exec "$0" "$@"`, process.execPath, ...full], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, full, { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b) => (err += b));
  children.add(child); // never left behind, even if the test file crashes
  child.once('exit', () => children.delete(child));
  let out = '';
  for await (const chunk of child.stdout!) {
    out += chunk;
    if (out.includes('\n')) break;
  }
  if (!out.startsWith('listening on')) throw new Error(`serve did not start: ${out} ${err}`);
  const port = /:(\d+) \(/.exec(out)?.[1];
  return {
    child, line: out, stderr: () => err, port: port === undefined ? undefined : Number(port),
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = await once(child, 'exit');
      return code as number | null;
    },
  };
}

/** Runs `serve ARGS` expecting it not to start: its exit code and stderr (killed if it does start). */
export async function serveFails(args: string[]): Promise<{ code: number | null; stderr: string; started: boolean }> {
  const c = spawn(process.execPath, [CLI, 'serve', ...args, '--fleet', 'cxl-type3=1', '--workers', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(c);
  let stderr = '';
  let out = '';
  let started = false;
  c.stderr!.on('data', (b) => (stderr += b));
  c.stdout!.on('data', (b) => {
    out += b;
    if (out.includes('listening on')) {
      started = true;
      c.kill('SIGKILL');
    }
  });
  const [code] = await once(c, 'exit');
  children.delete(c);
  return { code: code as number | null, stderr, started };
}

/** Polls `cond` every 20 ms until it is true or `ms` pass (then throws with `what`). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resident set size of a process, bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** A raw connection that speaks frames by hand (for ids, limits and malformed input). */
export class Raw {
  readonly frames: (Record<string, unknown> & { type: string })[] = [];
  private readonly dec = new FrameDecoder();
  private waiters: (() => void)[] = [];
  closed = false;
  constructor(readonly s: Socket) {
    s.on('data', (b: Buffer) => {
      for (const body of this.dec.push(b)) this.frames.push(decodeMap(body));
      this.wake();
    });
    s.on('close', () => {
      this.closed = true;
      this.wake();
    });
    s.on('error', () => {});
  }
  static async open(where: { path: string } | { port: number }): Promise<Raw> {
    const s = 'path' in where ? connect({ path: where.path }) : connect({ port: where.port, host: '127.0.0.1' });
    await once(s, 'connect');
    return new Raw(s);
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  send(...frames: object[]): void {
    this.s.write(Buffer.concat(frames.map((f) => encodeFrame(f))));
  }
  /** waits until `n` frames arrived (or the connection closed) */
  async until(n: number, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (this.frames.length < n && !this.closed) {
      if (Date.now() > end) throw new Error(`timed out with ${this.frames.length} of ${n} frames`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
  async closedWithin(ms = 3000): Promise<boolean> {
    const end = Date.now() + ms;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }
  /** the frame of this type and id, if it came */
  find(type: string, id?: number): (Record<string, unknown> & { type: string }) | undefined {
    return this.frames.find((f) => f.type === type && (id === undefined || f.id === id));
  }
}

/** The error code a promise rejects with ('resolved' if it does not). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return String((e as { code?: string }).code);
  }
}
