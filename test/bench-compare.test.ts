import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareFigures, regressionsOver, summarize } from '../bench/compare.js';
import type { Figure } from '../bench/figures.js';
import { renderBenchHtml } from '../bench/html-report.js';
import { type BenchReport, checkReport, mergeReports } from '../bench/report-file.js';

// `mbxmux bench --compare`: two recorded runs (test/fixtures: a real quick run of micro.ring, micro.policy and
// micro.cci on this machine, and the same file with a planted 20% regression in one figure), the verdict
// rules on figures built here, and the HTML page.
const RUNNER = new URL('../bench/run.js', import.meta.url).pathname;
const BASE = fileURLToPath(new URL('../../test/fixtures/bench-base.json', import.meta.url));
const PLANTED = fileURLToPath(new URL('../../test/fixtures/bench-planted-regression.json', import.meta.url));
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [RUNNER, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

const fig = (name: string, better: Figure['better'], samples: number[], unit = 'req/s'): Figure => ({ name, unit, better, samples });
const one = (f: Figure) => ({ s: { figures: [f] } });

test('--compare base planted --fail-on-regression 10: the planted 20% regression is found and fails the run', () => {
  const r = run('--compare', BASE, PLANTED, '--fail-on-regression', '10');
  assert.is(r.code, 1, r.err);
  assert.match(r.out, /baseline per-command work, Get Health Info \(lower is better\) +104 ns\/op +2\.93% n=5 +125 ns\/op +2\.93% n=5 +1\.200× +\+20\.0% +regressed \(noise ±5\.00%\)/);
  assert.match(r.out, /10 figures: 0 improved, 9 same within noise, 1 regressed; the largest change for the worse: micro\.cci \/ baseline per-command work, Get Health Info \+20\.0%/);
  assert.match(r.out, /\nFAIL: 1 figure regressed by more than 10%: micro\.cci \/ baseline per-command work, Get Health Info \(20\.0% worse\)\n$/);
  // above the threshold the same regression is printed but does not fail
  const lax = run('--compare', BASE, PLANTED, '--fail-on-regression', '25');
  assert.is(lax.code, 0, lax.err);
  assert.match(lax.out, /\+20\.0% +regressed/);
  assert.match(lax.out, /\nPASS: no figure regressed by more than 25%\n$/);
  // the same run against itself: everything the same, exit 0
  const same = run('--compare', BASE, BASE, '--fail-on-regression', '10');
  assert.is(same.code, 0, same.err);
  assert.match(same.out, /10 figures: 0 improved, 10 same within noise, 0 regressed/);
  // swapped: the planted figure is 16.7% better
  const better = run('--compare', PLANTED, BASE);
  assert.match(better.out, /0\.833× +-16\.7% +improved/);
});

test('--html with --compare: one self-contained page with the comparison, every table and figure', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mbxmux-bench-html-'));
  try {
    const file = join(dir, 'cmp.html');
    const r = run('--compare', BASE, PLANTED, '--html', file);
    assert.is(r.code, 0, r.err);
    const page = readFileSync(file, 'utf8');
    assert.match(page, /^<!doctype html>/);
    assert.not.match(page, /<script|<link|src=|url\(/);
    assert.match(page, /<h2>Comparison<\/h2>/);
    assert.match(page, /micro\.cci: baseline per-command work, Get Health Info<\/th>.*<td class="fail">regressed<\/td>/);
    assert.match(page, /<h3>CCI dispatch of Get Health Info \(4200h\) on a type-3 model \(ns\)<\/h3>/);
    assert.match(page, /<h3>Figures \(what --compare compares\)<\/h3>/);
    const from = join(dir, 'from.html');
    assert.is(run('--from', BASE, '--html', from).code, 0);
    assert.not.match(readFileSync(from, 'utf8'), /<h2>Comparison<\/h2>/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the HTML page draws the open-loop curves by load and by percentile, and round trips by percentile', () => {
  const curve = (scale: number): [number, number][] => [[0, 10 * scale], [50, 20 * scale], [90, 40 * scale], [99, 90 * scale], [99.9, 300 * scale], [100, 900 * scale]];
  const report: BenchReport = {
    env: { date: '2026-12-01T10:00:00.000Z', node: 'v20.20.2' }, options: { quick: false, workers: 2 },
    sections: {
      'open-loop': {
        title: 'Open-loop latency at 50% load', seconds: 9, foreignCpuPct: 3, tables: [], figures: [],
        data: {
          mix: 'health=80', rate: 200_000, closedLoop: { throughput: 400_000, curve: curve(1) },
          sweep: [0.1, 0.25, 0.5].map((f) => ({ fraction: f, rate: 400_000 * f, p50: 20, p90: 40, p99: 90 * f * 10, p999: 300, curve: curve(f * 10) })),
          floor: [{ allocBytes: 0, spinner: false, delay: { p99: 100 } }],
        },
      },
      baselines: {
        title: 'mbxmux vs piscina.run vs postMessage', seconds: 20, foreignCpuPct: 0, tables: [], figures: [],
        data: { roundTrip: { 'mbxmux, worker spinning': { p50: 2.5, p99: 20, p999: 130, max: 500 }, 'piscina.run per command': { p50: 60, p99: 170, p999: 2500, max: 9000 } } },
      },
    },
  };
  const page = renderBenchHtml(report);
  const labels = [...page.matchAll(/<svg class="chart" role="img" aria-label="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(labels, [
    'Open-loop latency by offered load (mix health=80; from each request&#39;s intended send time)',
    'Open-loop and closed-loop latency by percentile',
    'Round trip by percentile (the last point is the maximum)',
  ]);
  assert.match(page, /open loop at 25%, 100k req\/s/);
  assert.match(page, /p99 of the pacing loop alone \(no mux\)/);
  assert.match(page, /piscina\.run per command/);
});

test('verdicts: direction, noise band from the repeats, the floor, and figures on one side only', () => {
  const cmp = (a: Figure, b: Figure) => compareFigures(one(a), one(b))[0]!;
  // throughput (higher is better) 20% lower, repeats within 2%: regressed by 20%
  const drop = cmp(fig('t', 'higher', [100, 101, 99]), fig('t', 'higher', [80, 81, 79]));
  assert.equal([drop.verdict, drop.worsePct, drop.ratio], ['regressed', 20, 0.8]);
  assert.is(drop.noisePct, 5, 'the floor: the repeats spread only 2%');
  assert.is(cmp(fig('t', 'higher', [100, 101, 99]), fig('t', 'higher', [125, 124, 126])).verdict, 'improved');
  // latency (lower is better) 20% higher: regressed
  assert.is(cmp(fig('l', 'lower', [10, 10.1, 9.9], 'µs'), fig('l', 'lower', [12, 12.1, 11.9], 'µs')).verdict, 'regressed');
  // a 3% change stays within the 5% floor
  assert.is(cmp(fig('t', 'higher', [100]), fig('t', 'higher', [97])).verdict, 'same within noise');
  // repeats that spread 30%: a 20% change is noise
  const noisy = cmp(fig('t', 'higher', [85, 100, 115]), fig('t', 'higher', [80, 82, 81]));
  assert.equal([noisy.verdict, noisy.noisePct], ['same within noise', 30]);
  assert.equal(regressionsOver([drop, noisy], 10).map((r) => r.name), ['t']);
  assert.equal(regressionsOver([drop], 20.5), []);
  const cross = compareFigures({ s: { figures: [fig('gone', 'higher', [1]), fig('unit', 'higher', [1])] } }, { s: { figures: [fig('new', 'lower', [1]), fig('unit', 'higher', [1], 'B/s')] } });
  assert.equal(cross.map((r) => [r.name, r.verdict]), [['new', 'only in new'], ['unit', 'not comparable'], ['gone', 'only in base']]);
  assert.match(cross[1]!.why!, /base is req\/s, higher is better; new is B\/s, higher is better/);
  // five repeats or more: one stall at each end does not set the spread
  assert.equal(summarize([100, 101, 99, 100, 400]), { median: 100, min: 99, max: 400, n: 5, spreadPct: 1 });
});

test('several runs per side pool their repeats: the spread between runs joins the noise band', () => {
  const report = (samples: number[]): BenchReport => ({ env: {}, options: {}, sections: { s: { title: 's', seconds: 1, foreignCpuPct: 40, figures: [fig('t', 'higher', samples)] } } });
  const pooled = mergeReports([report([100, 101, 99]), report([130, 131, 129])]);
  assert.equal(pooled.sections.s!.figures![0]!.samples, [100, 101, 99, 130, 131, 129]);
  const r = compareFigures(pooled.sections, report([92, 93, 91]).sections)[0]!;
  assert.is(r.verdict, 'same within noise', 'a change smaller than the difference between the base runs');
  assert.is(compareFigures(report([100, 101, 99]).sections, report([92, 93, 91]).sections)[0]!.verdict, 'regressed', 'against one run alone it would count');
  const cli = run('--compare', `${BASE},${BASE}`, PLANTED);
  assert.is(cli.code, 0, cli.err);
  assert.match(cli.out, /Comparison: 2 runs \(.*bench-base\.json, .*bench-base\.json\) \(base\)/);
  assert.match(cli.out, /baseline per-command work, Get Health Info \(lower is better\) +104 ns\/op +[\d.]+% n=10 +125 ns\/op +2\.93% n=5/);
});

test('bad input: one line and exit 2 (missing or foreign files, flags without --compare, a stray file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mbxmux-bench-bad-'));
  try {
    const notReport = join(dir, 'x.json');
    writeFileSync(notReport, '{"hello": 1}');
    const badFigure = join(dir, 'y.json');
    writeFileSync(badFigure, JSON.stringify({ sections: { s: { figures: [{ name: 'x', unit: 'u', better: 'sideways', samples: [1] }] } } }));
    const cases: [string[], RegExp][] = [
      [['--compare', join(dir, 'missing.json'), BASE], /cannot read .*missing\.json: ENOENT/],
      [['--compare', notReport, BASE], /x\.json is not a bench report \(no "sections"/],
      [['--compare', badFigure, BASE], /y\.json: section s figure 1: a figure needs name, unit, better/],
      [['--fail-on-regression', '10'], /--fail-on-regression needs --compare BASE/],
      [['--compare', BASE, BASE, '--fail-on-regression', 'lots'], /--fail-on-regression must be a percentage/],
      [[BASE], /only --compare BASE \[NEW\] takes a second file/],
    ];
    for (const [args, re] of cases) {
      const r = run(...args);
      assert.is(r.code, 2, `${args.join(' ')}: ${r.out}${r.err}`);
      assert.is(r.err.trim().split('\n').length, 1, r.err);
      assert.match(r.err, re);
    }
    assert.throws(() => checkReport([], 'z'), /z is not a bench report/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--compare BASE alone runs the bench now and compares: sections not run are "only in base"', () => {
  const r = run('--quick', '--only', '^micro\\.cci$', '--compare', BASE);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /Comparison: .*bench-base\.json .*\(base\) -> this run \(new\)/);
  assert.match(r.out, /executeCci, Get Health Info \(lower is better\) +9\.02 ns\/op/);
  assert.match(r.out, /10 figures: .*8 only in base, 0 only in new/);
});

test.run();
