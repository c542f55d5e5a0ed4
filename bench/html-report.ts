/**
 * `mbxmux bench --html FILE`: a bench run as one self-contained HTML page, like the load report (inline CSS
 * and SVG, no scripts, every string escaped): the targets, a comparison with a base run when one was given,
 * the open-loop curves (latency by offered load, and by percentile), round trips by percentile, then every
 * section's tables and figures. Works on the JSON a run writes, so an old run can be rendered later.
 */
import { chart, CSS, escapeHtml as esc, linTicks, logTicks, PALETTE, PCT_TICKS, pctX, type Series } from '../src/harness/svg-chart.js';
import { countVerdicts, type FigureComparison, summarize } from './compare.js';
import type { BenchReport, SectionRecord } from './report-file.js';
import { si, sig, type Table } from './stats.js';

interface Point { fraction: number; rate: number; p50: number; p90: number; p99: number; p999: number; curve?: [number, number][] }
interface OpenLoop {
  mix?: string; rate?: number; sweep?: Point[]; closedLoop?: { throughput: number; curve?: [number, number][] };
  floor?: { allocBytes: number; spinner: boolean; delay: { p99: number } }[];
}
interface RoundTrips { roundTrip?: Record<string, { p50: number; p99: number; p999: number; max: number }> }

const cell = (v: unknown): string => esc(typeof v === 'number' ? sig(v) : String(v ?? ''));

function tableHtml(t: Table): string {
  const head = `<thead><tr>${t.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>`;
  const rows = t.rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${cell(c)}</th>` : `<td>${cell(c)}</td>`)).join('')}</tr>`).join('');
  const note = t.note ? `<p class="meta">${t.note.split('\n').map(esc).join('<br>')}</p>` : '';
  return `<h3>${esc(t.title)}</h3><table>${head}<tbody>${rows}</tbody></table>${note}`;
}

function figuresHtml(s: SectionRecord): string {
  const figs = s.figures ?? [];
  if (figs.length === 0) return '';
  const rows = figs.map((f) => {
    const m = summarize(f.samples);
    return `<tr><th>${esc(f.name)}</th><td>${esc(f.unit)}</td><td>${esc(f.better)}</td>`
      + (m ? `<td>${cell(m.median)}</td><td>${cell(m.min)}</td><td>${cell(m.max)}</td><td>${m.n}</td>` : '<td colspan="4">no samples</td>') + '</tr>';
  }).join('');
  return `<h3>Figures (what --compare compares)</h3><table><thead><tr><th>figure</th><th>unit</th><th>better</th><th>median</th><th>min</th><th>max</th><th>repeats</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function comparisonHtml(rows: readonly FigureComparison[], baseLabel: string, nextLabel: string): string {
  const c = countVerdicts(rows);
  const cls = (r: FigureComparison): string => (r.verdict === 'regressed' ? 'fail' : r.verdict === 'improved' ? 'pass' : '');
  const body = rows.map((r) => `<tr><th>${esc(r.section)}: ${esc(r.name)}</th><td>${r.base ? `${cell(r.base.median)} ${esc(r.unit)}` : '-'}</td>`
    + `<td>${r.next ? `${cell(r.next.median)} ${esc(r.unit)}` : '-'}</td><td>${r.ratio === undefined ? '' : `${r.ratio.toFixed(3)}×`}</td>`
    + `<td>${r.worsePct === undefined ? '' : `${r.worsePct > 0 ? '+' : ''}${sig(r.worsePct)}%`}</td><td>${r.noisePct === undefined ? '' : `±${sig(r.noisePct)}%`}</td>`
    + `<td class="${cls(r)}">${esc(r.verdict)}</td></tr>`).join('');
  return `<h2>Comparison</h2><p class="meta">base ${esc(baseLabel)} → new ${esc(nextLabel)}: ${c.improved} improved, ${c['same within noise']} same within noise, `
    + `${c.regressed} regressed; "worse by" in each figure's own direction, against the larger spread of the two runs' repeats</p>`
    + `<table><thead><tr><th>figure</th><th>base</th><th>new</th><th>new/base</th><th>worse by</th><th>noise</th><th>verdict</th></tr></thead><tbody>${body}</tbody></table>`;
}

/** Latency (p50 .. p99.9) against the offered rate of each open-loop point, with the pacing floor's p99. */
function openLoopByLoad(o: OpenLoop): string {
  const pts = [...(o.sweep ?? [])].sort((a, b) => a.rate - b.rate);
  if (pts.length === 0) return '';
  const series: Series[] = (['p50', 'p90', 'p99', 'p999'] as const).map((k, i) => ({
    name: k === 'p999' ? 'p99.9' : k, color: PALETTE[i]!, points: pts.map((p) => [p.rate, p[k]] as [number, number]),
  }));
  // the pacing loop alone (no mux) at the target's rate, with no garbage and nothing beside it: the machine's floor
  const floor = (o.floor ?? []).find((f) => f.allocBytes === 0 && !f.spinner);
  if (floor !== undefined && o.rate !== undefined) series.push({ name: 'p99 of the pacing loop alone (no mux)', color: '#888', points: [[o.rate, floor.delay.p99]] });
  const ys = series.flatMap((s) => s.points.map(([, y]) => y)).filter((y) => y > 0);
  const xt = linTicks(0, Math.max(...pts.map((p) => p.rate)) * 1.05, (v) => si(v));
  return chart(`Open-loop latency by offered load (mix ${o.mix ?? ''}; from each request's intended send time)`, series,
    { ...xt, min: 0, label: 'offered requests/s' }, { ...logTicks(Math.max(0.1, Math.min(...ys)), Math.max(...ys, 1)), log: true, label: 'latency' });
}

