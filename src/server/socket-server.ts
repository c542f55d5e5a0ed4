import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { BadRequestError, CancelledError, PermissionError } from '../errors.js';
import type { Mux } from '../mux/mux.js';
import type { Session } from '../mux/session.js';
import { TokenStore, type TokenSpec } from './auth.js';
import { Connection, type ConnectionHost } from './connection.js';
import { encodeFrame, type HelloFrame, PROTOCOL_VERSION, type WelcomeFrame } from './frames.js';
import { resolveLimits, type ServerLimits } from './limits.js';
import { isLoopback, listenOn, listenUnix } from './listen.js';
import { guardedLog } from './log-text.js';
import { newCounters, type ServerCounters, type ServerStats } from './server-stats.js';
import { grantSession, type SessionCaps } from './session-caps.js';

/**
 * The socket server: many clients, each on its own connection and mux session, speaking length-prefixed
 * MessagePack frames (PROTOCOL.md). Requests are pipelined: a connection may have many in flight and
 * answers come back as they complete, matched by id. Each connection is bounded (./limits.ts) and closes
 * GOAWAY-style with the id of the last request it processed (./connection.ts).
 *
 * Who gets what: with a token store every client must present a token in hello, and the token decides the
 * tier cap, the hosts and the fabric-manager right. Without one, the operator's caps (maxTier,
 * allowFabricManager, allowedHosts: default [0]) apply to every client; that is allowed on a Unix socket
 * (created 0600) and on TCP only with `insecureNoAuth`. The client never picks a host outside its caps.
 */

export interface SocketServerOptions extends SessionCaps {
  mux: Mux;
  /** tokens (a TokenStore, or the entries of a token file): every client must then present one */
  tokens?: TokenStore | readonly TokenSpec[];
  /** serve TCP without tokens: anyone who can connect gets the operator's caps */
  insecureNoAuth?: boolean;
  /** permission bits of the Unix socket file (default 0o600: the server's user only) */
  socketMode?: number;
  /** resource bounds (defaults: DEFAULT_LIMITS) */
  limits?: Partial<ServerLimits>;
  /** same as limits.maxFrameBytes */
  maxFrameBytes?: number;
  /** same as limits.maxInFlight */
  maxInFlight?: number;
  /** told about every session the server opens (a Recorder writes a session record) */
  recorder?: { describeSession(session: Session): void };
  /** one-line diagnostics (connections, refusals, protocol errors), control characters escaped; default: none */
  log?: (line: string) => void;
}

export type ListenTarget =
  | { path: string }
  | { port: number; host?: string; /** allow a non-loopback address */ listenAny?: boolean };

export type ListenAddress = { path: string } | { port: number; host: string };

export { isLoopback };

export class SocketServer extends EventEmitter implements ConnectionHost {
  readonly mux: Mux;
  readonly limits: ServerLimits;
  readonly counters: ServerCounters = newCounters();
  private readonly caps: SessionCaps;
  private readonly tokens: TokenStore | null;
  private readonly insecureNoAuth: boolean;
  private readonly socketMode: number;
  private readonly log: (line: string) => void;
  private readonly recorder: SocketServerOptions['recorder'];
  private server: Server | null = null;
  private removeSocketFile: (() => void) | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly conns = new Set<Connection>();
  private nextConn = 1;
  private closing: Promise<void> | null = null;
  address: ListenAddress | null = null;

