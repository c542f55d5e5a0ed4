import { availableParallelism } from 'node:os';
import { CancelledError, FleetError, isMbxError, ProtocolError } from '../errors.js';
import type { FleetInput } from '../fleet/types.js';
import { createMux, type Mux } from '../mux/mux.js';
import type { Session } from '../mux/session.js';
import type { CommandResult, SendRequest } from '../mux/types.js';
import { commandName } from '../commands/resolve.js';
import { commandTarget } from '../commands/target.js';
import { type RecordedRequest, type Recording, readRecording } from './recorder.js';
import { checkRecording, inlineFleet } from './recording-check.js';
import { intOption, maxWorkers, maxWorkersWhy, timeoutOption } from '../validate.js';

/**
 * Plays a recording back against a fresh fleet and compares every answer with the recorded one.
 *
 * A recording is data: its records are checked first (recording-check.ts: one-line errors), its fleet must
 * be inline (never a path), its worker count is a hint (at most one per core here), and request timeouts
 * are capped (`maxTimeoutMs`), so a replay ends: with its report, or with an error naming the record.
 *
 * Order: requests are issued in their original start order (then id), and a request waits until every
 * request that had COMPLETED before it started (in the recording) has completed again; requests that
 * overlapped in the recording overlap in the replay. This keeps every ordering the recording observed, whatever the
 * pace. By default idle gaps are skipped; `realtime` also keeps each request's original start offset.
 * Sessions are replayed one mux session per recorded session, with permission checks off (every recorded
 * request had passed them when it was sent).
 *
 * Compared per request: the error code (or that there was none), rc, vendorStatus, the payload bytes,
 * NVMe completion dwords 0-1 (command-specific results), and a tunnel's per-hop return codes. Not compared:
 * `background` (timing) and the rest of the NVMe CQE (SQ head, command id).
 *
 * Time: device timestamps legitimately differ. Timestamp fields are compared with a tolerance
 * (`timeToleranceMs`, default: the recording's duration + 1 s): CXL Get Timestamp (0300h) bytes 0-7, Get
 * Event Records (0100h) overflow timestamps and each record's timestamp, Get Poison List (4300h) overflow
 * timestamp. A zero (clock never set) must stay zero. Nondeterministic (rc compared, payload bytes not):
 * CXL Background Operation Status (0002h, percent complete) and NVMe Get Log Page of the Sanitize Status
 * log (81h, progress), plus any opcode given in `ignoreOpcodes`.
 * Not replayed (counted as skipped): requests that failed with EMBX_ABORTED, EMBX_RING_FULL,
 * EMBX_BACKPRESSURE or EMBX_CLOSED (their fate depended on the caller or the mux, not the device).
 */

export interface ReplayOptions {
  /** the fleet to replay on, or a fleet file path (default: the recording header's) */
  fleet?: FleetInput | string;
  /** worker threads (default: the recording header's, at most one per core, else 1) */
  workers?: number;
  /** keep the recording's start offsets (default false: as fast as the recorded ordering allows) */
  realtime?: boolean;
  /** tolerance for device timestamps, ms (default: the recording's duration + 1000) */
  timeToleranceMs?: number;
  /** more opcodes whose payload bytes are not compared */
  ignoreOpcodes?: readonly number[];
  /** differences kept with details (default 10) */
  maxDetails?: number;
  /** most requests in flight at once (default 4096) */
  window?: number;
  /** a replayed request waits at most this long (ms, default 60 s): also for recorded timeoutMs 0 ("none") or longer */
  maxTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface ReplayDifference {
  seq: number;
  session: string;
  device: string;
  opcode: string;
  command?: string;
  field: 'error' | 'rc' | 'vendorStatus' | 'payload' | 'cqe' | 'tunnel' | 'timestamp';
  recorded: string;
  replayed: string;
}

export interface ReplayReport {
  /** requests in the recording */
  total: number;
  replayed: number;
  skipped: number;
  skippedBy: Record<string, number>;
  /** of the replayed, how many had payload bytes exempt (nondeterministic opcodes) */
  nondeterministic: number;
  differences: number;
  details: ReplayDifference[];
  timeToleranceMs: number;
  durationMs: number;
  /** the recording ended without its end record (the recorder was killed), or with a torn last frame */
  incomplete: boolean;
  /** worker threads of the mux the replay ran on */
  workers: number;
}

const SKIP_CODES = new Set(['EMBX_ABORTED', 'EMBX_RING_FULL', 'EMBX_BACKPRESSURE', 'EMBX_CLOSED']);
const CXL_NONDETERMINISTIC = new Set([0x0002]);
const EVENT_RECORD_BYTES = 128;

/** Byte offsets of 8-byte little-endian device timestamps in a CXL output payload. */
function timestampOffsets(opcode: number, p: Uint8Array): number[] {
  switch (opcode) {
    case 0x0300:
      return p.byteLength >= 8 ? [0] : [];
    case 0x0100: {
      if (p.byteLength < 0x20) return [];
      const n = p[0x14]! | (p[0x15]! << 8);
      const out = [0x04, 0x0c];
      for (let i = 0; i < n && 0x20 + (i + 1) * EVENT_RECORD_BYTES <= p.byteLength; i++) out.push(0x20 + i * EVENT_RECORD_BYTES + 0x18);
      return out;
    }
    case 0x4300:
      return p.byteLength >= 0x0a ? [0x02] : [];
    default:
      return [];
  }
}

const hex = (b: Uint8Array, max = 48): string => {
  const h = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  return h.length > max * 2 ? `${h.slice(0, max * 2)}... (${b.byteLength} bytes)` : h || '(empty)';
};

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.byteLength === b.byteLength ? -1 : n;
}

