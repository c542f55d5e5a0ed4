import type { MbxError } from '../errors.js';
import type { DeviceKind } from '../fleet/types.js';
import type { CommandResult, MuxOptions, SendRequest } from '../mux/types.js';
import type { Tier } from '../policy/tiers.js';
import type { LoadClock } from './clock.js';
import type { Histogram } from './histogram.js';
import type { MixDescriptor } from './mix.js';
import type { ExecutionSegment } from './segment.js';
import type { Threshold, ThresholdResult } from './thresholds.js';

/** The load harness's public types: what runLoad takes, what it drives, and what it reports. */

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
  /** a Mux's counters: when present, the result reports the wake-ups of the measured phase (LoadResult.wakeups) */
  stats?(): WakeCounts;
}

/** The Mux counters a run reads (a subset of MuxStats). */
export interface WakeCounts {
  completed: number;
  failed: number;
  /** Atomics.notify of the main thread by workers, and of workers by the main thread */
  mainWakeups: number;
  workerWakeups: number;
  quickPolls: number;
  quickHits: number;
}

/**
 * What a run drives on its target. The loops use `submit()` when the session has it (a Mux session: no promise or
 * result object per request, the callback reads the answer's rc while it is valid), else `send()` (a remote
 * fleet); `send()` also sets up what a mix needs first (I/O queues).
 */
export interface LoadSession {
  send(req: SendRequest): Promise<CommandResult>;
  /** calls back once per request, never from inside submit() (Session.submit) */
  submit?(req: SendRequest, onDone: Submitted): void;
  close(): void;
}

/** A submit() callback as the harness reads it: the error, or the answer's status. */
export type Submitted = (err: MbxError | null, answer: { readonly rc: number } | null) => void;

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
  /**
   * the mux's wake-ups during the measured phase (when the target reports them): Atomics.notify sent either way,
   * per 1,000 requests the mux settled, and the main thread's spins for an answer
   */
  wakeups?: { mainWakeups: number; workerWakeups: number; per1k: number; quickPolls: number; quickHits: number };
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
