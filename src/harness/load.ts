import { EventEmitter } from 'node:events';
import { BadRequestError, isMbxError } from '../errors.js';
import type { DeviceKind } from '../fleet/types.js';
import { createMux } from '../mux/mux.js';
import type { CommandResult, MuxOptions, SendRequest } from '../mux/types.js';
import { parseTier, type Tier } from '../policy/tiers.js';
import { type LoadClock, realClock } from './clock.js';
import { timeoutOption } from '../validate.js';
import { Histogram } from './histogram.js';
import { openIoQueues } from './io-queues.js';
import { buildSchedule, DEFAULT_MIX, type MixDescriptor, mixDevices, parseMix, type Schedule, type ScheduleItem } from './mix.js';
import { checkSegment, type ExecutionSegment, type PaceLike, SegmentPace, segmentSchedule, segmentShare } from './segment.js';
import { evaluateThreshold, parseThreshold, type Threshold, type ThresholdResult, type ThresholdSubject } from './thresholds.js';

export interface LoadOptions {
  /** measured duration, ms */
  durationMs: number;
  /** unmeasured warm-up before it, ms (default 500 closed loop, 2000 open loop: a cold mux needs ~1-2 s before it
   *  sustains a high constant rate, and a backlog built while it warms up can take the whole run to drain) */
  warmupMs?: number;
  /** closed loop: callers each with one request outstanding (default 64). Not with `rate`. */
  concurrency?: number;
  /**
   * open loop: requests per second at a constant rate. Request i is due at t0 + i/rate and its latency is
   * measured from that intended time (coordinated-omission correction, as wrk2 does).
   */
  rate?: number;
  /** open loop: most requests outstanding; a request due while this many are in flight is dropped (default 65536) */
  maxInFlight?: number;
  /** named command mix, e.g. "health=80,log=15,identify=5" (see NAMED_COMMANDS) */
  mix?: string;
  /** session tier (default debug-read) */
  tier?: Tier;
  /** host the session acts for (default 0) */
  host?: number;
  /** a fabric-manager session reaches every device (default: true unless `host` is given) */
  fabricManager?: boolean;
  /** per-request timeout, ms (default: the mux's, 5000) */
  timeoutMs?: number;
  /** use this mux instead of creating one (it is not closed afterwards) */
  mux?: LoadTarget;
  /** options for the mux the harness creates */
  muxOptions?: MuxOptions;
  /** progress event period, ms (default 1000) */
  progressMs?: number;
  /** width of the latency-over-time intervals, ms (default 100 up to 10 s runs, else 1000 or more: at most ~300 intervals) */
  intervalMs?: number;
  /** pass/fail criteria, e.g. ['p99<50us', 'errors<1%'] (see thresholds.ts); evaluated into result.thresholds */
  thresholds?: readonly (string | Threshold)[];
  /** schedule shuffle seed (default 1) */
  seed?: number;
  /** open loop: ramp the rate up from 10% during the warm-up instead of starting at full rate (default true) */
  rampUp?: boolean;
  /** open loop: after the last request is due, how long to wait for outstanding ones (default timeoutMs + 1000, or 6000) */
  drainMs?: number;
  /** stop early: the result covers what ran */
  signal?: AbortSignal;
  /** the time source (default: the real clock); tests drive runs in virtual time with their own */
  clock?: LoadClock;
  /**
   * run segment k of N of this test (segment.ts): its share of `rate` or `concurrency` (and `maxInFlight`) and
   * every N-th request of the test's sequence, so N generators with segments 0..N-1 run exactly the whole test
   */
  segment?: ExecutionSegment;
  /** called with every measured latency as it is recorded (`mbxmux load --samples FILE`) */
  onSample?: (s: LoadSample) => void;
}

/** One measured request: what `onSample` gets. */
export interface LoadSample {
  /** when it completed, ms after the measured phase began */
  atMs: number;
  /** ns, as recorded in the histograms (open loop: from the intended send time) */
  latencyNs: number;
  command: string;
  kind: DeviceKind;
  device: string;
}

/** What a run drives: a Mux, or anything with its fleet and sessions (a simulated fleet, servers via connectFleet). */
export interface LoadTarget {
  readonly fleet: { readonly devices: readonly MixDescriptor[] };
  openSession(opts: { tier: Tier; host: number; fabricManager: boolean; name: string }): LoadSession;
}

