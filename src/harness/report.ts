import { rcName } from '../devices/cci/return-codes.js';
import { describeStatus } from '../devices/nvme/status.js';
import type { DeviceKind } from '../fleet/types.js';
import { Histogram, type HistogramJSON } from './histogram.js';
import type { GroupStats, LoadResult } from './types.js';
import { formatThresholdResult } from './thresholds.js';

const n = (x: number, d = 1): string => x.toFixed(d);
const int = (x: number): string => Math.round(x).toLocaleString('en-US');

/** A device status by kind: `03h Unsupported`, or the NVMe status name. */
export function statusText(kind: string, rc: number): string {
  if (kind === 'nvme') return `${rc.toString(16).padStart(3, '0')}h ${describeStatus(rc)}`;
  return `${rc.toString(16).padStart(2, '0')}h ${rcName(rc)}`;
}

/** A latency in µs with a unit that keeps it short: 41.2µs, 3.10ms, 1.20s. */
export function formatUs(us: number): string {
  if (!Number.isFinite(us)) return 'n/a';
  if (us >= 1e6) return `${(us / 1e6).toFixed(2)}s`;
  if (us >= 1e4) return `${(us / 1e3).toFixed(1)}ms`;
  if (us >= 1e3) return `${(us / 1e3).toFixed(2)}ms`;
  return `${us.toFixed(1)}µs`;
}

/** One line describing how the run was driven. */
export function describeRun(r: LoadResult): string {
  const how = r.mode === 'open'
    ? `mode open, ${int(r.rate ?? 0)} requests/s target, max ${int(r.maxInFlight ?? r.concurrency)} in flight (peak ${int(r.peakInFlight)})`
    : `mode closed, ${r.concurrency} callers`;
  const seg = r.segment === undefined ? '' : `, segment ${r.segment.index}/${r.segment.count} of the test`;
  return `${how}${seg}, ${n(r.durationMs / 1000, 2)} s, ${int(r.requests)} requests${r.aborted ? ' (stopped early)' : ''}`;
}

function groupRows(groups: [string, GroupStats][]): string[] {
  if (groups.length === 0) return [];
  const w = Math.max(8, ...groups.map(([k]) => k.length));
  const out = [`${''.padEnd(w)}  ${'count'.padStart(10)} ${'errors'.padStart(8)} ${'p50 µs'.padStart(9)} ${'p99 µs'.padStart(9)} ${'max µs'.padStart(10)} ${'req/s'.padStart(10)}`];
  for (const [k, g] of groups) {
    out.push(`${k.padEnd(w)}  ${int(g.requests).padStart(10)} ${int(g.errors).padStart(8)} ${n(g.latency.p50).padStart(9)} ${n(g.latency.p99).padStart(9)} ${n(g.latency.max).padStart(10)} ${int(g.throughput).padStart(10)}`);
  }
  return out;
}