interface Comparer {
  nvme: (device: string) => boolean;
  toleranceNs: bigint;
  ignore: ReadonlySet<number>;
}

type Outcome = { result: CommandResult } | { error: string };

/** Differences between a recorded answer and a replayed one (empty = same). */
function compare(rec: RecordedRequest, got: Outcome, c: Comparer): Omit<ReplayDifference, 'seq' | 'session' | 'device' | 'opcode' | 'command'>[] {
  const recErr = rec.error?.code;
  if ('error' in got || recErr !== undefined) {
    const g = 'error' in got ? got.error : `rc 0x${got.result.rc.toString(16)}`;
    const r = recErr ?? `rc 0x${rec.result!.rc.toString(16)}`;
    return g === r ? [] : [{ field: 'error', recorded: r, replayed: g }];
  }
  const a = rec.result!;
  const b = got.result;
  const out: Omit<ReplayDifference, 'seq' | 'session' | 'device' | 'opcode' | 'command'>[] = [];
  if (a.rc !== b.rc) out.push({ field: 'rc', recorded: `0x${a.rc.toString(16)}`, replayed: `0x${b.rc.toString(16)}` });
  if ((a.vendorStatus ?? 0) !== b.vendorStatus) out.push({ field: 'vendorStatus', recorded: String(a.vendorStatus), replayed: String(b.vendorStatus) });
  const nvme = c.nvme(rec.device);
  const ap = a.payload ?? new Uint8Array(0);
  const bp = b.payload;
  if (nvme) {
    if (a.cqe !== undefined && b.cqe !== undefined && firstDiff(a.cqe.subarray(0, 8), b.cqe.subarray(0, 8)) >= 0) {
      out.push({ field: 'cqe', recorded: hex(a.cqe.subarray(0, 8)), replayed: hex(b.cqe.subarray(0, 8)) });
    }
    const sanitizeLog = rec.opcode === 0x02 && ((rec.cdw10 ?? 0) & 0xff) === 0x81;
    if (sanitizeLog || c.ignore.has(rec.opcode)) {
      if (ap.byteLength !== bp.byteLength) out.push({ field: 'payload', recorded: `${ap.byteLength} bytes`, replayed: `${bp.byteLength} bytes` });
    } else if (firstDiff(ap, bp) >= 0) {
      const at = firstDiff(ap, bp);
      out.push({ field: 'payload', recorded: `${hex(ap)} (first difference at byte ${at})`, replayed: hex(bp) });
    }
  } else if (CXL_NONDETERMINISTIC.has(rec.opcode) || c.ignore.has(rec.opcode)) {
    if (ap.byteLength !== bp.byteLength) out.push({ field: 'payload', recorded: `${ap.byteLength} bytes`, replayed: `${bp.byteLength} bytes` });
  } else {
    const ts = ap.byteLength === bp.byteLength ? timestampOffsets(rec.opcode, ap) : [];
    if (ts.length === 0) {
      const at = firstDiff(ap, bp);
      if (at >= 0) out.push({ field: 'payload', recorded: `${hex(ap)} (first difference at byte ${at})`, replayed: hex(bp) });
    } else {
      const x = Uint8Array.from(ap);
      const y = Uint8Array.from(bp);
      const vx = new DataView(x.buffer);
      const vy = new DataView(y.buffer);
      for (const off of ts) {
        const tx = vx.getBigUint64(off, true);
        const ty = vy.getBigUint64(off, true);
        const d = tx > ty ? tx - ty : ty - tx;
        if ((tx === 0n) !== (ty === 0n) || d > c.toleranceNs) {
          out.push({ field: 'timestamp', recorded: `${tx} ns at byte ${off}`, replayed: `${ty} ns (tolerance ${c.toleranceNs / 1_000_000n} ms)` });
        }
        vx.setBigUint64(off, 0n, true);
        vy.setBigUint64(off, 0n, true);
      }
      const at = firstDiff(x, y);
      if (at >= 0) out.push({ field: 'payload', recorded: `${hex(ap)} (first difference at byte ${at})`, replayed: hex(bp) });
    }
  }
  const at = a.tunnel;
  const bt = b.tunnel;
  if (at !== undefined || bt !== undefined) {
    const sa = at === undefined ? '-' : `${at.failedAt}:${at.hops.map((h) => h.rc).join(',')}`;
    const sb = bt === undefined ? '-' : `${bt.failedAt}:${bt.hops.map((h) => h.rc).join(',')}`;
    if (sa !== sb) out.push({ field: 'tunnel', recorded: `failedAt:hop rcs ${sa}`, replayed: `failedAt:hop rcs ${sb}` });
  }
  return out;
}