/** HDR-style percentile curves of the closed-loop maximum and every open-loop point. */
function openLoopByPercentile(o: OpenLoop): string {
  const curves: { name: string; curve: [number, number][] }[] = [];
  if (o.closedLoop?.curve) curves.push({ name: `closed loop, ${si(o.closedLoop.throughput)} req/s`, curve: o.closedLoop.curve });
  for (const p of o.sweep ?? []) if (p.curve) curves.push({ name: `open loop at ${p.fraction * 100}%, ${si(p.rate)} req/s`, curve: p.curve });
  if (curves.length === 0) return '';
  const series: Series[] = curves.map((c, i) => ({
    name: c.name, color: PALETTE[i % PALETTE.length]!, points: c.curve.filter(([p]) => p < 100).map(([p, us]) => [pctX(p), us] as [number, number]),
  }));
  const ys = series.flatMap((s) => s.points.map(([, y]) => y)).filter((y) => y > 0);
  return chart('Open-loop and closed-loop latency by percentile', series, { min: 0, max: 5, ticks: PCT_TICKS, label: 'percentile' },
    { ...logTicks(Math.max(0.1, Math.min(...ys)), Math.max(...ys, 1)), log: true, label: 'latency' });
}

/** Round trips of each method (one request outstanding) at p50, p99, p99.9 and max. */
function roundTripsByPercentile(b: RoundTrips): string {
  const rt = Object.entries(b.roundTrip ?? {});
  if (rt.length === 0) return '';
  const series: Series[] = rt.map(([name, s], i) => ({
    name, color: PALETTE[i % PALETTE.length]!, points: [[pctX(50), s.p50], [pctX(99), s.p99], [pctX(99.9), s.p999], [pctX(99.99), s.max]] as [number, number][],
  }));
  const ys = series.flatMap((s) => s.points.map(([, y]) => y)).filter((y) => y > 0);
  return chart('Round trip by percentile (the last point is the maximum)', series, { min: 0, max: 5, ticks: PCT_TICKS, label: 'percentile' },
    { ...logTicks(Math.max(0.1, Math.min(...ys)), Math.max(...ys, 1)), log: true, label: 'round trip' }, 860, 380);
}

export interface BenchHtmlOptions {
  title?: string;
  notes?: string[];
  comparison?: { rows: readonly FigureComparison[]; baseLabel: string; nextLabel: string };
}

export function renderBenchHtml(r: BenchReport, opts: BenchHtmlOptions = {}): string {
  const title = opts.title ?? 'mbxmux benchmarks';
  const e = r.env;
  const parts: string[] = [];
  parts.push('<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">');
  parts.push(`<title>${esc(title)}</title><style>${CSS}\nh3{font-size:15px;margin:18px 0 4px}</style></head><body>`);
  parts.push(`<h1>${esc(title)}</h1>`);
  parts.push(`<p class="meta">${esc(e.date ?? '')} · node ${esc(e.node ?? '?')} · ${esc(e.cpuModel ?? '')}, ${esc(e.cpus ?? '?')} cores · `
    + `${r.options.quick ? 'quick run' : 'full run'}, ${esc(r.options.workers ?? '?')} workers${r.options.only ? ` · sections /${esc(r.options.only)}/` : ''}`
    + `${r.totalSeconds !== undefined ? ` · ${sig(r.totalSeconds)} s` : ''}${typeof r.foreignCpuPct === 'number' ? ` · other processes used ${sig(r.foreignCpuPct)}% of the CPUs` : ''}</p>`);
  for (const n of opts.notes ?? []) parts.push(`<p class="meta">${esc(n)}</p>`);
  if (r.targets && r.targets.length > 0) {
    parts.push('<h2>Targets</h2><table><thead><tr><th>target</th><th>measured</th><th>target</th><th>status</th></tr></thead><tbody>');
    for (const t of r.targets) {
      const cls = t.status === 'MET' ? 'pass' : t.status === 'MISSED' ? 'fail' : '';
      parts.push(`<tr><th>${esc(t.target)}</th><td>${t.value === undefined ? esc(t.detail ?? `(run section ${t.section})`) : `${cell(t.value)} ${esc(t.unit)}`}</td>`
        + `<td>${esc(t.op)} ${esc(t.threshold)} ${esc(t.unit)}</td><td class="${cls}">${esc(t.status)}</td></tr>`);
    }
    parts.push('</tbody></table>');
  }
  if (opts.comparison) parts.push(comparisonHtml(opts.comparison.rows, opts.comparison.baseLabel, opts.comparison.nextLabel));
  const open = r.sections['open-loop']?.data as OpenLoop | undefined;
  const base = r.sections.baselines?.data as RoundTrips | undefined;
  const charts = [open ? openLoopByLoad(open) : '', open ? openLoopByPercentile(open) : '', base ? roundTripsByPercentile(base) : ''].filter(Boolean);
  if (charts.length > 0) parts.push('<h2>Curves</h2>', ...charts);
  for (const [id, s] of Object.entries(r.sections)) {
    const meta = `${sig(s.seconds)} s${typeof s.foreignCpuPct === 'number' ? `; other processes used ${sig(s.foreignCpuPct)}% of the CPUs` : ''}`;
    parts.push(`<h2>${esc(id)}: ${esc(s.title)}</h2><p class="meta">${esc(meta)}</p>`);
    if (s.error) parts.push(`<p class="fail">FAILED: ${esc(s.error)}</p>`);
    for (const t of s.tables ?? []) parts.push(tableHtml(t));
    parts.push(figuresHtml(s));
  }
  parts.push('<p class="meta">Generated by mbxmux bench. Latencies in µs unless a table says otherwise.</p></body></html>\n');
  return parts.join('\n');
}
