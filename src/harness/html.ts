import type { Histogram } from './histogram.js';
import type { GroupStats, LoadResult } from './types.js';
import { describeRun, formatUs, statusText } from './report.js';
import { chart, CSS, escapeHtml, int, linTicks, logTicks, PALETTE, PCT_TICKS, pctX, type Series } from './svg-chart.js';
import { formatThresholdValue } from './thresholds.js';

export { escapeHtml };

const esc = escapeHtml;

/**
 * `mbxmux load --html FILE`: one self-contained HTML page (inline CSS and inline SVG; no scripts, fonts,
 * images or links) with the summary table, a latency-over-time plot, an HDR-style percentile plot and the
 * per-command / per-kind breakdowns. Every interpolated string is escaped.
 */

/** Latency over time: p50 / p90 / p99 / max of each interval (log y), and completions per second. */
function timeCharts(r: LoadResult): string {
  const iv = r.intervals ?? [];
  if (iv.length === 0) return '<p>No intervals were recorded.</p>';
  const xs = iv.map((s) => (s.startMs + s.durationMs / 2) / 1000);
  const xMax = Math.max(r.durationMs / 1000, ...iv.map((s) => (s.startMs + s.durationMs) / 1000));
  const xt = linTicks(0, xMax, (v) => `${v}s`);
  xt.max = xMax;
  const vals = iv.flatMap((s) => (s.requests > 0 ? [s.p50, s.max] : [])).filter((v) => v > 0);
  const yt = logTicks(Math.max(0.1, Math.min(...vals, 1)), Math.max(...vals, 10));
  const pick = (f: (s: (typeof iv)[number]) => number): [number, number][] => iv.map((s, i) => [xs[i]!, s.requests > 0 ? f(s) : NaN]);
  const lat = chart(`Latency per ${r.intervalMs} ms interval${r.mode === 'open' ? ' (from intended send time)' : ''}`, [
    { name: 'p50', color: PALETTE[0]!, points: pick((s) => s.p50) },
    { name: 'p90', color: PALETTE[2]!, points: pick((s) => s.p90) },
    { name: 'p99', color: PALETTE[1]!, points: pick((s) => s.p99) },
    { name: 'max', color: '#888', points: pick((s) => s.max), dash: true, width: 1 },
  ], { ...xt, min: 0, max: xt.max, label: 'time since the measured phase began' }, { ...yt, log: true, label: 'latency' });
  const rates = iv.map((s) => s.rate);
  const rt = linTicks(0, Math.max(...rates, r.rate ?? 0, 1), (v) => int(v));
  const series: Series[] = [{ name: 'completed/s', color: PALETTE[3]!, points: iv.map((s, i) => [xs[i]!, s.rate]) }];
  if (iv.some((s) => s.errors > 0)) series.push({ name: 'errors/s', color: PALETTE[1]!, points: iv.map((s, i) => [xs[i]!, (s.errors * 1000) / s.durationMs]) });
  if (r.rate !== undefined) series.push({ name: 'target', color: '#888', dash: true, width: 1, points: [[0, r.rate], [xMax, r.rate]] });
  const thr = chart('Throughput per interval', series, { ...xt, min: 0, max: xt.max, label: 'time since the measured phase began' },
    { ...rt, min: 0, label: 'requests/s' }, 860, 220);
  return `${lat}\n${thr}`;
}

/** HDR-style percentile distribution: x = log10(100 / (100 - p)), 0 .. 99.999. */
function percentileChart(r: LoadResult): string {
  const curves: { name: string; h: Histogram; dash?: boolean }[] = [{ name: r.mode === 'open' ? 'all (corrected)' : 'all', h: r.histogram }];
  if (r.serviceHistogram && r.serviceHistogram.total > 0) curves.push({ name: 'all, from send (uncorrected)', h: r.serviceHistogram, dash: true });
  for (const [name, g] of Object.entries(r.byCommand ?? {})) if (g.histogram.total > 0 && Object.keys(r.byCommand).length > 1) curves.push({ name, h: g.histogram });
  const usable = curves.filter((c) => c.h.total > 0);
  if (usable.length === 0) return '<p>No completed requests.</p>';
  const series: Series[] = usable.map((c, i) => ({
    name: c.name, color: i === 0 ? '#000' : PALETTE[(i - 1) % PALETTE.length]!, dash: c.dash === true, width: i === 0 ? 2.2 : 1.4,
    points: c.h.percentileCurve(20).filter(([p]) => p < 100).map(([p, ns]) => [pctX(p), ns / 1000] as [number, number]),
  }));
  series.reverse(); // the run as a whole is drawn last, on top of the per-command lines
  const all = series.flatMap((s) => s.points.map(([, v]) => v)).filter((v) => v > 0);
  const yt = logTicks(Math.max(0.1, Math.min(...all)), Math.max(...all, 1));
  return chart('Latency by percentile', series, { min: 0, max: 5, ticks: PCT_TICKS, label: 'percentile' }, { ...yt, log: true, label: 'latency' });
}

