import { DEFAULT_FLEET } from '../../fleet/expand.js';
import { createMux } from '../../mux/mux.js';
import { parseTier } from '../../policy/tiers.js';
import { TokenStore } from '../../server/auth.js';
import { DEFAULT_LIMITS, resolveLimits, type ServerLimits } from '../../server/limits.js';
import { Recorder } from '../../server/recorder.js';
import { isLoopback, SocketServer } from '../../server/socket-server.js';
import { parseDuration, parseIntArg, UsageError } from '../args.js';
import { type Command, COMMON_HELP, muxOptions, parse } from '../common.js';

const OPTIONS = {
  socket: { type: 'string' }, 'socket-mode': { type: 'string' }, port: { type: 'string' }, host: { type: 'string' },
  'listen-any': { type: 'boolean' }, tokens: { type: 'string' }, 'insecure-no-auth': { type: 'boolean' },
  'max-tier': { type: 'string' }, 'allow-fm': { type: 'boolean' }, hosts: { type: 'string' }, record: { type: 'string' },
  'max-connections': { type: 'string' }, 'hello-timeout': { type: 'string' }, 'idle-timeout': { type: 'string' },
  'max-in-flight': { type: 'string' }, 'max-in-flight-bytes': { type: 'string' }, 'max-output': { type: 'string' }, 'stall-timeout': { type: 'string' },
  'max-frame': { type: 'string' }, 'max-request-timeout': { type: 'string' }, 'shutdown-grace': { type: 'string' },
  quiet: { type: 'boolean' },
} as const;

