/**
 * Fairness: one session floods one device; a light session's round trips to another device of the same shard
 * (and, for information, to the flooded device itself) are compared with the same light session alone.
 * Target (issue 6): the light session's p99 under the flood stays within 2x of its unloaded p99.
 *
 * Two diagnostics go with it: the same flood against a mux whose per-session and per-device windows are wide
 * open (what the fairness controls buy), and how many flood requests completed during the light session's
 * slowest 1% of round trips versus its middle ones (whether the tail is the flood's share of the main thread
 * or stalls of the threads themselves).
 */
import { createMux, type MuxOptions, type Session } from '../src/index.js';
import { GcRecorder, type GcPauses } from './env.js';
import { figure } from './figures.js';
import { type BenchContext, dur, type Section } from './section.js';
import { latencyStats, type LatencyStats, Samples, sig } from './stats.js';
import { roundTrips } from './timing.js';

export type FairnessData = {
  unloaded: LatencyStats;
  loadedOtherDevice: LatencyStats;
  loadedSameDevice: LatencyStats;
  /** the light session beside the same flood with sessionWindow and deviceWindow at 1024 */
  openWindows: LatencyStats;
  /** the light session alone on a mux with mainSpinUs 0 (answers picked up only once per event-loop turn) */
  unloadedNoQuickPoll: LatencyStats;
  floodOpsPerSec: number;
  p99Ratio: number;
  /** flood completions during the light session's slowest 1% of round trips, and during its p40-p60 ones */
  floodDuringSlowest: number;
  floodDuringMiddle: number;
  /** the main thread's GC pauses while the light session ran beside the flood (each round) */
  gcBesideFlood: GcPauses[];
};

const FLOODERS = 4096;
const OPCODE = 0x4200;

/** Keeps FLOODERS requests to `device` outstanding until stop() is called; counts completions. */
function startFlood(s: Session, device: string): { stop: () => Promise<void>; count: () => number } {
  let stop = false;
  let n = 0;
  const loops = Array.from({ length: FLOODERS }, async () => {
    while (!stop) {
      await s.send({ device, opcode: OPCODE, timeoutMs: 0 });
      n++;
    }
  });
  return {
    count: () => n,
    stop: async () => {
      stop = true;
      await Promise.all(loops);
    },
  };
}

/** Light round trips for `ms`, each with the number of flood completions that happened during it. */
async function lightBeside(send: () => Promise<unknown>, floodCount: () => number, ms: number, lat: Samples, floods: Samples): Promise<void> {
  const warmEnd = performance.now() + 50;
  while (performance.now() < warmEnd) await send();
  const end = performance.now() + ms;
  for (;;) {
    const f0 = floodCount();
    const t0 = performance.now();
    await send();
    const t1 = performance.now();
    lat.push((t1 - t0) * 1e6);
    floods.push(floodCount() - f0);
    if (t1 >= end) break;
  }
}

function meanFloodsBetween(lat: Float64Array, floods: Float64Array, lo: number, hi: number): number {
  const order = Array.from(lat.keys()).sort((a, b) => lat[a]! - lat[b]!);
  const from = Math.floor(lo * order.length);
  const to = Math.max(from + 1, Math.floor(hi * order.length));
  let sum = 0;
  for (let i = from; i < to; i++) sum += floods[order[i]!]!;
  return sum / (to - from);
}

