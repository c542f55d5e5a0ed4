import { EventEmitter } from 'node:events';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, isIP, type Server, type Socket } from 'node:net';
import { BadRequestError, CancelledError, ClosedError, MbxError, ProtocolError } from '../errors.js';
import type { Mux } from '../mux/mux.js';
import type { Session } from '../mux/session.js';
import type { CommandResult, SendRequest } from '../mux/types.js';
import {
  DEFAULT_MAX_FRAME_BYTES, decodeMap, errorFields, FrameDecoder, parseClientFrame, PROTOCOL_VERSION, type ReqFrame, type WelcomeFrame,
} from './frames.js';
import { FrameWriter } from './fast-msgpack.js';
import { grantSession, type SessionCaps } from './session-caps.js';

/**
 * The socket server: many clients, each on its own connection and mux session, speaking length-prefixed
 * MessagePack frames (PROTOCOL.md). Requests are pipelined: a connection may have many in flight and
 * answers come back as they complete, matched by id. A malformed frame gets one `error` frame and closes
 * that connection only.
 */

export interface SocketServerOptions extends SessionCaps {
  mux: Mux;
  /** largest frame accepted (default 16 MiB) */
  maxFrameBytes?: number;
  /** requests in flight per connection before the server stops reading from it (default 8192) */
  maxInFlight?: number;
  /** told about every session the server opens (a Recorder writes a session record) */
  recorder?: { describeSession(session: Session): void };
  /** one-line diagnostics (connections, refusals, protocol errors); default: none */
  log?: (line: string) => void;
}

export type ListenTarget =
  | { path: string }
  | { port: number; host?: string; /** allow a non-loopback address (the server has no authentication) */ listenAny?: boolean };

export type ListenAddress = { path: string } | { port: number; host: string };

/** True for 127.0.0.0/8, ::1, ::ffff:127.x and "localhost". */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

export class SocketServer extends EventEmitter {
  private readonly mux: Mux;
  private readonly caps: SessionCaps;
  private readonly maxFrameBytes: number;
  private readonly maxInFlight: number;
  private readonly log: (line: string) => void;
  private readonly recorder: SocketServerOptions['recorder'];
  private server: Server | null = null;
  private readonly conns = new Set<Connection>();
  private nextConn = 1;
  private closing: Promise<void> | null = null;
  address: ListenAddress | null = null;