export const serve: Command = {
  name: 'serve',
  summary: 'serve the fleet to programs over a Unix or TCP socket',
  options: OPTIONS,
  help: `usage: mbxmux serve (--socket PATH [--socket-mode MODE] | --port N [--host ADDR] [--listen-any])
                    [--tokens FILE | --insecure-no-auth] [--max-tier T] [--allow-fm] [--hosts 0,1]
                    [limits] [--record FILE] [--quiet] [--fleet SPEC [--slice i/N]] [--workers N]
  Serves the fleet over a socket: length-prefixed MessagePack frames (u32 BIG-ENDIAN length, then one map);
  the client says hello { token?, tier, host?, name? } and gets welcome { session, tier, host, devices },
  then pipelines req { id, device, opcode, payload?, ... } frames answered by res / err frames
  (see src/server/PROTOCOL.md; a client: SocketClient from the mbxmux package).
  --socket PATH        listen on a Unix socket (a stale socket file is replaced)
  --socket-mode MODE   its permission bits in octal (default 600: only this user may connect)
  --port N             listen on TCP port N (0 = any free port; the address is printed); needs --tokens
                       or --insecure-no-auth
  --host ADDR          TCP address (default 127.0.0.1); a non-loopback address needs --listen-any
  --listen-any         allow a non-loopback address
  --tokens FILE        every client must present a token from FILE (JSON, see the README); each token sets
                       the session's highest tier, its hosts and the fabric-manager right
  --insecure-no-auth   serve TCP without tokens: anyone who can connect gets the caps below (a warning)
  Without --tokens, for every client:
  --max-tier T         the highest tier a client gets; higher requests are capped (default debug-read)
  --allow-fm           clients may ask for fabric-manager sessions (reach every host's devices)
  --hosts LIST         host ids clients may act for (default 0); a client without host gets the first
  Limits (per connection unless said):
  --max-connections N      connections open at once (default ${DEFAULT_LIMITS.maxConnections}); more are refused
  --hello-timeout DUR      close a connection without hello after DUR (default ${DEFAULT_LIMITS.helloTimeoutMs / 1000}s)
  --idle-timeout DUR       close a connection idle for DUR (default ${DEFAULT_LIMITS.idleTimeoutMs / 1000}s; 0 = never)
  --max-in-flight N        requests of any kind in flight before reading pauses (default ${DEFAULT_LIMITS.maxInFlight})
  --max-in-flight-bytes N  request bytes in flight before reading pauses (default ${DEFAULT_LIMITS.maxInFlightBytes})
  --max-output N           answer bytes a client may leave unread before it is disconnected (default ${DEFAULT_LIMITS.maxOutputBytes})
  --stall-timeout DUR      disconnect a client that reads none of its waiting answers for DUR (default ${DEFAULT_LIMITS.stallTimeoutMs / 1000}s)
  --max-frame N            largest frame accepted, bytes (default ${DEFAULT_LIMITS.maxFrameBytes})
  --max-request-timeout DUR  the longest timeoutMs a request may ask for (default ${DEFAULT_LIMITS.maxRequestTimeoutMs / 1000}s)
  --shutdown-grace DUR     on SIGINT/SIGTERM, how long requests in flight may take (default ${DEFAULT_LIMITS.shutdownGraceMs / 1000}s)
  --slice i/N          serve only the i-th of N slices of the fleet (numbered from 0): many servers, one fleet
                       (clients: connectFleet, mbxmux load --target); ids and serials as in the whole fleet
  --record FILE        record every request and answer to FILE (play it back with mbxmux replay FILE)
  --quiet              no per-connection log lines on stderr
  Prints "listening on <address>" on stdout when ready. SIGINT/SIGTERM: stop accepting, answer the requests
  in flight (within --shutdown-grace; later ones are answered EMBX_CLOSED), send every client EMBX_CLOSED
  with the last request id it processed, close the mux, exit 0.
${COMMON_HELP}`,
  async run(args) {
    const { values, positionals } = parse(args, OPTIONS);
    if (values.help) return (console.log(this.help), 0);
    if (positionals.length > 0) throw new UsageError(`serve takes no positional arguments (got "${positionals[0]}")`);
    if ((values.socket === undefined) === (values.port === undefined)) throw new UsageError('serve needs exactly one of --socket PATH or --port N');
    if (values.host !== undefined && values.port === undefined) throw new UsageError('--host applies to --port');
    if (values['socket-mode'] !== undefined && values.socket === undefined) throw new UsageError('--socket-mode applies to --socket');
    const tokens = values.tokens === undefined ? null : TokenStore.load(values.tokens);
    if (tokens !== null) {
      for (const f of ['max-tier', 'allow-fm', 'hosts'] as const) {
        if (values[f] !== undefined) throw new UsageError(`--${f} does not apply with --tokens: each token in the file sets its own maxTier, hosts and fabricManager`);
      }
      if (values['insecure-no-auth']) throw new UsageError('--insecure-no-auth contradicts --tokens');
    }
    let maxTier;
    try {
      maxTier = parseTier(values['max-tier'] ?? 'debug-read');
    } catch (e) {
      throw new UsageError(`--max-tier: ${(e as Error).message}`);
    }
    const port = parseIntArg(values.port, '--port', 0, 65535);
    const bindHost = values.host ?? '127.0.0.1';
    const insecure = values['insecure-no-auth'] === true;
    if (port !== undefined && tokens === null && !insecure) {
      throw new UsageError('TCP needs authentication: give --tokens FILE (see the README), use --socket PATH, or accept the risk with --insecure-no-auth');
    }
    if (port !== undefined && !isLoopback(bindHost) && values['listen-any'] !== true) {
      throw new UsageError(`refusing to listen on ${bindHost}: a non-loopback address needs --listen-any`);
    }
    const socketMode = values['socket-mode'] === undefined ? undefined : parseMode(values['socket-mode']);
    const allowedHosts = values.hosts === undefined ? undefined
      : values.hosts.split(',').map((h, i) => parseIntArg(h.trim(), `--hosts entry ${i + 1}`, 0, 65535)!);
    const limits = limitsFrom(values);
    const muxOpts = muxOptions(values);
    const quiet = values.quiet === true;
    const log = (line: string): void => {
      if (!quiet) console.error(`mbxmux serve: ${line}`);
    };
    const caps = tokens !== null ? { tokens } : {
      maxTier, allowFabricManager: values['allow-fm'] === true, ...(allowedHosts ? { allowedHosts } : {}), insecureNoAuth: insecure,
    };
    resolveLimits(limits); // checked before the fleet starts: a bad limit is a usage error, not a half-started server
    if (insecure && port !== undefined) {
      console.error(`mbxmux serve: WARNING: --insecure-no-auth: anyone who can connect to ${bindHost}:${port === 0 ? '<port>' : port} `
        + `gets sessions up to tier ${maxTier}${values['allow-fm'] ? ' and fabric-manager sessions' : ''}; use --tokens FILE`);
    }
    if (socketMode !== undefined && (socketMode & 0o077) !== 0 && tokens === null) {
      console.error(`mbxmux serve: WARNING: socket mode ${socketMode.toString(8).padStart(3, '0')} lets other users connect without a token `
        + `and get sessions up to tier ${maxTier}`);
    }

    const mux = await createMux(muxOpts);
    let recorder: Recorder | null = null;
    let server: SocketServer | null = null;
    const signals = ['SIGINT', 'SIGTERM'] as const;
    let stopping: Promise<void> | null = null;
    let release: () => void = () => {};
    const stopped = new Promise<void>((r) => (release = r));
    const stop = (why: string): void => {
      if (stopping !== null) {
        log(`${why} again: closing now`);
        void mux.close({ timeoutMs: 0 });
        return;
      }
      log(`${why}: stopping (answering the requests in flight first)`);
      stopping = (async () => {
        await server?.close();
        if (server !== null) log(`stopped; counters ${JSON.stringify(server.stats())}`);
        // every request the server handed to the mux is answered or abandoned by now
        await mux.close({ timeoutMs: 0 });
        if (recorder !== null) {
          const r = await recorder.close();
          log(`recorded ${r.records} requests to ${values.record}`);
        }
      })().finally(release);
    };
    const handlers = signals.map((sig) => {
      const h = (): void => stop(sig);
      process.on(sig, h);
      return [sig, h] as const;
    });
    try {
      if (values.record !== undefined) recorder = new Recorder({ file: values.record, mux, fleet: muxOpts.fleet ?? DEFAULT_FLEET });
      server = new SocketServer({ mux, ...caps, limits, log, ...(socketMode !== undefined ? { socketMode } : {}), ...(recorder ? { recorder } : {}) });
      server.on('error', (e: Error) => log(`server error: ${e.message}`));
      const addr = await server.listen(values.socket !== undefined ? { path: values.socket } : { port: port!, host: bindHost, listenAny: values['listen-any'] === true });
      const where = 'path' in addr ? addr.path : `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
      const who = tokens !== null ? `${tokens.size} token${tokens.size === 1 ? '' : 's'}`
        : `no tokens: max tier ${maxTier}, hosts ${(allowedHosts ?? [0]).join(',')}, fabric-manager sessions ${values['allow-fm'] ? 'allowed' : 'refused'}`;
      const slice = mux.fleet.slice === undefined ? '' : `, slice ${mux.fleet.slice.index}/${mux.fleet.slice.count} of ${mux.fleet.fleetDevices}`;
      console.log(`listening on ${where} (${mux.devices().length} devices${slice}, ${who})`);
      await stopped;
    } catch (e) {
      await server?.close({ timeoutMs: 0 }).catch(() => {});
      await mux.close({ timeoutMs: 0 });
      await recorder?.close().catch(() => {});
      throw e;
    } finally {
      for (const [sig, h] of handlers) process.off(sig, h);
    }
    return 0;
  },
};

/** "600", "0660", "0o600" -> the permission bits */
function parseMode(text: string): number {
  const m = /^(?:0o?)?([0-7]{1,3})$/.exec(text.trim());
  if (m === null) throw new UsageError(`--socket-mode must be octal permission bits such as 600 or 660 (got "${text}")`);
  return parseInt(m[1]!, 8);
}

type LimitFlags = { [K in 'max-connections' | 'hello-timeout' | 'idle-timeout' | 'max-in-flight' | 'max-in-flight-bytes' | 'max-output' | 'stall-timeout' | 'max-frame' | 'max-request-timeout' | 'shutdown-grace']?: string | undefined };

function limitsFrom(v: LimitFlags): Partial<ServerLimits> {
  const out: Partial<ServerLimits> = {};
  const int = (flag: keyof LimitFlags, key: keyof ServerLimits): void => {
    const t = v[flag];
    if (t !== undefined) out[key] = parseIntArg(t, `--${flag}`, 0, 2 ** 32) as never;
  };
  const ms = (flag: keyof LimitFlags, key: keyof ServerLimits): void => {
    const t = v[flag];
    if (t !== undefined) out[key] = Math.round(parseDuration(t, `--${flag}`)) as never;
  };
  int('max-connections', 'maxConnections');
  ms('hello-timeout', 'helloTimeoutMs');
  ms('idle-timeout', 'idleTimeoutMs');
  int('max-in-flight', 'maxInFlight');
  int('max-in-flight-bytes', 'maxInFlightBytes');
  int('max-output', 'maxOutputBytes');
  ms('stall-timeout', 'stallTimeoutMs');
  int('max-frame', 'maxFrameBytes');
  ms('max-request-timeout', 'maxRequestTimeoutMs');
  ms('shutdown-grace', 'shutdownGraceMs');
  // each is range-checked by resolveLimits (a BadRequestError: usage, exit 2)
  return out;
}
