import type { Socket } from 'node:net';
import { MbxError, ProtocolError } from '../errors.js';
import type { Mux } from '../mux/mux.js';
import type { Session } from '../mux/session.js';
import type { Answer } from '../mux/answer.js';
import type { SendRequest } from '../mux/types.js';
import { FrameWriter } from './msgpack.js';
import {
  decodeMap, errorFields, FrameDecoder, type HelloFrame, parseClientFrame, type ReqFrame, type StatsFrame, type DevicesFrame,
  type EffectsFrame, type WelcomeFrame,
} from './frames.js';
import type { ServerLimits } from './limits.js';
import type { ServerCounters } from './server-stats.js';

/**
 * One client connection: its frame decoder, its session, its requests in flight, its batched writes, and
 * the bounds of limits.ts (README "Limits") applied to it.
 *
 * Admission: a frame is taken from the decoder only while the connection has fewer than maxInFlight
 * requests (of every kind) and maxInFlightBytes of request frames in flight and its socket is not
 * write-blocked; otherwise reading pauses (TCP back-pressure) until it is down to half of both. `devices`, `effects`
 * and `stats` are answered from a local queue on setImmediate, a few at a time while little output is
 * buffered, so a client that asks for the device list many times cannot make the server build answers
 * faster than it reads them. Answer bytes the client has not read are bounded by maxOutputBytes: past it
 * the client is disconnected as a slow reader.
 *
 * Closing (like HTTP/2 GOAWAY): after a bad frame, a timeout or on shutdown the connection stops taking
 * frames, answers every request in flight, then sends one `error` frame carrying `lastId`, the id of the
 * last request frame it processed. Every complete frame before the bad one was processed; none after it.
 */

export interface ConnectionHost {
  readonly limits: ServerLimits;
  readonly mux: Mux;
  readonly counters: ServerCounters;
  /** authenticates the hello and opens the session; throws PermissionError for a refusal */
  openSession(connId: number, peer: string, hello: HelloFrame): { session: Session; welcome: WelcomeFrame };
  note(line: string): void;
  statsSnapshot(): Record<string, unknown>;
}

const enum State {
  HELLO = 0,
  OPEN = 1,
  /** no more frames taken: answering what is in flight, then the closing error */
  CLOSING = 2,
  /** closing error sent or socket gone: nothing more is read or written */
  DEAD = 3,
}

type LocalFrame = DevicesFrame | EffectsFrame | StatsFrame;

/** answers of devices/effects/stats are built only while less than this (or 1/4 of maxOutputBytes) is buffered */
const LOCAL_OUTPUT_BUDGET = 256 * 1024;
/** a closed connection whose peer does not close its side is cut off after this long */
const LINGER_MS = 2000;

export class Connection {
  private state = State.HELLO;
  readonly openedAt = performance.now();
  /** last time bytes arrived, an answer settled, or the socket drained */
  private lastActivity = this.openedAt;
  private lastDrain = this.openedAt;
  private readonly decoder: FrameDecoder;
  private session: Session | null = null;
  /** request id -> frame bytes, for every request in flight (req, devices, effects, stats) */
  private readonly inFlight = new Map<number, number>();
  private inFlightBytes = 0;
  private lastId: number | null = null;
  private readonly local: LocalFrame[] = [];
  private localScheduled = false;
  private readonly writer = new FrameWriter();
  private flushScheduled = false;
  private writeBlocked = false;
  private readingPaused = false;
  private closingReason: { code: MbxError['code']; message: string } | null = null;
  private finishedWaiters: (() => void)[] = [];
  private closedWaiters: (() => void)[] = [];
  private socketClosed = false;
  /** the client ended its side: once its buffered frames are processed, the connection closes */
  private peerEnded = false;
  private linger: NodeJS.Timeout | null = null;

