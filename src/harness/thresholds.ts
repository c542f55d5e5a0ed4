import { BadRequestError } from '../errors.js';
import type { DeviceKind } from '../fleet/types.js';

/**
 * Pass/fail criteria for a load run, in the spirit of k6 thresholds:
 *
 *   p99<50us   p999<=2ms   p99.9<2ms   p(99.99)<10ms   max<1s   mean<20us   min>0us      latency (ns, us, µs, ms, s)
 *   errors<1%   errors==0   errors<=10                                                     failures (rate or count)
 *   dropped<0.1%                                                                           open loop: over --max-in-flight
 *   rate>=100000   rate>=100k   requests>1000                                              throughput (req/s), completed count
 *
 * A scope in front limits a threshold to one command of the mix or one device kind: `health:p99<50us`,
 * `nvme:errors<1%`, `sw:rate>=100`. `pNNN` follows the HdrHistogram naming: p50, p90, p99, p999 = 99.9,
 * p9999 = 99.99, p100 = max.
 */
export type ThresholdOp = '<' | '<=' | '>' | '>=' | '==';

export type ThresholdMetric = 'latency' | 'errors' | 'dropped' | 'rate' | 'requests';

export interface Threshold {
  /** the text as given */
  expr: string;
  metric: ThresholdMetric;
  /** latency: which statistic */
  stat?: 'percentile' | 'min' | 'max' | 'mean';
  /** latency percentile, 0..100 */
  percentile?: number;
  /** a mix label (`health`) or device kind (`nvme`) the threshold applies to */
  scope?: string;
  op: ThresholdOp;
  /** the limit in the canonical unit: µs for latency, req/s for rate, a fraction 0..1 for percentages, else a count */
  limit: number;
  /** errors / dropped: the limit is a fraction of the requests attempted (given as %) */
  fraction?: boolean;
}

export interface ThresholdResult extends Threshold {
  /** the measured value, in the unit of `limit` */
  actual: number;
  pass: boolean;
  /** why it failed without a comparison (no samples, unknown scope) */
  note?: string;
}

/** The numbers a threshold is checked against (one LoadResult group: the whole run, a command, a kind). */
export interface ThresholdSubject {
  requests: number;
  /** requests that did not complete: errors, dropped, unfinished */
  errors: number;
  dropped: number;
  throughput: number;
  latency: { count?: number; min: number; mean: number; max: number };
  /** latency percentile in µs */
  percentile(p: number): number;
}

const LATENCY_UNITS: Record<string, number> = { ns: 1e-3, us: 1, 'µs': 1, 'μs': 1, ms: 1e3, s: 1e6 };

function usage(expr: string, why: string): never {
  throw new BadRequestError(`bad --threshold "${expr}": ${why}. Examples: p99<50us, p999<=2ms, errors<1%, rate>=100000, health:p99<1ms`);
}

/** `99` -> 99, `999` -> 99.9, `9995` -> 99.95, `50` -> 50, `100` -> 100, `99.9` -> 99.9 */
function percentileOf(text: string, expr: string): number {
  let p: number;
  if (text.includes('.')) p = Number(text);
  else if (text === '100') p = 100;
  else if (text.length <= 2) p = Number(text);
  else if (text.startsWith('99')) p = Number(`${text.slice(0, 2)}.${text.slice(2)}`);
  else usage(expr, `write p${text} as p(${text.slice(0, 2)}.${text.slice(2)}) or p${text.slice(0, 2)}; pNNN is short for 99.N only`);
  if (!Number.isFinite(p) || p < 0 || p > 100) usage(expr, `percentile ${text} is not in 0..100`);
  return p;
}

