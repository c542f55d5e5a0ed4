import { EventEmitter } from 'node:events';
import type { LoadClock } from './clock.js';
import { codeOf, sleep, submitOf } from './loop-common.js';
import type { Schedule, ScheduleItem } from './mix.js';
import type { Plan } from './plan.js';
import { Recorder, startProgress } from './recorder.js';
import { runResult } from './run-result.js';
import type { LoadPhase, LoadResult, LoadSession, Submitted, WakeCounts } from './types.js';

/**
 * The closed loop: `p.concurrency` callers, each sending the next request of the schedule as soon as its previous
 * one settled; latency runs from submit() to the callback. Returns the result and the requests still outstanding
 * after the drain (runLoad does not wait for those again).
 */
export async function closedLoop(p: Plan, session: LoadSession, schedule: Schedule, events: EventEmitter, signal?: AbortSignal, wake?: () => WakeCounts): Promise<[LoadResult, number]> {
  const clock = p.clock;
  const submit = submitOf(session);
  const items = schedule.items;
  let rec: Recorder | null = null;
  const warm = new Recorder(schedule, clock.now(), p.intervalMs, false, new EventEmitter());
  let next = 0;
  let stop = false;
  let inFlight = 0;
  let peak = 0;
  let running = p.concurrency;
  let allStopped: (() => void) | null = null;
  /**
   * One caller: sends the next request of the mix from the callback of the previous one. Its callback is made
   * once, so a request costs no closure; a refused request (it settles without a device) goes on in the next
   * event-loop turn, so a caller refused over and over still lets timers and I/O run.
   */
  class Caller {
    private item: ScheduleItem = items[0]!;
    private t0 = 0;
    private readonly onDone: Submitted = (err, answer) => {
      inFlight--;
      if (!stop) {
        // warm-up answers go to a recorder that is thrown away (the recording code is warm when measuring starts)
        const to = rec ?? warm;
        const now = clock.now();
        if (err === null) to.ok(this.item, (now - this.t0) * 1e6, 0, answer!.rc, now);
        else to.fail(this.item, codeOf(err), now);
      }
      if (err === null) this.send();
      else setImmediate(this.sendNext);
    };

    private readonly sendNext = (): void => this.send();

    send(): void {
      if (stop || signal?.aborted) {
        if (--running === 0 && allStopped !== null) allStopped();
        return;
      }
      this.item = items[next++ % items.length]!;
      inFlight++;
      if (inFlight > peak) peak = inFlight;
      this.t0 = clock.now();
      submit(this.item.req, this.onDone);
    }
  }
  events.emit('phase', 'warmup' satisfies LoadPhase);
  const stopped = new Promise<void>((resolve) => (allStopped = resolve));
  for (let i = 0; i < p.concurrency; i++) new Caller().send();
  await sleep(clock, p.warmupMs, signal);
  let tStart = clock.now();
  const wallStart = Date.now();
  let stopProgress = (): void => {};
  let w0: WakeCounts | undefined;
  if (!signal?.aborted) {
    tStart = clock.now();
    w0 = wake?.();
    rec = new Recorder(schedule, tStart, p.intervalMs, false, events, p.onSample);
    events.emit('phase', 'measure' satisfies LoadPhase);
    stopProgress = startProgress(clock, () => rec, events, p.progressMs, () => tStart, () => inFlight);
    await sleep(clock, p.durationMs, signal);
  }
  const tEnd = clock.now();
  const w1 = wake?.();
  stop = true;
  stopProgress();
  events.emit('phase', 'drain' satisfies LoadPhase);
  // callers finish the request they have outstanding (answers after the end are not counted); a device that
  // never answers (and no timeout) must not hold the run forever
  let drainTimer: ReturnType<LoadClock['setTimer']> | undefined;
  if (running > 0) await Promise.race([stopped, new Promise<void>((resolve) => (drainTimer = clock.setTimer(resolve, p.drainMs)))]);
  if (drainTimer !== undefined) clock.clearTimer(drainTimer);
  rec ??= new Recorder(schedule, tStart, p.intervalMs, false, events);
  rec.flush(tEnd);
  events.emit('phase', 'done' satisfies LoadPhase);
  return [runResult(p, rec, schedule, Math.max(0, tEnd - tStart), wallStart, peak, signal?.aborted === true, w0, w1), inFlight];
}
