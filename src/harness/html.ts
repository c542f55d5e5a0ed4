import type { Histogram } from './histogram.js';
import type { GroupStats, LoadResult } from './load.js';
import { describeRun, formatUs, statusText } from './report.js';
import { formatThresholdValue } from './thresholds.js';

/**
 * `mbxmux load --html FILE`: one self-contained HTML page (inline CSS and inline SVG; no scripts, fonts,
 * images or links) with the summary table, a latency-over-time plot, an HDR-style percentile plot and the
 * per-command / per-kind breakdowns. Every interpolated string is escaped.
 */

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const esc = escapeHtml;
const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const num = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 100) / 100) : '0');

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

interface Series {
  name: string;
  color: string;
  /** [x, y]; a NaN y breaks the line */
  points: [number, number][];
  dash?: boolean;
  width?: number;
}

interface Axis {
  min: number;
  max: number;
  ticks: [number, string][];
  label: string;
  log?: boolean;
}

/** Decade (and 2x/5x within a narrow range) ticks for a log axis in µs. */
function logTicks(lo: number, hi: number): { min: number; max: number; ticks: [number, string][] } {
  const min = 10 ** Math.floor(Math.log10(lo));
  const max = 10 ** Math.ceil(Math.log10(hi));
  const decades = Math.round(Math.log10(max / min));
  const ticks: [number, string][] = [];
  for (let e = Math.log10(min); e <= Math.log10(max) + 1e-9; e++) {
    const v = 10 ** e;
    ticks.push([v, formatUs(v)]);
    if (decades <= 2 && v < max) for (const m of [2, 5]) ticks.push([v * m, formatUs(v * m)]);
  }
  return { min, max: decades === 0 ? min * 10 : max, ticks };
}

function linTicks(lo: number, hi: number, fmt: (v: number) => string): { min: number; max: number; ticks: [number, string][] } {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const min = Math.floor(lo / step) * step;
  const max = Math.ceil(hi / step) * step;
  const ticks: [number, string][] = [];
  for (let v = min; v <= max + step / 1e6; v += step) ticks.push([v, fmt(Math.round(v * 1e6) / 1e6)]);
  return { min, max, ticks };
}

/** An SVG line chart with axes, grid and legend. */
function chart(title: string, series: Series[], x: Axis, y: Axis, width = 860, height = 340): string {
  const m = { l: 70, r: 34, t: 30, b: 46 };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const sx = (v: number): number => m.l + ((v - x.min) / (x.max - x.min || 1)) * w;
  const sy = y.log
    ? (v: number): number => m.t + h - ((Math.log10(v) - Math.log10(y.min)) / (Math.log10(y.max) - Math.log10(y.min) || 1)) * h
    : (v: number): number => m.t + h - ((v - y.min) / (y.max - y.min || 1)) * h;
  const out: string[] = [];
  out.push(`<svg class="chart" role="img" aria-label="${esc(title)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">`);
  out.push(`<title>${esc(title)}</title>`);
  out.push(`<rect x="${m.l}" y="${m.t}" width="${w}" height="${h}" fill="#fff" stroke="#999"/>`);
  for (const [v, label] of y.ticks) {
    if (v < y.min || v > y.max) continue;
    const py = num(sy(v));
    out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${py}" y2="${py}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 6}" y="${py}" dy="4" text-anchor="end">${esc(label)}</text>`);
  }
  for (const [v, label] of x.ticks) {
    if (v < x.min || v > x.max) continue;
    const px = num(sx(v));
    out.push(`<line y1="${m.t}" y2="${m.t + h}" x1="${px}" x2="${px}" stroke="#eee"/>`);
    out.push(`<text x="${px}" y="${m.t + h + 16}" text-anchor="middle">${esc(label)}</text>`);
  }
  out.push(`<text x="${m.l + w / 2}" y="${height - 8}" text-anchor="middle" class="axis">${esc(x.label)}</text>`);
  out.push(`<text transform="translate(14 ${m.t + h / 2}) rotate(-90)" text-anchor="middle" class="axis">${esc(y.label)}</text>`);
  for (const s of series) {
    const segs: string[] = [];
    let cur: string[] = [];
    for (const [px, py] of s.points) {
      const ok = Number.isFinite(py) && (!y.log || py > 0);
      if (!ok) {
        if (cur.length) segs.push(cur.join(' '));
        cur = [];
        continue;
      }
      const cy = Math.min(Math.max(py, y.min), y.max);
      cur.push(`${cur.length ? 'L' : 'M'}${num(sx(px))},${num(sy(cy))}`);
    }
    if (cur.length) segs.push(cur.join(' '));
    const single = segs.filter((d) => !d.includes('L'));
    const d = segs.filter((seg) => seg.includes('L')).join(' ');
    if (d) out.push(`<path d="${d}" fill="none" stroke="${esc(s.color)}" stroke-width="${s.width ?? 1.6}"${s.dash ? ' stroke-dasharray="4 3"' : ''}/>`);
    for (const p of single) {
      const [cx, cy] = p.slice(1).split(',');
      out.push(`<circle cx="${cx}" cy="${cy}" r="2" fill="${esc(s.color)}"/>`);
    }
  }
  // legend
  let lx = m.l;
  for (const s of series) {
    out.push(`<rect x="${lx}" y="10" width="14" height="4" fill="${esc(s.color)}"/><text x="${lx + 18}" y="16">${esc(s.name)}</text>`);
    lx += 30 + s.name.length * 7;
  }
  out.push('</svg>');
  return out.join('\n');
}

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

const pctX = (p: number): number => (p >= 100 ? 5 : Math.min(5, Math.log10(100 / (100 - p))));

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
  const xTicks: [number, string][] = [[0, '0%'], [1, '90%'], [2, '99%'], [3, '99.9%'], [4, '99.99%'], [5, '99.999%']];
  return chart('Latency by percentile', series, { min: 0, max: 5, ticks: xTicks, label: 'percentile' }, { ...yt, log: true, label: 'latency' });
}

function groupTable(title: string, groups: [string, GroupStats][]): string {
  if (groups.length === 0) return '';
  const rows = groups.map(([k, g]) => `<tr><th>${esc(k)}</th><td>${int(g.requests)}</td><td>${int(g.errors)}</td><td>${g.devices === undefined ? '' : int(g.devices)}</td>`
    + `<td>${esc(formatUs(g.latency.p50))}</td><td>${esc(formatUs(g.latency.p90))}</td><td>${esc(formatUs(g.latency.p99))}</td><td>${esc(formatUs(g.latency.p999))}</td>`
    + `<td>${esc(formatUs(g.latency.max))}</td><td>${int(g.throughput)}</td></tr>`);
  return `<h2>${esc(title)}</h2><table><thead><tr><th></th><th>count</th><th>errors</th><th>devices</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>req/s</th></tr></thead>`
    + `<tbody>${rows.join('')}</tbody></table>`;
}

const CSS = `body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:900px;color:#222;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;font-variant-numeric:tabular-nums}
th:first-child{text-align:left}thead th{border-bottom:1px solid #999}.meta{color:#555;margin:0}
.pass{color:#176317;font-weight:600}.fail{color:#b00;font-weight:600}svg.chart{display:block;margin:8px 0;font:11px system-ui,sans-serif;max-width:100%;height:auto}
svg .axis{fill:#444;font-size:12px}code{background:#f4f4f4;padding:0 3px}`;

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
