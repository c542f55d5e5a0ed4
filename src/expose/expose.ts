import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { join } from 'node:path';
import { BadRequestError, isMbxError } from '../errors.js';
import { parseTier, type Tier } from '../policy/tiers.js';
import { SocketClient, type SocketClientOptions } from '../server/socket-client.js';
import { activeNamespaces, type DeviceSelection, type ExposedDevice, formatMap, mapEntries, selectDevices } from './device-map.js';
import { buildPreloadLibrary, defaultCacheDir } from './preload-build.js';

/**
 * `mbxmux expose`: prepares everything an unmodified host tool needs to reach emulated devices through a
 * running `mbxmux serve` — the preload library (built if needed), the map of device paths, and the
 * environment that puts both in front of a command. Each device the tool opens becomes its own session on
 * the server with the tier, host and fabric-manager flag given here, capped by the server as for any client.
 */

export interface ExposeOptions extends DeviceSelection {
  /** the server's Unix socket path, or */
  socket?: string;
  /** its TCP port, with */
  port?: number;
  /** its address (default 127.0.0.1) */
  address?: string;
  /** the tier each tool session asks for (default debug-read; the server caps it at its --max-tier) */
  tier?: Tier;
  /** the host the tool acts for (default: the one the server picks for this client) */
  host?: number;
  /** a file whose first line is the token the server's token file gives this client (needed when it has one) */
  tokenFile?: string;
  /** ask for fabric-manager sessions (needed to tunnel to an MLD's logical devices) */
  fabricManager?: boolean;
  /** where the library and maps are kept (default ~/.cache/mbxmux) */
  cacheDir?: string;
  /** the C compiler command (default $CC, else cc, gcc, clang) */
  cc?: string;
  signal?: AbortSignal;
}

export interface ExposeResult {
  /** the built preload library */
  library: string;
  /** the device map file */
  map: string;
  devices: ExposedDevice[];
  /** what the server granted a session asking as the tool will */
  session: { tier: Tier; requestedTier: Tier; host: number; fabricManager: boolean };
  /** the environment to run a tool with */
  env: Record<string, string>;
  /** the same as one shell line, `LD_PRELOAD=... MBXMUX_SOCKET=... ...` */
  envLine: string;
  /** things worth telling the user (e.g. namespaces that could not be listed) */
  notes: string[];
}

const IDENTIFY = 0x06;
const CNS_ACTIVE_NAMESPACES = 0x02;

/** Where the server is, as MBXMUX_SOCKET spells it and as SocketClient takes it. */
function serverAddress(opts: ExposeOptions): { env: string; connect: Pick<SocketClientOptions, 'path' | 'port' | 'address'> } {
  if ((opts.socket === undefined) === (opts.port === undefined)) throw new BadRequestError('expose needs exactly one of socket (the server\'s Unix socket path) or port');
  if (opts.socket !== undefined) return { env: opts.socket, connect: { path: opts.socket } };
  const address = opts.address ?? '127.0.0.1';
  return { env: `tcp:${address.includes(':') ? `[${address}]` : address}:${opts.port}`, connect: { port: opts.port!, address } };
}

/**
 * The one place expose opens a session: the same hello the preload library sends for each device
 * (tier, host, fabric manager), with the device list.
 */
async function openControlSession(opts: ExposeOptions, where: Pick<SocketClientOptions, 'path' | 'port' | 'address'>): Promise<SocketClient> {
  const o: SocketClientOptions = { ...where, tier: opts.tier ?? 'debug-read', name: 'expose', devices: true };
  if (opts.host !== undefined) o.host = opts.host;
  if (opts.tokenFile !== undefined) o.token = await readToken(opts.tokenFile);
  if (opts.fabricManager) o.fabricManager = true;
  if (opts.signal) o.signal = opts.signal;
  return SocketClient.connect(o);
}

/** The first line of a client token file, as the preload library reads it (MBXMUX_TOKEN_FILE). */
async function readToken(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new BadRequestError(`cannot read the token file ${file}: ${(e as Error).message}`);
  }
  const token = text.split(/\r?\n/, 1)[0]!;
  if (token === '') throw new BadRequestError(`the token file ${file} is empty: its first line must be the token`);
  return token;
}

/** A value as the shell reads it back unchanged. */
export function shellQuote(v: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

export async function exposeDevices(opts: ExposeOptions): Promise<ExposeResult> {
  const tier = parseTier(opts.tier ?? 'debug-read');
  const where = serverAddress(opts);
  const notes: string[] = [];
  const client = await openControlSession(opts, where.connect);
  let devices: ExposedDevice[];
  try {
    const selected = selectDevices(client.welcome.devices ?? [], opts);
    const namespaces = new Map<string, number[]>();
    await Promise.all(selected.nvme.map(async (d) => {
      try {
        const r = await client.send({ device: d.id, opcode: IDENTIFY, cdw10: CNS_ACTIVE_NAMESPACES, ...(opts.signal ? { signal: opts.signal } : {}) });
        if (r.rc === 0) namespaces.set(d.id, activeNamespaces(r.payload));
        else notes.push(`${d.id}: Identify (active namespaces) answered status 0x${r.rc.toString(16)}; no namespace devices`);
      } catch (e) {
        if (!isMbxError(e) || e.code !== 'EMBX_PERMISSION') throw e;
        notes.push(`${d.id}: this session may not list its namespaces (${e.message}); no namespace devices`);
      }
    }));
    devices = mapEntries(selected, namespaces);
  } finally {
    await client.close();
  }
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const library = await buildPreloadLibrary({ cacheDir, ...(opts.cc !== undefined ? { cc: opts.cc } : {}) });
  const text = formatMap(devices, where.env);
  const mapDir = join(cacheDir, 'maps');
  await mkdir(mapDir, { recursive: true });
  const map = join(mapDir, `${createHash('sha256').update(text).digest('hex').slice(0, 16)}.map`);
  const tmp = `${map}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, map);

  const env: Record<string, string> = { LD_PRELOAD: library, MBXMUX_SOCKET: where.env, MBXMUX_MAP: map, MBXMUX_TIER: tier };
  if (opts.host !== undefined) env.MBXMUX_HOST = String(opts.host);
  // the path, never the secret itself: the env line is printed and may end up in a shell history
  if (opts.tokenFile !== undefined) env.MBXMUX_TOKEN_FILE = resolve(opts.tokenFile);
  if (opts.fabricManager) env.MBXMUX_FM = '1';
  const w = client.welcome;
  if (opts.fabricManager && !w.fabricManager) notes.push('the server refused fabric-manager sessions (start it with --allow-fm); tunnels to an MLD\'s LDs will be refused');
  return {
    library, map, devices, notes, env,
    envLine: Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(' '),
    session: { tier: w.tier, requestedTier: w.requestedTier, host: w.host, fabricManager: w.fabricManager },
  };
}
