import { chmodSync, existsSync, lstatSync, mkdtempSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { connect, isIP, type Server } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { BadRequestError, CancelledError } from '../errors.js';

/** True for 127.0.0.0/8, ::1, ::ffff:127.x and "localhost". */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

export function listenOn(server: Server, where: { path: string } | { port: number; host: string }, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      server.off('listening', onListening);
      server.off('error', onError);
      server.close();
      reject(new CancelledError('EMBX_ABORTED', 'listen was aborted'));
    };
    const onError = (e: Error): void => {
      server.off('listening', onListening);
      signal?.removeEventListener('abort', onAbort);
      reject(e);
    };
    const onListening = (): void => {
      server.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    signal?.addEventListener('abort', onAbort, { once: true });
    server.listen(where);
  });
}

/**
 * Listens on a Unix socket at `path` whose file has exactly `mode` (default 0600), whatever the umask, with
 * no moment at which anyone else could connect: the socket is bound inside a fresh directory only its owner
 * can enter (mkdtemp: 0700), given its mode there, then renamed to `path` (rename keeps the bound inode).
 * Returns a function that removes the socket file, if it is still this one, once the server is closed.
 */
export async function listenUnix(server: Server, path: string, mode: number, signal?: AbortSignal): Promise<() => void> {
  if (typeof path !== 'string' || path === '') throw new BadRequestError('socket path must be a non-empty string');
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new BadRequestError(`socket mode must be an octal permission from 000 to 777 (got ${String(mode)})`);
  await removeStaleSocket(path);
  const privateDir = mkdtempSync(join(dirname(path), `.${basename(path).slice(0, 8)}-`));
  const bound = join(privateDir, 's');
  try {
    await listenOn(server, { path: bound }, signal);
    chmodSync(bound, mode);
    renameSync(bound, path);
  } catch (e) {
    if (server.listening) server.close();
    throw e;
  } finally {
    rmSync(privateDir, { recursive: true, force: true });
  }
  const inode = lstatSync(path).ino;
  return () => {
    try {
      if (lstatSync(path).ino === inode) unlinkSync(path);
    } catch {
      // already gone
    }
  };
}

/** A Unix socket file nobody answers on is left over from a crash: remove it. A live one is an error. */
async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new BadRequestError(`${path} exists and is not a socket; choose another --socket path`);
  const live = await new Promise<boolean>((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) throw new BadRequestError(`another server is listening on ${path}`);
  unlinkSync(path);
}
