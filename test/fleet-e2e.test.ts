import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildFleet } from '../src/fleet/expand.js';
import { Histogram } from '../src/harness/histogram.js';
import { Pace } from '../src/harness/pace.js';
import { loadResultFromJSON } from '../src/harness/report.js';
import { stripeCount } from '../src/harness/segment.js';
import { connectFleet } from '../src/server/fleet-client.js';
import { SocketClient } from '../src/server/socket-client.js';
import { CLI, type Served, serve } from './socket-harness.js';

/**
 * The whole path of issue 15, for real: three `mbxmux serve` processes, each on one slice of one fleet over
 * TCP with tokens; two `mbxmux load` processes, each one segment of an open-loop test against all three; and
 * `mbxmux report merge`. The rate is one this 2-core shared machine sustains with room to spare.
 */

const FLEET = 'cxl-type3=30,cxl-switch=3,nvme=6,mctp-pcc=3,seed=3';
const RATE = 1500;
const WARMUP_MS = 1000;
const DURATION_MS = 3000;
const dir = mkdtempSync(join(tmpdir(), 'mbxmux-e2e-'));
const token = randomBytes(32).toString('hex');

function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (b) => (out += b));
    c.stderr.on('data', (b) => (err += b));
    c.on('close', (code) => resolve({ code, out, err }));
  });
}

const csvSamples = (file: string): { atMs: number; ns: number }[] => readFileSync(file, 'utf8').trim().split('\n').slice(1).map((line) => {
  const f = line.split(',');
  return { atMs: Number(f[0]), ns: Number(f[4]) };
});

