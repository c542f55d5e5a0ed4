import type { EventEmitter } from 'node:events';
import { Histogram } from './histogram.js';
import type { LoadClock } from './clock.js';
import type { Schedule, ScheduleItem } from './mix.js';
import type { GroupStats, IntervalStats, LatencySummary, LoadProgress, LoadSample } from './types.js';

/**
 * What a run measures: every answer and error goes into one Recorder (the whole run's histogram, one Group per
 * command and per device kind, the latency-over-time intervals and the progress window). Both loops feed it
 * through ok() / fail(), once per request, so these stay free of per-request objects (an onSample record only
 * when samples are asked for).
 */

/** A request not sent because maxInFlight requests were outstanding (open loop). */
export const OVERLOAD = 'EHARNESS_OVERLOAD';
/** A request still outstanding when the drain time ran out (open loop). */
export const UNFINISHED = 'EHARNESS_UNFINISHED';

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
export class Group {
  readonly hist = new Histogram();
  requests = 0;
  errors = 0;
  dropped = 0;
  readonly status: Record<string, number> = {};
}

/** Everything measured in a run; both loops feed it. */
export class Recorder {
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

  ok(item: ScheduleItem, ns: number, serviceNs: number, rc: number, now: number): void {
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
    if (rc !== 0) {
      bump(this.status, rc);
      bump(c.status, rc);
      bump(k.status, rc);
      bump((this.statusByKind[item.kind] ??= {}), rc);
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

/** Emits 'progress' every periodMs (on a schedule fixed from the start: a late event does not delay the next). */
export function startProgress(clock: LoadClock, rec: () => Recorder | null, events: EventEmitter, periodMs: number, t0: () => number, inFlight: () => number): () => void {
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
