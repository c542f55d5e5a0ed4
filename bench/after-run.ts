/**
 * What `mbxmux bench` does with a run once it has one (just measured, or read back with --from / the second
 * --compare file): compare it with a base run and print the comparison, write the HTML page, and decide the
 * exit code for CI (--fail-on-regression PCT).
 */
import { writeFileSync } from 'node:fs';
import { busyNote, compareFigures, type FigureComparison, regressionsOver, renderComparison } from './compare.js';
import { renderBenchHtml } from './html-report.js';
import { type BenchReport, readSide } from './report-file.js';

/** The after-run options from the command line; reads the base and --from runs. Throws (one line) on bad input. */
export function parseAfterRun(v: { compare?: string | undefined; from?: string | undefined; html?: string | undefined; 'fail-on-regression'?: string | undefined;
  noise?: string | undefined }, positionals: string[]): { opts: AfterRunOptions; from?: { report: BenchReport; label: string } } {
  const pct = (text: string | undefined, flag: string): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text.replace(/%$/, ''));
    if (!(n >= 0 && n <= 1000)) throw new Error(`${flag} must be a percentage from 0 to 1000 (got ${JSON.stringify(text)})`);
    return n;
  };
  if (positionals.length > 1 || (positionals.length === 1 && v.compare === undefined)) {
    throw new Error(`unexpected argument ${JSON.stringify(positionals.at(-1))}: only --compare BASE [NEW] takes a second file`);
  }
  if (v['fail-on-regression'] !== undefined && v.compare === undefined) throw new Error('--fail-on-regression needs --compare BASE');
  if (v.noise !== undefined && v.compare === undefined) throw new Error('--noise applies to --compare');
  const fromPath = positionals[0] ?? v.from;
  if (positionals.length === 1 && v.from !== undefined) throw new Error('give the new run either as the second --compare file or with --from, not both');
  const opts: AfterRunOptions = { html: v.html, failOnRegressionPct: pct(v['fail-on-regression'], '--fail-on-regression'), noisePct: pct(v.noise, '--noise') };
  if (v.compare !== undefined) opts.base = readSide(v.compare);
  return { opts, ...(fromPath !== undefined ? { from: readSide(fromPath) } : {}) };
}

export interface AfterRunOptions {
  /** base run to compare with, read before the run (a bad file is a usage error, not a wasted run) */
  base?: { report: BenchReport; label: string } | undefined;
  /** fail (1) when a figure regressed by more than this many percent */
  failOnRegressionPct?: number | undefined;
  /** noise floor, percent */
  noisePct?: number | undefined;
  html?: string | undefined;
  /** a command-line note for the HTML page */
  commandLine?: string;
}

/** Prints the comparison, writes the HTML page; returns 1 if a regression fails the run, else 0. */
export function afterRun(report: BenchReport, label: string, o: AfterRunOptions): number {
  let rows: FigureComparison[] | null = null;
  const baseLabel = o.base?.label ?? '';
  if (o.base !== undefined) {
    const base = o.base.report.sections;
    rows = compareFigures(base, report.sections, { ...(o.noisePct !== undefined ? { noisePct: o.noisePct } : {}) });
    const ids = new Set([...Object.keys(base), ...Object.keys(report.sections)]);
    const notes = Object.fromEntries([...ids].map((id) => [id, busyNote(base[id], report.sections[id])]));
    console.log(`\n${renderComparison(rows, baseLabel, label, notes)}`);
  }
  if (o.html !== undefined) {
    writeFileSync(o.html, renderBenchHtml(report, {
      ...(o.commandLine ? { notes: [o.commandLine] } : {}),
      ...(rows ? { comparison: { rows, baseLabel, nextLabel: label } } : {}),
    }));
  }
  if (rows !== null && o.failOnRegressionPct !== undefined) {
    const bad = regressionsOver(rows, o.failOnRegressionPct);
    if (bad.length > 0) {
      console.log(`\nFAIL: ${bad.length} figure${bad.length === 1 ? '' : 's'} regressed by more than ${o.failOnRegressionPct}%: `
        + bad.map((r) => `${r.section} / ${r.name} (${r.worsePct!.toFixed(1)}% worse)`).join('; '));
      return 1;
    }
    console.log(`\nPASS: no figure regressed by more than ${o.failOnRegressionPct}%`);
  }
  return 0;
}
