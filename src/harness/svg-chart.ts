import { formatUs } from './report.js';

/**
 * Inline SVG line charts and the page style shared by the self-contained HTML reports (mbxmux load --html,
 * mbxmux bench --html): no scripts, fonts, images or links; every interpolated string is escaped.
 */

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const esc = escapeHtml;
export const int = (x: number): string => Math.round(x).toLocaleString('en-US');
const num = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 100) / 100) : '0');

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

export interface Series {
  name: string;
  color: string;
  /** [x, y]; a NaN y breaks the line */
  points: [number, number][];
  dash?: boolean;
  width?: number;
}

export interface Axis {
  min: number;
  max: number;
  ticks: [number, string][];
  label: string;
  log?: boolean;
}

/** Decade (and 2x/5x within a narrow range) ticks for a log axis in µs. */
export function logTicks(lo: number, hi: number): { min: number; max: number; ticks: [number, string][] } {
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

export function linTicks(lo: number, hi: number, fmt: (v: number) => string): { min: number; max: number; ticks: [number, string][] } {
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

const LEGEND_ROW = 16;

/** Legend entries placed left to right, wrapping to a new row where one would run past the right edge. */
function legendLayout(series: Series[], left: number, right: number): { x: number; row: number }[] {
  let lx = left;
  let row = 0;
  return series.map((s) => {
    const wide = 30 + s.name.length * 7;
    if (lx > left && lx + wide - 12 > right) {
      row++;
      lx = left;
    }
    const at = { x: lx, row };
    lx += wide;
    return at;
  });
}

/** An SVG line chart with axes, grid and legend (a long legend wraps and the chart grows to hold it). */
export function chart(title: string, series: Series[], x: Axis, y: Axis, width = 860, plotHeight = 340): string {
  const legend = legendLayout(series, 70, width - 34);
  const extra = (legend.at(-1)?.row ?? 0) * LEGEND_ROW;
  const height = plotHeight + extra;
  const m = { l: 70, r: 34, t: 30 + extra, b: 46 };
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
  series.forEach((s, i) => {
    const { x: lx, row } = legend[i]!;
    const ly = 10 + row * LEGEND_ROW;
    out.push(`<rect x="${lx}" y="${ly}" width="14" height="4" fill="${esc(s.color)}"/><text x="${lx + 18}" y="${ly + 6}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** The x position of percentile p on an HDR-style axis: log10(100 / (100 - p)), 0 (0%) .. 5 (99.999%). */
export const pctX = (p: number): number => (p >= 100 ? 5 : Math.min(5, Math.log10(100 / (100 - p))));

export const PCT_TICKS: [number, string][] = [[0, '0%'], [1, '90%'], [2, '99%'], [3, '99.9%'], [4, '99.99%'], [5, '99.999%']];

export const CSS = `body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:900px;color:#222;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;font-variant-numeric:tabular-nums}
th:first-child{text-align:left}thead th{border-bottom:1px solid #999}.meta{color:#555;margin:0}
.pass{color:#176317;font-weight:600}.fail{color:#b00;font-weight:600}svg.chart{display:block;margin:8px 0;font:11px system-ui,sans-serif;max-width:100%;height:auto}
svg .axis{fill:#444;font-size:12px}code{background:#f4f4f4;padding:0 3px}`;