  constructor(opts: SocketServerOptions) {
    super();
    this.mux = opts.mux;
    this.caps = { maxTier: opts.maxTier ?? 'debug-read', allowFabricManager: opts.allowFabricManager === true, ...(opts.allowedHosts ? { allowedHosts: opts.allowedHosts } : {}) };
    grantSession(this.caps, {}); // validates maxTier
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(this.maxFrameBytes) || this.maxFrameBytes < 64 || this.maxFrameBytes > 0xffffffff) {
      throw new BadRequestError(`maxFrameBytes must be an integer from 64 to 2^32-1 (got ${opts.maxFrameBytes})`);
    }
    this.maxInFlight = opts.maxInFlight ?? 8192;
    this.log = opts.log ?? (() => {});
    this.recorder = opts.recorder;
  }

  /** Connections open now. */
  get connections(): number {
    return this.conns.size;
  }

  /**
   * Starts listening on a Unix socket path or a TCP port (127.0.0.1 unless `host` is given; a non-loopback
   * host needs `listenAny`). A stale Unix socket file (no server answering) is replaced.
   */
  async listen(target: ListenTarget, opts: { signal?: AbortSignal } = {}): Promise<ListenAddress> {
    if (this.server !== null) throw new BadRequestError('this server is already listening');
    if (opts.signal?.aborted) throw new CancelledError('EMBX_ABORTED', 'listen was aborted');
    const server = createServer({ noDelay: true }, (s) => this.accept(s));
    this.server = server;
    try {
      return await this.bind(server, target, opts.signal);
    } catch (e) {
      this.server = null;
      throw e;
    }
  }

  private async bind(server: Server, target: ListenTarget, signal: AbortSignal | undefined): Promise<ListenAddress> {
    if ('path' in target) {
      if (typeof target.path !== 'string' || target.path === '') throw new BadRequestError('socket path must be a non-empty string');
      await removeStaleSocket(target.path);
      await listenOn(server, { path: target.path }, signal);
      this.address = { path: target.path };
    } else {
      const host = target.host ?? '127.0.0.1';
      if (!Number.isInteger(target.port) || target.port < 0 || target.port > 65535) throw new BadRequestError(`port must be an integer from 0 to 65535 (got ${target.port})`);
      if (!isLoopback(host) && target.listenAny !== true) {
        throw new BadRequestError(`refusing to listen on ${host}: the socket server has no authentication; use a loopback address or pass listenAny (--listen-any)`);
      }
      await listenOn(server, { port: target.port, host }, signal);
      const a = server.address();
      this.address = typeof a === 'object' && a !== null ? { port: a.port, host: a.address } : { port: target.port, host };
    }
    server.on('error', (e) => {
      if (this.listenerCount('error') > 0) this.emit('error', e);
      else this.log(`server error: ${e.message}`);
    });
    return this.address;
  }

  private accept(socket: Socket): void {
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    const c = new Connection(this.nextConn++, socket, this);
    this.conns.add(c);
    socket.on('close', () => {
      this.conns.delete(c);
      c.closed();
      this.emit('disconnect', c.id);
    });
  }

  /** @internal used by Connection */
  openSession(connId: number, hello: ReturnType<typeof parseClientFrame> & { type: 'hello' }): { session: Session; welcome: WelcomeFrame } {
    const g = grantSession(this.caps, hello);
    const name = `conn-${connId}${hello.name ? `:${hello.name}` : ''}`;
    const session = this.mux.openSession({ tier: g.tier, host: g.host, fabricManager: g.fabricManager, name });
    this.recorder?.describeSession(session);
    this.log(`${name}: session tier ${g.tier}, host ${g.host}${g.fabricManager ? ', fabric manager' : ''}${g.notes.length ? ` (${g.notes.join('; ')})` : ''}`);
    const welcome: WelcomeFrame = {
      type: 'welcome', protocol: PROTOCOL_VERSION, session: name, tier: g.tier, requestedTier: g.requestedTier, host: g.host,
      fabricManager: g.fabricManager, maxFrameBytes: this.maxFrameBytes,
    };
    if (hello.devices !== false) welcome.devices = this.mux.devices();
    return { session, welcome };
  }

  /** @internal */
  get limits(): { maxFrameBytes: number; maxInFlight: number } {
    return { maxFrameBytes: this.maxFrameBytes, maxInFlight: this.maxInFlight };
  }

  /** @internal */
  get theMux(): Mux {
    return this.mux;
  }

  /** @internal */
  note(line: string): void {
    this.log(line);
  }

  /**
   * Stops accepting connections, stops reading new requests, lets the requests in flight finish and be
   * answered (up to `timeoutMs`, default 10 s), then tells each client with an `error` frame EMBX_CLOSED and
   * closes it. Does not close the mux.
   */
  close(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = (async () => {
      const server = this.server;
      const stopped = server === null ? Promise.resolve() : new Promise<void>((r) => server.close(() => r()));
      const drained = Promise.all([...this.conns].map((c) => c.drain()));
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const limit = new Promise<void>((r) => {
        timer = setTimeout(r, opts.timeoutMs ?? 10_000);
        onAbort = () => r();
        opts.signal?.addEventListener('abort', onAbort, { once: true });
      });
      await Promise.race([drained, limit]);
      clearTimeout(timer);
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
      for (const c of this.conns) c.destroy();
      await stopped;
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

const enum CState {
  HELLO = 0,
  OPEN = 1,
  /** server shutdown: no new requests, answering the ones in flight */
  DRAINING = 2,
  /** fatal error sent or socket gone: nothing more is read or written */
  DEAD = 3,
}

/** One client connection: its frame decoder, its session, its requests in flight, its batched writes. */
class Connection {
  private state = CState.HELLO;
  private readonly decoder: FrameDecoder;
  private session: Session | null = null;
  private readonly inFlight = new Set<number>();
  private readonly writer = new FrameWriter();
  private flushScheduled = false;
  private pausedForInFlight = false;
  private writeBlocked = false;
  private drainWaiters: (() => void)[] = [];
  private readonly maxInFlight: number;

  constructor(readonly id: number, private readonly socket: Socket, private readonly server: SocketServer) {
    this.decoder = new FrameDecoder(server.limits.maxFrameBytes);
    this.maxInFlight = server.limits.maxInFlight;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {}); // 'close' follows
    socket.on('drain', () => {
      this.writeBlocked = false;
      this.maybeResume();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.state !== CState.OPEN && this.state !== CState.HELLO) return;
    let bodies: Buffer[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (e) {
      this.fatal(e);
      return;
    }
    for (const body of bodies) {
      if (this.state !== CState.OPEN && this.state !== CState.HELLO) return;
      try {
        this.onFrame(parseClientFrame(decodeMap(body)));
      } catch (e) {
        this.fatal(e);
        return;
      }
    }
    if (this.inFlight.size >= this.maxInFlight && !this.pausedForInFlight) {
      this.pausedForInFlight = true;
      this.socket.pause();
    }
  }

  private onFrame(f: ReturnType<typeof parseClientFrame>): void {
    if (this.state === CState.HELLO) {
      if (f.type !== 'hello') throw new ProtocolError(`the first frame must be hello, got ${f.type}`);
      const { session, welcome } = this.server.openSession(this.id, f);
      this.session = session;
      this.state = CState.OPEN;
      this.queue(welcome);
      return;
    }
    switch (f.type) {
      case 'req':
        return this.request(f);
      case 'hello':
        throw new ProtocolError('hello was already sent on this connection');
      case 'devices':
        this.queue({ type: 'devices', id: f.id, devices: this.server.theMux.devices() });
        return;
      case 'effects':
        try {
          this.queue({ type: 'effects', id: f.id, device: f.device, effects: this.server.theMux.effects(f.device) });
        } catch (e) {
          this.queue({ type: 'err', id: f.id, ...errorFields(e) });
        }
    }
  }

  private request(f: ReqFrame): void {
    const id = f.id;
    if (this.inFlight.has(id)) throw new ProtocolError(`request id ${id} is already in flight on this connection (ids must be unique among requests in flight)`);
    this.inFlight.add(id);
    const req: SendRequest = f as unknown as SendRequest; // parseClientFrame built it with request fields only (+ type, id: ignored by the mux)
    this.session!.send(req).then(
      (r) => this.answer(id, r),
      (e) => this.fail(id, e),
    );
  }

  private answer(id: number, r: CommandResult): void {
    this.inFlight.delete(id);
    if (this.state === CState.DEAD) return;
    const res: Record<string, unknown> = { type: 'res', id, rc: r.rc, payload: r.payload, vendorStatus: r.vendorStatus, background: r.background };
    if (r.cqe !== undefined) res.cqe = r.cqe;
    if (r.tunnel !== undefined) res.tunnel = r.tunnel;
    this.queue(res);
    this.settled();
  }

  private fail(id: number, e: unknown): void {
    this.inFlight.delete(id);
    if (this.state === CState.DEAD) return;
    const fields = errorFields(e);
    if (fields.code === 'EMBX_PERMISSION') this.server.note(`conn-${this.id}: refused: ${fields.message}`);
    this.queue({ type: 'err', id, ...fields });
    this.settled();
  }

  private settled(): void {
    if (this.pausedForInFlight && this.inFlight.size <= this.maxInFlight >>> 1) {
      this.pausedForInFlight = false;
      this.maybeResume();
    }
    if (this.inFlight.size === 0 && this.drainWaiters.length > 0) this.scheduleFlush();
  }

  private maybeResume(): void {
    if (!this.pausedForInFlight && !this.writeBlocked && this.state !== CState.DRAINING && this.state !== CState.DEAD) this.socket.resume();
  }

  /** Encodes a frame now and writes it with the rest of this turn's answers. */
  private queue(frame: object): void {
    try {
      this.writer.frame(frame as Record<string, unknown>);
    } catch (e) {
      // a value that does not encode (never expected): tell the client rather than drop the answer
      const id = (frame as { id?: unknown }).id;
      this.writer.frame({ type: typeof id === 'number' ? 'err' : 'error', ...(typeof id === 'number' ? { id } : {}), code: 'EMBX_PROTOCOL', message: `cannot encode the answer: ${(e as Error).message}` });
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // nextTick runs after the microtasks of this drain: every answer settled in it goes out in one write
      process.nextTick(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const buf = this.writer.take();
    if (buf !== null && !this.socket.destroyed && this.socket.writable) {
      if (!this.socket.write(buf) && !this.writeBlocked) {
        this.writeBlocked = true;
        this.socket.pause();
      }
    }
    if (this.inFlight.size === 0 && this.drainWaiters.length > 0) {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const f of w) f();
    }
  };

  /** A fatal protocol error: one `error` frame, then this connection closes. */
  private fatal(e: unknown): void {
    if (this.state === CState.DEAD) return;
    const f = errorFields(e instanceof MbxError ? e : new ProtocolError(String((e as Error)?.message ?? e)));
    this.server.note(`conn-${this.id}: ${f.code}: ${f.message}; closing the connection`);
    this.queue({ type: 'error', code: f.code, message: f.message });
    this.flush();
    this.state = CState.DEAD;
    this.session?.close();
    this.socket.end();
    // a peer that never closes its side is cut off after a moment
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Server shutdown: stop reading, answer what is in flight, send EMBX_CLOSED, end the socket. */
  drain(): Promise<void> {
    if (this.state === CState.DEAD) return Promise.resolve();
    this.state = CState.DRAINING;
    this.socket.pause();
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        if (this.state !== CState.DEAD) {
          this.queue({ type: 'error', code: 'EMBX_CLOSED', message: new ClosedError('the server is shutting down').message });
          this.flush();
          this.state = CState.DEAD;
          this.session?.close();
          this.socket.end();
        }
        if (this.socket.closed) resolve();
        else this.socket.once('close', () => resolve());
      };
      if (this.inFlight.size === 0) finish();
      else this.drainWaiters.push(finish);
    });
  }

  destroy(): void {
    this.state = CState.DEAD;
    this.socket.destroy();
  }

  /** the socket closed */
  closed(): void {
    this.state = CState.DEAD;
    this.session?.close();
    this.inFlight.clear();
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const f of w) f();
  }
}

function listenOn(server: Server, where: { path: string } | { port: number; host: string }, signal?: AbortSignal): Promise<void> {
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
