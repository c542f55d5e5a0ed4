/** The project's performance targets, judged from this run's measurements (nothing here is hard-coded). */
import { RT_ASLEEP, RT_SPINNING, type CoreData } from './core.js';
import type { FairnessData } from './fairness.js';
import type { OpenLoopData } from './open-loop.js';
import type { PolicyCostData } from './policy-cost.js';
import type { SectionResult } from './section.js';
import { sig, type Table } from './stats.js';

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
  const out: TargetResult[] = [];
  const add = (t: Omit<TargetResult, 'status'> & { status?: TargetStatus }): void => {
    const status = t.status ?? (t.value === undefined || !Number.isFinite(t.value) ? 'not measured' : judge(t.value, t.op, t.threshold));
    out.push({ ...t, status });
  };
  add({ target: 'pipelined throughput mbxmux / piscina.run', value: core?.ratios['throughput mbxmux / piscina.run'], unit: '×', op: '>=', threshold: 30, section: 'baselines' });
  add({ target: 'pipelined throughput mbxmux / postMessage', value: core?.ratios['throughput mbxmux / postMessage'], unit: '×', op: '>=', threshold: 3, section: 'baselines' });
  add({ target: 'idle round trip p50 (worker asleep, futex wake)', value: core?.roundTrip[RT_ASLEEP]?.p50, unit: 'µs', op: '<=', threshold: 25, section: 'baselines' });
  add({ target: 'loaded round trip p50 (worker spinning)', value: core?.roundTrip[RT_SPINNING]?.p50, unit: 'µs', op: '<=', threshold: 3, section: 'baselines' });
  add({ target: 'permission check cost, pipelined', value: policy?.costPct, unit: '%', op: '<', threshold: 5, section: 'policy-cost' });
  add({ target: 'light session p99 beside a flood / alone', value: fair?.p99Ratio, unit: '×', op: '<=', threshold: 2, section: 'fairness' });
  if (open !== undefined && !open.available) {
    add({ target: 'open-loop p99 at 50% of max throughput', unit: 'µs', op: '<=', threshold: 100, section: 'open-loop', status: 'not available', detail: 'open-loop harness not available' });
  } else {
    add({ target: 'open-loop p99 at 50% of max throughput', value: open?.open?.p99, unit: 'µs', op: '<=', threshold: 100, section: 'open-loop' });
  }
  return out;
}

export function targetsTable(targets: TargetResult[]): Table {
  const opText = { '>=': '≥', '<=': '≤', '<': '<' } as const;
  return {
    title: 'Summary: targets',
    head: ['target', 'measured', 'target', 'status'],
    rows: targets.map((t) => [
      t.target,
      t.value === undefined ? (t.detail ?? `(run section ${t.section})`) : `${sig(t.value)} ${t.unit}`,
      `${opText[t.op]} ${t.threshold} ${t.unit}`,
      t.status,
    ]),
  };
}