  constructor(readonly id: number, private readonly socket: Socket, private readonly host: ConnectionHost, readonly peer: string) {
    this.decoder = new FrameDecoder(host.limits.maxFrameBytes);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {}); // 'close' follows
    socket.on('drain', () => this.onDrain());
    socket.on('end', () => {
      this.peerEnded = true;
      if (this.state <= State.OPEN) this.pump();
    });
    socket.on('close', () => this.onClose());
  }

  // ------------------------------------------------------------------ reading and admission

  private onData(chunk: Buffer): void {
    if (this.state >= State.CLOSING) return;
    this.lastActivity = performance.now();
    this.decoder.append(chunk);
    this.pump();
  }

  /** Takes frames from the decoder while admission allows; pauses reading when it does not. */
  private pump(): void {
    while (this.state === State.HELLO || this.state === State.OPEN) {
      if (!this.canAdmit()) {
        this.pauseReading();
        return;
      }
      let body: Buffer | null;
      try {
        body = this.decoder.next();
      } catch (e) {
        this.refuse(e);
        return;
      }
      if (body === null) {
        if (this.peerEnded) this.beginClose('EMBX_CLOSED', 'the client ended its side of the connection');
        else this.resumeReading();
        return;
      }
      try {
        this.onFrame(parseClientFrame(decodeMap(body)), body.byteLength);
      } catch (e) {
        this.refuse(e);
        return;
      }
    }
  }

  private canAdmit(): boolean {
    if (this.state === State.HELLO) return true;
    const l = this.host.limits;
    return this.inFlight.size < l.maxInFlight && this.inFlightBytes < l.maxInFlightBytes && !this.writeBlocked;
  }

  private pauseReading(): void {
    if (!this.readingPaused) {
      this.readingPaused = true;
      this.socket.pause();
    }
  }

  /** Reading resumes once the connection is down to half its caps, not at the first answer: no pause/resume per answer. */
  private resumeReading(): void {
    const l = this.host.limits;
    if (this.readingPaused && this.inFlight.size <= l.maxInFlight >>> 1 && this.inFlightBytes <= l.maxInFlightBytes / 2 && !this.writeBlocked) {
      this.readingPaused = false;
      this.socket.resume();
    }
  }

  private onFrame(f: ReturnType<typeof parseClientFrame>, bytes: number): void {
    if (this.state === State.HELLO) {
      if (f.type !== 'hello') throw new ProtocolError(`the first frame must be hello, got ${f.type}`);
      const { session, welcome } = this.host.openSession(this.id, this.peer, f);
      this.session = session;
      this.state = State.OPEN;
      this.queue(welcome as unknown as Record<string, unknown>);
      return;
    }
    if (f.type === 'hello') throw new ProtocolError('hello was already sent on this connection');
    if (this.inFlight.has(f.id)) throw new ProtocolError(`request id ${f.id} is already in flight on this connection (ids must be unique among requests in flight)`);
    this.lastId = f.id;
    this.host.counters.requests++;
    if (f.type === 'req') this.request(f, bytes);
    else {
      this.track(f.id, bytes);
      this.local.push(f);
      this.scheduleLocal();
    }
  }

  private track(id: number, bytes: number): void {
    this.inFlight.set(id, bytes);
    this.inFlightBytes += bytes;
    const p = this.host.counters.peak;
    if (this.inFlight.size > p.inFlight) p.inFlight = this.inFlight.size;
    if (this.inFlightBytes > p.inFlightBytes) p.inFlightBytes = this.inFlightBytes;
  }

  /** false if the request is no longer tracked (answered already, or the connection gave up on it) */
  private untrack(id: number): boolean {
    const bytes = this.inFlight.get(id);
    if (bytes === undefined) return false;
    this.inFlight.delete(id);
    this.inFlightBytes -= bytes;
    return true;
  }

  // ------------------------------------------------------------------ requests

  private request(f: ReqFrame, bytes: number): void {
    const id = f.id;
    const maxTimeout = this.host.limits.maxRequestTimeoutMs;
    if (f.timeoutMs !== undefined && (f.timeoutMs === 0 || f.timeoutMs > maxTimeout)) {
      // "no timeout" would let one request hold its slot (and a device window) for good
      this.queue({
        type: 'err', id, code: 'EMBX_BAD_REQUEST',
        message: `timeoutMs must be more than 0 and at most ${maxTimeout} on this server (got ${f.timeoutMs}; the operator sets the cap with --max-request-timeout)`,
      });
      return;
    }
    this.track(id, bytes);
    const req: SendRequest = f as unknown as SendRequest; // parseClientFrame built it with request fields only (+ type, id: ignored by the mux)
    // submit(): the answer is encoded into the client's frame while its bytes are still in the completion ring,
    // with no promise or result copy in between
    this.session!.submit(req, (err, a) => (err === null ? this.answer(id, a!) : this.failed(id, err)));
  }

  /** Encodes the answer into its frame now: `a` and its byte views are valid only during this call. */
  private answer(id: number, a: Answer): void {
    if (!this.untrack(id) || this.state === State.DEAD) return;
    const res: Record<string, unknown> = { type: 'res', id, rc: a.rc, payload: a.payload(), vendorStatus: a.vendorStatus, background: a.background };
    const cqe = a.cqe();
    if (cqe !== undefined) res.cqe = cqe;
    if (a.tunnel !== undefined) res.tunnel = a.tunnel;
    this.queue(res);
    this.settled();
  }

  private failed(id: number, e: unknown): void {
    if (!this.untrack(id) || this.state === State.DEAD) return;
    const fields = errorFields(e);
    if (fields.code === 'EMBX_PERMISSION') {
      this.host.counters.refused.permission++;
      this.host.note(`conn-${this.id}: refused: ${fields.message}`);
    }
    this.queue({ type: 'err', id, ...fields });
    this.settled();
  }

  private scheduleLocal(): void {
    if (!this.localScheduled && this.local.length > 0) {
      this.localScheduled = true;
      setImmediate(this.runLocal);
    }
  }

  /** Answers devices / effects / stats while little output is buffered; the rest waits for the client to read. */
  private readonly runLocal = (): void => {
    this.localScheduled = false;
    let answered = false;
    while (this.local.length > 0 && this.state !== State.DEAD) {
      if (this.outputBuffered() >= Math.min(LOCAL_OUTPUT_BUDGET, this.host.limits.maxOutputBytes / 4)) break;
      const f = this.local.shift()!;
      if (!this.untrack(f.id)) continue;
      try {
        this.queue(this.localAnswer(f));
      } catch (e) {
        this.queue({ type: 'err', id: f.id, ...errorFields(e) });
      }
      answered = true;
    }
    // more to do: go on after this turn's flush, or on 'drain' if the socket is write-blocked
    if (this.local.length > 0 && !this.writeBlocked) this.scheduleLocal();
    if (answered) this.settled();
  };

  private localAnswer(f: LocalFrame): Record<string, unknown> {
    switch (f.type) {
      case 'devices':
        return { type: 'devices', id: f.id, devices: this.host.mux.devices() };
      case 'effects':
        return { type: 'effects', id: f.id, device: f.device, effects: this.host.mux.effects(f.device) };
      case 'stats':
        return { type: 'stats', id: f.id, stats: this.host.statsSnapshot() };
    }
  }

  /** A request left the in-flight set: admit more, or finish closing. */
  private settled(): void {
    this.lastActivity = performance.now();
    if (this.state === State.CLOSING) {
      if (this.inFlight.size === 0) this.finish();
    } else if (this.readingPaused) {
      this.pump();
    }
  }

  // ------------------------------------------------------------------ writing

  /** bytes written for the client and not yet taken by the kernel, plus this turn's unwritten answers */
  private outputBuffered(): number {
    return this.socket.writableLength + this.writer.pending;
  }

  /** Encodes a frame now and writes it with the rest of this turn's answers. */
  private queue(frame: Record<string, unknown>): void {
    if (this.state === State.DEAD) return;
    const before = this.outputBuffered();
    try {
      this.writer.frame(frame);
    } catch (e) {
      // a value that does not encode (never expected): tell the client rather than drop the answer
      const id = frame.id;
      this.writer.frame({ type: typeof id === 'number' ? 'err' : 'error', ...(typeof id === 'number' ? { id } : { lastId: this.lastId }), code: 'EMBX_PROTOCOL', message: `cannot encode the answer: ${(e as Error).message}` });
    }
    const after = this.outputBuffered();
    // one answer larger than the limit is still sent when nothing else is waiting
    if (after > this.host.limits.maxOutputBytes && before > 0) {
      this.slowReader(`${before} bytes of answers not read`);
      return;
    }
    const p = this.host.counters.peak;
    if (after > p.outputBytes) p.outputBytes = after;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // nextTick runs after the microtasks of this drain: every answer settled in it goes out in one write
      process.nextTick(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const buf = this.writer.take();
    if (buf === null || this.socket.destroyed || !this.socket.writable) return;
    if (!this.socket.write(buf) && !this.writeBlocked) {
      this.writeBlocked = true;
      this.lastDrain = performance.now(); // the stall is timed from here
    }
  };

  private onDrain(): void {
    const now = performance.now();
    this.lastDrain = now;
    this.lastActivity = now;
    this.writeBlocked = false;
    this.scheduleLocal();
    if (this.readingPaused && this.state <= State.OPEN) this.pump();
  }

  // ------------------------------------------------------------------ closing

  /** A bad frame or a refused hello: answer what is in flight, then the closing error. */
  private refuse(e: unknown): void {
    const f = errorFields(e instanceof MbxError ? e : new ProtocolError(String((e as Error)?.message ?? e)));
    if (f.code === 'EMBX_PROTOCOL') this.host.counters.closed.protocol++;
    this.host.note(`conn-${this.id} (${this.peer}): ${f.code}: ${f.message}; closing the connection`);
    this.beginClose(f.code, f.message);
  }

  /** Stops taking frames; the closing error goes out once nothing is in flight. */
  beginClose(code: MbxError['code'], message: string): void {
    if (this.state >= State.CLOSING) return;
    this.state = State.CLOSING;
    this.closingReason = { code, message };
    this.pauseReading();
    if (this.inFlight.size === 0) this.finish();
  }

  /** Every request in flight is answered: send the closing error with the last processed id and end. */
  private finish(): void {
    if (this.state === State.DEAD) return;
    const r = this.closingReason ?? { code: 'EMBX_CLOSED' as const, message: 'the server closed the connection' };
    this.queue({ type: 'error', code: r.code, message: r.message, lastId: this.lastId });
    if ((this.state as State) === State.DEAD) return; // queue() found a slow reader
    this.flush();
    this.end();
  }

  private end(): void {
    this.state = State.DEAD;
    this.session?.close();
    this.socket.end();
    this.linger = setTimeout(() => this.socket.destroy(), LINGER_MS);
    this.linger.unref();
    this.wake(this.finishedWaiters);
  }

  /** The client does not read its answers: drop them, add the (small) error frame, disconnect. */
  private slowReader(why: string): void {
    if (this.state === State.DEAD) return;
    this.host.counters.closed.slowReader++;
    this.host.note(`conn-${this.id} (${this.peer}): slow reader (${why}; the limit is ${this.host.limits.maxOutputBytes}); disconnecting`);
    this.writer.take(); // this turn's answers are dropped
    this.state = State.DEAD; // before queueing nothing else: answers still arriving are dropped
    const err = new FrameWriter();
    err.frame({ type: 'error', code: 'EMBX_BACKPRESSURE', message: `the client did not read its answers (${why}; the server's limit is ${this.host.limits.maxOutputBytes} bytes)`, lastId: this.lastId });
    if (this.socket.writable) this.socket.write(err.take()!); // a client that reads after all learns why and where it stopped
    this.inFlight.clear();
    this.inFlightBytes = 0;
    this.local.length = 0;
    this.end();
  }

  /** Called about every 1/4 of the shortest timeout: hello, idle and stall timeouts. */
  sweep(now: number): void {
    const l = this.host.limits;
    if (this.state === State.HELLO && now - this.openedAt >= l.helloTimeoutMs) {
      this.host.counters.closed.helloTimeout++;
      this.host.note(`conn-${this.id} (${this.peer}): no hello within ${l.helloTimeoutMs} ms; closing the connection`);
      this.beginClose('EMBX_TIMEOUT', `no hello within ${l.helloTimeoutMs} ms`);
      return;
    }
    if (this.state === State.DEAD) return;
    if (this.writeBlocked && now - this.lastDrain >= l.stallTimeoutMs) {
      this.slowReader(`no answer bytes taken for ${l.stallTimeoutMs} ms`);
      return;
    }
    if (l.idleTimeoutMs > 0 && this.state === State.OPEN && this.inFlight.size === 0 && this.outputBuffered() === 0 && now - this.lastActivity >= l.idleTimeoutMs) {
      this.host.counters.closed.idleTimeout++;
      this.host.note(`conn-${this.id} (${this.peer}): idle for ${l.idleTimeoutMs} ms; closing the connection`);
      this.beginClose('EMBX_TIMEOUT', `the connection was idle for ${l.idleTimeoutMs} ms (the server's idle timeout)`);
    }
  }

  /** Server shutdown: stop taking frames; resolves once the closing error is sent (or the socket is gone). */
  shutdown(): Promise<void> {
    if (this.state < State.CLOSING) {
      this.host.counters.closed.shutdown++;
      this.beginClose('EMBX_CLOSED', 'the server is shutting down');
    }
    return this.when(this.finishedWaiters, () => this.state === State.DEAD);
  }

  /**
   * Shutdown grace over: requests still in flight are answered EMBX_CLOSED (they were handed to the mux and
   * may have run), then the closing error.
   */
  abandon(): void {
    if (this.state !== State.CLOSING) return;
    for (const id of [...this.inFlight.keys()]) {
      this.untrack(id);
      this.queue({ type: 'err', id, code: 'EMBX_CLOSED', message: 'the server shut down before this request was answered; it may have run on the device', context: { mayHaveRun: true } });
    }
    this.local.length = 0;
    this.finish();
  }

  /** Resolves when the socket has closed. */
  closed(): Promise<void> {
    return this.when(this.closedWaiters, () => this.socketClosed);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onClose(): void {
    this.socketClosed = true;
    this.state = State.DEAD;
    if (this.linger !== null) clearTimeout(this.linger);
    this.session?.close();
    this.inFlight.clear();
    this.inFlightBytes = 0;
    this.local.length = 0;
    this.wake(this.finishedWaiters);
    this.wake(this.closedWaiters);
  }

  private when(list: (() => void)[], done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise<void>((r) => list.push(r));
  }

  private wake(list: (() => void)[]): void {
    const w = list.splice(0);
    for (const f of w) f();
  }
}