function groupTable(title: string, groups: [string, GroupStats][]): string {
  if (groups.length === 0) return '';
  const rows = groups.map(([k, g]) => `<tr><th>${esc(k)}</th><td>${int(g.requests)}</td><td>${int(g.errors)}</td><td>${g.devices === undefined ? '' : int(g.devices)}</td>`
    + `<td>${esc(formatUs(g.latency.p50))}</td><td>${esc(formatUs(g.latency.p90))}</td><td>${esc(formatUs(g.latency.p99))}</td><td>${esc(formatUs(g.latency.p999))}</td>`
    + `<td>${esc(formatUs(g.latency.max))}</td><td>${int(g.throughput)}</td></tr>`);
  return `<h2>${esc(title)}</h2><table><thead><tr><th></th><th>count</th><th>errors</th><th>devices</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>req/s</th></tr></thead>`
    + `<tbody>${rows.join('')}</tbody></table>`;
}

export interface HtmlOptions {
  /** page title (default: "mbxmux load report") */
  title?: string;
  /** extra lines under the title, e.g. the command line or the fleet */
  notes?: string[];
}

/** Renders a load result as one self-contained HTML document. */
export function renderHtmlReport(r: LoadResult, opts: HtmlOptions = {}): string {
  const l = r.latency;
  const title = opts.title ?? 'mbxmux load report';
  const errors = Object.entries(r.errors ?? {}).sort((a, b) => b[1] - a[1]);
  const statusRows = Object.entries(r.deviceStatusByKind ?? {}).flatMap(([kind, m]) => Object.entries(m ?? {}).map(([rc, c]) =>
    `<tr><th>${esc(kind)}</th><td>${esc(statusText(kind, Number(rc)))}</td><td>${int(c)}</td></tr>`));
  const parts: string[] = [];
  parts.push(`<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">`);
  parts.push(`<title>${esc(title)}</title><style>${CSS}</style></head><body>`);
  parts.push(`<h1>${esc(title)}</h1>`);
  parts.push(`<p class="meta">${esc(describeRun(r))}</p>`);
  parts.push(`<p class="meta">started ${esc(r.startedAt)} · warm-up ${esc(r.warmupMs)} ms · mix <code>${esc(r.mix)}</code> · tier ${esc(r.tier)} · ${r.fabricManager ? 'fabric-manager session' : `host ${esc(r.host)}`}</p>`);
  for (const note of opts.notes ?? []) parts.push(`<p class="meta">${esc(note)}</p>`);
  parts.push('<h2>Summary</h2><table><thead><tr><th></th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th><th>req/s</th></tr></thead><tbody>');
  const row = (name: string, s: typeof l, tput: string): string => `<tr><th>${esc(name)}</th>${[s.p50, s.p90, s.p99, s.p999, s.max, s.mean].map((v) => `<td>${esc(formatUs(v))}</td>`).join('')}<td>${tput}</td></tr>`;
  parts.push(row(r.mode === 'open' ? 'latency (from intended send)' : 'latency', l, int(r.throughput)));
  if (r.serviceLatency) parts.push(row('from send() (uncorrected)', r.serviceLatency, ''));
  parts.push('</tbody></table>');
  parts.push(`<table><tbody><tr><th>completed</th><td>${int(r.requests)}</td></tr><tr><th>failed</th><td>${int(r.sent - r.requests)}</td></tr>`
    + (r.mode === 'open' ? `<tr><th>dropped (over max in flight)</th><td>${int(r.dropped)}</td></tr>` : '')
    + errors.map(([k, v]) => `<tr><th>error ${esc(k)}</th><td>${int(v)}</td></tr>`).join('') + '</tbody></table>');
  if (r.thresholds && r.thresholds.length > 0) {
    parts.push('<h2>Thresholds</h2><table><thead><tr><th>threshold</th><th>actual</th><th>result</th></tr></thead><tbody>');
    for (const t of r.thresholds) {
      parts.push(`<tr><th><code>${esc(t.expr)}</code></th><td>${esc(t.note ?? formatThresholdValue(t, t.actual))}</td><td class="${t.pass ? 'pass' : 'fail'}">${t.pass ? 'PASS' : 'FAIL'}</td></tr>`);
    }
    parts.push('</tbody></table>');
  }
  parts.push('<h2>Latency over time</h2>', timeCharts(r));
  parts.push('<h2>Latency by percentile</h2>', percentileChart(r));
  parts.push(groupTable('By command', Object.entries(r.byCommand ?? {})));
  parts.push(groupTable('By device kind', Object.entries(r.byKind ?? {}) as [string, GroupStats][]));
  if (statusRows.length > 0) {
    parts.push(`<h2>Device status other than success</h2><table><thead><tr><th>kind</th><th>status</th><th>count</th></tr></thead><tbody>${statusRows.join('')}</tbody></table>`);
  }
  parts.push('<p class="meta">Generated by mbxmux load. Open-loop latency is measured from each request\'s intended send time (coordinated-omission corrected).</p>');
  parts.push('</body></html>\n');
  return parts.join('\n');
}
