import type { DeviceKind } from '../fleet/types.js';
import type { Schedule } from './mix.js';
import type { Plan } from './plan.js';
import { type Recorder, summarize } from './recorder.js';
import { evaluateThresholds } from './thresholds.js';
import type { GroupStats, LoadResult, WakeCounts } from './types.js';

/**
 * The LoadResult of a finished run: the recorder's numbers over the measured `durationMs`, the plan's settings
 * (a segment reports its share and the whole test's), the mux's wake-ups between the snapshots `w0` and `w1`
 * (when the target reports them) and the thresholds evaluated on it.
 */
export function runResult(p: Plan, rec: Recorder, schedule: Schedule, durationMs: number, startedAt: number, peakInFlight: number, aborted: boolean,
  w0: WakeCounts | undefined, w1: WakeCounts | undefined): LoadResult {
  const byCommand: Record<string, GroupStats> = {};
  schedule.names.forEach((n, i) => (byCommand[n] = rec.group(rec.cmds[i]!, durationMs, schedule.devices[n])));
  const byKind: Partial<Record<DeviceKind, GroupStats>> = {};
  schedule.kinds.forEach((k, i) => (byKind[k] = rec.group(rec.kinds[i]!, durationMs, schedule.kindDevices[k])));
  const r: LoadResult = {
    mode: p.open ? 'open' : 'closed', concurrency: p.open ? p.maxInFlight : p.concurrency,
    durationMs, warmupMs: p.warmupMs, startedAt: new Date(startedAt).toISOString(), mix: p.mix, tier: p.tier, host: p.host,
    fabricManager: p.fabricManager, requests: rec.requests, sent: rec.requests + rec.failed,
    throughput: durationMs > 0 ? (rec.requests * 1000) / durationMs : 0, latency: summarize(rec.hist),
    errors: rec.errors, dropped: rec.dropped, peakInFlight, deviceStatus: rec.status,
    deviceStatusByKind: rec.statusByKind as LoadResult['deviceStatusByKind'], byCommand, byKind,
    intervalMs: rec.intervalMs, intervals: rec.intervals, aborted, histogram: rec.hist,
  };
  if (p.open) {
    r.rate = p.rate;
    r.maxInFlight = p.maxInFlight;
    r.serviceLatency = summarize(rec.service!);
    r.serviceHistogram = rec.service!;
  }
  if (p.segment !== undefined) {
    r.segment = { ...p.segment, whole: p.open ? { concurrency: p.whole.maxInFlight, rate: p.rate, maxInFlight: p.whole.maxInFlight } : { concurrency: p.whole.concurrency } };
    if (p.open) r.rate = p.rate / p.segment.count;
  }
  if (p.thresholds.length > 0) r.thresholds = evaluateThresholds(p.thresholds, r);
  if (w0 !== undefined && w1 !== undefined) r.wakeups = wakeDelta(w0, w1);
  return r;
}

/** Wake-ups between two snapshots of the mux's counters. */
function wakeDelta(a: WakeCounts, b: WakeCounts): NonNullable<LoadResult['wakeups']> {
  const mainWakeups = b.mainWakeups - a.mainWakeups;
  const workerWakeups = b.workerWakeups - a.workerWakeups;
  const settled = b.completed + b.failed - a.completed - a.failed;
  return {
    mainWakeups, workerWakeups, per1k: settled > 0 ? ((mainWakeups + workerWakeups) * 1000) / settled : 0,
    quickPolls: b.quickPolls - a.quickPolls, quickHits: b.quickHits - a.quickHits,
  };
}
