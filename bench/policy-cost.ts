/**
 * What the permission check costs in pipelined throughput, two ways:
 *   - A/B: muxes on the same fleet with and without `checkPermissions`, in interleaved pairs; the cost is one
 *     minus the median of the pairs' on/off ratios. An A/A control (two identical muxes measured the same way)
 *     shows this method's own noise: on this shared 2-vCPU VM two identical muxes differ by up to ±30% per pair.
 *   - in place: the check itself timed on the same mux's policy and session, for the requests the pipelined runs
 *     send, times the pipelined rate without checks: the share of the main thread's time the check takes. This
 *     is the target's figure: it does not move with the per-mux noise the A/B cannot get under.
 */
import { createMux } from '../src/index.js';
import { figure } from './figures.js';
import { type BenchContext, dur, type Section } from './section.js';
import { median, num, si, sig } from './stats.js';
import { closedLoop, timeLoop } from './timing.js';

const DEVICES = 1024;
const OPCODE = 0x4200;

export interface PolicyCostData {
  on: number;
  off: number;
  ratio: number;
  /** A/B: 1 - median(on / off), in % */
  costPct: number;
  pairs: { on: number; off: number }[];
  /** A/A control: 1 - median of the same ratio between two identical muxes, in % (the A/B's noise) */
  controlPct: number;
  control: { a: number; b: number }[];
  /** in place: ns per policy.check() of the pipelined runs' requests, and that times the unchecked rate, in % */
  checkNs: number;
  inPlaceCostPct: number;
  estimatedCostPct?: number;
}

export const policyCostSection: Section = {
  id: 'policy-cost',
  title: 'Permission check cost',
  async run(ctx: BenchContext) {
    const fleet = { 'cxl-type3': DEVICES };
    // Two muxes of each kind, created on, off, off, on: the first mux created in a process runs a few percent
    // faster than the second (measured with two identical muxes: 2-5%), so each pair is one created early and
    // one created late, in turn, and that bias cancels out of the median of the pair ratios.
    const muxes = [
      await createMux({ workers: ctx.workers, fleet }),
      await createMux({ workers: ctx.workers, fleet, checkPermissions: false }),
      await createMux({ workers: ctx.workers, fleet, checkPermissions: false }),
      await createMux({ workers: ctx.workers, fleet }),
    ];
    try {
      const ids = muxes[0]!.devices().map((d) => d.id);
      const runners = muxes.map((m) => {
        const s = m.openSession({ tier: 'debug-read' });
        return (i: number): Promise<unknown> => s.send({ device: ids[i % DEVICES]!, opcode: OPCODE });
      });
      for (const r of runners) await closedLoop(dur(ctx, 300, 100), ctx.concurrency, r, 0);
      const pairs = ctx.quick ? 4 : 8;
      const ms = dur(ctx, 500, 200);
      ctx.log(`policy-cost: ${pairs} interleaved pairs of ${ms} ms`);
      const runs: { on: number; off: number }[] = [];
      for (let p = 0; p < pairs; p++) {
        // pair p: on-early / off-early, then on-late / off-late (muxes 0, 1 / 3, 2); which runs first alternates
        const [onRun, offRun] = p % 2 === 0 ? [runners[0]!, runners[1]!] : [runners[3]!, runners[2]!];
        if ((p >> 1) % 2 === 0) {
          const a = await closedLoop(ms, ctx.concurrency, onRun);
          const b = await closedLoop(ms, ctx.concurrency, offRun);
          runs.push({ on: a, off: b });
        } else {
          const b = await closedLoop(ms, ctx.concurrency, offRun);
          const a = await closedLoop(ms, ctx.concurrency, onRun);
          runs.push({ on: a, off: b });
        }
      }
      // the A/A control: the checked muxes against each other, the same way
      const control: { a: number; b: number }[] = [];
      for (let p = 0; p < pairs / 2; p++) {
        const [x, y] = p % 2 === 0 ? [runners[0]!, runners[3]!] : [runners[3]!, runners[0]!];
        const a = await closedLoop(ms, ctx.concurrency, x);
        const b = await closedLoop(ms, ctx.concurrency, y);
        control.push(p % 2 === 0 ? { a, b } : { a: b, b: a });
      }
      const mOn = median(runs.map((r) => r.on));
      const mOff = median(runs.map((r) => r.off));
      const ratio = median(runs.map((r) => r.on / r.off));
      const costPct = (1 - ratio) * 100;
      const controlPct = (1 - median(control.map((c) => c.a / c.b))) * 100;
      // in place: the check the admission runs, on the first mux's own policy and tables, for the same requests
      const policy = muxes[0]!.policy;
      const subject = muxes[0]!.openSession({ tier: 'debug-read', name: 'policy-cost' });
      const index = ids.map((id) => muxes[0]!.fleet.byId.get(id)!.index);
      const loop = timeLoop((n) => {
        let audited = 0;
        for (let i = 0; i < n; i++) if (policy.check(subject, index[i % DEVICES]!, OPCODE, null) !== null) audited++;
        return audited;
      }, dur(ctx, 300, 100));
      const checkNs = loop.nsPerOp;
      const inPlaceCostPct = ((checkNs * mOff) / 1e9) * 100;
      const data: PolicyCostData = { on: mOn, off: mOff, ratio, costPct, pairs: runs, controlPct, control, checkNs, inPlaceCostPct };
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
          figure('permission check in place, share of the main thread', '%', 'lower', [inPlaceCostPct]),
          figure('A/A control: throughput of one checked mux / another', '×', 'higher', control.map((c) => c.a / c.b)),
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
            ['cost of the check, A/B', `${sig(costPct)}%`, '', ''],
            ['A/A control: two checked muxes, the same way (noise)', `${sig(controlPct)}%`, sig(Math.min(...control.map((c) => c.a / c.b))), sig(Math.max(...control.map((c) => c.a / c.b)))],
            ['the check in place: ns per request', sig(checkNs), '', ''],
            ['cost of the check in place (target)', `${sig(inPlaceCostPct)}%`, '', ''],
          ],
          note: `${pairs} interleaved pairs of ${num(ms)} ms over two muxes of each kind (created on, off, off, on, so creation order cancels), run order alternating; a negative cost means the difference is below this machine's run-to-run noise\n`
            + `A/A control min/max: the pair ratios between two identical muxes; in place: policy.check() timed for the pipelined runs' requests on the first mux's policy, times the unchecked rate (${si(mOff)} req/s)${est}`,
        }],
        data: data as unknown as Record<string, unknown>,
      };
    } finally {
      for (const m of muxes) await m.close();
    }
  },
};