test('3 slices served by 3 processes, 2 segmented load generators, one merged report', async () => {
  // the servers keep only the token's digest: the plain token is the generators' secret
  const tokens = join(dir, 'tokens.json');
  writeFileSync(tokens, JSON.stringify({ tokens: [{ name: 'loadgen', sha256: createHash('sha256').update(token).digest('hex'), maxTier: 'debug-read', hosts: [0, 1], fabricManager: true }] }));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const servers: Served[] = [];
  try {
    servers.push(...await Promise.all([0, 1, 2].map((i) => serve(['--port', '0', '--tokens', tokens, '--slice', `${i}/3`, '--quiet'], { fleet: FLEET }))));
    const endpoints = servers.map((s) => `tcp://127.0.0.1:${s.port}`);

    // every device of the fleet is served exactly once, with its id and serial number
    const whole = buildFleet(buildFleetInput(), 1);
    const served = new Map<string, number>();
    for (const [i, s] of servers.entries()) {
      assert.match(s.line, new RegExp(`slice ${i}/3 of ${whole.devices.length}`));
      await using c = await SocketClient.connect({ port: s.port!, token, fabricManager: true });
      assert.equal(c.welcome.slice, { index: i, count: 3 });
      for (const d of c.welcome.devices!) {
        assert.not.ok(served.has(d.id), `${d.id} served by ${served.get(d.id)} and ${i}`);
        served.set(d.id, i);
        assert.is(d.serial, whole.byId.get(d.id)!.serial.toString(16).padStart(16, '0'), d.id);
      }
    }
    assert.equal([...served.keys()].sort(), whole.devices.map((d) => d.id).sort(), 'the three slices hold the whole fleet');
    assert.ok(new Set(served.values()).size === 3 && [0, 1, 2].every((i) => [...served.values()].filter((v) => v === i).length >= 10), 'each slice a fair share');
    // ... and reachable through one client: every device answers (an MLD's own CCI through its switch's tunnel)
    await using fleet = await connectFleet(endpoints.map((e) => ({ port: Number(e.split(':')[2]), address: '127.0.0.1' })), { token, fabricManager: true });
    for (const d of fleet.devices()) {
      const r = d.reachableVia === undefined
        ? await fleet.send({ device: d.id, opcode: d.kind === 'nvme' ? 0x06 : 0x0001, cdw10: d.kind === 'nvme' ? 1 : undefined })
        : await fleet.send({ device: d.reachableVia.device, opcode: 0x0001, tunnel: [d.reachableVia.port] });
      assert.is(r.rc, 0, d.id);
      if (d.kind === 'cxl-type3' || d.kind === 'cxl-switch' || d.kind === 'cxl-mld') {
        assert.is(new DataView(r.payload.buffer, r.payload.byteOffset).getBigUint64(0x08, true), whole.byId.get(d.id)!.serial, `${d.id}: its own serial`);
      }
    }
    await fleet.close();

    // two generators, each half of one test, against all three servers at once
    const gens = await Promise.all([0, 1].map((k) => run([
      'load', '--target', endpoints.join(','), '--token-file', tokenFile, '--rate', String(RATE), '--duration', `${DURATION_MS}ms`,
      '--warmup', `${WARMUP_MS}ms`, '--mix', 'health=6,log=2,identify=1,tunnel=1', '--segment', `${k}/2`, '--quiet',
      '--json', join(dir, `g${k}.json`), '--samples', join(dir, `g${k}.csv`),
    ])));
    for (const g of gens) {
      assert.is(g.code, 0, g.err);
      assert.ok(g.err.includes(`# target: 3 servers (slices 0,1,2 of 3), ${whole.devices.length} devices; session: fabric manager, tier debug-read`), g.err);
    }
    const merge = await run(['report', 'merge', join(dir, 'g0.json'), join(dir, 'g1.json'), '--json', join(dir, 'all.json'), '--html', join(dir, 'all.html')]);
    assert.is(merge.code, 0, merge.err);
    assert.match(merge.out, /^merged 2 reports, all 2 segments of one test/);

    const parts = [0, 1].map((k) => loadResultFromJSON(readFileSync(join(dir, `g${k}.json`), 'utf8')));
    const all = loadResultFromJSON(readFileSync(join(dir, 'all.json'), 'utf8'));
    // request counts add up: each generator sent exactly its stripe of the test's requests
    const pace = new Pace(RATE, WARMUP_MS, true);
    const total = pace.countBefore(WARMUP_MS + DURATION_MS) - pace.countBefore(WARMUP_MS);
    assert.is(total, RATE * DURATION_MS / 1000);
    for (const [k, p] of parts.entries()) {
      const s = { index: k, count: 2 };
      assert.is(p.sent, stripeCount(pace.countBefore(WARMUP_MS + DURATION_MS), s) - stripeCount(pace.countBefore(WARMUP_MS), s), `generator ${k}`);
      assert.equal(p.errors, {}, `generator ${k}: a sustainable rate, no errors`);
    }
    assert.is(all.sent, total);
    assert.is(all.requests, parts[0]!.requests + parts[1]!.requests);
    assert.is(all.requests, total);
    assert.is(Object.values(all.byCommand).reduce((n, g) => n + g.requests, 0), all.requests);
    assert.is(all.intervals.reduce((n, i) => n + i.requests, 0), all.requests);
    assert.equal(Object.keys(all.byKind).sort(), ['cxl-switch', 'cxl-type3', 'mctp-pcc', 'nvme'], 'every kind of every slice was loaded');
    // the merged histogram is the histogram of all the samples the generators recorded
    const samples = [...csvSamples(join(dir, 'g0.csv')), ...csvSamples(join(dir, 'g1.csv'))];
    assert.is(samples.length, all.requests);
    const h = new Histogram();
    for (const x of samples) h.record(x.ns);
    assert.equal([...all.histogram.counts], [...h.counts]);
    assert.is(all.histogram.total, h.total);
    assert.is(all.histogram.max, h.max);
    assert.is(all.latency.p99, h.percentile(99) / 1000);
    // the combined rate is the requested one: in the report, and counted in real time from the completions
    assert.is(all.rate, RATE);
    assert.ok(Math.abs(all.throughput - RATE) <= RATE * 0.02, `merged throughput ${all.throughput} req/s`);
    const inWindow = samples.filter((x) => x.atMs < DURATION_MS).length / (DURATION_MS / 1000);
    assert.ok(Math.abs(inWindow - RATE) <= RATE * 0.02, `completed within the measured ${DURATION_MS} ms: ${inWindow} req/s`);
    // the servers saw the load too: each of them served requests of both generators
    for (const s of servers) {
      await using c = await SocketClient.connect({ port: s.port!, token, devices: false });
      const st = await c.stats();
      assert.ok(st.requests > total / 3 * 0.5, `${s.port}: ${st.requests} requests`);
    }
    assert.match(readFileSync(join(dir, 'all.html'), 'utf8'), /^<!doctype html>[\s\S]*merged 2 reports[\s\S]*<svg /);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
});

function buildFleetInput(): Record<string, number> {
  return Object.fromEntries(FLEET.split(',').map((kv) => kv.split('=')).map(([k, v]) => [k!, Number(v)]));
}

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
