import { EventEmitter } from 'node:events';
import { createMux } from '../mux/mux.js';
import { closedLoop } from './closed-loop.js';
import { openIoQueues } from './io-queues.js';
import { OpenLoop } from './open-loop.js';
import { plan, planSchedule } from './plan.js';
import type { LoadOptions, LoadResult, LoadTarget } from './types.js';

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

/**
 * One run, start to end: the plan, the mux (made here unless one is given), the schedule, the session and the
 * I/O queues the mix needs; then the loop; then everything it set up is taken down again in reverse.
 */
async function run(opts: LoadOptions, events: EventEmitter): Promise<LoadResult> {
  const p = plan(opts);
  // runLoad returns the emitter first: the caller subscribes in its synchronous code, before the first event
  await undefined;
  const owned = opts.mux === undefined ? await createMux(opts.muxOptions ?? {}) : null;
  const mux: LoadTarget = opts.mux ?? owned!;
  let outstanding = 0;
  try {
    const schedule = planSchedule(p, mux.fleet.devices);
    const session = mux.openSession({ tier: p.tier, host: p.host, fabricManager: p.fabricManager, name: 'mbxmux-load' });
    try {
      const closeQueues = await openIoQueues(session, p.tier, schedule.ioQueueDevices, schedule.ioQueue);
      try {
        const wake = mux.stats === undefined ? undefined : () => mux.stats!();
        const [r, left] = p.open
          ? await new OpenLoop(p, session, schedule, events, opts.signal, wake).run()
          : await closedLoop(p, session, schedule, events, opts.signal, wake);
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
