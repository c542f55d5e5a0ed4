/**
 * `mbxmux bench --compare base.json [new.json]`: every figure of two bench runs side by side, with a verdict
 * from the spread each run recorded. Works on figures alone (figures.ts), matched by section id and name.
 *
 * For one figure: value = median of its samples; spread = (max - min) / median of each run's samples, the
 * highest and lowest left out when there are 5 or more (one stall or warm-up window does not set the band);
 * noise band = the larger spread of the two runs, and at least the floor (--noise, default 5%: a figure
 * measured once has no spread of its own). change = how much worse the new value is, in the figure's own
 * direction (a throughput that drops 20% is +20% worse; a latency that grows 20% too).
 *   regressed            change > band
 *   improved             change < -band
 *   same within noise    otherwise
 * `--fail-on-regression PCT` fails (exit 1) when a figure regressed by more than PCT%.
 *
 * A run's repeats (rounds, runs, windows) show the noise within one run; on a shared machine the noise
 * between runs can be far larger, so a side may pool several runs (report-file.ts mergeReports), and a
 * section measured while other processes used more than FOREIGN_WARN_PCT of the CPUs gets a note.
 */
import { FOREIGN_WARN_PCT } from './env.js';
import type { Figure } from './figures.js';
import { median, renderTable, sig, type Table } from './stats.js';

/** What a comparison reads of a section: its figures, and how busy the machine was while it ran. */
export interface ComparedSection {
  figures?: Figure[];
  foreignCpuPct?: number | null;
}

export const DEFAULT_NOISE_PCT = 5;

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
  /** (max - min) / median, percent; with 5 or more samples, of all but the highest and the lowest */
  spreadPct: number;
}

export type Verdict = 'improved' | 'same within noise' | 'regressed' | 'only in base' | 'only in new' | 'not comparable';

export interface FigureComparison {
  section: string;
  name: string;
  unit: string;
  better: Figure['better'];
  base?: Summary;
  next?: Summary;
  /** new / base */
  ratio?: number;
  /** how much worse the new value is, percent (negative: better) */
  worsePct?: number;
  /** the band a change must leave to count, percent */
  noisePct?: number;
  verdict: Verdict;
  /** why a figure could not be compared */
  why?: string;
}

/** With this many repeats or more, the highest and the lowest are left out of the spread (one stall or one warm-up). */
const TRIM_FROM = 5;

export function summarize(samples: readonly number[]): Summary | undefined {
  const xs = samples.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const m = median(xs);
  const inner = xs.length >= TRIM_FROM ? xs.slice(1, -1) : xs;
  const spread = inner[inner.length - 1]! - inner[0]!;
  return { median: m, min: xs[0]!, max: xs[xs.length - 1]!, n: xs.length, spreadPct: m !== 0 ? (spread / Math.abs(m)) * 100 : 0 };
}

/** The figures of a report, keyed "section\u0000name". */
function index(sections: Record<string, ComparedSection>): Map<string, { section: string; f: Figure }> {
  const out = new Map<string, { section: string; f: Figure }>();
  for (const [section, s] of Object.entries(sections)) for (const f of s.figures ?? []) out.set(`${section}\u0000${f.name}`, { section, f });
  return out;
}

export function compareFigures(base: Record<string, ComparedSection>, next: Record<string, ComparedSection>,
  opts: { noisePct?: number } = {}): FigureComparison[] {
  const floor = opts.noisePct ?? DEFAULT_NOISE_PCT;
  const a = index(base);
  const b = index(next);
  const out: FigureComparison[] = [];
  for (const [key, nb] of b) {
    const na = a.get(key);
    const { section, f } = nb;
    const row: FigureComparison = { section, name: f.name, unit: f.unit, better: f.better, verdict: 'only in new' };
    const sb = summarize(f.samples);
    if (sb) row.next = sb;
    out.push(row);
    if (na === undefined) continue;
    const sa = summarize(na.f.samples);
    if (sa) row.base = sa;
    if (na.f.better !== f.better || na.f.unit !== f.unit) {
      row.verdict = 'not comparable';
      row.why = `base is ${na.f.unit}, ${na.f.better} is better; new is ${f.unit}, ${f.better} is better`;
      continue;
    }
    if (sa === undefined || sb === undefined || sa.median === 0) {
      row.verdict = 'not comparable';
      row.why = sa === undefined || sb === undefined ? 'no samples' : 'the base value is 0';
      continue;
    }
    row.ratio = sb.median / sa.median;
    row.worsePct = (f.better === 'higher' ? (sa.median - sb.median) / sa.median : (sb.median - sa.median) / sa.median) * 100;
    row.noisePct = Math.max(floor, sa.spreadPct, sb.spreadPct);
    row.verdict = row.worsePct > row.noisePct ? 'regressed' : row.worsePct < -row.noisePct ? 'improved' : 'same within noise';
  }
  for (const [key, { section, f }] of a) {
    if (b.has(key)) continue;
    const sa = summarize(f.samples);
    out.push({ section, name: f.name, unit: f.unit, better: f.better, ...(sa ? { base: sa } : {}), verdict: 'only in base' });
  }
  return out;
}

