/**
 * The JSON a bench run writes (`--json FILE`) and reads back (`--compare`, `--from`): environment, options,
 * every section's tables, data and figures, the targets. Reading checks the parts a comparison and the HTML
 * report rely on, so a file that is not a bench report is a one-line error, not a crash.
 */
import { readFileSync } from 'node:fs';
import type { Environment } from './env.js';
import type { Figure } from './figures.js';
import type { Table } from './stats.js';
import type { TargetResult } from './summary.js';

export interface SectionRecord {
  title: string;
  seconds: number;
  foreignCpuPct: number | null;
  data?: Record<string, unknown>;
  tables?: Table[];
  figures?: Figure[];
  error?: string;
}

export interface BenchReport {
  /** bench/env.ts Environment (a file from an older build may lack fields) */
  env: Partial<Environment>;
  options: { quick?: boolean; workers?: number; only?: string | null };
  sections: Record<string, SectionRecord>;
  targets?: TargetResult[];
  totalSeconds?: number;
  foreignCpuPct?: number | null;
}

export class ReportError extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkFigure(f: unknown, where: string): void {
  if (!isObj(f) || typeof f.name !== 'string' || typeof f.unit !== 'string' || (f.better !== 'higher' && f.better !== 'lower')
    || !Array.isArray(f.samples) || !f.samples.every((x) => typeof x === 'number')) {
    throw new ReportError(`${where}: a figure needs name, unit, better ("higher" or "lower") and samples (numbers)`);
  }
}

/** Checks a parsed report; `what` names it in errors. */
export function checkReport(v: unknown, what: string): BenchReport {
  if (!isObj(v) || !isObj(v.sections)) throw new ReportError(`${what} is not a bench report (no "sections"; write one with mbxmux bench --json FILE)`);
  for (const [id, s] of Object.entries(v.sections)) {
    if (!isObj(s)) throw new ReportError(`${what}: section ${id} is not an object`);
    if (s.figures !== undefined) {
      if (!Array.isArray(s.figures)) throw new ReportError(`${what}: section ${id}: "figures" is not a list`);
      s.figures.forEach((f, i) => checkFigure(f, `${what}: section ${id} figure ${i + 1}`));
    }
    if (s.tables !== undefined && !(Array.isArray(s.tables) && s.tables.every((t) => isObj(t) && Array.isArray(t.head) && Array.isArray(t.rows)))) {
      throw new ReportError(`${what}: section ${id}: "tables" must be a list of { title, head, rows }`);
    }
  }
  return { env: isObj(v.env) ? v.env : {}, options: isObj(v.options) ? v.options : {}, ...v } as BenchReport;
}

export function readReport(path: string): BenchReport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ReportError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ReportError(`${path} is not JSON: ${(e as Error).message}`);
  }
  return checkReport(v, path);
}

/** "base.json (2026-11-30 10:12, node v20.20.2, quick, 2 workers)" */
export function describeReport(r: BenchReport, name: string): string {
  const bits = [r.env.date?.replace('T', ' ').slice(0, 16), r.env.node ? `node ${r.env.node}` : undefined,
    r.options.quick ? 'quick' : undefined, r.options.workers !== undefined ? `${r.options.workers} workers` : undefined].filter(Boolean);
  return `${name}${bits.length ? ` (${bits.join(', ')})` : ''}`;
}

/**
 * Several runs of one side as one report (`--compare a.json,b.json c.json,d.json`): every figure's samples
 * are the samples of all runs, so its spread is the spread between runs as well as within them; a section's
 * foreignCpuPct is the busiest run's; tables and data are the first run's.
 */
export function mergeReports(reports: readonly BenchReport[]): BenchReport {
  if (reports.length === 1) return reports[0]!;
  const first = reports[0]!;
  const sections: Record<string, SectionRecord> = {};
  for (const r of reports) {
    for (const [id, s] of Object.entries(r.sections)) {
      const into = sections[id];
      if (into === undefined) {
        sections[id] = { ...s, figures: (s.figures ?? []).map((f) => ({ ...f, samples: [...f.samples] })) };
        continue;
      }
      for (const f of s.figures ?? []) {
        const same = into.figures!.find((g) => g.name === f.name);
        if (same !== undefined) same.samples.push(...f.samples);
        else into.figures!.push({ ...f, samples: [...f.samples] });
      }
      if (typeof s.foreignCpuPct === 'number') into.foreignCpuPct = Math.max(into.foreignCpuPct ?? 0, s.foreignCpuPct);
    }
  }
  return { ...first, sections };
}

/** One side of a comparison: a file, or files joined with commas (mergeReports). */
export function readSide(list: string): { report: BenchReport; label: string } {
  const paths = list.split(',').map((p) => p.trim()).filter(Boolean);
  if (paths.length === 0) throw new ReportError('no file given');
  const reports = paths.map(readReport);
  return { report: mergeReports(reports), label: paths.length === 1 ? describeReport(reports[0]!, paths[0]!) : `${paths.length} runs (${paths.join(', ')})` };
}
