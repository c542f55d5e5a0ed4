import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RT_ASLEEP, RT_SPINNING } from '../bench/core.js';
import type { SectionResult } from '../bench/section.js';
import { evaluateTargets, targetsTable } from '../bench/summary.js';

/** the compiled runner, next to the compiled test: dist/test -> dist/bench */
const RUNNER = new URL('../bench/run.js', import.meta.url).pathname;
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [RUNNER, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

interface LoopData { nsPerOp: number; opsPerSec: number; p50ns: number; p99ns: number; ops: number }
interface Report {
  env: { node: string; cpus: number; date: string };
  options: { quick: boolean };
  sections: Record<string, {
    seconds: number; data: Record<string, LoopData>; tables: { title: string; rows: unknown[][] }[]; error?: string;
    figures: { name: string; unit: string; better: string; samples: number[] }[];
  }>;
  targets: { target: string; status: string }[];
}

test('--quick --only micro.cci|micro.ring --json: the sections, with positive numbers, and the target summary', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mbxmux-bench-'));
  try {
    const file = join(dir, 'bench.json');
    const r = run('--quick', '--only', '^micro\\.(cci|ring)$', '--json', file);
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /node v\d+/);
    assert.match(r.out, /CCI dispatch of Get Health Info/);
    assert.match(r.out, /Summary: targets/);
    const j = JSON.parse(readFileSync(file, 'utf8')) as Report;
    assert.is(j.env.node, process.version);
    assert.ok(j.env.cpus > 0);
    assert.ok(j.options.quick);
    assert.equal(Object.keys(j.sections).sort(), ['micro.cci', 'micro.ring']);
    const cci = j.sections['micro.cci']!;
    assert.is(cci.error, undefined);
    for (const k of ['executeCci', 'baselineWork']) {
      const d = cci.data[k]!;
      assert.ok(d.nsPerOp > 0 && Number.isFinite(d.nsPerOp), `${k}.nsPerOp ${d.nsPerOp}`);
      assert.ok(d.opsPerSec > 0, `${k}.opsPerSec`);
      assert.ok(d.p50ns > 0 && d.p99ns >= d.p50ns, `${k} percentiles`);
      assert.ok(d.ops > 0);
    }
    // every figure carries its repeats (windows of the timed loop): what --compare reads
    assert.equal(cci.figures.map((f) => [f.name, f.unit, f.better, f.samples.length]),
      [['executeCci, Get Health Info', 'ns/op', 'lower', 5], ['baseline per-command work, Get Health Info', 'ns/op', 'lower', 5]]);
    for (const f of cci.figures) assert.ok(f.samples.every((x) => x > 0 && Number.isFinite(x)), f.name);
    const ring = j.sections['micro.ring']!;
    assert.is(ring.figures.length, 4);
    assert.is(Object.keys(ring.data).length, 4);
    for (const d of Object.values(ring.data)) assert.ok(d.nsPerOp > 0 && d.opsPerSec > 0);
    assert.ok(ring.tables[0]!.rows.length === 4);
    // targets whose sections did not run are reported as such, never guessed
    assert.is(j.targets.length, 7);
    for (const t of j.targets) assert.is(t.status, 'not measured', t.target);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('open-loop floor child: paces the rate with no mux, one spinning thread beside it, and reports every due request', () => {
  const child = new URL('../bench/open-loop-floor.js', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [child, JSON.stringify({ rate: 20_000, ms: 100, allocBytes: 16, spinner: true })], { encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
  const p = JSON.parse(r.stdout.trim()) as { rate: number; spinner: boolean; delay: { samples: number; p50: number; p99: number }; gc: { count: number } };
  // requests due in the measured 100 ms: 2,000 (one is due exactly at its end)
  assert.ok(p.delay.samples >= 1999 && p.delay.samples <= 2001, String(p.delay.samples));
  assert.ok(p.delay.p50 >= 0 && p.delay.p99 >= p.delay.p50);
  assert.is(p.spinner, true);
  assert.ok(p.gc.count >= 0);
});

test('--quick --only ^socket$: the served fleet answers 8 clients over a Unix socket and TCP (a rejected request fails the section)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mbxmux-bench-'));
  try {
    const file = join(dir, 'bench.json');
    const r = run('--quick', '--only', '^socket$', '--workers', '1', '--json', file);
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /Socket server: 8 clients/);
    const j = JSON.parse(readFileSync(file, 'utf8')) as Report;
    const s = j.sections['socket']!;
    assert.is(s.error, undefined);
    const rows = (s.data as unknown as { rows: { transport: string; reqPerSec: number }[] }).rows;
    assert.equal(rows.map((x) => x.transport), ['unix', 'tcp']);
    for (const x of rows) assert.ok(x.reqPerSec > 0, `${x.transport}: ${x.reqPerSec} req/s`);
    assert.equal(s.figures.map((f) => [f.name, f.unit, f.better, f.samples.length]), [['unix socket', 'req/s', 'higher', 5], ['tcp socket', 'req/s', 'higher', 5]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--quick --only socket.fleet: one fleet in 1, 2 and 3 serve processes, every request answered', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mbxmux-bench-'));
  try {
    const file = join(dir, 'bench.json');
    const r = run('--quick', '--only', '^socket\\.fleet$', '--workers', '1', '--json', file);
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /cxl-type3=1024 in 1, 2, 3 slices/);
    const s = (JSON.parse(readFileSync(file, 'utf8')) as Report).sections['socket.fleet']!;
    assert.is(s.error, undefined);
    const rows = (s.data as unknown as { rows: { servers: number; inFlight: number; reqPerSec: number; p99us: number; errors: number }[] }).rows;
    assert.equal(rows.map((x) => [x.servers, x.inFlight, x.errors]), [[1, 256, 0], [2, 512, 0], [3, 768, 0]]);
    for (const x of rows) assert.ok(x.reqPerSec > 0 && x.p99us > 0, JSON.stringify(x));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--list names the sections; bad usage exits 2 with one line', () => {
  const l = run('--list');
  assert.is(l.code, 0, l.err);
  for (const id of ['micro.ring', 'micro.doorbell', 'devices', 'baselines', 'policy-cost', 'scale.devices', 'scale.payload', 'open-loop', 'socket', 'socket.fleet']) {
    assert.match(l.out, new RegExp(`^${id.replace('.', '\\.')}\\s`, 'm'));
  }
  for (const args of [['--only', 'no-such-section'], ['--seconds', '-1'], ['--frobnicate'], ['--only', '(']]) {
    const r = run(...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.is(r.err.trim().split('\n').length, 1, r.err);
  }
});

/** Section results as the bench records them, holding only the numbers the targets read. */
function results(v: { piscina: number; postMessage: number; asleep: number; spinning: number; cost: number; fairness: number; openP99: number; openAvailable?: boolean }): Map<string, SectionResult> {
  const r = (data: Record<string, unknown>): SectionResult => ({ tables: [], data });
  return new Map([
    ['baselines', r({
      ratios: { 'throughput mbxmux / piscina.run': v.piscina, 'throughput mbxmux / postMessage': v.postMessage },
      roundTrip: { [RT_ASLEEP]: { p50: v.asleep }, [RT_SPINNING]: { p50: v.spinning } },
    })],
    ['policy-cost', r({ costPct: v.cost })],
    ['fairness', r({ p99Ratio: v.fairness })],
    ['open-loop', r({ available: v.openAvailable ?? true, open: { p99: v.openP99 } })],
  ]);
}

test('targets: MET and MISSED from the measured values, each comparison at its boundary', () => {
  const status = (m: Map<string, SectionResult>): string[] => evaluateTargets(m).map((t) => t.status);
  // exactly at every threshold: >= and <= are met there, the permission cost's < is not
  assert.equal(status(results({ piscina: 30, postMessage: 3, asleep: 25, spinning: 3, cost: 5, fairness: 2, openP99: 100 })),
    ['MET', 'MET', 'MET', 'MET', 'MISSED', 'MET', 'MET']);
  // just on the wrong side of each
  assert.equal(status(results({ piscina: 29.9, postMessage: 2.9, asleep: 25.1, spinning: 3.1, cost: 5.1, fairness: 2.1, openP99: 100.1 })),
    ['MISSED', 'MISSED', 'MISSED', 'MISSED', 'MISSED', 'MISSED', 'MISSED']);
  // comfortably met
  assert.equal(status(results({ piscina: 50.9, postMessage: 13.3, asleep: 23.2, spinning: 2.56, cost: -2.5, fairness: 1.2, openP99: 80 })),
    ['MET', 'MET', 'MET', 'MET', 'MET', 'MET', 'MET']);
  // a value that could not be computed is not measured, never met; an open loop the harness cannot run is not available
  assert.equal(status(results({ piscina: NaN, postMessage: 13.3, asleep: 23.2, spinning: 2.56, cost: 1, fairness: Infinity, openP99: 80, openAvailable: false })),
    ['not measured', 'MET', 'MET', 'MET', 'MET', 'not measured', 'not available']);
});

test('targets table: measured value with its unit, the target with its comparison, the status', () => {
  const t = targetsTable(evaluateTargets(results({ piscina: 29.9, postMessage: 13.3, asleep: 25, spinning: 2.56, cost: 5, fairness: 4.09, openP99: 3420 })));
  assert.is(t.title, 'Summary: targets');
  assert.equal(t.head, ['target', 'measured', 'target', 'status']);
  assert.equal(t.rows.map((r) => r.slice(1)), [
    ['29.9 ×', '≥ 30 ×', 'MISSED'],
    ['13.3 ×', '≥ 3 ×', 'MET'],
    ['25.0 µs', '≤ 25 µs', 'MET'],
    ['2.56 µs', '≤ 3 µs', 'MET'],
    ['5.00 %', '< 5 %', 'MISSED'],
    ['4.09 ×', '≤ 2 ×', 'MISSED'],
    ['3,420 µs', '≤ 100 µs', 'MISSED'],
  ]);
  const none = targetsTable(evaluateTargets(new Map()));
  assert.equal(none.rows.map((r) => [r[1], r[3]]), [
    ['(run section baselines)', 'not measured'], ['(run section baselines)', 'not measured'], ['(run section baselines)', 'not measured'],
    ['(run section baselines)', 'not measured'], ['(run section policy-cost)', 'not measured'], ['(run section fairness)', 'not measured'],
    ['(run section open-loop)', 'not measured'],
  ]);
});

test.run();
