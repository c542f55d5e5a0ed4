import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BuildError } from '../errors.js';

/**
 * Builds the preload library of `mbxmux expose` (native/*.c, shipped in the package) with the system C
 * compiler, once per source/compiler combination, into a cache directory. The file name carries a hash of
 * the sources, the compiler's identity and the flags, so an upgraded package or compiler builds a new
 * library and a running tool keeps the one it loaded.
 */

const run = promisify(execFile);

/** The C sources: native/ at the package root (this file is dist/src/expose/preload-build.js). */
export const NATIVE_DIR = fileURLToPath(new URL('../../../native/', import.meta.url));

// only the interposed libc names are exported (MBX_EXPORT); every helper stays private to the library
const CFLAGS = ['-shared', '-fPIC', '-fvisibility=hidden', '-O2', '-Wall', '-Wextra'];
const LIBS = ['-ldl', '-lpthread'];

/** $MBXMUX_CACHE_DIR, else $XDG_CACHE_HOME/mbxmux, else ~/.cache/mbxmux. */
export function defaultCacheDir(): string {
  if (process.env.MBXMUX_CACHE_DIR) return process.env.MBXMUX_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mbxmux');
}

export interface BuildOptions {
  /** where built libraries are kept (default defaultCacheDir()) */
  cacheDir?: string;
  /** the compiler command, e.g. "gcc" or "clang -m64" (default: $CC, else the first of cc, gcc, clang) */
  cc?: string;
}

interface Compiler {
  argv: string[];
  /** first line of `--version`: part of the cache key */
  version: string;
}

async function findCompiler(cc: string | undefined): Promise<Compiler> {
  const tried = cc !== undefined ? [cc] : process.env.CC ? [process.env.CC] : ['cc', 'gcc', 'clang'];
  for (const c of tried) {
    const argv = c.trim().split(/\s+/).filter((a) => a !== '');
    if (argv.length === 0) continue;
    try {
      const { stdout } = await run(argv[0]!, [...argv.slice(1), '--version']);
      return { argv, version: stdout.split('\n')[0] ?? '' };
    } catch {
      // not installed (ENOENT) or not a compiler: try the next
    }
  }
  throw new BuildError(`no C compiler found (tried ${tried.join(', ')}): mbxmux expose builds its preload library with one; install one (e.g. apt-get install gcc) or set CC`,
    { tried });
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Returns the path of the preload library, building it first if this combination was never built. */
export async function buildPreloadLibrary(opts: BuildOptions = {}): Promise<string> {
  let files: string[];
  try {
    files = (await readdir(NATIVE_DIR)).filter((f) => f.endsWith('.c') || f.endsWith('.h')).sort();
  } catch (e) {
    throw new BuildError(`the preload library's sources are missing (${NATIVE_DIR}: ${(e as Error).message}); reinstall mbxmux`);
  }
  const cc = await findCompiler(opts.cc);
  const key = createHash('sha256').update(JSON.stringify({ cc: cc.argv, version: cc.version, CFLAGS, LIBS, arch: process.arch }));
  for (const f of files) key.update(f).update(await readFile(join(NATIVE_DIR, f)));
  const dir = join(opts.cacheDir ?? defaultCacheDir(), 'preload');
  const lib = join(dir, `mbxmux-preload-${key.digest('hex').slice(0, 16)}.so`);
  if (await exists(lib)) return lib;
  await mkdir(dir, { recursive: true });
  const tmp = `${lib}.${process.pid}.tmp`;
  const sources = files.filter((f) => f.endsWith('.c')).map((f) => join(NATIVE_DIR, f));
  try {
    await run(cc.argv[0]!, [...cc.argv.slice(1), ...CFLAGS, '-o', tmp, ...sources, ...LIBS]);
  } catch (e) {
    await rm(tmp, { force: true });
    const stderr = String((e as { stderr?: unknown }).stderr ?? (e as Error).message);
    const first = stderr.split('\n').filter((l) => /error/i.test(l)).slice(0, 3).join('; ') || stderr.trim().split('\n')[0];
    const hint = /linux\/(cxl_mem|nvme_ioctl)\.h/.test(stderr) ? ' (the kernel uAPI headers are missing: install linux-libc-dev)' : '';
    throw new BuildError(`building the preload library with ${cc.argv.join(' ')} failed: ${first}${hint}`, { compiler: cc.version });
  }
  // rename is atomic: a concurrent build of the same sources produces the same file
  await rename(tmp, lib);
  return lib;
}
