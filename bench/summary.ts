/** The project's performance targets, judged from this run's measurements (nothing here is hard-coded). */
import type { AllocData } from './alloc.js';
import type { ClosedLoopData } from './closed-loop.js';
import { RT_ASLEEP, RT_SPINNING, type CoreData } from './core.js';
import type { FairnessData } from './fairness.js';
import { FRACTIONS, type OpenLoopData } from './open-loop.js';
import type { ScaleRow } from './scale-child.js';
import type { PolicyCostData } from './policy-cost.js';
import type { SectionResult } from './section.js';
import { num, sig, type Table } from './stats.js';

export type TargetStatus = 'MET' | 'MISSED' | 'not measured' | 'not available';

export interface TargetResult {
  target: string;
  /** measured value (undefined when its section did not run) */
  value?: number;
  unit: string;
  op: '>=' | '<=' | '<';
  threshold: number;
  status: TargetStatus;
  /** the section that measures it */
  section: string;
  detail?: string;
}

function judge(value: number, op: TargetResult['op'], threshold: number): TargetStatus {
  const ok = op === '>=' ? value >= threshold : op === '<=' ? value <= threshold : value < threshold;
  return ok ? 'MET' : 'MISSED';
}

export function evaluateTargets(results: Map<string, SectionResult>): TargetResult[] {
  const core = results.get('baselines')?.data as CoreData | undefined;
  const policy = results.get('policy-cost')?.data as PolicyCostData | undefined;
  const open = results.get('open-loop')?.data as OpenLoopData | undefined;
  const fair = results.get('fairness')?.data as FairnessData | undefined;
  const closed = results.get('closed-loop')?.data as ClosedLoopData | undefined;
  const alloc = results.get('alloc')?.data as AllocData | undefined;
  const scale = results.get('scale.devices')?.data as { rows?: ScaleRow[] } | undefined;
  const out: TargetResult[] = [];
  const add = (t: Omit<TargetResult, 'status'> & { status?: TargetStatus }): void => {
    const status = t.status ?? (t.value === undefined || !Number.isFinite(t.value) ? 'not measured' : judge(t.value, t.op, t.threshold));
    out.push({ ...t, status });
  };
  add({ target: 'pipelined throughput mbxmux submit() / piscina.run', value: core?.ratios['throughput mbxmux submit() / piscina.run'], unit: '×', op: '>=', threshold: 80, section: 'baselines' });
  add({ target: 'pipelined throughput mbxmux send() / piscina.run', value: core?.ratios['throughput mbxmux send() / piscina.run'], unit: '×', op: '>=', threshold: 30, section: 'baselines' });
  add({ target: 'pipelined throughput mbxmux send() / postMessage', value: core?.ratios['throughput mbxmux send() / postMessage'], unit: '×', op: '>=', threshold: 3, section: 'baselines' });
  add({ target: 'idle round trip p50 (worker asleep, futex wake)', value: core?.roundTrip[RT_ASLEEP]?.p50, unit: 'µs', op: '<=', threshold: 25, section: 'baselines' });
  add({ target: 'loaded round trip p50 (worker spinning)', value: core?.roundTrip[RT_SPINNING]?.p50, unit: 'µs', op: '<=', threshold: 3, section: 'baselines' });
  // the check timed in place (the A/B of two muxes cannot resolve a few %: see its A/A control in policy-cost.ts)
  add({ target: 'permission check cost, pipelined', value: policy?.inPlaceCostPct ?? policy?.costPct, unit: '%', op: '<', threshold: 5, section: 'policy-cost' });
  add({ target: 'light session p99 beside a flood / alone', value: fair?.p99Ratio, unit: '×', op: '<=', threshold: 2, section: 'fairness' });
  for (const fraction of FRACTIONS) {
    const pct = `${fraction * 100}%`;
    const point = open?.sweep?.find((x) => x.fraction === fraction);
    if (open !== undefined && !open.available) {
      for (const what of ['EHARNESS_OVERLOAD', 'p99 / floor']) {
        add({ target: `open loop at ${pct} of max: ${what}`, unit: '', op: '<=', threshold: 0, section: 'open-loop', status: 'not available', detail: 'open-loop harness not available' });
      }
      continue;
    }
    add({ target: `open loop at ${pct} of max: requests dropped (EHARNESS_OVERLOAD)`, value: point?.overload, unit: '', op: '<=', threshold: 0, section: 'open-loop' });
    add({ target: `open loop at ${pct} of max: p99 / floor p99 (pacing alone, a thread spinning)`, value: point?.p99OverFloor, unit: '×', op: '<=', threshold: 2, section: 'open-loop' });
  }
  add({ target: 'mbxmux load --concurrency 64 / pipelined, default fleet and mix', value: closed === undefined ? undefined : closed.ratio * 100, unit: '%', op: '>=', threshold: 50, section: 'closed-loop' });
  add({ target: 'heap allocated per request, submit()', value: alloc?.submitBytes, unit: 'B', op: '<=', threshold: 64, section: 'alloc' });
  add({ target: 'heap allocated per request, send() itself', value: alloc?.sendOwnBytes, unit: 'B', op: '<=', threshold: 300, section: 'alloc' });
  const big = scale?.rows?.find((r) => r.devices === 100_000);
  add({
    target: '100,000 type-3 devices: RSS after the load phase', value: big?.rssAfterLoadMB, unit: 'MiB', op: '<=', threshold: 1024, section: 'scale.devices',
    ...(scale !== undefined && big === undefined ? { status: 'not measured' as const, detail: '(run scale.devices without --quick, or with --full)' } : {}),
  });
  return out;
}

export function targetsTable(targets: TargetResult[]): Table {
  const opText = { '>=': '≥', '<=': '≤', '<': '<' } as const;
  return {
    title: 'Summary: targets',
    head: ['target', 'measured', 'target', 'status'],
    rows: targets.map((t) => [
      t.target,
      t.value === undefined ? (t.detail ?? `(run section ${t.section})`) : t.unit === '' ? num(t.value) : `${sig(t.value)} ${t.unit}`,
      `${opText[t.op]} ${t.threshold}${t.unit ? ` ${t.unit}` : ''}`,
      t.status,
    ]),
  };
}