  constructor(opts: SocketServerOptions) {
    super();
    this.mux = opts.mux;
    this.limits = resolveLimits({
      ...opts.limits,
      ...(opts.maxFrameBytes !== undefined ? { maxFrameBytes: opts.maxFrameBytes } : {}),
      ...(opts.maxInFlight !== undefined ? { maxInFlight: opts.maxInFlight } : {}),
    });
    this.tokens = opts.tokens === undefined ? null : opts.tokens instanceof TokenStore ? opts.tokens : new TokenStore(opts.tokens);
    if (this.tokens !== null && (opts.maxTier !== undefined || opts.allowFabricManager !== undefined || opts.allowedHosts !== undefined)) {
      throw new BadRequestError('with tokens, each token sets its own tier cap, hosts and fabric-manager right: leave maxTier, allowFabricManager and allowedHosts unset');
    }
    this.caps = { maxTier: opts.maxTier ?? 'debug-read', allowFabricManager: opts.allowFabricManager === true, allowedHosts: opts.allowedHosts ?? [0] };
    grantSession(this.caps, {}); // validates maxTier and the hosts
    this.insecureNoAuth = opts.insecureNoAuth === true;
    this.socketMode = opts.socketMode ?? 0o600;
    if (!Number.isInteger(this.socketMode) || this.socketMode < 0 || this.socketMode > 0o777) throw new BadRequestError(`socketMode must be from 0 to 0o777 (got ${String(opts.socketMode)})`);
    this.log = guardedLog(opts.log ?? (() => {}));
    this.recorder = opts.recorder;
  }

  /** Connections open now. */
  get connections(): number {
    return this.conns.size;
  }

  /** Whether clients must present a token. */
  get authenticated(): boolean {
    return this.tokens !== null;
  }

  /** Counters: refusals and forced closes by reason, peaks of buffered bytes and requests in flight. */
  stats(): ServerStats {
    return { ...structuredClone(this.counters), connections: this.conns.size };
  }

  /** @internal the `stats` frame */
  statsSnapshot(): Record<string, unknown> {
    return this.stats() as unknown as Record<string, unknown>;
  }

