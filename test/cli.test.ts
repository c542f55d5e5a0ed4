import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test('send --json prints {"rc":0,"payload":"<hex>"}', () => {
  const r = run('send', 'mem0', '0x4000', '--json', '--fleet', 'cxl-type3=2', '--workers', '1');
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { rc: number; payload: string };
  assert.is(j.rc, 0);
  assert.is(j.payload.length, 0x45 * 2);
  assert.is(Buffer.from(j.payload, 'hex').subarray(0, 13).toString('ascii'), 'mbxmux-fw-1.0');
});

test('send with a payload (Set Timestamp) and the human form', () => {
  const r = run('send', 'mem1', '0x0301', '--payload', '0011223344556677', '--tier', 'debug-write-full', '--fleet', 'cxl-type3=2', '--workers', '1');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /^rc 0x00 SUCCESS/);
  assert.match(r.out, /payload 0 bytes/);
});

test('send --timeout 0: the operator running the command may wait without a timeout at any tier', () => {
  const r = run('send', 'mem0', '0x4200', '--timeout', '0', '--tier', 'configuration', '--json', '--fleet', 'cxl-type3=1', '--workers', '1');
  assert.is(r.code, 0, r.err);
  assert.is((JSON.parse(r.out) as { rc: number }).rc, 0);
});

test('devices --json lists the fleet', () => {
  const r = run('devices', '--json', '--fleet', 'cxl-type3=3', '--workers', '2');
  assert.is(r.code, 0, r.err);
  const list = JSON.parse(r.out) as { id: string; shard: number }[];
  assert.equal(list.map((d) => d.id), ['mem0', 'mem1', 'mem2']);
});

test('bad usage: one clear line on stderr, exit code 2', () => {
  for (const args of [['frobnicate'], ['send', 'mem0'], ['send', 'mem0', 'zz'], ['send', 'mem9', '1', '--fleet', 'cxl-type3=1', '--workers', '1'],
    ['load', '--duration', 'soon'], ['send', 'mem0', '1', '--payload', 'xyz'], ['devices', '--fleet', 'gpu=2'], ['send', 'mem0', '1', '--tier', 'root']]) {
    const r = run(...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.is(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
    assert.match(r.err, /^mbxmux/);
  }
});

test('--help for every command', () => {
  for (const c of ['send', 'devices', 'load', 'bench']) {
    const r = run(c, '--help');
    assert.is(r.code, 0);
    assert.match(r.out, new RegExp(`usage: mbxmux ${c}`));
  }
  assert.match(run('--help').out, /commands:/);
});

test('load prints a latency table and writes --json', async () => {
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const file = join(mkdtempSync(join(tmpdir(), 'mbxmux-cli-')), 'load.json');
  const r = run('load', '--duration', '600ms', '--warmup', '100ms', '--concurrency', '8', '--fleet', 'cxl-type3=16', '--workers', '1', '--json', file);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /p50\s+p90\s+p99\s+p99\.9\s+max/);
  assert.match(r.out, /throughput\s+[\d,]+ requests\/s/);
  const j = JSON.parse(readFileSync(file, 'utf8')) as { requests: number; errors: object; latency: { p50: number } };
  assert.ok(j.requests > 0);
  assert.equal(j.errors, {});
  assert.ok(j.latency.p50 > 0);
});

test('load flags: open loop, --threshold PASS/FAIL (exit 1 on FAIL, 2 on bad syntax), --html', async () => {
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'mbxmux-cli-'));
  const html = join(dir, 'load.html');
  const r = run('load', '--rate', '2k', '--max-in-flight', '256', '--duration', '400ms', '--warmup', '0', '--mix', 'health=3,identify@nvme=1',
    '--fleet', 'cxl-type3=8,nvme=2', '--workers', '1', '--threshold', 'p99<1ns', '--threshold', 'errors<=100%', '--threshold', 'nvme:requests>0', '--html', html);
  // thresholds that fail and pass whatever the machine does (a real error rate is the bench's business: on a
  // busy machine a cold mux at 2k/s with 256 in flight drops requests)
  assert.is(r.code, 1, r.err);
  assert.match(r.out, /^mode open, 2,000 requests\/s target, max 256 in flight/);
  assert.match(r.out, /FAIL {2}p99<1ns {2}\(actual [\d.]+(us|ms)\)/);
  assert.match(r.out, /PASS {2}errors<=100%/);
  assert.match(r.out, /PASS {2}nvme:requests>0/);
  assert.match(r.out, /identify@nvme\s+[\d,]+/);
  const page = readFileSync(html, 'utf8');
  assert.match(page, /^<!doctype html>/);
  assert.ok((page.match(/<svg /g) ?? []).length >= 3);
  for (const args of [['--threshold', 'p99<50'], ['--threshold', 'p99 < soon'], ['--rate', '0'], ['--rate', '10', '--concurrency', '2'], ['--mix', 'tunnel']]) {
    const bad = run('load', '--duration', '100ms', '--fleet', 'cxl-type3=2', '--workers', '1', ...args);
    assert.is(bad.code, 2, `${args.join(' ')}: ${bad.err}`);
    assert.is(bad.err.trim().split('\n').length, 1, `one line: ${bad.err}`);
  }
});

test.run();