/** The final latency table of a load run. */
export function formatLoadTable(r: LoadResult): string {
  const l = r.latency;
  const errors = Object.entries(r.errors).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ') || 'none';
  const byKind = Object.entries(r.deviceStatusByKind ?? {});
  const status = byKind.length > 0
    ? byKind.flatMap(([kind, m]) => Object.entries(m ?? {}).map(([rc, c]) => `${kind} ${statusText(kind, Number(rc))}=${c}`)).join(', ')
    : Object.entries(r.deviceStatus).map(([k, v]) => `rc ${Number(k).toString(16)}h=${v}`).join(' ');
  const lines = [
    describeRun(r),
    '',
    'latency (µs)    p50      p90      p99    p99.9      max     mean',
    `             ${[l.p50, l.p90, l.p99, l.p999, l.max, l.mean].map((x) => n(x).padStart(8)).join(' ')}`,
  ];
  if (r.serviceLatency) {
    const s = r.serviceLatency;
    lines.push(`  (from send) ${[s.p50, s.p90, s.p99, s.p999, s.max, s.mean].map((x) => n(x).padStart(8)).join(' ')}   uncorrected, for comparison`);
  }
  lines.push(
    '',
    `throughput   ${int(r.throughput)} requests/s`,
    `errors       ${errors}${r.sent > r.requests ? ` (${n(((r.sent - r.requests) / r.sent) * 100, 3)}% of ${int(r.sent)})` : ''}`,
  );
  if (r.mode === 'open') lines.push(`dropped      ${int(r.dropped)}${r.dropped ? ` (more than ${int(r.maxInFlight ?? 0)} in flight)` : ''}`);
  if (r.wakeups) {
    const w = r.wakeups;
    lines.push(`wake-ups     ${n(w.per1k, 2)} per 1,000 requests (main woke workers ${int(w.workerWakeups)}, workers woke main ${int(w.mainWakeups)})`);
  }
  lines.push(`device rc    ${status || 'all Success'}`);
  const cmds = Object.entries(r.byCommand ?? {});
  if (cmds.length > 0 && typeof cmds[0]![1] === 'object') {
    lines.push('', 'by command', ...groupRows(cmds));
    const kinds = Object.entries(r.byKind ?? {}) as [DeviceKind, GroupStats][];
    if (kinds.length > 1) lines.push('', 'by device kind', ...groupRows(kinds));
  } else {
    lines.push(`commands     ${cmds.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
  if (r.thresholds && r.thresholds.length > 0) {
    lines.push('', 'thresholds', ...r.thresholds.map((t) => `  ${formatThresholdResult(t)}`));
  }
  return lines.join('\n');
}

/** The result as written by `--json`: histograms become HistogramJSON (percentile curve + raw non-zero buckets). */
export function loadResultToJSON(r: LoadResult): string {
  // indented, but each [percentile, ns] / [low, high, count] tuple on one line (a run has thousands)
  return JSON.stringify({ ...r, percentiles: r.histogram.curve() }, null, 2)
    .replace(/\[\s+(-?[\d.e+-]+),\s+(-?[\d.e+-]+)(?:,\s+(-?[\d.e+-]+))?\s+\]/g, (_m, a: string, b: string, c?: string) => `[${a}, ${b}${c === undefined ? '' : `, ${c}`}]`);
}

/** A LoadResult as JSON.parse returns it from loadResultToJSON: histograms are HistogramJSON. */
export type LoadResultJSON = Omit<LoadResult, 'histogram' | 'serviceHistogram' | 'byCommand' | 'byKind'> & {
  histogram: HistogramJSON;
  serviceHistogram?: HistogramJSON;
  byCommand: Record<string, Omit<GroupStats, 'histogram'> & { histogram: HistogramJSON }>;
  byKind: Partial<Record<DeviceKind, Omit<GroupStats, 'histogram'> & { histogram: HistogramJSON }>>;
  percentiles: [number, number][];
};

/** Reads loadResultToJSON output back into a LoadResult with live Histograms (to merge or re-plot runs). */
export function loadResultFromJSON(text: string): LoadResult {
  const j = JSON.parse(text) as LoadResultJSON;
  const revive = <T extends { histogram: HistogramJSON }>(g: T): Omit<T, 'histogram'> & { histogram: Histogram } => ({ ...g, histogram: Histogram.fromJSON(g.histogram) });
  const { percentiles: _p, ...rest } = j;
  const r = {
    ...rest,
    histogram: Histogram.fromJSON(j.histogram),
    byCommand: Object.fromEntries(Object.entries(j.byCommand).map(([k, g]) => [k, revive(g)])),
    byKind: Object.fromEntries(Object.entries(j.byKind).map(([k, g]) => [k, revive(g!)])),
  } as LoadResult;
  if (j.serviceHistogram) r.serviceHistogram = Histogram.fromJSON(j.serviceHistogram);
  else delete r.serviceHistogram;
  return r;
}