/** Parses one threshold expression. Throws BadRequestError (a usage error on the command line). */
export function parseThreshold(text: string): Threshold {
  const expr = text.trim();
  const m = /^(?:([a-z][a-z0-9@+-]*):)?([a-z]+)(?:\(([\d.]+)\)|([\d.]+))?\s*(<=|>=|==|<|>)\s*([\d.]+(?:e[+-]?\d+)?)\s*([a-zµμ%]*)$/i.exec(expr);
  if (!m) usage(expr, 'expected [scope:]metric<op>value');
  const [, scope, nameRaw, pParen, pInline, op, numText, unitRaw] = m as unknown as [string, string | undefined, string, string | undefined, string | undefined, ThresholdOp, string, string];
  const name = nameRaw.toLowerCase();
  const unit = unitRaw;
  const num = Number(numText);
  if (!Number.isFinite(num) || num < 0) usage(expr, `"${numText}" is not a number >= 0`);
  const t: Threshold = { expr, metric: 'latency', op, limit: 0 };
  if (scope !== undefined) t.scope = scope;
  const pText = pParen ?? pInline;
  if (name === 'p') {
    if (pText === undefined) usage(expr, 'p needs a percentile: p99, p999, p(99.9)');
    t.stat = 'percentile';
    t.percentile = percentileOf(pText, expr);
  } else if (pText !== undefined) {
    usage(expr, `unknown metric "${name}${pText}"`);
  } else if (name === 'min' || name === 'max' || name === 'mean' || name === 'avg') {
    t.stat = name === 'avg' ? 'mean' : name;
  } else if (name === 'errors' || name === 'error' || name === 'dropped') {
    t.metric = name === 'dropped' ? 'dropped' : 'errors';
    if (unit === '%') {
      if (num > 100) usage(expr, 'a percentage is at most 100');
      t.fraction = true;
      t.limit = num / 100;
    } else if (unit === '') {
      if (!Number.isInteger(num)) usage(expr, `a count of ${name} must be an integer (or give a percentage, e.g. ${name}<1%)`);
      t.limit = num;
    } else {
      usage(expr, `${name} takes a count or a percentage, not "${unit}"`);
    }
    return t;
  } else if (name === 'rate' || name === 'throughput' || name === 'rps') {
    t.metric = 'rate';
    const mult = unit === '' ? 1 : unit.toLowerCase() === 'k' ? 1e3 : unit === 'M' || unit === 'm' ? 1e6 : NaN;
    if (Number.isNaN(mult)) usage(expr, `rate is in requests/s: a plain number, or with k or M (got unit "${unit}")`);
    t.limit = num * mult;
    return t;
  } else if (name === 'requests' || name === 'count') {
    t.metric = 'requests';
    if (unit !== '' || !Number.isInteger(num)) usage(expr, 'requests takes a plain integer');
    t.limit = num;
    return t;
  } else {
    usage(expr, `unknown metric "${name}" (use pNN, min, max, mean, errors, dropped, rate, requests)`);
  }
  // latency
  const scale = LATENCY_UNITS[unit];
  if (scale === undefined) usage(expr, unit === '' ? 'a latency needs a unit: ns, us, ms or s' : `unknown latency unit "${unit}" (use ns, us, ms, s)`);
  t.limit = num * scale;
  return t;
}

/** Parses every expression; the first bad one throws. */
export function parseThresholds(list: readonly string[]): Threshold[] {
  return list.map(parseThreshold);
}

function compare(a: number, op: ThresholdOp, b: number): boolean {
  // compare with a little tolerance for float noise in the limit (1e-9 relative)
  const eps = Math.abs(b) * 1e-9;
  switch (op) {
    case '<': return a < b - eps;
    case '<=': return a <= b + eps;
    case '>': return a > b + eps;
    case '>=': return a >= b - eps;
    case '==': return Math.abs(a - b) <= eps;
  }
}

/** Checks one threshold against one subject (pure). */
export function evaluateThreshold(t: Threshold, s: ThresholdSubject | undefined): ThresholdResult {
  if (s === undefined) return { ...t, actual: NaN, pass: false, note: `no command or device kind "${t.scope}" in this run` };
  let actual: number;
  switch (t.metric) {
    case 'latency': {
      const count = s.latency.count ?? s.requests;
      if (count === 0) return { ...t, actual: NaN, pass: false, note: 'no completed requests to measure' };
      actual = t.stat === 'percentile' ? s.percentile(t.percentile!) : s.latency[t.stat as 'min' | 'max' | 'mean'];
      break;
    }
    case 'errors':
    case 'dropped': {
      const n = t.metric === 'errors' ? s.errors : s.dropped;
      const attempted = s.requests + s.errors;
      actual = t.fraction ? (attempted === 0 ? 0 : n / attempted) : n;
      break;
    }
    case 'rate':
      actual = s.throughput;
      break;
    case 'requests':
      actual = s.requests;
      break;
  }
  return { ...t, actual, pass: compare(actual, t.op, t.limit) };
}