export interface LoadSession {
  send(req: SendRequest): Promise<CommandResult>;
  close(): void;
}

/** Latency statistics in µs. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  min: number;
  /** samples */
  count: number;
}

/** One command of the mix, or one device kind. */
export interface GroupStats {
  /** completed requests (any device status) */
  requests: number;
  /** requests that did not complete: rejected, dropped or unfinished */
  errors: number;
  dropped: number;
  throughput: number;
  latency: LatencySummary;
  /** completed requests whose device status was not success, by status (CXL rc, or NVMe status field) */
  deviceStatus: Record<string, number>;
  /** devices that took part */
  devices?: number;
  histogram: Histogram;
}

/** Latency of the requests that completed in one interval of the run (for the latency-over-time plot). */
export interface IntervalStats {
  /** interval start, ms after the measured phase began */
  startMs: number;
  durationMs: number;
  requests: number;
  errors: number;
  /** completions per second in this interval */
  rate: number;
  /** µs */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** the interval's latency histogram, as non-zero buckets [lowest ns, highest ns, count] (merging runs needs them) */
  buckets: [number, number, number][];
}

export interface LoadResult {
  mode: 'closed' | 'open';
  /** closed loop: callers; open loop: the max-in-flight limit */
  concurrency: number;
  /** open loop: target requests/s */
  rate?: number;
  /** open loop: the max-in-flight limit */
  maxInFlight?: number;
  /** measured phase, ms (shorter than asked when stopped early) */
  durationMs: number;
  warmupMs: number;
  /** wall-clock start of the measured phase (ISO 8601) */
  startedAt: string;
  mix: string;
  tier: Tier;
  host: number;
  fabricManager: boolean;
  /** completed requests (any device status) */
  requests: number;
  /** requests started (open loop: due) in the measured phase: requests + errors */
  sent: number;
  /** completed requests per second */
  throughput: number;
  /** latency in µs; open loop: from the intended send time */
  latency: LatencySummary;
  /** open loop only: latency from the moment send() was actually called (uncorrected, for comparison) */
  serviceLatency?: LatencySummary;
  /** requests that did not complete, by error code: EMBX_* from the mux, EHARNESS_OVERLOAD (dropped: max in flight),
   *  EHARNESS_UNFINISHED (still outstanding when the drain time ran out) */
  errors: Record<string, number>;
  /** open loop: requests not sent because maxInFlight requests were outstanding (also in errors) */
  dropped: number;
  /** most requests outstanding at once */
  peakInFlight: number;
  /** completed requests whose device status was not success, by status */
  deviceStatus: Record<string, number>;
  /** the same, by device kind */
  deviceStatusByKind: Partial<Record<DeviceKind, Record<string, number>>>;
  byCommand: Record<string, GroupStats>;
  byKind: Partial<Record<DeviceKind, GroupStats>>;
  /** latency over time: one entry per intervalMs of completions */
  intervalMs: number;
  intervals: IntervalStats[];
  /** set when thresholds were given */
  thresholds?: ThresholdResult[];
  /** set when this run was one segment of a test: `rate`, `concurrency` and `maxInFlight` above are its share */
  segment?: ExecutionSegment & { whole: { concurrency: number; rate?: number; maxInFlight?: number } };
  /** the run was stopped by its signal */
  aborted: boolean;
  histogram: Histogram;
  serviceHistogram?: Histogram;
}

export interface LoadProgress {
  elapsedMs: number;
  requests: number;
  /** completions per second since the previous progress event */
  rate: number;
  p50us: number;
  p99us: number;
  errors: number;
  dropped: number;
  inFlight: number;
}

export type LoadPhase = 'warmup' | 'measure' | 'drain' | 'done';

const OVERLOAD = 'EHARNESS_OVERLOAD';
const UNFINISHED = 'EHARNESS_UNFINISHED';

/** p50 .. max, mean and min of a histogram, in µs. */
export function summarize(h: Histogram): LatencySummary {
  const us = (p: number): number => h.percentile(p) / 1000;
  return {
    p50: us(50), p90: us(90), p99: us(99), p999: us(99.9), max: h.max / 1000, mean: h.mean / 1000,
    min: h.total ? h.min / 1000 : 0, count: h.total,
  };
}

function bump(o: Record<string, number>, k: string | number, n = 1): void {
  o[k] = (o[k] ?? 0) + n;
}

