import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { BadRequestError, CancelledError, ClosedError, type MbxError, NotRunError, ProtocolError } from '../errors.js';
import type { CommandResult, DeviceInfo } from '../mux/types.js';
import type { Tier } from '../policy/tiers.js';
import {
  DEFAULT_MAX_FRAME_BYTES, decodeMap, type EffectEntry, encodeFrame, errorFromWire, FrameDecoder, type WelcomeFrame, type WireRequest,
} from './frames.js';
import { FrameWriter } from './msgpack.js';
import type { ServerStats } from './server-stats.js';

/**
 * A typed client for `mbxmux serve`: one connection, one session, any number of requests in flight.
 *
 *   await using c = await SocketClient.connect({ path: '/tmp/mbxmux.sock', tier: 'debug-read', host: 0 });
 *   const { rc, payload } = await c.send({ device: 'mem0', opcode: 0x4200 });
 *
 * Failures reject with the same MbxError subclasses and codes as an in-process session (EMBX_PERMISSION,
 * EMBX_UNKNOWN_DEVICE, ...). A request whose `signal` fires is rejected here at once with EMBX_ABORTED; the
 * server still runs it to completion (or its timeoutMs) and its late answer is dropped.
 *
 * When the server closes the connection it first answers what it processed, then sends an `error` frame
 * with the id of the last request it processed. Requests sent after that one reject with NotRunError
 * (EMBX_CLOSED, `context.notRun`): they never ran and may be sent again. Any other request still waiting
 * then (its answer lost) rejects with the server's error; one waiting when the connection breaks without
 * a closing frame rejects with ClosedError (it may or may not have run).
 */

export interface SocketClientOptions {
  /** Unix socket path of the server, or */
  path?: string;
  /** its TCP port, with */
  port?: number;
  /** its address (default 127.0.0.1) */
  address?: string;
  /** session tier asked for (the server caps it at its --max-tier; see `welcome.tier`) */
  tier?: Tier;
  /** host id the session acts for (default: the server's choice, the first host the client may act for) */
  host?: number;
  /** ask for a fabric-manager session (granted only if the server allows it) */
  fabricManager?: boolean;
  /** a label, shown in the server's session name and audit records */
  name?: string;
  /** the token the server's token file gives this client (required when the server has one) */
  token?: string;
  /** false: do not send the device list in `welcome` (big fleets) */
  devices?: boolean;
  /** largest frame accepted from the server (default 16 MiB) */
  maxFrameBytes?: number;
  /** gives up connecting after this long (default 10 s) */
  connectTimeoutMs?: number;
  signal?: AbortSignal;
}

/** A request as SendRequest has it, minus noWait (the server queues). */
export interface RemoteRequest extends WireRequest {
  signal?: AbortSignal;
}

interface Waiter {
  resolve: (v: never) => void;
  reject: (e: MbxError) => void;
  kind: 'res' | 'devices' | 'effects' | 'stats';
  cleanup: (() => void) | null;
}

export class SocketClient extends EventEmitter {
  /** the server's welcome: the session name, the tier actually granted, the device list */
  readonly welcome: WelcomeFrame;
  private readonly socket: Socket;
  private readonly decoder: FrameDecoder;
  private readonly waiters = new Map<number, Waiter>();
  private nextId = 1;
  private readonly writer = new FrameWriter();
  private flushScheduled = false;
  private closedErr: MbxError | null = null;
  private closeWaiters: (() => void)[] = [];