/** Figures that regressed by more than `pct` percent (and beyond their noise band). */
export function regressionsOver(rows: readonly FigureComparison[], pct: number): FigureComparison[] {
  return rows.filter((r) => r.verdict === 'regressed' && r.worsePct! > pct);
}

export function countVerdicts(rows: readonly FigureComparison[]): Record<Verdict, number> {
  const c: Record<Verdict, number> = { improved: 0, 'same within noise': 0, regressed: 0, 'only in base': 0, 'only in new': 0, 'not comparable': 0 };
  for (const r of rows) c[r.verdict]++;
  return c;
}

const value = (s: Summary | undefined, unit: string): string => (s === undefined ? '-' : `${sig(s.median)} ${unit}`);
const spread = (s: Summary | undefined): string => (s === undefined ? '' : s.n < 2 ? 'n=1' : `${sig(s.spreadPct)}% n=${s.n}`);
const signed = (x: number): string => (x === 0 ? '0%' : `${x > 0 ? '+' : ''}${sig(x)}%`);

/**
 * "other processes used 65% (base), 12% (new) of the CPUs ..." when either run measured the section on a
 * busy machine (more than FOREIGN_WARN_PCT): then the machine, not the code, may explain a difference.
 */
export function busyNote(base: ComparedSection | undefined, next: ComparedSection | undefined): string | undefined {
  const pct = (s: ComparedSection | undefined): number | null => (typeof s?.foreignCpuPct === 'number' ? s.foreignCpuPct : null);
  const b = pct(base);
  const n = pct(next);
  if (!((b ?? 0) > FOREIGN_WARN_PCT || (n ?? 0) > FOREIGN_WARN_PCT)) return undefined;
  const part = (v: number | null, who: string): string | null => (v === null ? null : `${v.toFixed(0)}% (${who})`);
  return `other processes used ${[part(b, 'base'), part(n, 'new')].filter(Boolean).join(', ')} of the CPUs during this section: `
    + 'a difference may be the machine\'s, not the code\'s (record on an idle machine, or several runs per side)';
}

/** The comparison as one table per section; `notes` adds a line under a section's table (busyNote). */
export function comparisonTables(rows: readonly FigureComparison[], notes: Record<string, string | undefined> = {}): Table[] {
  const bySection = new Map<string, FigureComparison[]>();
  for (const r of rows) bySection.set(r.section, [...(bySection.get(r.section) ?? []), r]);
  return [...bySection].map(([section, list]) => ({
    ...(notes[section] !== undefined ? { note: notes[section] } : {}),
    title: `${section}`,
    head: ['figure', 'base', 'spread', 'new', 'spread', 'new/base', 'worse by', 'verdict'],
    rows: list.map((r) => [
      `${r.name} (${r.better} is better)`, value(r.base, r.unit), spread(r.base), value(r.next, r.unit), spread(r.next),
      r.ratio === undefined ? '' : `${r.ratio.toFixed(3)}×`, r.worsePct === undefined ? '' : signed(r.worsePct),
      r.verdict === 'same within noise' || r.verdict === 'regressed' || r.verdict === 'improved' ? `${r.verdict} (noise ±${sig(r.noisePct!)}%)` : `${r.verdict}${r.why ? `: ${r.why}` : ''}`,
    ]),
  }));
}

/** The whole comparison as text: a header, a table per section, a summary line. */
export function renderComparison(rows: readonly FigureComparison[], baseLabel: string, nextLabel: string,
  notes: Record<string, string | undefined> = {}): string {
  const c = countVerdicts(rows);
  const parts = [`Comparison: ${baseLabel} (base) -> ${nextLabel} (new); "worse by" in each figure's own direction, `
    + 'verdicts against the larger spread of the two runs\' repeats (the samples each figure recorded)'];
  for (const t of comparisonTables(rows, notes)) parts.push(renderTable(t));
  const worst = rows.filter((r) => r.worsePct !== undefined).sort((x, y) => y.worsePct! - x.worsePct!)[0];
  parts.push(`${rows.length} figures: ${c.improved} improved, ${c['same within noise']} same within noise, ${c.regressed} regressed`
    + `${c['only in base'] + c['only in new'] ? `, ${c['only in base']} only in base, ${c['only in new']} only in new` : ''}`
    + `${c['not comparable'] ? `, ${c['not comparable']} not comparable` : ''}`
    + `${worst ? `; the largest change for the worse: ${worst.section} / ${worst.name} ${signed(worst.worsePct!)}` : ''}`);
  return parts.join('\n\n');
}
