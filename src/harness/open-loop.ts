import { EventEmitter } from 'node:events';
import type { MbxError } from '../errors.js';
import type { SendRequest } from '../mux/types.js';
import type { LoadClock } from './clock.js';
import { codeOf, sleep, submitOf } from './loop-common.js';
import type { Schedule, ScheduleItem } from './mix.js';
import { Pace } from './pace.js';
import type { Plan } from './plan.js';
import { OVERLOAD, Recorder, startProgress, UNFINISHED } from './recorder.js';
import { runResult } from './run-result.js';
import { type PaceLike, SegmentPace } from './segment.js';
import type { LoadPhase, LoadResult, LoadSession, Submitted, WakeCounts } from './types.js';

/** Most sends per event-loop turn, so completions are drained in between. */
const BATCH = 1024;

/**
 * The bookkeeping of one phase. Warm-up requests go through exactly the code measured ones do, into a phase whose
 * recorder is thrown away: the measured phase must not begin with that code still cold (measured: with the warm-up
 * answers left unrecorded, the first ~300 ms of the measured phase held most of a run's slow answers).
 */
class Phase {
  inFlight = 0;
  /** requests outstanding per (command, kind) pair, to charge EHARNESS_UNFINISHED to the right groups */
  readonly outstanding: Float64Array;

  constructor(readonly rec: Recorder, private readonly nk: number, pairs: number) {
    this.outstanding = new Float64Array(pairs);
  }

  track(item: ScheduleItem, d: number): void {
    this.inFlight += d;
    this.outstanding[item.cmd * this.nk + item.kindIndex]! += d;
  }
}

/** One outstanding request's context, with its callback made once: a pool of them, so a request costs no closure. */
class Flight {
  item: ScheduleItem;
  intended = 0;
  sentAt = 0;
  phase: Phase;
  readonly onDone: Submitted = (err, answer) => this.loop.settled(this, err, err === null ? answer!.rc : 0);

  constructor(private readonly loop: OpenLoop, item: ScheduleItem, phase: Phase) {
    this.item = item;
    this.phase = phase;
  }
}

/**
 * The open loop: request k of the schedule is due at `pace.at(k)` whatever the answers do, and its latency runs
 * from that intended time (coordinated omission corrected, as wrk2 does). One tick sends every request due (at
 * most BATCH per event-loop turn) and sleeps on the clock until the next; a request due while maxInFlight are
 * outstanding is dropped (EHARNESS_OVERLOAD); what is still outstanding when the drain time runs out is
 * EHARNESS_UNFINISHED. Per request it allocates nothing: the Flight records are pooled and the callbacks made once.
 */
export class OpenLoop {
  private readonly clock: LoadClock;
  private readonly submit: (req: SendRequest, onDone: Submitted) => void;
  private readonly items: readonly ScheduleItem[];
  private readonly pace: PaceLike;
  /** the clock at the start, and at the start of the measured phase */
  private readonly tOrigin: number;
  private readonly tMeasure: number;
  private readonly wallOrigin: number;
  /** requests [iMeasure, iEnd) are measured: their intended times fall in [tMeasure, tEnd) */
  private readonly iMeasure: number;
  private iEnd: number;
  private tEnd: number;
  private readonly rec: Recorder;
  private readonly warmPhase: Phase;
  private readonly measuredPhase: Phase;
  /** the first schedule item of each (command, kind) pair, to charge a pair's unfinished requests to */
  private readonly example: ScheduleItem[] = [];
  private readonly flights: Flight[] = [];
  /** the next request of the schedule to send */
  private i = 0;
  private inFlight = 0;
  private peak = 0;
  /** false once the drain time ran out: late answers are not counted */
  private book = true;
  private measuring = false;
  private aborted = false;
  private w0: WakeCounts | undefined;
  private stopProgress = (): void => {};
  /** the drain's wake-up when the last outstanding request settles */
  private onIdle: (() => void) | null = null;
  /** resolves run()'s wait when the schedule has been sent (or the run aborted) */
  private scheduleSent: (() => void) | null = null;

  constructor(private readonly p: Plan, session: LoadSession, private readonly schedule: Schedule, private readonly events: EventEmitter,
    private readonly signal?: AbortSignal, private readonly wake?: () => WakeCounts) {
    const clock = (this.clock = p.clock);
    this.submit = submitOf(session);
    this.items = schedule.items;
    const whole = new Pace(p.rate, p.warmupMs, p.rampUp);
    this.pace = p.segment === undefined ? whole : new SegmentPace(whole, p.segment);
    this.tOrigin = clock.now();
    this.wallOrigin = Date.now();
    this.tMeasure = this.tOrigin + p.warmupMs;
    this.tEnd = this.tMeasure + p.durationMs;
    this.iMeasure = this.pace.countBefore(p.warmupMs);
    this.iEnd = this.pace.countBefore(p.warmupMs + p.durationMs);
    this.rec = new Recorder(schedule, this.tMeasure, p.intervalMs, true, events, p.onSample);
    const nk = schedule.kinds.length;
    const pairs = schedule.names.length * nk;
    for (const it of this.items) this.example[it.cmd * nk + it.kindIndex] ??= it;
    this.warmPhase = new Phase(new Recorder(schedule, this.tOrigin, p.intervalMs, true, new EventEmitter()), nk, pairs);
    this.measuredPhase = new Phase(this.rec, nk, pairs);
  }

