import { DEFAULT_FLEET } from '../../fleet/expand.js';
import { createMux } from '../../mux/mux.js';
import { parseTier } from '../../policy/tiers.js';
import { Recorder } from '../../server/recorder.js';
import { isLoopback, SocketServer } from '../../server/socket-server.js';
import { parseIntArg, UsageError } from '../args.js';
import { type Command, COMMON_HELP, muxOptions, parse } from '../common.js';

export const serve: Command = {
  name: 'serve',
  summary: 'serve the fleet to programs over a Unix or TCP socket',
  help: `usage: mbxmux serve (--socket PATH | --port N [--host ADDR] [--listen-any]) [--max-tier T] [--allow-fm]
                    [--hosts 0,1] [--record FILE] [--max-frame BYTES] [--quiet] [--fleet SPEC] [--workers N]
  Serves the fleet over a socket: length-prefixed MessagePack frames (u32 BIG-ENDIAN length, then one map);
  the client says hello { tier, host, fabricManager?, name? } and gets welcome { session, tier, host, devices },
  then pipelines req { id, device, opcode, payload?, ... } frames answered by res / err frames
  (see src/server/PROTOCOL.md; a client: SocketClient from the mbxmux package).
  --socket PATH   listen on a Unix socket (a stale socket file is replaced)
  --port N        listen on TCP port N (0 = any free port; the address is printed)
  --host ADDR     TCP address (default 127.0.0.1); a non-loopback address needs --listen-any
  --listen-any    allow a non-loopback address. The server has NO authentication: anyone who can connect
                  gets a session up to --max-tier
  --max-tier T    the highest tier a client gets; higher requests are capped (default debug-read)
  --allow-fm      clients may ask for fabric-manager sessions (reach every host's devices)
  --hosts LIST    host ids clients may act for (default: any)
  --record FILE   record every request and answer to FILE (play it back with mbxmux replay FILE)
  --max-frame N   largest frame accepted, bytes (default 16 MiB)
  --quiet         no per-connection log lines on stderr
  Prints "listening on <address>" on stdout when ready. SIGINT/SIGTERM: stop accepting, let requests in
  flight finish, close the mux, exit 0.
${COMMON_HELP}`,
  async run(args) {
    const { values, positionals } = parse(args, {
      socket: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, 'listen-any': { type: 'boolean' },
      'max-tier': { type: 'string' }, 'allow-fm': { type: 'boolean' }, hosts: { type: 'string' }, record: { type: 'string' },
      'max-frame': { type: 'string' }, quiet: { type: 'boolean' },
    });
    if (values.help) return (console.log(this.help), 0);
    if (positionals.length > 0) throw new UsageError(`serve takes no positional arguments (got "${positionals[0]}")`);
    if ((values.socket === undefined) === (values.port === undefined)) throw new UsageError('serve needs exactly one of --socket PATH or --port N');
    if (values.host !== undefined && values.port === undefined) throw new UsageError('--host applies to --port');
    let maxTier;
    try {
      maxTier = parseTier(values['max-tier'] ?? 'debug-read');
    } catch (e) {
      throw new UsageError(`--max-tier: ${(e as Error).message}`);
    }
    const port = parseIntArg(values.port, '--port', 0, 65535);
    const bindHost = values.host ?? '127.0.0.1';
    if (port !== undefined && !isLoopback(bindHost)) {
      if (values['listen-any'] !== true) {
        throw new UsageError(`refusing to listen on ${bindHost}: the socket server has no authentication; use a loopback address or add --listen-any`);
      }
      console.error(`mbxmux serve: WARNING: listening on non-loopback ${bindHost} without authentication: anyone who can reach it gets sessions up to tier ${maxTier}`);
    }
    const allowedHosts = values.hosts === undefined ? undefined
      : values.hosts.split(',').map((h, i) => parseIntArg(h.trim(), `--hosts entry ${i + 1}`, 0, 65535)!);
    const maxFrameBytes = parseIntArg(values['max-frame'], '--max-frame', 64, 0xffffffff);
    const muxOpts = muxOptions(values);
    const quiet = values.quiet === true;
    const log = (line: string): void => {
      if (!quiet) console.error(`mbxmux serve: ${line}`);
    };

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
      log(`${why}: stopping (requests in flight finish first)`);
      stopping = (async () => {
        await server?.close({ timeoutMs: 10_000 });
        await mux.close();
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
      server = new SocketServer({
        mux, maxTier, allowFabricManager: values['allow-fm'] === true, log,
        ...(allowedHosts ? { allowedHosts } : {}), ...(maxFrameBytes !== undefined ? { maxFrameBytes } : {}),
        ...(recorder ? { recorder } : {}),
      });
      server.on('error', (e: Error) => log(`server error: ${e.message}`));
      const addr = await server.listen(values.socket !== undefined ? { path: values.socket } : { port: port!, host: bindHost, listenAny: values['listen-any'] === true });
      const where = 'path' in addr ? addr.path : `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
      console.log(`listening on ${where} (${mux.devices().length} devices, max tier ${maxTier}, fabric-manager sessions ${values['allow-fm'] ? 'allowed' : 'refused'})`);
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
