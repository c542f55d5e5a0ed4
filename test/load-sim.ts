import type { EventEmitter } from 'node:events';
import * as assert from 'uvu/assert';
import { CancelledError, type MbxError } from '../src/errors.js';
import { buildFleet } from '../src/fleet/expand.js';
import type { LoadClock, LoadTimer } from '../src/harness/clock.js';
import { Histogram } from '../src/harness/histogram.js';
import { runLoad } from '../src/harness/load.js';
import type { LoadOptions, LoadResult, LoadSession, LoadTarget } from '../src/harness/types.js';
import type { CommandResult, FleetInput, SendRequest } from '../src/index.js';

/**
 * Virtual time for load-harness tests: runLoad reads the time and sets its timers through this clock, and the
 * simulated fleet below answers after virtual service times, so a run's counts and latencies follow exactly
 * from its parameters, whatever the machine is doing.
 */
export class VirtualClock implements LoadClock {
  private t = 0;
  private seq = 0;
  /** pending timers, sorted by (at, seq) */
  private readonly timers: { at: number; seq: number; fn: () => void; live: boolean }[] = [];

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): LoadTimer {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, live: true };
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.timers[mid]!;
      if (m.at < timer.at || (m.at === timer.at && m.seq < timer.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.timers.splice(lo, 0, timer);
    return timer;
  }

  clearTimer(t: LoadTimer): void {
    (t as { live: boolean }).live = false;
  }

  wakeAt(fn: () => void, at: number): void {
    this.setTimer(fn, at - this.t);
  }

  /** The process stalls (a GC pause, a blocked event loop): time jumps ahead and no timer runs meanwhile. */
  stall(ms: number): void {
    this.t += ms;
  }

  /**
   * Runs `work` to completion in virtual time: fires the earliest timer, lets every promise reaction and
   * immediate it caused run, and repeats. A run that waits with no timer set would never finish: that throws.
   */
  async run<T>(work: Promise<T>): Promise<T> {
    let finished = false;
    work.then(() => (finished = true), () => (finished = true));
    for (;;) {
      await new Promise((r) => setImmediate(r));
      if (finished) return work;
      let next = this.timers.shift();
      while (next !== undefined && !next.live) next = this.timers.shift();
      if (next === undefined) throw new Error(`virtual clock at ${this.t} ms: the run waits, but no timer is set`);
      if (next.at > this.t) this.t = next.at;
      next.fn();
    }
  }
}

/** How a simulated device serves commands. */
export interface SimDevice {
  /** virtual service time per command, ms */
  serviceMs: number;
  /** one command at a time, in order (a mailbox); otherwise commands overlap */
  serial?: boolean;
  /** never answers */
  hang?: boolean;
}

/**
 * A fleet (real descriptors from buildFleet, one shard) whose sessions answer after virtual service times.
 * Every command succeeds with rc 0 and an empty payload; `sent` counts the requests it received.
 */
export class SimFleet implements LoadTarget {
  readonly fleet: ReturnType<typeof buildFleet>;
  sent = 0;
  private readonly busyUntil = new Map<string, number>();

  constructor(private readonly clock: VirtualClock, fleet: FleetInput, private readonly deviceOf: (id: string) => SimDevice) {
    this.fleet = buildFleet(fleet, 1);
  }

  openSession(): LoadSession {
    return {
      send: (req) => this.send(req),
      // the same service, called back (never from inside submit(): the earliest answer is a timer away)
      submit: (req, onDone) => {
        this.send(req).then((r) => onDone(null, r), (e: MbxError) => onDone(e, null));
      },
      close: () => {},
    };
  }

  private send(req: SendRequest): Promise<CommandResult> {
    this.sent++;
    const d = this.deviceOf(req.device);
    return new Promise((resolve, reject) => {
      const timeout = req.timeoutMs ?? 5000;
      if (d.hang) {
        if (timeout > 0) this.clock.setTimer(() => reject(new CancelledError('EMBX_TIMEOUT', `${req.device} did not answer`)), timeout);
        return;
      }
      const now = this.clock.now();
      const start = d.serial ? Math.max(now, this.busyUntil.get(req.device) ?? 0) : now;
      const done = start + d.serviceMs;
      if (d.serial) this.busyUntil.set(req.device, done);
      this.clock.setTimer(() => resolve({ rc: 0, payload: new Uint8Array(0), vendorStatus: 0, background: false }), done - now);
    });
  }
}

/** Helpers of the harness tests: checks every result must pass, and runs in virtual time. */

export const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
/** Every breakdown of a result adds up to its totals, and its percentiles are ordered. */
export function checkConsistent(r: LoadResult): void {
  assert.is(r.histogram.total, r.requests);
  assert.is(sum(Object.values(r.byCommand).map((g) => g.requests)), r.requests, 'byCommand adds up');
  assert.is(sum(Object.values(r.byKind).map((g) => g!.requests)), r.requests, 'byKind adds up');
  assert.is(sum(Object.values(r.errors)), r.sent - r.requests, 'errors add up');
  assert.is(sum(r.intervals.map((i) => i.requests)), r.requests, 'intervals add up');
  const l = r.latency;
  if (r.requests > 0) assert.ok(l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, JSON.stringify(l));
}

/**
 * A percentile the harness reports for a latency of `ms` that is not the run's largest: the top of its
 * histogram bucket (3 significant digits), in µs. (min and max are kept exactly.)
 */
export const bucketTop = (ms: number): number => {
  const h = new Histogram();
  h.record(ms * 1e6);
  h.record(1e12);
  return h.percentile(50) / 1000;
};

/** A run in virtual time against simulated devices that answer in `serviceMs` (SimFleet above). */
export function virtual(fleet: FleetInput, device: (id: string) => SimDevice): { clock: VirtualClock; sim: SimFleet; run: (o: Omit<LoadOptions, 'mux' | 'clock'>) => { events: EventEmitter; result: Promise<LoadResult> } } {
  const clock = new VirtualClock();
  const sim = new SimFleet(clock, fleet, device);
  return {
    clock,
    sim,
    run: (o) => {
      const { events, result } = runLoad({ ...o, mux: sim, clock });
      return { events, result: clock.run(result) };
    },
  };
}