  /** Runs the schedule, waits out the measured phase, drains; the result and the requests still outstanding. */
  async run(): Promise<[LoadResult, number]> {
    this.events.emit('phase', 'warmup' satisfies LoadPhase);
    if (this.p.warmupMs === 0) this.startMeasuring();
    await new Promise<void>((resolve) => {
      this.scheduleSent = resolve;
      this.tick();
    });
    // the schedule is over: wait for the measured phase to end (the last requests are due just before it), then drain
    const untilEnd = this.tEnd - this.clock.now();
    if (untilEnd > 0 && !this.aborted) await sleep(this.clock, untilEnd, this.signal);
    const w1 = this.wake?.();
    this.stopProgress();
    this.events.emit('phase', 'drain' satisfies LoadPhase);
    await this.drain();
    return this.finish(w1);
  }

  /** A Flight's callback: the request settled (`rc`: the answer's status when `err` is null). */
  settled(f: Flight, err: MbxError | null, rc: number): void {
    const { item, intended, sentAt, phase } = f;
    this.flights.push(f);
    this.inFlight--;
    phase.track(item, -1);
    if (this.book) {
      const now = this.clock.now();
      if (err === null) phase.rec.ok(item, (now - intended) * 1e6, (now - sentAt) * 1e6, rc, now);
      else phase.rec.fail(item, codeOf(err), now);
    }
    if (this.inFlight === 0 && this.onIdle !== null) this.onIdle();
  }

  private startMeasuring(): void {
    this.measuring = true;
    this.w0 = this.wake?.();
    this.events.emit('phase', 'measure' satisfies LoadPhase);
    this.stopProgress = startProgress(this.clock, () => this.rec, this.events, this.p.progressMs, () => this.tMeasure, () => this.inFlight);
  }

  /** Sends every request due by now (at most BATCH), then sleeps until the next is due; made once per run. */
  private readonly tick = (): void => {
    const clock = this.clock;
    const now = clock.now();
    if (this.signal?.aborted && !this.aborted) {
      this.aborted = true;
      this.iEnd = Math.max(this.iMeasure, Math.min(this.iEnd, this.i));
      this.tEnd = Math.max(this.tMeasure, Math.min(this.tEnd, now));
    }
    if (!this.measuring && now >= this.tMeasure && !this.aborted) this.startMeasuring();
    const due = Math.min(this.iEnd, this.pace.countBefore(now - this.tOrigin, true));
    let i = this.i;
    let budget = BATCH;
    let firedAt = now;
    while (i < due && budget-- > 0) {
      if ((budget & 63) === 0) firedAt = clock.now(); // a long batch reads the clock again now and then
      this.fire(i++, firedAt);
    }
    this.i = i;
    if (i >= this.iEnd || this.aborted) return this.scheduleSent!();
    clock.wakeAt(this.tick, this.tOrigin + this.pace.at(i));
  };

  /** Sends request k. `now`: the clock as the tick last read it (at most 64 requests before this one). */
  private fire(k: number, now: number): void {
    const item = this.items[k % this.items.length]!;
    const ph = k >= this.iMeasure ? this.measuredPhase : this.warmPhase;
    if (this.inFlight >= this.p.maxInFlight) {
      ph.rec.fail(item, OVERLOAD, this.clock.now());
      return;
    }
    this.inFlight++;
    if (this.inFlight > this.peak) this.peak = this.inFlight;
    ph.track(item, 1);
    let f = this.flights.pop();
    if (f === undefined) f = new Flight(this, item, ph);
    else {
      f.item = item;
      f.phase = ph;
    }
    f.intended = this.tOrigin + this.pace.at(k);
    f.sentAt = now;
    this.submit(item.req, f.onDone);
  }

  /** Waits for the outstanding requests, at most drainMs (stopped by the caller: at most 1 s, not to keep it waiting). */
  private async drain(): Promise<void> {
    if (this.inFlight === 0) return;
    const clock = this.clock;
    await new Promise<void>((resolve) => {
      const t = clock.setTimer(resolve, this.aborted || this.signal?.aborted ? Math.min(this.p.drainMs, 1000) : this.p.drainMs);
      this.onIdle = () => {
        clock.clearTimer(t);
        resolve();
      };
    });
  }

  /** Stops counting, charges what is still outstanding as EHARNESS_UNFINISHED and builds the result. */
  private finish(w1: WakeCounts | undefined): [LoadResult, number] {
    this.book = false;
    const now = this.clock.now();
    const rec = this.rec;
    if (this.measuredPhase.inFlight > 0) {
      // still outstanding after the drain time: errors, charged to the command and kind each belongs to
      this.measuredPhase.outstanding.forEach((n, pair) => n > 0 && rec.fail(this.example[pair]!, UNFINISHED, now, n));
    }
    rec.flush(now);
    this.events.emit('phase', 'done' satisfies LoadPhase);
    const durationMs = Math.max(0, Math.min(this.tEnd, now) - this.tMeasure);
    const aborted = this.aborted || this.signal?.aborted === true;
    return [runResult(this.p, rec, this.schedule, durationMs, this.wallOrigin + this.p.warmupMs, this.peak, aborted, this.w0, w1), this.inFlight];
  }
}