/** Counters of one group (command or kind). */
class Group {
  readonly hist = new Histogram();
  requests = 0;
  errors = 0;
  dropped = 0;
  readonly status: Record<string, number> = {};
}

/** Everything measured in a run; both loops feed it. */
class Recorder {
  readonly hist = new Histogram();
  readonly service: Histogram | null;
  readonly cmds: Group[];
  readonly kinds: Group[];
  readonly errors: Record<string, number> = {};
  readonly status: Record<string, number> = {};
  readonly statusByKind: Record<string, Record<string, number>> = {};
  requests = 0;
  failed = 0;
  dropped = 0;
  // intervals (by completion time)
  readonly intervals: IntervalStats[] = [];
  private readonly iv = new Histogram();
  private ivRequests = 0;
  private ivErrors = 0;
  private ivEnd: number;
  // progress window
  readonly win = new Histogram();
  winRequests = 0;

  constructor(readonly schedule: Schedule, readonly t0: number, readonly intervalMs: number, open: boolean, private readonly events: EventEmitter,
    private readonly onSample?: (s: LoadSample) => void) {
    this.service = open ? new Histogram() : null;
    this.cmds = schedule.names.map(() => new Group());
    this.kinds = schedule.kinds.map(() => new Group());
    this.ivEnd = t0 + intervalMs;
  }

  /** Closes intervals that ended before `now` (an interval with nothing in it is still listed: a stall). */
  roll(now: number): void {
    while (now >= this.ivEnd) this.close(this.intervalMs);
  }

  private close(durationMs: number): void {
    const h = this.iv;
    const s: IntervalStats = {
      startMs: this.intervals.length * this.intervalMs, durationMs, requests: this.ivRequests, errors: this.ivErrors,
      rate: durationMs > 0 ? (this.ivRequests * 1000) / durationMs : 0, p50: h.percentile(50) / 1000, p90: h.percentile(90) / 1000,
      p99: h.percentile(99) / 1000, max: h.max / 1000, mean: h.mean / 1000, buckets: h.buckets(),
    };
    this.intervals.push(s);
    this.events.emit('interval', s);
    if (h.total) h.reset();
    this.ivRequests = 0;
    this.ivErrors = 0;
    this.ivEnd = this.t0 + (this.intervals.length + 1) * this.intervalMs;
  }

  /** End of run: closes every interval up to `now`, and the partial one holding it if anything landed there. */
  flush(now: number): void {
    this.roll(now);
    const partial = now - (this.ivEnd - this.intervalMs);
    if (this.ivRequests + this.ivErrors > 0) this.close(Math.max(partial, 1e-3));
  }

  ok(item: ScheduleItem, ns: number, serviceNs: number, r: CommandResult, now: number): void {
    if (now >= this.ivEnd) this.roll(now);
    this.hist.record(ns);
    this.iv.record(ns);
    this.win.record(ns);
    if (this.service !== null) this.service.record(serviceNs);
    if (this.onSample !== undefined) this.onSample({ atMs: now - this.t0, latencyNs: ns, command: item.name, kind: item.kind, device: item.req.device });
    const c = this.cmds[item.cmd]!;
    const k = this.kinds[item.kindIndex]!;
    c.hist.record(ns);
    k.hist.record(ns);
    c.requests++;
    k.requests++;
    this.requests++;
    this.ivRequests++;
    this.winRequests++;
    if (r.rc !== 0) {
      bump(this.status, r.rc);
      bump(c.status, r.rc);
      bump(k.status, r.rc);
      bump((this.statusByKind[item.kind] ??= {}), r.rc);
    }
  }

  fail(item: ScheduleItem, code: string, now: number, n = 1): void {
    if (now >= this.ivEnd) this.roll(now);
    bump(this.errors, code, n);
    this.failed += n;
    this.ivErrors += n;
    this.cmds[item.cmd]!.errors += n;
    this.kinds[item.kindIndex]!.errors += n;
    if (code === OVERLOAD) {
      this.dropped += n;
      this.cmds[item.cmd]!.dropped += n;
      this.kinds[item.kindIndex]!.dropped += n;
    }
  }

  group(g: Group, durationMs: number, devices?: number): GroupStats {
    const s: GroupStats = {
      requests: g.requests, errors: g.errors, dropped: g.dropped, throughput: durationMs > 0 ? (g.requests * 1000) / durationMs : 0,
      latency: summarize(g.hist), deviceStatus: g.status, histogram: g.hist,
    };
    if (devices !== undefined) s.devices = devices;
    return s;
  }
}

