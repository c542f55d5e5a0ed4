/** The load-testing harness (`mbxmux load`): closed and open loop, named command mixes, reports, thresholds. */
export { runLoad } from './load.js';
export {
  type LoadOptions, type LoadTarget, type WakeCounts, type LoadSession, type Submitted, type LoadSample, type LoadResult, type LoadProgress, type LoadPhase, type LatencySummary,
  type GroupStats, type IntervalStats,
} from './types.js';
export { defaultIntervalMs } from './plan.js';
export { Pace } from './pace.js';
export { summarize } from './recorder.js';
export { realClock, type LoadClock, type LoadTimer } from './clock.js';
export { Histogram, type HistogramJSON } from './histogram.js';
export {
  parseSegment, checkSegment, segmentShare, segmentSchedule, stripeCount, SegmentPace, type ExecutionSegment, type PaceLike,
} from './segment.js';
export { mergeLoadResults, type MergedLoadResult, type MergeInfo, type MergeOptions } from './merge.js';
export {
  NAMED_COMMANDS, DEFAULT_MIX, parseMix, buildSchedule, mixDevices,
  type MixDescriptor, type NamedCommand, type MixEntry, type MixRequest, type MixDevice, type MixSession, type Schedule, type ScheduleItem, type ScheduleOptions,
} from './mix.js';
export {
  parseThreshold, parseThresholds, evaluateThreshold, evaluateThresholds, formatThresholdResult, formatThresholdValue,
  type Threshold, type ThresholdOp, type ThresholdMetric, type ThresholdResult, type ThresholdSubject,
} from './thresholds.js';
export { formatLoadTable, loadResultToJSON, loadResultFromJSON, type LoadResultJSON } from './report.js';
export { renderHtmlReport, escapeHtml, type HtmlOptions } from './html.js';