/** Scope names of device kinds (`health@nvme` style names are commands of the mix, matched as they are). */
const SCOPE_KINDS: Record<string, DeviceKind> = {
  'cxl-type3': 'cxl-type3', type3: 'cxl-type3', mem: 'cxl-type3', 'cxl-switch': 'cxl-switch', switch: 'cxl-switch', sw: 'cxl-switch',
  nvme: 'nvme', 'mctp-pcc': 'mctp-pcc', mctp: 'mctp-pcc',
};

/** Resolves a threshold scope (`health`, `health@nvme`, `nvme`, `mem`) to a command of the run or a kind in it; null if neither. */
export function scopeOf(scope: string, names: readonly string[], kinds: readonly DeviceKind[]): { command: string } | { kind: DeviceKind } | null {
  if (names.includes(scope)) return { command: scope };
  const k = SCOPE_KINDS[scope];
  if (k !== undefined && kinds.includes(k)) return { kind: k };
  return null;
}

/** One group of a finished run as a threshold reads it (the whole run, a command, a kind). */
export interface ThresholdGroup {
  requests: number;
  errors: number;
  dropped: number;
  throughput: number;
  latency: ThresholdSubject['latency'];
}

/** A finished run as thresholds read it: a LoadResult or a MergedLoadResult (kept structural so this file needs neither). */
export interface ThresholdRun {
  requests: number;
  /** requests + errors */
  sent: number;
  dropped: number;
  throughput: number;
  latency: ThresholdSubject['latency'];
  histogram: { percentile(p: number): number };
  byCommand: Record<string, ThresholdGroup & { histogram: { percentile(p: number): number } }>;
  byKind: Partial<Record<DeviceKind, ThresholdGroup & { histogram: { percentile(p: number): number } }>>;
}

/** A group and its histogram (ns) as the subject of a threshold (percentiles in µs). */
export function subjectOf(g: ThresholdGroup, h: { percentile(p: number): number }): ThresholdSubject {
  return { requests: g.requests, errors: g.errors, dropped: g.dropped, throughput: g.throughput, latency: g.latency, percentile: (p) => h.percentile(p) / 1000 };
}

/** Checks thresholds against a finished run (pure; runLoad calls it when `thresholds` are given). */
export function evaluateThresholds(thresholds: readonly (string | Threshold)[], r: ThresholdRun): ThresholdResult[] {
  return thresholds.map((x) => {
    const t = typeof x === 'string' ? parseThreshold(x) : x;
    if (t.scope === undefined) {
      return evaluateThreshold(t, subjectOf({ requests: r.requests, errors: r.sent - r.requests, dropped: r.dropped, throughput: r.throughput, latency: r.latency }, r.histogram));
    }
    const s = scopeOf(t.scope, Object.keys(r.byCommand), Object.keys(r.byKind) as DeviceKind[]);
    const g = s === null ? undefined : 'command' in s ? r.byCommand[s.command] : r.byKind[s.kind];
    return evaluateThreshold(t, g === undefined ? undefined : subjectOf(g, g.histogram));
  });
}

/** A value in a threshold's unit, for reports: `48.2us`, `1.5%`, `120,000/s`. */
export function formatThresholdValue(t: Threshold, v: number): string {
  if (Number.isNaN(v)) return 'n/a';
  switch (t.metric) {
    case 'latency': return v >= 1e6 ? `${+(v / 1e6).toFixed(3)}s` : v >= 1e3 ? `${+(v / 1e3).toFixed(3)}ms` : `${+v.toFixed(2)}us`;
    case 'errors':
    case 'dropped': return t.fraction ? `${+(v * 100).toFixed(4)}%` : `${v}`;
    case 'rate': return `${Math.round(v).toLocaleString('en-US')}/s`;
    case 'requests': return v.toLocaleString('en-US');
  }
}

/** One line per threshold: `PASS  p99<50us  (p99 = 41.2us)`. */
export function formatThresholdResult(r: ThresholdResult): string {
  const what = r.note ?? `actual ${formatThresholdValue(r, r.actual)}`;
  return `${r.pass ? 'PASS' : 'FAIL'}  ${r.expr}  (${what})`;
}