export const fairnessSection: Section = {
  id: 'fairness',
  title: 'Fairness: a light session beside a flooding one',
  async run(ctx: BenchContext) {
    const fleet: MuxOptions['fleet'] = { 'cxl-type3': 16 };
    // the flood's requests have no timeout (a timer each would be part of what is measured): the bench
    // creates these muxes, so it allows that to its debug-read sessions (noTimeoutTier)
    const base: MuxOptions = { workers: ctx.workers, fleet, noTimeoutTier: 'debug-read' };
    const mux = await createMux(base);
    const plain = await createMux({ ...base, mainSpinUs: 0 });
    const wide = await createMux({ ...base, sessionWindow: 1024, deviceWindow: 1024, sharedSessionWindow: 1024, sharedDeviceWindow: 1024 });
    try {
      const flood = mux.openSession({ name: 'flood' });
      const light = mux.openSession({ name: 'light' });
      const devs = mux.devices();
      const victim = devs[0]!;
      const other = devs.find((d) => d.shard === victim.shard && d.id !== victim.id)!;
      // Rounds alternate "alone" and "beside the flood", so a slow phase of this shared VM lands on both sides.
      const rounds = ctx.quick ? 1 : 3;
      const ms = dur(ctx, 600, 400);
      const alone = new Samples();
      const besideOther = new Samples();
      const floodsOther = new Samples();
      const besideSame = new Samples();
      const besideWide = new Samples();
      const alonePlain = new Samples();
      const plainLight = plain.openSession({ name: 'light' });
      const floodsWide = new Samples();
      let flooded = 0;
      let floodMs = 0;
      const wideFlood = wide.openSession({ name: 'flood' });
      const wideLight = wide.openSession({ name: 'light' });
      const gcBesideFlood: GcPauses[] = [];
      const perRound: { alone: LatencyStats; beside: LatencyStats }[] = [];
      for (let r = 0; r < rounds; r++) {
        const aloneRound = await roundTrips(() => light.send({ device: other.id, opcode: OPCODE }), ms, 50);
        alone.append(aloneRound);
        alonePlain.append(await roundTrips(() => plainLight.send({ device: other.id, opcode: OPCODE }), ms / 2, 50));
        const t0 = performance.now();
        const f = startFlood(flood, victim.id);
        await new Promise((res) => setTimeout(res, 100));
        const gcRec = new GcRecorder();
        const besideRound = new Samples();
        await lightBeside(() => light.send({ device: other.id, opcode: OPCODE }), f.count, ms, besideRound, floodsOther);
        besideOther.append(besideRound);
        gcBesideFlood.push(gcRec.stop());
        perRound.push({ alone: latencyStats(aloneRound.values()), beside: latencyStats(besideRound.values()) });
        besideSame.append(await roundTrips(() => light.send({ device: victim.id, opcode: OPCODE }), ms / 2, 20));
        await f.stop();
        flooded += f.count();
        floodMs += performance.now() - t0;
        // the same flood with the windows wide open: the flood may fill the shard's ring ahead of the light session
        const g = startFlood(wideFlood, victim.id);
        await new Promise((res) => setTimeout(res, 100));
        await lightBeside(() => wideLight.send({ device: other.id, opcode: OPCODE }), g.count, ms / 2, besideWide, floodsWide);
        await g.stop();
      }
      const unloaded = latencyStats(alone.values());
      const loadedOtherDevice = latencyStats(besideOther.values());
      const loadedSameDevice = latencyStats(besideSame.values());
      const openWindows = latencyStats(besideWide.values());
      const unloadedNoQuickPoll = latencyStats(alonePlain.values());
      const floodOpsPerSec = (flooded * 1000) / floodMs;
      const p99Ratio = loadedOtherDevice.p99 / unloaded.p99;
      const floodDuringSlowest = meanFloodsBetween(besideOther.values(), floodsOther.values(), 0.99, 1);
      const floodDuringMiddle = meanFloodsBetween(besideOther.values(), floodsOther.values(), 0.4, 0.6);
      const data: FairnessData = {
        unloaded, unloadedNoQuickPoll, loadedOtherDevice, loadedSameDevice, openWindows, floodOpsPerSec, p99Ratio, floodDuringSlowest, floodDuringMiddle, gcBesideFlood,
      };
      const gcNote = gcBesideFlood.map((g) => `${g.perSecond.toFixed(0)}/s ${g.percent.toFixed(1)}% max ${g.maxMs.toFixed(2)} ms`).join('; ');
      const row = (name: string, s: LatencyStats): (string | number)[] => [name, s.p50, s.p99, s.p999, s.mean, String(s.samples)];
      return {
        data,
        // repeats: the rounds (alone, then beside the flood)
        figures: [
          figure('light p99 beside a flood / alone', '×', 'lower', perRound.map((r) => r.beside.p99 / r.alone.p99)),
          figure('light round trip p99 beside a flood', 'µs', 'lower', perRound.map((r) => r.beside.p99)),
          figure('light round trip p50 beside a flood', 'µs', 'lower', perRound.map((r) => r.beside.p50)),
          figure('light round trip p99 alone', 'µs', 'lower', perRound.map((r) => r.alone.p99)),
        ],
        tables: [{
          title: `Light session round trips (µs; 16 type-3, ${ctx.workers} workers; the flood keeps ${FLOODERS} requests outstanding to ${victim.id}, ${sig(floodOpsPerSec)} req/s)`,
          head: ['light session', 'p50', 'p99', 'p99.9', 'mean', 'samples'],
          rows: [
            row(`alone, to ${other.id}`, unloaded),
            row(`alone, to ${other.id}, mainSpinUs 0 (for reference)`, unloadedNoQuickPoll),
            row(`beside the flood, to ${other.id} (same shard)`, loadedOtherDevice),
            row(`beside the flood, to ${victim.id} (the flooded device)`, loadedSameDevice),
            row(`beside the flood, to ${other.id}, windows wide open (1024)`, openWindows),
          ],
          note: `p99 beside the flood / p99 alone = ${p99Ratio.toFixed(2)} (target <= 2); per-session queues, per-device windows and round-robin unparking keep the flood from starving the light session\n`
            + `flood requests completed during a light round trip: ${floodDuringMiddle.toFixed(1)} on average for its p40-p60 round trips, ${floodDuringSlowest.toFixed(1)} for its slowest 1%`
            + (floodDuringSlowest <= 1.5 * floodDuringMiddle
              ? ' (about the same: the tail comes from stalls of the busy threads, not from the flood\'s share of the main thread)'
              : ' (more in the slowest: the flood\'s share of the main thread sets the tail)')
            + `\nmain-thread GC pauses beside the flood, per round: ${gcNote}`
            + `\nthe ratio's baseline is the default mux (quick completion poll on); against the same light session with mainSpinUs 0 it would be ${(loadedOtherDevice.p99 / unloadedNoQuickPoll.p99).toFixed(2)}`,
        }],
      };
    } finally {
      await mux.close({ timeoutMs: 0 });
      await wide.close({ timeoutMs: 0 });
      await plain.close({ timeoutMs: 0 });
    }
  },
};
