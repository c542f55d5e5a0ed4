/**
 * What the permission check costs in pipelined throughput: two muxes on the same fleet, one with
 * `checkPermissions: false`, measured in interleaved pairs (alternating order); the cost is the median of the
 * per-pair ratios. Cross-checked against the micro-benchmark of policy.check() when that section ran.
 */
import { createMux } from '../src/index.js';
import { figure } from './figures.js';
import { type BenchContext, dur, type Section } from './section.js';
import { median, num, si, sig } from './stats.js';
import { closedLoop } from './timing.js';

const DEVICES = 1024;
const OPCODE = 0x4200;

export interface PolicyCostData {
  on: number;
  off: number;
  ratio: number;
  costPct: number;
  pairs: { on: number; off: number }[];
  estimatedCostPct?: number;
}

export const policyCostSection: Section = {
  id: 'policy-cost',
  title: 'Permission check cost',
  async run(ctx: BenchContext) {
    const fleet = { 'cxl-type3': DEVICES };
    const on = await createMux({ workers: ctx.workers, fleet });
    const off = await createMux({ workers: ctx.workers, fleet, checkPermissions: false });
    try {
      const ids = on.devices().map((d) => d.id);
      const sOn = on.openSession({ tier: 'debug-read' });
      const sOff = off.openSession({ tier: 'debug-read' });
      const runOn = (i: number): Promise<unknown> => sOn.send({ device: ids[i % DEVICES]!, opcode: OPCODE });
      const runOff = (i: number): Promise<unknown> => sOff.send({ device: ids[i % DEVICES]!, opcode: OPCODE });
      await closedLoop(dur(ctx, 300, 100), ctx.concurrency, runOn, 0);
      await closedLoop(dur(ctx, 300, 100), ctx.concurrency, runOff, 0);
      const pairs = ctx.quick ? 3 : 7;
      const ms = dur(ctx, 500, 200);
      ctx.log(`policy-cost: ${pairs} interleaved pairs of ${ms} ms`);
      const runs: { on: number; off: number }[] = [];
      for (let p = 0; p < pairs; p++) {
        if (p % 2 === 0) {
          const a = await closedLoop(ms, ctx.concurrency, runOn);
          const b = await closedLoop(ms, ctx.concurrency, runOff);
          runs.push({ on: a, off: b });
        } else {
          const b = await closedLoop(ms, ctx.concurrency, runOff);
          const a = await closedLoop(ms, ctx.concurrency, runOn);
          runs.push({ on: a, off: b });
        }
      }
      const mOn = median(runs.map((r) => r.on));
      const mOff = median(runs.map((r) => r.off));
      const ratio = median(runs.map((r) => r.on / r.off));
      const costPct = (1 - ratio) * 100;
      const data: PolicyCostData = { on: mOn, off: mOff, ratio, costPct, pairs: runs };
      // cross-check: what one check costs (micro) as a share of one request's time at the unchecked rate
      const micro = ctx.results.get('micro.policy')?.data as { readNsPerOp?: number } | undefined;
      let est = '';
      if (micro?.readNsPerOp !== undefined) {
        data.estimatedCostPct = (micro.readNsPerOp * mOff) / 1e9 * 100;
        est = `\nestimate from the micro-benchmark: ${sig(micro.readNsPerOp)} ns per check × ${si(mOff)} req/s = ${sig(data.estimatedCostPct)}% of the main thread's time`;
      }
      return {
        // repeats: the interleaved pairs
        figures: [
          figure('throughput with / without the permission check', '×', 'higher', runs.map((r) => r.on / r.off)),
          figure('pipelined throughput, checks on', 'req/s', 'higher', runs.map((r) => r.on)),
          figure('pipelined throughput, checks off', 'req/s', 'higher', runs.map((r) => r.off)),
        ],
        tables: [{
          title: `Permission check cost, pipelined (${DEVICES} type-3, Get Health Info, ${ctx.concurrency} in flight; requests/s)`,
          head: ['mux', 'median req/s', 'min', 'max'],
          rows: [
            ['checkPermissions on (default)', si(mOn), si(Math.min(...runs.map((r) => r.on))), si(Math.max(...runs.map((r) => r.on)))],
            ['checkPermissions off', si(mOff), si(Math.min(...runs.map((r) => r.off))), si(Math.max(...runs.map((r) => r.off)))],
            ['on / off (median of pair ratios)', ratio.toFixed(3), '', ''],
            ['cost of the check', `${sig(costPct)}%`, '', ''],
          ],
          note: `${pairs} interleaved pairs of ${num(ms)} ms, order alternating; a negative cost means the difference is below this machine's run-to-run noise${est}`,
        }],
        data: data as unknown as Record<string, unknown>,
      };
    } finally {
      await on.close();
      await off.close();
    }
  },
};
