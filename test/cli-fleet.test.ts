import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/** The command line of slices, remote load and merged reports: what they print and how they refuse bad usage. */

const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'mbxmux-cli-fleet-'));
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test('devices --slice lists one slice, with whole-fleet ids, order and topology', () => {
  const r = run('devices', '--json', '--fleet', 'cxl-type3=3,cxl-switch=1,mctp-pcc=1', '--slice', '1/2', '--workers', '1');
  assert.is(r.code, 0, r.err);
  const list = JSON.parse(r.out) as { id: string; fleetIndex: number; downstream?: { port: number; device: string }[]; fronts?: string }[];
  // groups: mem0, mem1, mem2, then sw0 with its 7 devices and mctp0: slice 1 gets mem1 and the switch's group
  assert.equal(list.map((d) => [d.id, d.fleetIndex]), [['mem1', 1], ['sw0', 3], ['mem3', 4], ['mld0', 5], ['mem4', 6], ['mem5', 7], ['mem6', 8], ['mem7', 9], ['mem8', 10], ['mctp0', 11]]);
  assert.equal(list[1]!.downstream, [{ port: 1, device: 'mem3' }, { port: 2, device: 'mld0' }, { port: 3, device: 'mem8' }]);
  assert.is(list.at(-1)!.fronts, 'sw0');
});

test('bad usage of slices, targets, segments and merges: one line, exit 2', () => {
  writeFileSync(join(dir, 'not.json'), '{ nope');
  writeFileSync(join(dir, 'empty-token'), '\n');
  for (const args of [
    ['serve', '--socket', join(dir, 's.sock'), '--slice', '3/3', '--fleet', 'cxl-type3=4'],
    ['devices', '--slice', '2', '--fleet', 'cxl-type3=4'],
    ['load', '--target', 'unix:/x.sock', '--fleet', 'cxl-type3=1'],
    ['load', '--target', 'tcp://nohost', '--duration', '1s'],
    ['load', '--token-file', join(dir, 'empty-token'), '--duration', '1s'],
    ['load', '--target', 'unix:/x.sock', '--token-file', join(dir, 'empty-token')],
    ['load', '--segment', '2/2', '--fleet', 'cxl-type3=1'],
    ['load', '--segment', '0/4', '--concurrency', '3', '--fleet', 'cxl-type3=1', '--workers', '1'],
    ['load', '--samples', join(dir, 'no-such-dir', 'x.csv'), '--fleet', 'cxl-type3=1'],
    ['report'],
    ['report', 'show', 'a.json'],
    ['report', 'merge'],
    ['report', 'merge', join(dir, 'missing.json')],
    ['report', 'merge', join(dir, 'not.json')],
  ]) {
    const r = run(...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.is(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
    assert.match(r.err, /^mbxmux /);
  }
});

test('load --target gives up on servers it cannot reach after --connect-timeout, naming them', () => {
  const r = run('load', '--target', `unix:${join(dir, 'nobody.sock')}`, '--connect-timeout', '300ms', '--duration', '1s');
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /^mbxmux load: EMBX_CLOSED: unix:.*nobody\.sock: cannot connect .*gave up after \d+ attempts/);
});

test('report merge: segments of one in-process test merge; the same segment twice is refused', () => {
  const common = ['load', '--concurrency', '4', '--duration', '300ms', '--warmup', '50ms', '--fleet', 'cxl-type3=4', '--workers', '1', '--quiet'];
  for (const k of [0, 1]) {
    const r = run(...common, '--segment', `${k}/2`, '--json', join(dir, `p${k}.json`));
    assert.is(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^mode closed, 2 callers, segment ${k}/2 of the test`));
  }
  const m = run('report', 'merge', join(dir, 'p0.json'), join(dir, 'p1.json'), '--json', join(dir, 'all.json'), '--threshold', 'requests>0', '--threshold', 'p99<1ns');
  assert.is(m.code, 1, 'a failed threshold on the merged numbers exits 1');
  assert.match(m.out, /^merged 2 reports, all 2 segments of one test/);
  assert.match(m.out, /mode closed, 4 callers/);
  assert.match(m.out, /PASS {2}requests>0/);
  assert.match(m.out, /FAIL {2}p99<1ns/);
  const all = JSON.parse(readFileSync(join(dir, 'all.json'), 'utf8')) as { requests: number; merged: { reports: number } };
  const parts = [0, 1].map((k) => (JSON.parse(readFileSync(join(dir, `p${k}.json`), 'utf8')) as { requests: number }).requests);
  assert.is(all.requests, parts[0]! + parts[1]!);
  assert.is(all.merged.reports, 2);
  const twice = run('report', 'merge', join(dir, 'p0.json'), join(dir, 'p0.json'));
  assert.is(twice.code, 2);
  assert.match(twice.err, /are both segment 0\/2/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