  private constructor(socket: Socket, decoder: FrameDecoder, welcome: WelcomeFrame) {
    super();
    this.socket = socket;
    this.decoder = decoder;
    this.welcome = welcome;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.shutdown(new ClosedError(`the connection to the server failed: ${e.message}; requests waiting may or may not have run`)));
    socket.on('close', () => this.shutdown(new ClosedError('the connection to the server closed without a closing frame; requests waiting may or may not have run')));
    queueMicrotask(() => this.readFrames());
  }

  /** Connects, says hello, and resolves once the server's welcome arrives. */
  static async connect(opts: SocketClientOptions): Promise<SocketClient> {
    if (opts.signal?.aborted) throw new CancelledError('EMBX_ABORTED', 'connect was aborted');
    const where = opts.path !== undefined ? { path: opts.path } : opts.port !== undefined ? { port: opts.port, host: opts.address ?? '127.0.0.1' } : null;
    if (where === null) throw new BadRequestError('SocketClient.connect needs a path (Unix socket) or a port');
    const socket = connect({ ...where, noDelay: true });
    const decoder = new FrameDecoder(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    // no host unless asked: the server decides it (the first its caps or the client's token allow)
    const hello: Record<string, unknown> = { type: 'hello', tier: opts.tier ?? 'debug-read' };
    if (opts.host !== undefined) hello.host = opts.host;
    if (opts.fabricManager !== undefined) hello.fabricManager = opts.fabricManager;
    if (opts.name !== undefined) hello.name = opts.name;
    if (opts.token !== undefined) hello.token = opts.token;
    if (opts.devices !== undefined) hello.devices = opts.devices;
    return await new Promise<SocketClient>((resolve, reject) => {
      let done = false;
      const finish = (e: MbxError | null, client?: SocketClient): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('close', onClose);
        opts.signal?.removeEventListener('abort', onAbort);
        if (e !== null) {
          socket.destroy();
          reject(e);
        } else resolve(client!);
      };
      const onData = (chunk: Buffer): void => {
        let first;
        try {
          decoder.append(chunk);
          const body = decoder.next();
          if (body === null) return;
          first = decodeMap(body);
        } catch (e) {
          return finish(e as MbxError);
        }
        if (first.type === 'error') return finish(errorFromWire(first.code, first.message));
        if (first.type !== 'welcome' || typeof first.session !== 'string') return finish(new ProtocolError(`expected welcome from the server, got ${String(first.type)}`));
        // frames after welcome in the same chunk stay in the decoder: the client reads them next
        finish(null, new SocketClient(socket, decoder, first as unknown as WelcomeFrame));
      };
      const onError = (e: Error): void => finish(new ClosedError(`cannot connect to ${'path' in where ? where.path : `${where.host}:${where.port}`}: ${e.message}`, { cause: e.message }));
      const onClose = (): void => finish(new ClosedError('the server closed the connection before welcome'));
      const onAbort = (): void => finish(new CancelledError('EMBX_ABORTED', 'connect was aborted'));
      const timer = setTimeout(() => finish(new CancelledError('EMBX_TIMEOUT', `no welcome from the server within ${opts.connectTimeoutMs ?? 10_000} ms`)), opts.connectTimeoutMs ?? 10_000);
      socket.on('data', onData);
      socket.once('error', onError);
      socket.once('close', onClose);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => socket.write(encodeFrame(hello)));
    });
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.waiters.size;
  }

  /** Why the connection ended (null while open). */
  get closedError(): MbxError | null {
    return this.closedErr;
  }

  /** Sends one command; resolves with the device's answer, as Session.send does. */
  send(req: RemoteRequest): Promise<CommandResult> {
    const f: Record<string, unknown> = { type: 'req', id: 0, device: req.device, opcode: req.opcode };
    if (req.payload !== undefined) f.payload = req.payload;
    if (req.data !== undefined) f.data = req.data;
    if (req.queue !== undefined) f.queue = req.queue;
    if (req.cid !== undefined) f.cid = req.cid;
    if (req.nsid !== undefined) f.nsid = req.nsid;
    if (req.cdw10 !== undefined) f.cdw10 = req.cdw10;
    if (req.cdw11 !== undefined) f.cdw11 = req.cdw11;
    if (req.cdw12 !== undefined) f.cdw12 = req.cdw12;
    if (req.cdw13 !== undefined) f.cdw13 = req.cdw13;
    if (req.cdw14 !== undefined) f.cdw14 = req.cdw14;
    if (req.cdw15 !== undefined) f.cdw15 = req.cdw15;
    if (req.tunnel !== undefined) f.tunnel = req.tunnel;
    if (req.mctpType !== undefined) f.mctpType = req.mctpType;
    if (req.timeoutMs !== undefined) f.timeoutMs = req.timeoutMs;
    return this.call<CommandResult>('res', f, req.signal);
  }

  /** The server's device list. */
  devices(opts: { signal?: AbortSignal } = {}): Promise<DeviceInfo[]> {
    return this.call<DeviceInfo[]>('devices', { type: 'devices', id: 0 }, opts.signal);
  }

  /** A device's effects log and the tier each command needs (mux.effects on the server). */
  effects(device: string, opts: { signal?: AbortSignal } = {}): Promise<EffectEntry[]> {
    return this.call<EffectEntry[]>('effects', { type: 'effects', id: 0, device }, opts.signal);
  }

  /** The server's counters (connections, refusals by reason, peaks): SocketServer.stats() on the server. */
  stats(opts: { signal?: AbortSignal } = {}): Promise<ServerStats> {
    return this.call<ServerStats>('stats', { type: 'stats', id: 0 }, opts.signal);
  }

  private call<T>(kind: Waiter['kind'], frame: Record<string, unknown>, signal: AbortSignal | undefined): Promise<T> {
    if (this.closedErr !== null) return Promise.reject(this.closedErr);
    if (signal?.aborted) return Promise.reject(new CancelledError('EMBX_ABORTED', 'the request was aborted before it was sent'));
    const id = this.nextId++;
    frame.id = id;
    try {
      this.writer.frame(frame);
    } catch (e) {
      return Promise.reject(new BadRequestError(`cannot encode the request: ${(e as Error).message}`));
    }
    return new Promise<T>((resolve, reject) => {
      const w: Waiter = { resolve: resolve as (v: never) => void, reject, kind, cleanup: null };
      if (signal !== undefined) {
        const onAbort = (): void => {
          if (this.waiters.get(id) !== w) return;
          this.waiters.delete(id);
          reject(new CancelledError('EMBX_ABORTED', `request ${id} was aborted (the server may still run it)`));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        w.cleanup = () => signal.removeEventListener('abort', onAbort);
      }
      this.waiters.set(id, w);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        process.nextTick(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const buf = this.writer.take();
    if (buf !== null && this.closedErr === null) this.socket.write(buf);
  };

  private onData(chunk: Buffer): void {
    this.decoder.append(chunk);
    this.readFrames();
  }

  /** Every complete frame in order; a bad length from the server ends the connection after the frames before it. */
  private readFrames(): void {
    while (this.closedErr === null) {
      let body: Buffer | null;
      try {
        body = this.decoder.next();
      } catch (e) {
        this.shutdown(e as MbxError);
        return;
      }
      if (body === null) return;
      this.onBody(body);
    }
  }

  private onBody(body: Buffer): void {
    if (this.closedErr !== null) return;
    let f: Record<string, unknown> & { type: string };
    try {
      f = decodeMap(body);
    } catch (e) {
      this.shutdown(e as MbxError);
      return;
    }
    if (f.type === 'error') {
      const err = errorFromWire(f.code, f.message, f.lastId === undefined ? undefined : { lastId: f.lastId });
      this.emit('server-error', err);
      this.shutdown(err, f.lastId === null || typeof f.lastId === 'number' ? f.lastId : undefined);
      return;
    }
    const id = f.id as number;
    const w = this.waiters.get(id);
    if (w === undefined) return; // aborted here, answered late
    this.waiters.delete(id);
    if (w.cleanup !== null) w.cleanup();
    switch (f.type) {
      case 'res': {
        if (w.kind !== 'res') break;
        const r: CommandResult = {
          rc: f.rc as number, payload: u8(f.payload), vendorStatus: (f.vendorStatus as number) ?? 0, background: f.background === true,
        };
        if (f.cqe !== undefined && f.cqe !== null) r.cqe = u8(f.cqe);
        if (f.tunnel !== undefined && f.tunnel !== null) r.tunnel = f.tunnel as CommandResult['tunnel'];
        w.resolve(r as never);
        return;
      }
      case 'err':
        w.reject(errorFromWire(f.code, f.message, f.context));
        return;
      case 'devices':
        if (w.kind !== 'devices') break;
        w.resolve(f.devices as never);
        return;
      case 'effects':
        if (w.kind !== 'effects') break;
        w.resolve(f.effects as never);
        return;
      case 'stats':
        if (w.kind !== 'stats') break;
        w.resolve(f.stats as never);
        return;
    }
    w.reject(new ProtocolError(`the server answered request ${id} with a ${f.type} frame`));
  }

  /**
   * Ends the client. `lastId` (from the server's closing frame; null: it processed none) splits the requests
   * still waiting: those sent after it were never run (NotRunError); the others get `err`.
   */
  private shutdown(err: MbxError, lastId?: number | null): void {
    if (this.closedErr === null) {
      this.closedErr = err;
      for (const [id, w] of this.waiters) {
        if (w.cleanup !== null) w.cleanup();
        if (lastId !== undefined && (lastId === null || id > lastId)) {
          w.reject(new NotRunError(`request ${id} was not run: the server closed the connection (${err.code}: ${err.message}) `
            + `${lastId === null ? 'before processing any request' : `after processing request ${lastId}`}; it is safe to send it again`, { lastId, reason: err.code }));
        } else w.reject(err);
      }
      this.waiters.clear();
      this.socket.destroy();
      this.emit('close', err);
    }
    if (this.socket.closed) {
      const w = this.closeWaiters;
      this.closeWaiters = [];
      for (const f of w) f();
    }
  }

  /**
   * Closes the connection. Requests still in flight reject with EMBX_CLOSED; the server closes the session
   * (its requests already sent still run on the devices).
   */
  close(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.flush();
    this.shutdown(new ClosedError('the client closed the connection'));
    if (this.socket.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        opts.signal?.removeEventListener('abort', done);
        resolve();
      };
      this.closeWaiters.push(done);
      this.socket.once('close', done);
      opts.signal?.addEventListener('abort', done, { once: true });
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** SocketClient.connect as a function. */
export function connectSocket(opts: SocketClientOptions): Promise<SocketClient> {
  return SocketClient.connect(opts);
}

function u8(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(0);
}
