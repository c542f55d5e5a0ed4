import { BadRequestError } from '../errors.js';
import type { Tier } from '../policy/tiers.js';
import { type LoadClock, realClock } from './clock.js';
import { positiveOption, tierOption, timeoutOption } from '../validate.js';
import { ioQueueFor } from './io-queues.js';
import { buildSchedule, DEFAULT_MIX, type MixDescriptor, mixDevices, parseMix, type Schedule } from './mix.js';
import { checkSegment, type ExecutionSegment, segmentSchedule, segmentShare } from './segment.js';
import { parseThreshold, scopeOf, type Threshold } from './thresholds.js';
import type { LoadOptions, LoadSample } from './types.js';

/**
 * Option planning: runLoad's options checked and resolved once, before anything runs, into a Plan the loops
 * read (defaults filled in, a segment's share of callers or in-flight limit taken, thresholds parsed); then the
 * schedule for the target's devices, with every threshold's scope resolved against it.
 */
export interface Plan {
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
  /** schedule shuffle seed, per-request timeout (undefined: buildSchedule's and the mux's defaults) */
  seed: number | undefined;
  timeoutMs: number | undefined;
}

/** The interval width runLoad uses for a run of this length when none is given. */
export function defaultIntervalMs(durationMs: number): number {
  return durationMs <= 10_000 ? 100 : Math.max(1000, Math.ceil(durationMs / 300 / 1000) * 1000);
}

/** Checks runLoad's options and fills in the defaults. Throws BadRequestError. */
export function plan(opts: LoadOptions): Plan {
  if (typeof opts !== 'object' || opts === null) throw new BadRequestError('runLoad takes an options object: { durationMs, ... }');
  const durationMs = positiveOption(opts.durationMs, 'durationMs', false, NaN);
  const warmupMs = timeoutOption(opts.warmupMs, 'warmupMs', opts.rate !== undefined ? 2000 : 500);
  const open = opts.rate !== undefined;
  if (open && opts.concurrency !== undefined) throw new BadRequestError('give concurrency (closed loop) or rate (open loop), not both');
  if (!open && opts.maxInFlight !== undefined) throw new BadRequestError('maxInFlight applies to the open loop: give rate too');
  const rate = open ? positiveOption(opts.rate, 'rate', false, 0) : 0;
  const maxInFlight = positiveOption(opts.maxInFlight, 'maxInFlight', true, 65536);
  const concurrency = positiveOption(opts.concurrency, 'concurrency', true, 64);
  const timeoutMs = opts.timeoutMs === undefined ? undefined : timeoutOption(opts.timeoutMs, 'timeoutMs', 0);
  const host = opts.host ?? 0;
  const segment = opts.segment === undefined ? undefined : checkSegment(opts.segment);
  const share = (n: number, what: string): number => (segment === undefined ? n : segmentShare(n, segment, what));
  return {
    durationMs, warmupMs, open, rate, segment, whole: { concurrency, maxInFlight }, onSample: opts.onSample,
    concurrency: open ? concurrency : share(concurrency, 'concurrency'), maxInFlight: open ? share(maxInFlight, 'maxInFlight') : maxInFlight,
    intervalMs: positiveOption(opts.intervalMs, 'intervalMs', false, defaultIntervalMs(durationMs)),
    progressMs: positiveOption(opts.progressMs, 'progressMs', false, 1000),
    drainMs: opts.drainMs ?? (timeoutMs ? timeoutMs + 1000 : 6000),
    rampUp: opts.rampUp ?? true,
    thresholds: (opts.thresholds ?? []).map((t) => (typeof t === 'string' ? parseThreshold(t) : t)),
    tier: tierOption(opts.tier, 'debug-read'), host, fabricManager: opts.fabricManager ?? opts.host === undefined,
    mix: opts.mix ?? DEFAULT_MIX,
    clock: opts.clock ?? realClock,
    seed: opts.seed, timeoutMs: opts.timeoutMs,
  };
}

/**
 * The schedule the run sends over these devices (the segment's slots of the whole test's; read / write on the
 * segment's own I/O queue), after checking that every scoped threshold names a command of the mix or a device
 * kind in it. Throws BadRequestError.
 */
export function planSchedule(p: Plan, devices: readonly MixDescriptor[]): Schedule {
  const mix = parseMix(p.mix);
  const whole = buildSchedule(mix, mixDevices(devices), {
    session: { host: p.host, fabricManager: p.fabricManager },
    ...(mix.some((e) => e.command.ioQueue === true) ? { ioQueue: ioQueueFor(p.segment) } : {}),
    ...(p.seed !== undefined ? { seed: p.seed } : {}),
    ...(p.timeoutMs !== undefined ? { timeoutMs: p.timeoutMs } : {}),
  });
  const schedule = p.segment === undefined ? whole : segmentSchedule(whole, p.segment);
  for (const t of p.thresholds) {
    if (t.scope !== undefined && scopeOf(t.scope, schedule.names, schedule.kinds) === null) {
      throw new BadRequestError(`--threshold "${t.expr}": "${t.scope}" is neither a command of the mix (${schedule.names.join(', ')}) nor a device kind in it (${schedule.kinds.join(', ')})`);
    }
  }
  return schedule;
}