function requestOf(r: RecordedRequest, maxTimeoutMs: number): SendRequest {
  const q: SendRequest = { device: r.device, opcode: r.opcode };
  if (r.payload !== undefined) q.payload = r.payload;
  if (r.data !== undefined) q.data = r.data;
  for (const k of ['queue', 'cid', 'nsid', 'cdw10', 'cdw11', 'cdw12', 'cdw13', 'cdw14', 'cdw15', 'mctpType'] as const) {
    if (typeof r[k] === 'number') q[k] = r[k];
  }
  // 0 means "no timeout": a device that hangs on replay must not hang the replay
  if (typeof r.timeoutMs === 'number') q.timeoutMs = r.timeoutMs > 0 && r.timeoutMs <= maxTimeoutMs ? r.timeoutMs : maxTimeoutMs;
  if (Array.isArray(r.tunnel)) q.tunnel = r.tunnel;
  return q;
}

function checkOptions(o: ReplayOptions): void {
  intOption(o.workers, 'workers', 1, maxWorkers(), 1, maxWorkersWhy());
  intOption(o.window, 'window', 1, 1 << 20, 4096);
  intOption(o.maxDetails, 'maxDetails', 0, 1 << 20, 10);
  timeoutOption(o.maxTimeoutMs, 'maxTimeoutMs', 60_000, 1);
  timeoutOption(o.timeToleranceMs, 'timeToleranceMs', 0, 0);
}