/**
 * Load on the fleet. Closed loop (default): `concurrency` callers each send the next request of the mix as
 * soon as the previous one completes; latency runs from send() to settle. Open loop (`rate`): requests are
 * due at a constant rate whatever the answers do, and latency runs from the intended send time, so a stall
 * is charged to every request it delayed.
 *
 * Events on the returned emitter: 'phase' (LoadPhase), 'progress' (LoadProgress, every progressMs while
 * measuring), 'interval' (IntervalStats, as each interval closes).
 */
export function runLoad(opts: LoadOptions): { events: EventEmitter; result: Promise<LoadResult> } {
  const events = new EventEmitter();
  return { events, result: run(opts, events) };
}

function positive(v: number | undefined, what: string, integer: boolean, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new BadRequestError(`${what} must be ${integer ? 'an integer' : 'a number'} > 0 (got ${JSON.stringify(v)})`);
  }
  return v;
}

/** The interval width runLoad uses for a run of this length when none is given. */
export function defaultIntervalMs(durationMs: number): number {
  return durationMs <= 10_000 ? 100 : Math.max(1000, Math.ceil(durationMs / 300 / 1000) * 1000);
}

interface Plan {
  durationMs: number;
  warmupMs: number;
  open: boolean;
  concurrency: number;
  rate: number;
  maxInFlight: number;
  intervalMs: number;
  progressMs: number;
  drainMs: number;
  rampUp: boolean;
  thresholds: Threshold[];
  tier: Tier;
  host: number;
  fabricManager: boolean;
  mix: string;
  clock: LoadClock;
  segment: ExecutionSegment | undefined;
  /** the whole test's concurrency / maxInFlight (the plan's own are the segment's share) */
  whole: { concurrency: number; maxInFlight: number };
  onSample: ((s: LoadSample) => void) | undefined;
}

function plan(opts: LoadOptions): Plan {
  if (typeof opts !== 'object' || opts === null) throw new BadRequestError('runLoad takes an options object: { durationMs, ... }');
  const durationMs = positive(opts.durationMs, 'durationMs', false, NaN);
  const warmupMs = opts.warmupMs === undefined ? (opts.rate !== undefined ? 2000 : 500) : opts.warmupMs;
  if (typeof warmupMs !== 'number' || !(warmupMs >= 0) || !Number.isFinite(warmupMs)) throw new BadRequestError(`warmupMs must be a number >= 0 (got ${JSON.stringify(warmupMs)})`);
  const open = opts.rate !== undefined;
  if (open && opts.concurrency !== undefined) throw new BadRequestError('give concurrency (closed loop) or rate (open loop), not both');
  if (!open && opts.maxInFlight !== undefined) throw new BadRequestError('maxInFlight applies to the open loop: give rate too');
  const rate = open ? positive(opts.rate, 'rate', false, 0) : 0;
  const maxInFlight = positive(opts.maxInFlight, 'maxInFlight', true, 65536);
  const concurrency = positive(opts.concurrency, 'concurrency', true, 64);
  const timeoutMs = opts.timeoutMs === undefined ? undefined : timeoutOption(opts.timeoutMs, 'timeoutMs', 0);
  const host = opts.host ?? 0;
  const segment = opts.segment === undefined ? undefined : checkSegment(opts.segment);
  const share = (n: number, what: string): number => (segment === undefined ? n : segmentShare(n, segment, what));
  return {
    durationMs, warmupMs, open, rate, segment, whole: { concurrency, maxInFlight }, onSample: opts.onSample,
    concurrency: open ? concurrency : share(concurrency, 'concurrency'), maxInFlight: open ? share(maxInFlight, 'maxInFlight') : maxInFlight,
    intervalMs: positive(opts.intervalMs, 'intervalMs', false, defaultIntervalMs(durationMs)),
    progressMs: positive(opts.progressMs, 'progressMs', false, 1000),
    drainMs: opts.drainMs ?? (timeoutMs ? timeoutMs + 1000 : 6000),
    rampUp: opts.rampUp ?? true,
    thresholds: (opts.thresholds ?? []).map((t) => (typeof t === 'string' ? parseThreshold(t) : t)),
    tier: parseTier(opts.tier ?? 'debug-read'), host, fabricManager: opts.fabricManager ?? opts.host === undefined,
    mix: opts.mix ?? DEFAULT_MIX,
    clock: opts.clock ?? realClock,
  };
}

