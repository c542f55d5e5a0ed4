import { BadRequestError } from '../errors.js';
import type { DeviceKind } from '../fleet/types.js';
import { Histogram } from './histogram.js';
import { summarize } from './recorder.js';
import { evaluateThresholds, parseThreshold, type Threshold } from './thresholds.js';
import type { GroupStats, IntervalStats, LoadResult } from './types.js';

/**
 * Merging the reports of several load generators (`mbxmux report merge`), typically the N segments of one test
 * run against many servers. Histograms merge exactly, bucket by bucket (same HDR layout), so every percentile
 * of the merged report is the one a single histogram of all the samples gives; nothing is averaged. Counts,
 * errors by code and device statuses add up; throughput adds up (each generator's over its own measured
 * phase); latency and throughput over time merge interval by interval, each run's intervals counted from the
 * start of its own measured phase (generators started at different moments: see `startSpreadMs`).
 */
export interface MergeInfo {
  /** how many reports were merged */
  reports: number;
  /** where they came from (file names), when given */
  sources?: string[];
  /** segments of one test: their count and which were merged (all of them: the whole test) */
  segments?: { count: number; present: number[] };
  /** how much later the last measured phase began than the first (wall clock) */
  startSpreadMs: number;
}

export type MergedLoadResult = LoadResult & { merged: MergeInfo };