/** Replays a recording (a file path or one read with readRecording) on a new mux, which it closes. */
export async function replayRecording(source: string | Recording, opts: ReplayOptions = {}): Promise<ReplayReport> {
  const rec = typeof source === 'string' ? await readRecording(source, opts.signal ? { signal: opts.signal } : {}) : source;
  checkRecording(rec);
  checkOptions(opts);
  const fleet = opts.fleet ?? inlineFleet(rec) ?? undefined;
  if (fleet === undefined) throw new FleetError('the recording does not say which fleet it was made on; give one (--fleet)');
  // the header's worker count is where the recording was made; more threads than cores here only costs memory
  const workers = opts.workers ?? Math.min(rec.header.workers ?? 1, availableParallelism());
  const mux = await createMux({
    fleet, workers, checkPermissions: false, gates: { fabricDestructive: true },
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  try {
    return await replayOn(mux, rec, opts);
  } finally {
    await mux.close();
  }
}

/** Replays a recording on an existing mux (its devices in the state the recording started from). */
export async function replayOn(mux: Mux, rec: Recording, opts: ReplayOptions = {}): Promise<ReplayReport> {
  checkRecording(rec);
  checkOptions(opts);
  const t0 = performance.now();
  const order = replayOrder(rec.requests);
  const n = order.reqs.length;
  const toleranceMs = opts.timeToleranceMs ?? Math.ceil(order.span) + 1000;
  const kinds = new Map(mux.devices().map((d) => [d.id, d.kind]));
  const cmp: Comparer = {
    nvme: (device) => kinds.get(device) === 'nvme',
    toleranceNs: BigInt(Math.round(toleranceMs * 1e6)),
    ignore: new Set(opts.ignoreOpcodes ?? []),
  };
  const maxTimeoutMs = opts.maxTimeoutMs ?? 60_000;
  const report: ReplayReport = {
    total: n, replayed: 0, skipped: 0, skippedBy: {}, nondeterministic: 0, differences: 0, details: [], timeToleranceMs: toleranceMs,
    durationMs: 0, incomplete: rec.end === null || rec.truncatedBytes > 0, workers: mux.stats().shards.length,
  };
  const sessions = new Map<string, Session>();
  const sessionFor = (name: string): Session => {
    let s = sessions.get(name);
    if (s === undefined) {
      s = mux.openSession({ tier: 'fabric-destructive', fabricManager: true, name: `replay:${name}` });
      sessions.set(name, s);
    }
    return s;
  };
  const nameOf = (r: RecordedRequest): string | undefined => {
    let fam;
    try {
      fam = commandTarget(mux.fleet, r.device, { tunnel: r.tunnel, queue: r.queue }).family;
    } catch {
      return undefined; // an unknown device or a tunnel to nowhere: the replay reports the request's own error
    }
    return commandName(fam, r.opcode, r.cdw10 !== undefined ? { cdw10: r.cdw10 } : {});
  };

  await new ReplayRun(order, opts, report, {
    send: (r) => sessionFor(r.session).send(requestOf(r, maxTimeoutMs)),
    compare: (r, got) => compare(r, got, cmp),
    nondeterministic: (r) => {
      const kind = kinds.get(r.device);
      return (kind !== 'nvme' && CXL_NONDETERMINISTIC.has(r.opcode)) || cmp.ignore.has(r.opcode)
        || (kind === 'nvme' && r.opcode === 0x02 && ((r.cdw10 ?? 0) & 0xff) === 0x81);
    },
    describe: (r) => {
      const name = nameOf(r);
      return { opcode: `0x${r.opcode.toString(16).padStart(kinds.get(r.device) === 'nvme' ? 2 : 4, '0')}`, ...(name !== undefined ? { command: name } : {}) };
    },
  }).run();
  for (const s of sessions.values()) s.close();
  report.durationMs = performance.now() - t0;
  return report;
}

/** Recorded requests in issue order, and for each how many completions (in end order) it waits for. */
interface ReplayOrder {
  reqs: RecordedRequest[];
  /** need[i]: how many requests completed before request i started in the recording */
  need: number[];
  /** endRank[i]: request i's place in completion order */
  endRank: Int32Array;
  /** the first request's start and the recording's span (first start to last end), ms */
  first: number;
  span: number;
}

function replayOrder(requests: readonly RecordedRequest[]): ReplayOrder {
  // start order: whatever completed before a request started (what it waits for) started before it, so
  // issuing in this order can always proceed (ids are dispatch order too, but a file may say otherwise)
  const reqs = [...requests].sort((a, b) => a.start - b.start || a.id - b.id || a.seq - b.seq);
  const n = reqs.length;
  const endOf = (r: RecordedRequest): number => r.start + r.latencyUs / 1000;
  const first = n > 0 ? reqs[0]!.start : 0;
  const span = n > 0 ? Math.max(...reqs.map(endOf)) - first : 0;
  const byEnd = reqs.map((_, i) => i).sort((a, b) => endOf(reqs[a]!) - endOf(reqs[b]!));
  const endTimes = byEnd.map((i) => endOf(reqs[i]!));
  const need = reqs.map((r) => lowerBound(endTimes, r.start));
  const endRank = new Int32Array(n);
  byEnd.forEach((i, rank) => (endRank[i] = rank));
  return { reqs, need, endRank, first, span };
}

/** What a run does with one request: send it, compare its answer, name it in a difference. */
interface ReplaySteps {
  send(r: RecordedRequest): Promise<CommandResult>;
  compare(r: RecordedRequest, got: Outcome): ReturnType<typeof compare>;
  /** true if its payload bytes are exempt from comparison */
  nondeterministic(r: RecordedRequest): boolean;
  describe(r: RecordedRequest): Pick<ReplayDifference, 'opcode' | 'command'>;
}

/**
 * One replay: issues requests in order while each one's predecessors have completed (pump), at most `window`
 * in flight, paced by the recording in `realtime`; counts what was skipped, replayed and different.
 */
class ReplayRun {
  private readonly n: number;
  private readonly window: number;
  private readonly maxDetails: number;
  private readonly doneByRank: Uint8Array;
  /** completions so far, counted as the longest prefix of the completion order */
  private donePrefix = 0;
  private next = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  private finished = false;
  private startWall = 0;
  private resolve: () => void = () => {};
  private reject: (e: unknown) => void = () => {};
  private readonly onAbort = (): void => {
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.reject(new CancelledError('EMBX_ABORTED', 'the replay was aborted'));
  };

  constructor(private readonly order: ReplayOrder, private readonly opts: ReplayOptions, private readonly report: ReplayReport,
    private readonly steps: ReplaySteps) {
    this.n = order.reqs.length;
    this.window = opts.window ?? 4096;
    this.maxDetails = opts.maxDetails ?? 10;
    this.doneByRank = new Uint8Array(this.n);
  }

  run(): Promise<void> {
    this.startWall = performance.now();
    return new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.opts.signal?.addEventListener('abort', this.onAbort, { once: true });
      this.pump();
    });
  }

  /** Issues every request that may start now, then sees whether the run is over (or stuck). */
  private pump(): void {
    try {
      if (this.finished) return;
      const { reqs, need } = this.order;
      while (this.next < this.n && this.inFlight < this.window && need[this.next]! <= this.donePrefix) {
        if (this.opts.realtime && this.waitForStart(reqs[this.next]!)) return;
        this.issue(this.next++);
      }
      this.checkEnd();
    } catch (e) {
      this.fail(e);
    }
  }

  /** realtime: true (and a timer set) while `r`'s recorded start offset has not come yet. */
  private waitForStart(r: RecordedRequest): boolean {
    const wait = this.startWall + (r.start - this.order.first) - performance.now();
    if (wait <= 1) return false;
    if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, wait);
    }
    return true;
  }

  /** Skips a request whose recorded fate was the caller's or the mux's, else sends it. */
  private issue(i: number): void {
    const r = this.order.reqs[i]!;
    const report = this.report;
    this.inFlight++;
    if (r.error !== undefined && SKIP_CODES.has(r.error.code)) {
      report.skipped++;
      report.skippedBy[r.error.code] = (report.skippedBy[r.error.code] ?? 0) + 1;
      queueMicrotask(() => this.complete(i));
      return;
    }
    report.replayed++;
    if (this.steps.nondeterministic(r)) report.nondeterministic++;
    this.steps.send(r).then(
      (result) => this.settle(i, r, { result }),
      (e: unknown) => this.settle(i, r, { error: isMbxError(e) ? e.code : 'EMBX_BAD_REQUEST' }),
    );
  }

  /** Compares the answer with the recorded one and counts a difference (details for the first maxDetails). */
  private settle(i: number, r: RecordedRequest, got: Outcome): void {
    let diffs;
    try {
      diffs = this.steps.compare(r, got);
    } catch (e) {
      this.fail(new ProtocolError(`record seq ${r.seq}: cannot compare the answer: ${(e as Error).message}`));
      return;
    }
    if (diffs.length > 0) {
      this.report.differences++;
      if (this.report.details.length < this.maxDetails) {
        const d = diffs[0]!;
        this.report.details.push({
          seq: r.seq, session: r.session, device: r.device, ...this.steps.describe(r), ...d,
          ...(diffs.length > 1 ? { replayed: `${d.replayed} (+${diffs.length - 1} more: ${diffs.slice(1).map((x) => x.field).join(', ')})` } : {}),
        });
      }
    }
    this.complete(i);
  }

  private complete(i: number): void {
    this.inFlight--;
    this.doneByRank[this.order.endRank[i]!] = 1;
    while (this.donePrefix < this.n && this.doneByRank[this.donePrefix] === 1) this.donePrefix++;
    this.pump();
  }

  /** Done when every request was issued and answered; stuck if nothing runs and nothing can start. */
  private checkEnd(): void {
    if (this.finished || this.inFlight > 0) return;
    if (this.next >= this.n) {
      this.finished = true;
      this.opts.signal?.removeEventListener('abort', this.onAbort);
      this.resolve();
    } else if (this.timer === null) {
      // the recording's times contradict each other
      const r = this.order.reqs[this.next]!;
      this.fail(new ProtocolError(`the recording is inconsistent: request seq ${r.seq} (id ${r.id}) waits for ${this.order.need[this.next]} earlier `
        + `completions, but only ${this.donePrefix} of the requests it waits for can complete`));
    }
  }

  private fail(e: unknown): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.reject(e);
  }
}

/** First index whose value is >= x (values ascending): the count of values < x. */
function lowerBound(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