/** Resolves a threshold scope (`health`, `health@nvme`, `nvme`, `mem`) to a label or kind of the schedule. */
const SCOPE_KINDS: Record<string, DeviceKind> = {
  'cxl-type3': 'cxl-type3', type3: 'cxl-type3', mem: 'cxl-type3', 'cxl-switch': 'cxl-switch', switch: 'cxl-switch', sw: 'cxl-switch',
  nvme: 'nvme', 'mctp-pcc': 'mctp-pcc', mctp: 'mctp-pcc',
};

function scopeOf(scope: string, names: readonly string[], kinds: readonly DeviceKind[]): { command: string } | { kind: DeviceKind } | null {
  if (names.includes(scope)) return { command: scope };
  const k = SCOPE_KINDS[scope];
  if (k !== undefined && kinds.includes(k)) return { kind: k };
  return null;
}

function subjectOf(g: { requests: number; errors: number; dropped: number; throughput: number; latency: LatencySummary }, h: Histogram): ThresholdSubject {
  return { requests: g.requests, errors: g.errors, dropped: g.dropped, throughput: g.throughput, latency: g.latency, percentile: (p) => h.percentile(p) / 1000 };
}

/** Checks thresholds against a finished run (pure; runLoad calls it when `thresholds` are given). */
export function evaluateThresholds(thresholds: readonly (string | Threshold)[], r: LoadResult): ThresholdResult[] {
  return thresholds.map((x) => {
    const t = typeof x === 'string' ? parseThreshold(x) : x;
    if (t.scope === undefined) {
      return evaluateThreshold(t, subjectOf({ requests: r.requests, errors: r.sent - r.requests, dropped: r.dropped, throughput: r.throughput, latency: r.latency }, r.histogram));
    }
    const s = scopeOf(t.scope, Object.keys(r.byCommand), Object.keys(r.byKind) as DeviceKind[]);
    const g = s === null ? undefined : 'command' in s ? r.byCommand[s.command] : r.byKind[s.kind];
    return evaluateThreshold(t, g === undefined ? undefined : subjectOf(g, g.histogram));
  });
}

