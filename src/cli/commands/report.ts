import { readFileSync, writeFileSync } from 'node:fs';
import { BadRequestError } from '../../errors.js';
import { renderHtmlReport } from '../../harness/html.js';
import type { LoadResult } from '../../harness/types.js';
import { type MergedLoadResult, mergeLoadResults } from '../../harness/merge.js';
import { formatLoadTable, loadResultFromJSON, loadResultToJSON } from '../../harness/report.js';
import { parseThresholds } from '../../harness/thresholds.js';
import { UsageError } from '../args.js';
import { type Command, parse } from '../common.js';

const OPTIONS = { json: { type: 'string' }, html: { type: 'string' }, threshold: { type: 'string', multiple: true } } as const;

export const report: Command = {
  name: 'report',
  summary: 'merge the JSON reports of several load generators into one',
  options: OPTIONS,
  help: `usage: mbxmux report merge A.json B.json ... [--json FILE] [--html FILE] [--threshold EXPR]...
  Merges mbxmux load --json reports, typically the --segment k/N runs of one test against many servers:
  HDR histograms bucket by bucket (every percentile is the one all the samples together give, nothing is
  averaged), counts, errors by code, device statuses, throughput, and latency and throughput over time
  (interval by interval, each run's counted from its own start). Prints the merged table.
  --json FILE       the merged report (it merges again like any report)
  --html FILE       the merged HTML report
  --threshold EXPR  pass/fail on the merged numbers (repeatable; see mbxmux load --help); any FAIL exits 1
  Refuses reports that are not parts of one test (another mix, tier or session, other segment splits, a
  segment given twice).`,
  async run(args) {
    const { values, positionals } = parse(args, OPTIONS);
    if (values.help) return (console.log(this.help), 0);
    const [sub, ...files] = positionals;
    if (sub !== 'merge') throw new UsageError(sub === undefined ? 'report needs a subcommand: mbxmux report merge A.json B.json ...' : `unknown report subcommand "${sub}": use merge`);
    if (files.length === 0) throw new UsageError('report merge needs the JSON reports to merge (mbxmux load --json FILE)');
    for (const f of ['fleet', 'slice', 'workers'] as const) if (values[f] !== undefined) throw new UsageError(`--${f} does not apply to report`);
    const thresholds = parseThresholds(values.threshold ?? []);
    const merged = mergeLoadResults(files.map(readReport), { sources: files, thresholds });
    console.log(describeMerge(merged));
    console.log(formatLoadTable(merged));
    if (values.json) writeFileSync(values.json, loadResultToJSON(merged));
    if (values.html) {
      writeFileSync(values.html, renderHtmlReport(merged, { title: 'mbxmux merged load report', notes: [describeMerge(merged), `mbxmux report ${args.join(' ')}`] }));
    }
    return merged.thresholds?.some((t) => !t.pass) ? 1 : 0;
  },
};

function readReport(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return loadResultFromJSON(text);
  } catch (e) {
    throw new BadRequestError(`${file} is not a report written by mbxmux load --json: ${(e as Error).message}`);
  }
}

/** One line: what was merged. */
export function describeMerge(m: MergedLoadResult): string {
  const i = m.merged;
  const seg = i.segments === undefined ? '' : i.segments.present.length === i.segments.count
    ? `, all ${i.segments.count} segments of one test` : `, segments ${i.segments.present.join(',')} of ${i.segments.count} (not the whole test)`;
  return `merged ${i.reports} report${i.reports === 1 ? '' : 's'}${seg}; measured phases began within ${(i.startSpreadMs / 1000).toFixed(2)} s of each other`;
}
