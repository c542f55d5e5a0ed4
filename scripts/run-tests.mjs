#!/usr/bin/env node
// Runs every compiled uvu test file (dist/test/**/*.test.js) in its own Node process, so one file's workers
// or timers cannot leak into another, and reads uvu's own summary from each. A file that exits without a
// summary (a crash inside the runner) or with a non-zero status counts as failed, never as passed; so does a
// file that ran no test (Total: 0), and every skipped test (test.skip, or the others of a test.only) counts
// as a failure: a test that did not run shows nothing.
// Ends with the line "N passed, N failed" that CI reads. Usage: node scripts/run-tests.mjs [filter-regex]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dir = join(root, 'dist', 'test');
const filter = process.argv[2] ? new RegExp(process.argv[2]) : null;

function find(d) {
  return readdirSync(d).flatMap((name) => {
    const p = join(d, name);
    if (statSync(p).isDirectory()) return find(p);
    return name.endsWith('.test.js') ? [p] : [];
  }).sort();
}

/** longest a single test file may run (the slowest, gates and the soak, take ~30 s here) */
const FILE_TIMEOUT_S = Number(process.env.MBX_TEST_FILE_TIMEOUT_S ?? 240);

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
let passed = 0;
let failed = 0;
const failures = [];
const t0 = Date.now();
for (const file of find(dir)) {
  const name = relative(dir, file);
  if (filter && !filter.test(name)) continue;
  const started = Date.now();
  const out = await new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let text = '';
    child.stdout.on('data', (b) => { text += b; process.stdout.write(b); });
    child.stderr.on('data', (b) => { text += b; process.stderr.write(b); });
    // a hung file (a worker left alive by a failed test, a lost wake-up) must fail CI, not stall it for 90 min
    const timer = setTimeout(() => { text += `\nkilled after ${FILE_TIMEOUT_S} s\n`; child.kill('SIGKILL'); }, FILE_TIMEOUT_S * 1000);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ text: strip(text), code, signal }); });
  });
  // uvu's summary block, the last one printed (a test's own output may mention "Total:" too)
  const summary = [...out.text.matchAll(/^ {2}Total: +(\d+)\n {2}Passed: +(\d+)\n {2}Skipped: +(\d+)$/gm)].at(-1);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (summary === undefined || Number(summary[2]) > Number(summary[1])) {
    failed += 1;
    failures.push(`${name}: no uvu summary (exit ${out.code ?? out.signal}) — the file crashed or hung`);
    continue;
  }
  const t = Number(summary[1]);
  const p = Number(summary[2]);
  const s = Number(summary[3]);
  passed += p;
  failed += t - p + s;
  if (t === 0) {
    failed += 1;
    failures.push(`${name}: no test ran (Total: 0)`);
  } else if (t - p > 0 || s > 0 || out.code !== 0) {
    if (t === p && s === 0) failed += 1;
    failures.push(`${name}: ${t - p} of ${t} failed, ${s} skipped (exit ${out.code})`);
  }
  console.log(`-- ${name}: ${p}/${t} passed${s > 0 ? `, ${s} skipped` : ''} in ${secs}s`);
}
console.log(`\ntest files took ${((Date.now() - t0) / 1000).toFixed(1)}s`);
for (const f of failures) console.log(`FAILED ${f}`);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