async function run(opts: LoadOptions, events: EventEmitter): Promise<LoadResult> {
  const p = plan(opts);
  // runLoad returns the emitter first: the caller subscribes in its synchronous code, before the first event
  await undefined;
  const owned = opts.mux === undefined ? await createMux(opts.muxOptions ?? {}) : null;
  const mux: LoadTarget = opts.mux ?? owned!;
  let outstanding = 0;
  try {
    const whole = buildSchedule(parseMix(p.mix), mixDevices(mux.fleet.devices), {
      session: { host: p.host, fabricManager: p.fabricManager },
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
    const schedule = p.segment === undefined ? whole : segmentSchedule(whole, p.segment);
    for (const t of p.thresholds) {
      if (t.scope !== undefined && scopeOf(t.scope, schedule.names, schedule.kinds) === null) {
        throw new BadRequestError(`--threshold "${t.expr}": "${t.scope}" is neither a command of the mix (${schedule.names.join(', ')}) nor a device kind in it (${schedule.kinds.join(', ')})`);
      }
    }
    const session = mux.openSession({ tier: p.tier, host: p.host, fabricManager: p.fabricManager, name: 'mbxmux-load' });
    try {
      const closeQueues = await openIoQueues(session, p.tier, schedule.ioQueueDevices);
      try {
        const [r, left] = await (p.open ? openLoop : closedLoop)(p, session, schedule, events, opts.signal);
        outstanding = left;
        return r;
      } finally {
        if (outstanding === 0) await closeQueues();
      }
    } finally {
      session.close();
    }
  } finally {
    // requests still outstanding after the drain were given up on: do not wait for them again
    if (owned !== null) await owned.close(outstanding > 0 ? { timeoutMs: 50 } : {});
  }
}

function sleep(clock: LoadClock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clock.clearTimer(t);
      resolve();
    };
    const t = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const codeOf = (e: unknown): string => (isMbxError(e) ? e.code : 'EUNKNOWN');

/** Emits 'progress' every periodMs (on a schedule fixed from the start: a late event does not delay the next). */
function startProgress(clock: LoadClock, rec: () => Recorder | null, events: EventEmitter, periodMs: number, t0: () => number, inFlight: () => number): () => void {
  const start = clock.now();
  let last = start;
  let n = 0;
  let timer = clock.setTimer(function tick(): void {
    n++;
    timer = clock.setTimer(tick, Math.max(0, start + (n + 1) * periodMs - clock.now()));
    const r = rec();
    if (r === null) return;
    const now = clock.now();
    r.roll(now);
    events.emit('progress', {
      elapsedMs: now - t0(), requests: r.requests, rate: (r.winRequests * 1000) / Math.max(1, now - last),
      p50us: r.win.percentile(50) / 1000, p99us: r.win.percentile(99) / 1000, errors: r.failed, dropped: r.dropped, inFlight: inFlight(),
    } satisfies LoadProgress);
    r.win.reset();
    r.winRequests = 0;
    last = now;
  }, periodMs);
  return () => clock.clearTimer(timer);
}

function result(p: Plan, rec: Recorder, schedule: Schedule, durationMs: number, startedAt: number, peakInFlight: number, aborted: boolean): LoadResult {
  const byCommand: Record<string, GroupStats> = {};
  schedule.names.forEach((n, i) => (byCommand[n] = rec.group(rec.cmds[i]!, durationMs, schedule.devices[n])));
  const byKind: Partial<Record<DeviceKind, GroupStats>> = {};
  schedule.kinds.forEach((k, i) => (byKind[k] = rec.group(rec.kinds[i]!, durationMs, schedule.kindDevices[k])));
  const r: LoadResult = {
    mode: p.open ? 'open' : 'closed', concurrency: p.open ? p.maxInFlight : p.concurrency,
    durationMs, warmupMs: p.warmupMs, startedAt: new Date(startedAt).toISOString(), mix: p.mix, tier: p.tier, host: p.host,
    fabricManager: p.fabricManager, requests: rec.requests, sent: rec.requests + rec.failed,
    throughput: durationMs > 0 ? (rec.requests * 1000) / durationMs : 0, latency: summarize(rec.hist),
    errors: rec.errors, dropped: rec.dropped, peakInFlight, deviceStatus: rec.status,
    deviceStatusByKind: rec.statusByKind as LoadResult['deviceStatusByKind'], byCommand, byKind,
    intervalMs: rec.intervalMs, intervals: rec.intervals, aborted, histogram: rec.hist,
  };
  if (p.open) {
    r.rate = p.rate;
    r.maxInFlight = p.maxInFlight;
    r.serviceLatency = summarize(rec.service!);
    r.serviceHistogram = rec.service!;
  }
  if (p.segment !== undefined) {
    r.segment = { ...p.segment, whole: p.open ? { concurrency: p.whole.maxInFlight, rate: p.rate, maxInFlight: p.whole.maxInFlight } : { concurrency: p.whole.concurrency } };
    if (p.open) r.rate = p.rate / p.segment.count;
  }
  if (p.thresholds.length > 0) r.thresholds = evaluateThresholds(p.thresholds, r);
  return r;
}

async function closedLoop(p: Plan, session: LoadSession, schedule: Schedule, events: EventEmitter, signal?: AbortSignal): Promise<[LoadResult, number]> {
  const clock = p.clock;
  const items = schedule.items;
  let rec: Recorder | null = null;
  let next = 0;
  let stop = false;
  let inFlight = 0;
  let peak = 0;
  const loop = async (): Promise<void> => {
    while (!stop && !signal?.aborted) {
      const item = items[next++ % items.length]!;
      inFlight++;
      if (inFlight > peak) peak = inFlight;
      const t0 = clock.now();
      try {
        const r = await session.send(item.req);
        inFlight--;
        if (rec !== null && !stop) {
          const now = clock.now();
          rec.ok(item, (now - t0) * 1e6, 0, r, now);
        }
      } catch (e) {
        inFlight--;
        if (rec !== null && !stop) rec.fail(item, codeOf(e), clock.now());
        // a refused request settles without waiting for a device: let timers and I/O run
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  };
  events.emit('phase', 'warmup' satisfies LoadPhase);
  const loops = Array.from({ length: p.concurrency }, loop);
  await sleep(clock, p.warmupMs, signal);
  let tStart = clock.now();
  const wallStart = Date.now();
  let stopProgress = (): void => {};
  if (!signal?.aborted) {
    tStart = clock.now();
    rec = new Recorder(schedule, tStart, p.intervalMs, false, events, p.onSample);
    events.emit('phase', 'measure' satisfies LoadPhase);
    stopProgress = startProgress(clock, () => rec, events, p.progressMs, () => tStart, () => inFlight);
    await sleep(clock, p.durationMs, signal);
  }
  const tEnd = clock.now();
  stop = true;
  stopProgress();
  events.emit('phase', 'drain' satisfies LoadPhase);
  // callers finish the request they have outstanding (answers after the end are not counted); a device that
  // never answers (and no timeout) must not hold the run forever
  let drainTimer: ReturnType<LoadClock['setTimer']> | undefined;
  await Promise.race([Promise.all(loops), new Promise<void>((resolve) => (drainTimer = clock.setTimer(resolve, p.drainMs)))]);
  if (drainTimer !== undefined) clock.clearTimer(drainTimer);
  rec ??= new Recorder(schedule, tStart, p.intervalMs, false, events);
  rec.flush(tEnd);
  events.emit('phase', 'done' satisfies LoadPhase);
  return [result(p, rec, schedule, Math.max(0, tEnd - tStart), wallStart, peak, signal?.aborted === true), inFlight];
}

/**
 * When request k of the open loop is due (ms after the start). With rampUp, the warm-up ramps the rate
 * linearly from 10% to 100% (a cold system is not flooded before its code is compiled and its caches are
 * warm); from the end of warm-up on, one request every 1000/rate ms.
 */
export class Pace {
  private readonly r0: number;
  private readonly a: number;
  /** requests due during the warm-up ramp */
  private readonly nRamp: number;

  constructor(readonly rate: number, readonly warmupMs: number, rampUp: boolean) {
    const R = rate / 1000; // per ms
    this.r0 = rampUp && warmupMs > 0 ? R / 10 : R;
    this.a = rampUp && warmupMs > 0 ? (R - this.r0) / (2 * warmupMs) : 0; // N(t) = r0 t + a t^2 for t <= warmupMs
    this.nRamp = this.r0 * warmupMs + this.a * warmupMs * warmupMs;
  }

  /** requests due in [0, t): the count whose intended time is < t (or <= t with `inclusive`) */
  countBefore(t: number, inclusive = false): number {
    if (t <= 0) return inclusive && t === 0 ? 1 : 0;
    const n = t <= this.warmupMs ? this.r0 * t + this.a * t * t : this.nRamp + ((t - this.warmupMs) * this.rate) / 1000;
    // at(k) < t exactly when k < n, and at(k) <= t when k <= n (the epsilon absorbs float error at whole n)
    return inclusive ? Math.floor(n + 1e-9) + 1 : Math.ceil(n - 1e-9);
  }

  /** intended send time of request k, ms after the start */
  at(k: number): number {
    if (k >= this.nRamp) return this.warmupMs + ((k - this.nRamp) * 1000) / this.rate;
    if (this.a === 0) return k / this.r0;
    return (-this.r0 + Math.sqrt(this.r0 * this.r0 + 4 * this.a * k)) / (2 * this.a);
  }
}

async function openLoop(p: Plan, session: LoadSession, schedule: Schedule, events: EventEmitter, signal?: AbortSignal): Promise<[LoadResult, number]> {
  const clock = p.clock;
  const items = schedule.items;
  const whole = new Pace(p.rate, p.warmupMs, p.rampUp);
  const pace: PaceLike = p.segment === undefined ? whole : new SegmentPace(whole, p.segment);
  const tOrigin = clock.now();
  const wallOrigin = Date.now();
  const tMeasure = tOrigin + p.warmupMs;
  // requests [iMeasure, iEnd) are measured: their intended times fall in [tMeasure, tMeasure + durationMs)
  const iMeasure = pace.countBefore(p.warmupMs);
  let iEnd = pace.countBefore(p.warmupMs + p.durationMs);
  const rec = new Recorder(schedule, tMeasure, p.intervalMs, true, events, p.onSample);
  let i = 0;
  let inFlight = 0;
  let measuredInFlight = 0;
  let peak = 0;
  let book = true; // false once the drain time ran out: late answers are not counted
  let measuring = false;
  let aborted = false;
  let tEnd = tMeasure + p.durationMs;
  let stopProgress = (): void => {};
  let onIdle: (() => void) | null = null;
  // measured requests outstanding per (command, kind) pair, to charge EHARNESS_UNFINISHED to the right groups
  const nk = schedule.kinds.length;
  const outstanding = new Float64Array(schedule.names.length * nk);
  const example: ScheduleItem[] = [];
  for (const it of items) example[it.cmd * nk + it.kindIndex] ??= it;
  const track = (item: ScheduleItem, d: number): void => {
    outstanding[item.cmd * nk + item.kindIndex]! += d;
  };

  const done = (item: ScheduleItem, intended: number, sentAt: number, measured: boolean, r: CommandResult): void => {
    inFlight--;
    if (measured) {
      measuredInFlight--;
      track(item, -1);
      if (book) {
        const now = clock.now();
        rec.ok(item, (now - intended) * 1e6, (now - sentAt) * 1e6, r, now);
      }
    }
    if (inFlight === 0 && onIdle !== null) onIdle();
  };
  const failed = (item: ScheduleItem, measured: boolean, e: unknown): void => {
    inFlight--;
    if (measured) {
      measuredInFlight--;
      track(item, -1);
      if (book) rec.fail(item, codeOf(e), clock.now());
    }
    if (inFlight === 0 && onIdle !== null) onIdle();
  };

  const fire = (k: number): void => {
    const item = items[k % items.length]!;
    const intended = tOrigin + pace.at(k);
    const measured = k >= iMeasure;
    if (inFlight >= p.maxInFlight) {
      if (measured) rec.fail(item, OVERLOAD, clock.now());
      return;
    }
    inFlight++;
    if (inFlight > peak) peak = inFlight;
    if (measured) {
      measuredInFlight++;
      track(item, 1);
    }
    const sentAt = clock.now();
    let promise: Promise<CommandResult>;
    try {
      promise = session.send(item.req);
    } catch (e) {
      failed(item, measured, e);
      return;
    }
    promise.then((r) => done(item, intended, sentAt, measured, r), (e: unknown) => failed(item, measured, e));
  };

  events.emit('phase', 'warmup' satisfies LoadPhase);
  if (p.warmupMs === 0) {
    measuring = true;
    events.emit('phase', 'measure' satisfies LoadPhase);
    stopProgress = startProgress(clock, () => rec, events, p.progressMs, () => tMeasure, () => inFlight);
  }
  const BATCH = 1024; // most sends per event-loop turn, so completions are drained in between
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = clock.now();
      if (signal?.aborted && !aborted) {
        aborted = true;
        iEnd = Math.max(iMeasure, Math.min(iEnd, i));
        tEnd = Math.max(tMeasure, Math.min(tEnd, now));
      }
      if (!measuring && now >= tMeasure && !aborted) {
        measuring = true;
        events.emit('phase', 'measure' satisfies LoadPhase);
        stopProgress = startProgress(clock, () => rec, events, p.progressMs, () => tMeasure, () => inFlight);
      }
      const due = Math.min(iEnd, pace.countBefore(now - tOrigin, true));
      let budget = BATCH;
      while (i < due && budget-- > 0) fire(i++);
      if (i >= iEnd || aborted) return resolve();
      clock.wakeAt(tick, tOrigin + pace.at(i));
    };
    tick();
  });
  // the schedule is over: wait for the measured phase to end (the last requests are due just before it), then drain
  const untilEnd = tEnd - clock.now();
  if (untilEnd > 0 && !aborted) await sleep(clock, untilEnd, signal);
  stopProgress();
  events.emit('phase', 'drain' satisfies LoadPhase);
  if (inFlight > 0) {
    await new Promise<void>((resolve) => {
      // stopped by the caller: do not keep it waiting long for answers
      const t = clock.setTimer(resolve, aborted || signal?.aborted ? Math.min(p.drainMs, 1000) : p.drainMs);
      onIdle = () => {
        clock.clearTimer(t);
        resolve();
      };
    });
  }
  book = false;
  const now = clock.now();
  if (measuredInFlight > 0) {
    // still outstanding after the drain time: errors, charged to the command and kind each belongs to
    outstanding.forEach((n, pair) => n > 0 && rec.fail(example[pair]!, UNFINISHED, now, n));
  }
  rec.flush(now);
  events.emit('phase', 'done' satisfies LoadPhase);
  const durationMs = Math.max(0, Math.min(tEnd, now) - tMeasure);
  return [result(p, rec, schedule, durationMs, wallOrigin + p.warmupMs, peak, aborted || signal?.aborted === true), inFlight];
}
