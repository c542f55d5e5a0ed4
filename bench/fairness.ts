/**
 * Fairness: one session floods one device; a light session's round trips to another device of the same shard
 * (and, for information, to the flooded device itself) are compared with the same light session alone.
 * Target (issue 6): the light session's p99 under the flood stays within 2x of its unloaded p99.
 */
import { createMux } from '../src/index.js';
import { type BenchContext, dur, type Section } from './section.js';
import { latencyStats, type LatencyStats, Samples, sig } from './stats.js';
import { roundTrips } from './timing.js';

export type FairnessData = {
  unloaded: LatencyStats;
  loadedOtherDevice: LatencyStats;
  loadedSameDevice: LatencyStats;
  floodOpsPerSec: number;
  p99Ratio: number;
};

export const fairnessSection: Section = {
  id: 'fairness',
  title: 'Fairness: a light session beside a flooding one',
  async run(ctx: BenchContext) {
    const mux = await createMux({ workers: ctx.workers, fleet: { 'cxl-type3': 16 } });
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
      const besideSame = new Samples();
      let flooded = 0;
      let floodMs = 0;
      for (let r = 0; r < rounds; r++) {
        alone.append(await roundTrips(() => light.send({ device: other.id, opcode: 0x4200 }), ms, 50));
        // the flood: as many requests in flight to one device as the mux will queue, for as long as we measure
        let stop = false;
        const t0 = performance.now();
        const floods = Array.from({ length: 4096 }, async () => {
          while (!stop) {
            await flood.send({ device: victim.id, opcode: 0x4200, timeoutMs: 0 });
            flooded++;
          }
        });
        await new Promise((res) => setTimeout(res, 100));
        besideOther.append(await roundTrips(() => light.send({ device: other.id, opcode: 0x4200 }), ms, 50));
        besideSame.append(await roundTrips(() => light.send({ device: victim.id, opcode: 0x4200 }), ms / 2, 20));
        stop = true;
        await Promise.all(floods);
        floodMs += performance.now() - t0;
      }
      const unloaded = latencyStats(alone.values());
      const loadedOtherDevice = latencyStats(besideOther.values());
      const loadedSameDevice = latencyStats(besideSame.values());
      const floodOpsPerSec = (flooded * 1000) / floodMs;
      const p99Ratio = loadedOtherDevice.p99 / unloaded.p99;
      const data: FairnessData = { unloaded, loadedOtherDevice, loadedSameDevice, floodOpsPerSec, p99Ratio };
      const row = (name: string, s: LatencyStats): (string | number)[] => [name, s.p50, s.p99, s.p999, s.mean, String(s.samples)];
      return {
        data,
        tables: [{
          title: `Light session round trips (µs; 16 type-3, ${ctx.workers} workers; the flood keeps 4096 requests queued for ${victim.id}, ${sig(floodOpsPerSec)} req/s)`,
          head: ['light session', 'p50', 'p99', 'p99.9', 'mean', 'samples'],
          rows: [
            row(`alone, to ${other.id}`, unloaded),
            row(`beside the flood, to ${other.id} (same shard)`, loadedOtherDevice),
            row(`beside the flood, to ${victim.id} (the flooded device)`, loadedSameDevice),
          ],
          note: `p99 beside the flood / p99 alone = ${p99Ratio.toFixed(2)} (target <= 2); per-session queues, per-device windows and round-robin unparking keep the flood from starving the light session`,
        }],
      };
    } finally {
      await mux.close({ timeoutMs: 0 });
    }
  },
};