  /**
   * Starts listening on a Unix socket path (file mode `socketMode`, default 0600) or a TCP port (127.0.0.1
   * unless `host` is given; a non-loopback host needs `listenAny`; TCP needs tokens or `insecureNoAuth`).
   * A stale Unix socket file (no server answering) is replaced.
   */
  async listen(target: ListenTarget, opts: { signal?: AbortSignal } = {}): Promise<ListenAddress> {
    if (this.server !== null) throw new BadRequestError('this server is already listening');
    if (opts.signal?.aborted) throw new CancelledError('EMBX_ABORTED', 'listen was aborted');
    // half-open: a client may end its side and still read the answers to what it sent
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (s) => this.accept(s));
    this.server = server;
    try {
      this.address = await this.bind(server, target, opts.signal);
    } catch (e) {
      this.server = null;
      throw e;
    }
    server.on('error', (e) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
      else this.log(`server error: ${e.message}`);
    });
    const l = this.limits;
    const tick = Math.min(1000, Math.max(20, Math.min(l.helloTimeoutMs, l.stallTimeoutMs, l.idleTimeoutMs || Infinity) / 4));
    this.sweeper = setInterval(() => {
      const now = performance.now();
      for (const c of this.conns) c.sweep(now);
    }, tick);
    this.sweeper.unref();
    return this.address;
  }

  private async bind(server: Server, target: ListenTarget, signal: AbortSignal | undefined): Promise<ListenAddress> {
    if ('path' in target) {
      this.removeSocketFile = await listenUnix(server, target.path, this.socketMode, signal);
      return { path: target.path };
    }
    const host = target.host ?? '127.0.0.1';
    if (!Number.isInteger(target.port) || target.port < 0 || target.port > 65535) throw new BadRequestError(`port must be an integer from 0 to 65535 (got ${target.port})`);
    if (this.tokens === null && !this.insecureNoAuth) {
      throw new BadRequestError('refusing to serve TCP without authentication: give a token file (--tokens FILE), use a Unix socket, or pass insecureNoAuth (--insecure-no-auth)');
    }
    if (!isLoopback(host) && target.listenAny !== true) {
      throw new BadRequestError(`refusing to listen on ${host}: a non-loopback address needs listenAny (--listen-any)`);
    }
    await listenOn(server, { port: target.port, host }, signal);
    const a = server.address();
    return typeof a === 'object' && a !== null ? { port: a.port, host: a.address } : { port: target.port, host };
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {});
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    this.counters.accepted++;
    const peer = socket.remoteAddress !== undefined ? `${socket.remoteAddress}:${socket.remotePort}` : 'unix';
    if (this.conns.size >= this.limits.maxConnections) {
      this.counters.refused.connections++;
      this.log(`connection from ${peer} refused: ${this.conns.size} connections open (the limit)`);
      socket.end(encodeFrame({ type: 'error', code: 'EMBX_BACKPRESSURE', message: `the server has ${this.conns.size} connections open, its limit; try again later`, lastId: null }));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    const c = new Connection(this.nextConn++, socket, this, peer);
    this.conns.add(c);
    socket.once('close', () => {
      this.conns.delete(c);
      this.emit('disconnect', c.id);
    });
  }

  /** @internal authenticates a hello and opens its session */
  openSession(connId: number, peer: string, hello: HelloFrame): { session: Session; welcome: WelcomeFrame } {
    let caps = this.caps;
    let identity: string | undefined;
    if (this.tokens !== null) {
      const t = this.tokens.authenticate(hello.token);
      if (t === null) {
        this.counters.refused.auth++;
        throw new PermissionError(`authentication failed: hello.token is ${hello.token === undefined ? 'missing' : 'not a token this server accepts'}`);
      }
      caps = { maxTier: t.maxTier, allowFabricManager: t.fabricManager, allowedHosts: t.hosts };
      identity = t.name;
    }
    let g;
    try {
      g = grantSession(caps, hello);
    } catch (e) {
      this.counters.refused.host++;
      throw e;
    }
    const name = `conn-${connId}${identity !== undefined ? `@${identity}` : ''}${hello.name ? `:${hello.name}` : ''}`;
    const session = this.mux.openSession({ tier: g.tier, host: g.host, fabricManager: g.fabricManager, name });
    this.recorder?.describeSession(session);
    this.log(`${name} (${peer}): session tier ${g.tier}, host ${g.host}${g.fabricManager ? ', fabric manager' : ''}${g.notes.length ? ` (${g.notes.join('; ')})` : ''}`);
    const l = this.limits;
    const welcome: WelcomeFrame = {
      type: 'welcome', protocol: PROTOCOL_VERSION, session: name, tier: g.tier, requestedTier: g.requestedTier, host: g.host,
      fabricManager: g.fabricManager, ...(identity !== undefined ? { identity } : {}), maxFrameBytes: l.maxFrameBytes, maxInFlight: l.maxInFlight,
      maxRequestTimeoutMs: l.maxRequestTimeoutMs, idleTimeoutMs: l.idleTimeoutMs,
      ...(this.mux.fleet.slice !== undefined ? { slice: { ...this.mux.fleet.slice } } : {}),
    };
    if (hello.devices !== false) welcome.devices = this.mux.devices();
    return { session, welcome };
  }

  /** @internal */
  note(line: string): void {
    this.log(line);
  }

  /**
   * Stops accepting connections and taking frames, lets the requests in flight be answered (up to
   * `timeoutMs`, default limits.shutdownGraceMs), answers the rest EMBX_CLOSED, then sends each client the
   * closing error (EMBX_CLOSED with the last request id it processed) and closes it. Does not close the mux.
   */
  close(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = (async () => {
      const server = this.server;
      const stopped = server === null ? Promise.resolve() : new Promise<void>((r) => server.close(() => r()));
      if (this.sweeper !== null) clearInterval(this.sweeper);
      const conns = [...this.conns];
      const answered = Promise.all(conns.map((c) => c.shutdown()));
      await this.wait(answered, opts.timeoutMs ?? this.limits.shutdownGraceMs, opts.signal);
      for (const c of conns) c.abandon();
      // each client gets a moment to read its closing error and hang up; then it is cut off
      await this.wait(Promise.all(conns.map((c) => c.closed())), 2500, opts.signal);
      for (const c of this.conns) c.destroy();
      await stopped;
      this.removeSocketFile?.();
    })();
    return this.closing;
  }

  private async wait(p: Promise<unknown>, ms: number, signal: AbortSignal | undefined): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const limit = new Promise<void>((r) => {
      timer = setTimeout(r, ms);
      onAbort = () => r();
      if (signal?.aborted) r();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    await Promise.race([p, limit]);
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
