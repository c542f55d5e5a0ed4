import { createReadStream, createWriteStream, openSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { CancelledError, MbxError, ProtocolError } from '../errors.js';
import { loadFleetFile } from '../fleet/expand.js';
import type { FleetInput } from '../fleet/types.js';
import { Channels } from '../mux/diagnostics.js';
import type { Mux } from '../mux/mux.js';
import type { Session } from '../mux/session.js';
import type { CommandResult, SendRequest } from '../mux/types.js';
import { FrameWriter } from './msgpack.js';
import { DEFAULT_MAX_FRAME_BYTES, decodePlainMap, FrameDecoder } from './frames.js';
import { checkRecording } from './recording-check.js';
import {
  type RecordedRefusal, type RecordedRequest, type RecordedResult, type RecordedSession, type Recording, RECORDING_FORMAT, RECORDING_VERSION,
  type RecordingEnd, type RecordingHeader,
} from './recording-types.js';

export {
  type RecordedRefusal, type RecordedRequest, type RecordedResult, type RecordedSession, type Recording, RECORDING_FORMAT, RECORDING_VERSION,
  type RecordingEnd, type RecordingHeader,
};

/**
 * Record every request the mux completes, from the diagnostics channels, to a file replay can play back.
 *
 * File format (version 1): the socket protocol's framing, i.e. a sequence of frames, each a big-endian u32
 * length then one MessagePack map. Every map has a `t` field:
 *   header   { t:'header', format:'mbxmux-recording', version:1, created (ISO time), fleet (FleetInput | null),
 *              workers, devices, node }                                              - first, exactly once
 *   session  { t:'session', name, tier, host, fabricManager, at }                   - when a session is described
 *   req      { t:'req', seq, id, session, device, opcode, payload?, data?, queue?, cid?, nsid?, cdw10..15?, tunnel?,
 *              mctpType?, timeoutMs?, noWait?, start, latencyUs, result? | error? } - one per completion
 *              result = { rc, payload, vendorStatus, background, cqe?, tunnel? }; error = { code, message }
 *   refused  { t:'refused', session, device, opcode?, neededTier?, code, message, at } - permission refusals
 *   end      { t:'end', records, refused, at }                                      - written by close()
 * Times (`start`, `at`) are ms since the recorder started; `latencyUs` is start-to-completion.
 * Records are written in completion order; `id` is the mux's trace id (dispatch order).
 *
 * The diagnostics channels are process-wide: a recorder sees every mux of the process. The mux's own
 * enumeration session is left out (see `sessions`).
 */

const ENUMERATION_SESSION = 'mbxmux-enumeration';

export interface RecorderOptions {
  /** write to this file (created or truncated), or */
  file?: string;
  /** to this stream (left open by close()) */
  stream?: Writable;
  /** the mux being recorded: the header gets its worker and device counts */
  mux?: Mux;
  /** the fleet description the mux was created with, or a fleet file path (replay builds the same fleet from it) */
  fleet?: FleetInput | string | null;
  /** which sessions to record (default: all but the mux's own enumeration session) */
  sessions?: (name: string) => boolean;
}

const DWORDS = ['queue', 'cid', 'nsid', 'cdw10', 'cdw11', 'cdw12', 'cdw13', 'cdw14', 'cdw15'] as const;

interface Started {
  rec: RecordedRequest;
  t0: number;
}

/** Subscribes to the request channels on construction; close() unsubscribes, writes the end record, flushes. */
export class Recorder {
  private readonly stream: Writable;
  private readonly ownsStream: boolean;
  private readonly t0 = performance.now();
  private readonly started = new Map<number, Started>();
  private readonly filter: (name: string) => boolean;
  private readonly writer = new FrameWriter();
  private flushScheduled = false;
  private closed = false;
  private closePromise: Promise<{ records: number; refused: number }> | null = null;
  private seq = 0;
  private refusals = 0;
  private writeError: Error | null = null;

  constructor(opts: RecorderOptions) {
    if ((opts.file === undefined) === (opts.stream === undefined)) throw new ProtocolError('Recorder needs exactly one of file or stream');
    this.ownsStream = opts.file !== undefined;
    // the file is opened now, so a bad path fails here rather than when the recording closes
    this.stream = opts.stream ?? createWriteStream('', { fd: openSync(opts.file!, 'w') });
    this.stream.on('error', (e: Error) => {
      this.writeError ??= e;
    });
    this.filter = opts.sessions ?? ((name) => name !== ENUMERATION_SESSION);
    const header: RecordingHeader = {
      t: 'header', format: RECORDING_FORMAT, version: RECORDING_VERSION, created: new Date().toISOString(),
      fleet: typeof opts.fleet === 'string' ? loadFleetFile(opts.fleet) : opts.fleet ?? null, workers: opts.mux ? opts.mux.stats().shards.length : null,
      devices: opts.mux ? opts.mux.devices().length : null, node: process.version,
    };
    this.push(header);
    Channels.requestStart.subscribe(this.onStart);
    Channels.requestEnd.subscribe(this.onEnd);
    Channels.refused.subscribe(this.onRefused);
  }

  /** Requests recorded so far. */
  get records(): number {
    return this.seq;
  }

  /** Writes a session record (tier, host, fabric manager) so the recording says who sent what. */
  describeSession(s: Session): void {
    if (this.closed || !this.filter(s.name)) return;
    const r: RecordedSession = { t: 'session', name: s.name, tier: s.tier, host: s.host, fabricManager: s.fabricManager, at: this.now() };
    this.push(r);
  }

  private now(): number {
    return Math.round((performance.now() - this.t0) * 1000) / 1000;
  }

  private readonly onStart = (m: unknown): void => {
    const msg = m as { id: number; session: string; device: string; request: SendRequest; time: number };
    if (this.closed || !this.filter(msg.session)) return;
    const q = msg.request;
    // copy now: the caller may reuse its buffers as soon as send() returns
    const rec: RecordedRequest = { t: 'req', seq: 0, id: msg.id, session: msg.session, device: msg.device, opcode: q.opcode, start: 0, latencyUs: 0 };
    if (q.payload instanceof Uint8Array && q.payload.byteLength > 0) rec.payload = q.payload.slice();
    if (q.data instanceof Uint8Array && q.data.byteLength > 0) rec.data = q.data.slice();
    for (const k of DWORDS) if (typeof q[k] === 'number') rec[k] = q[k];
    if (Array.isArray(q.tunnel)) rec.tunnel = q.tunnel.slice();
    if (typeof q.mctpType === 'number') rec.mctpType = q.mctpType;
    if (typeof q.timeoutMs === 'number') rec.timeoutMs = q.timeoutMs;
    if (q.noWait === true) rec.noWait = true;
    rec.start = Math.round((msg.time - this.t0) * 1000) / 1000;
    this.started.set(msg.id, { rec, t0: msg.time });
  };

  private readonly onEnd = (m: unknown): void => {
    const msg = m as { id: number; result?: CommandResult; error?: unknown; time: number };
    const s = this.started.get(msg.id);
    if (s === undefined) return;
    this.started.delete(msg.id);
    const rec = s.rec;
    rec.seq = this.seq++;
    rec.latencyUs = Math.round((msg.time - s.t0) * 1000);
    if (msg.result !== undefined) {
      const r = msg.result;
      const res: RecordedResult = { rc: r.rc, payload: r.payload, vendorStatus: r.vendorStatus, background: r.background };
      if (r.cqe !== undefined) res.cqe = r.cqe;
      if (r.tunnel !== undefined) res.tunnel = r.tunnel;
      rec.result = res;
    } else {
      const e = msg.error;
      rec.error = e instanceof MbxError ? { code: e.code, message: e.message } : { code: 'EMBX_BAD_REQUEST', message: String((e as Error)?.message ?? e) };
    }
    this.push(rec);
  };

  private readonly onRefused = (m: unknown): void => {
    const msg = m as { session: string; device: string; error: MbxError };
    if (this.closed || !this.filter(msg.session)) return;
    const ctx = msg.error.context ?? {};
    const r: RecordedRefusal = { t: 'refused', session: msg.session, device: msg.device, code: msg.error.code, message: msg.error.message, at: this.now() };
    if (typeof ctx.opcode === 'number') r.opcode = ctx.opcode;
    if (typeof ctx.neededTier === 'string') r.neededTier = ctx.neededTier;
    this.refusals++;
    this.push(r);
  };

  private push(record: object): void {
    this.writer.frame(record as Record<string, unknown>); // encodes now: result payloads are not kept
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const buf = this.writer.take();
    if (buf !== null) this.stream.write(buf);
  };

  /**
   * Stops recording: unsubscribes, records requests still in flight as never completed (left out), writes
   * the end record and flushes. A file stream is closed; a given stream is left open.
   */
  close(opts: { signal?: AbortSignal } = {}): Promise<{ records: number; refused: number }> {
    if (this.closePromise !== null) return this.closePromise;
    this.closed = true;
    Channels.requestStart.unsubscribe(this.onStart);
    Channels.requestEnd.unsubscribe(this.onEnd);
    Channels.refused.unsubscribe(this.onRefused);
    this.started.clear();
    const end: RecordingEnd = { t: 'end', records: this.seq, refused: this.refusals, at: this.now() };
    this.push(end);
    this.flush();
    this.closePromise = new Promise<{ records: number; refused: number }>((resolve, reject) => {
      const done = (): void => {
        if (this.writeError !== null) reject(this.writeError);
        else resolve({ records: this.seq, refused: this.refusals });
      };
      opts.signal?.addEventListener('abort', () => reject(new CancelledError('EMBX_ABORTED', 'closing the recorder was aborted')), { once: true });
      if (this.ownsStream) this.stream.end(done);
      else if (this.stream.writableNeedDrain) this.stream.once('drain', done);
      else done();
    });
    return this.closePromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Starts recording (new Recorder). */
export function createRecorder(opts: RecorderOptions): Recorder {
  return new Recorder(opts);
}

/** largest record read from a recording (a request with its payloads and answer is far smaller) */
export const MAX_RECORD_BYTES = DEFAULT_MAX_FRAME_BYTES;

/**
 * Reads a whole recording file: linear in its size (FrameDecoder), records of at most MAX_RECORD_BYTES.
 * Throws ProtocolError (one line) if it is not a recording or a record replay needs is malformed
 * (recording-check.ts).
 */
export async function readRecording(file: string, opts: { signal?: AbortSignal } = {}): Promise<Recording> {
  const decoder = new FrameDecoder(MAX_RECORD_BYTES);
  const rec: Partial<Recording> & { sessions: RecordedSession[]; requests: RecordedRequest[]; refused: RecordedRefusal[] } = {
    sessions: [], requests: [], refused: [], end: null,
  };
  const stream = createReadStream(file, opts.signal ? { signal: opts.signal } : {});
  let first = true;
  try {
    for await (const chunk of stream) {
      for (const body of decoder.push(chunk as Buffer)) {
        const m = decodePlainMap(body);
        if (first) {
          if (m.t !== 'header' || m.format !== RECORDING_FORMAT) throw new ProtocolError(`${file} is not an mbxmux recording (no header record)`);
          if (m.version !== RECORDING_VERSION) throw new ProtocolError(`${file} is recording format version ${String(m.version)}; this build reads version ${RECORDING_VERSION}`);
          rec.header = m as unknown as RecordingHeader;
          first = false;
          continue;
        }
        switch (m.t) {
          case 'req':
            rec.requests.push(m as unknown as RecordedRequest);
            break;
          case 'session':
            rec.sessions.push(m as unknown as RecordedSession);
            break;
          case 'refused':
            rec.refused.push(m as unknown as RecordedRefusal);
            break;
          case 'end':
            rec.end = m as unknown as RecordingEnd;
            break;
          default:
          // unknown record kinds from newer writers are skipped
        }
      }
    }
  } catch (e) {
    if (e instanceof MbxError) throw e.code === 'EMBX_PROTOCOL' && first ? new ProtocolError(`${file} is not an mbxmux recording: ${e.message}`) : e;
    if ((e as { name?: string }).name === 'AbortError') throw new CancelledError('EMBX_ABORTED', 'reading the recording was aborted');
    throw e;
  }
  if (first) throw new ProtocolError(`${file} is not an mbxmux recording (empty)`);
  rec.truncatedBytes = decoder.buffered;
  checkRecording(rec as Recording, file);
  return rec as Recording;
}
