import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux } from '../../src/mux/mux.js';
import { encodeFrame } from '../../src/server/frames.js';
import { Recorder, readRecording, type Recording } from '../../src/server/recorder.js';
import { replayRecording, type ReplayReport } from '../../src/server/replay.js';
import { CLI } from '../socket-harness.js';

/**
 * Issue 11 item 10: a recording is data. Records out of id order hung replay forever; a req with neither
 * result nor error crashed it with a TypeError stack; `workers: 1024` in the header started 1024 threads;
 * `fleet: "/etc/passwd"` read and echoed that file. Now: bounded options, a fleet only inline, one-line
 * errors, and a replay always ends (with its report or an error naming the record).
 */

const dir = mkdtempSync(join(tmpdir(), 'mbxmux-untrusted-'));
const REC = join(dir, 'base.mbxrec');
const FLEET = { 'cxl-type3': 4 } as const;
test.after(() => rmSync(dir, { recursive: true, force: true }));

function write(file: string, rec: Recording): string {
  const parts = [rec.header, ...rec.sessions, ...rec.requests, ...rec.refused, ...(rec.end ? [rec.end] : [])].map((r) => encodeFrame(r));
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

/** replayRecording, aborted after 30 s so that a hang fails the test instead of stalling it */
function replay(rec: Recording, opts: Parameters<typeof replayRecording>[1] = {}): Promise<ReplayReport> {
  return replayRecording(rec, { workers: 1, ...opts, signal: AbortSignal.timeout(30_000) });
}

const cli = (file: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, 'replay', file, '--workers', '1', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test.before(async () => {
  await using mux = await createMux({ workers: 1, fleet: FLEET });
  const rec = new Recorder({ file: REC, mux, fleet: FLEET });
  const s = mux.openSession({ tier: 'debug-read', name: 'script' });
  for (let i = 0; i < 12; i++) await s.send({ device: `mem${i % 4}`, opcode: i % 2 ? 0x4200 : 0x0200 }); // one after another
  await rec.close();
});

test('records whose ids contradict their times replay to the end (they used to hang it at 0% CPU)', async () => {
  const rec = await readRecording(REC);
  const byStart = [...rec.requests].sort((a, b) => a.start - b.start);
  byStart.forEach((r, i) => (r.id = 1000 - i)); // the last to start has the lowest id
  const report = await replay(rec);
  assert.equal([report.total, report.replayed, report.differences], [12, 12, 0]);
});

test('a req record with neither result nor error: a one-line error naming the record, no stack', async () => {
  const rec = await readRecording(REC);
  delete rec.requests[3]!.result;
  const file = write(join(dir, 'noresult.mbxrec'), rec);
  const r = cli(file);
  assert.is(r.code, 1, r.out + r.err);
  const lines = r.err.trim().split('\n');
  assert.is(lines.length, 1, r.err);
  assert.match(lines[0]!, /^mbxmux replay: EMBX_PROTOCOL: .*record req #3 \(seq \d+\): has neither result nor error$/);
  // the other malformed shapes are refused the same way
  for (const [what, edit, msg] of [
    ['a string rc', (q: Record<string, unknown>) => ((q.result as Record<string, unknown>).rc = '0'), /result\.rc must be an integer/],
    ['NaN start', (q: Record<string, unknown>) => (q.start = NaN), /start must be a number/],
    ['a negative latency', (q: Record<string, unknown>) => (q.latencyUs = -5), /latencyUs must be a non-negative number/],
    ['an opcode out of range', (q: Record<string, unknown>) => (q.opcode = 0x10000), /opcode must be an integer/],
  ] as const) {
    const bad = await readRecording(REC);
    edit(bad.requests[0] as unknown as Record<string, unknown>);
    await replay(bad).then(
      () => assert.unreachable(what),
      (e: Error & { code?: string }) => {
        assert.is(e.code, 'EMBX_PROTOCOL', what);
        assert.match(e.message, msg);
      },
    );
  }
});

test('the header\'s worker count is bounded: one per core at most here; nonsense is an error', async () => {
  const rec = await readRecording(REC);
  rec.header.workers = 16;
  const report = await replayRecording(rec, { signal: AbortSignal.timeout(30_000) });
  assert.ok(report.workers <= availableParallelism(), `replay ran ${report.workers} workers on ${availableParallelism()} cores`);
  assert.is(report.differences, 0);
  rec.header.workers = 1e6;
  const r = cli(write(join(dir, 'workers.mbxrec'), rec));
  assert.is(r.code, 1);
  assert.match(r.err, /^mbxmux replay: EMBX_PROTOCOL: .*the header's workers must be an integer from 1 to 1024 \(got 1000000\)\n$/);
});

test('a header fleet that is a path is refused without reading the file; --fleet still works', async () => {
  const rec = await readRecording(REC);
  (rec.header as unknown as Record<string, unknown>).fleet = '/etc/passwd';
  const file = write(join(dir, 'passwd.mbxrec'), rec);
  const r = cli(file);
  assert.is(r.code, 1);
  assert.match(r.err, /the header's fleet must be inline \(a fleet object\), got a path; give the fleet with --fleet/);
  assert.not.match(r.err, /root:/);
  const ok = cli(file, '--fleet', 'cxl-type3=4');
  assert.is(ok.code, 0, ok.out + ok.err);
  assert.match(ok.out, /^0 differences$/m);
});

test('a recorded "no timeout" on a device that hangs at replay ends at the replay\'s cap, as a difference', async () => {
  const rec = await readRecording(REC);
  for (const q of rec.requests) q.timeoutMs = 0;
  const fleet = { devices: [{ kind: 'cxl-type3' as const, count: 3 }, { kind: 'cxl-type3' as const, count: 1, faults: { hang: [0x4200] } }] };
  const report = await replay(rec, { fleet, maxTimeoutMs: 200 });
  const hung = rec.requests.filter((q) => q.device === 'mem3' && q.opcode === 0x4200).length;
  assert.ok(hung > 0);
  assert.is(report.differences, hung);
  assert.equal([report.details[0]!.field, report.details[0]!.replayed], ['error', 'EMBX_TIMEOUT']);
});

test.run();