export interface MergeOptions {
  /** thresholds evaluated on the merged result (the parts' own are not carried over) */
  thresholds?: readonly (string | Threshold)[];
  /** names of the parts (file names), for messages and `merged.sources` */
  sources?: readonly string[];
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

function addCounts(into: Record<string, number>, from: Record<string, number> | undefined): void {
  for (const [k, v] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + v;
}

function mergeHist(hs: readonly Histogram[]): Histogram {
  const h = new Histogram();
  for (const x of hs) h.add(x);
  return h;
}

/** Merges load results (live, or read back with loadResultFromJSON). Throws BadRequestError for runs that are not parts of one test. */
export function mergeLoadResults(parts: readonly LoadResult[], opts: MergeOptions = {}): MergedLoadResult {
  if (parts.length === 0) throw new BadRequestError('nothing to merge: give at least one report');
  const name = (i: number): string => opts.sources?.[i] ?? `report ${i + 1}`;
  const first = parts[0]!;
  for (const key of ['mode', 'mix', 'tier', 'host', 'fabricManager', 'intervalMs'] as const) {
    parts.forEach((p, i) => {
      if (p[key] !== first[key]) {
        throw new BadRequestError(`${name(i)} ran with ${key} ${JSON.stringify(p[key])}, ${name(0)} with ${JSON.stringify(first[key])}: `
          + 'merge the reports of one test (the same mode, mix, tier, session and --interval)');
      }
    });
  }
  parts.forEach((p, i) => {
    if (!Array.isArray(p.intervals) || p.intervals.some((iv) => !Array.isArray(iv.buckets))) {
      throw new BadRequestError(`${name(i)} has no per-interval histograms (written by an older mbxmux): run the load again to merge it`);
    }
  });
  const segments = segmentsOf(parts, name);
  const whole = segments !== undefined && segments.present.length === segments.count ? first.segment!.whole : undefined;

  const open = first.mode === 'open';
  const histogram = mergeHist(parts.map((p) => p.histogram));
  const starts = parts.map((p) => Date.parse(p.startedAt));
  const r: LoadResult = {
    mode: first.mode,
    concurrency: whole?.concurrency ?? sum(parts.map((p) => p.concurrency)),
    durationMs: Math.max(...parts.map((p) => p.durationMs)),
    warmupMs: Math.max(...parts.map((p) => p.warmupMs)),
    startedAt: new Date(Math.min(...starts)).toISOString(),
    mix: first.mix, tier: first.tier, host: first.host, fabricManager: first.fabricManager,
    requests: sum(parts.map((p) => p.requests)),
    sent: sum(parts.map((p) => p.sent)),
    throughput: sum(parts.map((p) => p.throughput)),
    latency: summarize(histogram),
    errors: {}, dropped: sum(parts.map((p) => p.dropped)),
    // the peaks of different generators may fall at different moments: their sum bounds the fleet's peak
    peakInFlight: sum(parts.map((p) => p.peakInFlight)),
    deviceStatus: {}, deviceStatusByKind: {},
    byCommand: mergeGroups(parts.map((p) => p.byCommand), segments !== undefined),
    byKind: mergeGroups(parts.map((p) => p.byKind as Record<string, GroupStats>), segments !== undefined) as LoadResult['byKind'],
    intervalMs: first.intervalMs,
    intervals: mergeIntervals(parts, first.intervalMs),
    aborted: parts.some((p) => p.aborted),
    histogram,
  };
  for (const p of parts) {
    addCounts(r.errors, p.errors);
    addCounts(r.deviceStatus, p.deviceStatus);
    for (const [kind, m] of Object.entries(p.deviceStatusByKind ?? {})) addCounts((r.deviceStatusByKind[kind as DeviceKind] ??= {}), m);
  }
  if (open) {
    r.rate = whole?.rate ?? sum(parts.map((p) => p.rate ?? 0));
    r.maxInFlight = whole?.maxInFlight ?? sum(parts.map((p) => p.maxInFlight ?? p.concurrency));
    const service = mergeHist(parts.flatMap((p) => (p.serviceHistogram ? [p.serviceHistogram] : [])));
    r.serviceHistogram = service;
    r.serviceLatency = summarize(service);
  }
  const thresholds = (opts.thresholds ?? []).map((t) => (typeof t === 'string' ? parseThreshold(t) : t));
  if (thresholds.length > 0) r.thresholds = evaluateThresholds(thresholds, r);
  const merged: MergeInfo = { reports: parts.length, startSpreadMs: Math.max(...starts) - Math.min(...starts) };
  if (opts.sources !== undefined) merged.sources = [...opts.sources];
  if (segments !== undefined) merged.segments = segments;
  return Object.assign(r, { merged });
}

/** Segments must be all or none, of one split, each once, of the same whole test. */
function segmentsOf(parts: readonly LoadResult[], name: (i: number) => string): MergeInfo['segments'] {
  const withSeg = parts.filter((p) => p.segment !== undefined).length;
  if (withSeg === 0) return undefined;
  if (withSeg !== parts.length) throw new BadRequestError('some reports are segments of a test (load --segment) and some are not: merge the segments of one test');
  const s0 = parts[0]!.segment!;
  const seen = new Map<number, number>();
  parts.forEach((p, i) => {
    const s = p.segment!;
    if (s.count !== s0.count) throw new BadRequestError(`${name(i)} is segment ${s.index}/${s.count}, ${name(0)} is ${s0.index}/${s0.count}: merge the segments of one test`);
    if (JSON.stringify(s.whole) !== JSON.stringify(s0.whole)) {
      throw new BadRequestError(`${name(i)} is a segment of ${JSON.stringify(s.whole)}, ${name(0)} of ${JSON.stringify(s0.whole)}: merge the segments of one test`);
    }
    const dup = seen.get(s.index);
    if (dup !== undefined) throw new BadRequestError(`${name(dup)} and ${name(i)} are both segment ${s.index}/${s.count}: each segment's report must be merged once`);
    seen.set(s.index, i);
  });
  return { count: s0.count, present: [...seen.keys()].sort((a, b) => a - b) };
}

/**
 * Per command or per kind. Segments of one test share one schedule, so a group's device count is the same in
 * each (the largest is kept); independent runs (other servers) add theirs.
 */
function mergeGroups(all: readonly Record<string, GroupStats>[], segmented: boolean): Record<string, GroupStats> {
  const names = [...new Set(all.flatMap((g) => Object.keys(g ?? {})))];
  const out: Record<string, GroupStats> = {};
  for (const n of names) {
    const gs = all.map((g) => g?.[n]).filter((g): g is GroupStats => g !== undefined);
    const histogram = mergeHist(gs.map((g) => g.histogram));
    const deviceStatus: Record<string, number> = {};
    for (const g of gs) addCounts(deviceStatus, g.deviceStatus);
    const m: GroupStats = {
      requests: sum(gs.map((g) => g.requests)), errors: sum(gs.map((g) => g.errors)), dropped: sum(gs.map((g) => g.dropped)),
      throughput: sum(gs.map((g) => g.throughput)), latency: summarize(histogram), deviceStatus, histogram,
    };
    const devices = gs.flatMap((g) => (g.devices === undefined ? [] : [g.devices]));
    if (devices.length > 0) m.devices = segmented ? Math.max(...devices) : sum(devices);
    out[n] = m;
  }
  return out;
}

/** Interval i of every run (its i-th intervalMs after its own measured phase began), merged exactly. */
function mergeIntervals(parts: readonly LoadResult[], intervalMs: number): IntervalStats[] {
  const n = Math.max(...parts.map((p) => p.intervals.length));
  const out: IntervalStats[] = [];
  for (let i = 0; i < n; i++) {
    const ivs = parts.flatMap((p) => (p.intervals[i] ? [p.intervals[i]!] : []));
    const requests = sum(ivs.map((v) => v.requests));
    const max = Math.max(0, ...ivs.map((v) => v.max));
    const mean = requests > 0 ? sum(ivs.map((v) => v.mean * v.requests)) / requests : 0;
    // buckets are in ns; max and mean in µs
    const h = Histogram.fromBuckets(ivs.flatMap((v) => v.buckets), { min: 0, max: max * 1000, sum: mean * 1000 * requests });
    out.push({
      startMs: i * intervalMs, durationMs: Math.max(...ivs.map((v) => v.durationMs)), requests, errors: sum(ivs.map((v) => v.errors)),
      rate: sum(ivs.map((v) => v.rate)), p50: h.percentile(50) / 1000, p90: h.percentile(90) / 1000, p99: h.percentile(99) / 1000,
      max, mean, buckets: h.buckets(),
    });
  }
  return out;
}
