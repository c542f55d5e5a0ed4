import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux } from '../src/mux/mux.js';
import { encodeFrame } from '../src/server/frames.js';
import { Recorder, readRecording, type Recording } from '../src/server/recorder.js';
import { replayRecording } from '../src/server/replay.js';
import { SocketClient } from '../src/server/socket-client.js';

// The CLI of the same build as this compiled test file.
const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const FLEET = { 'cxl-type3': 4, 'cxl-switch': 1, nvme: 1, 'mctp-pcc': 1 } as const;
const dir = mkdtempSync(join(tmpdir(), 'mbxmux-replay-'));
const REC = join(dir, 'session.mbxrec');

const replayCli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, 'replay', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

/** Writes a recording back as frames (for tampering). */
function writeRecording(file: string, rec: Recording): void {
  const parts = [rec.header, ...rec.sessions, ...rec.requests, ...rec.refused, ...(rec.end ? [rec.end] : [])].map((r) => encodeFrame(r));
  writeFileSync(file, Buffer.concat(parts));
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('record a scripted library session', async () => {
  await using mux = await createMux({ workers: 1, fleet: FLEET, noTimeoutTier: 'debug-read' });
  const rec = new Recorder({ file: REC, mux, fleet: FLEET });
  const s = mux.openSession({ tier: 'debug-write-full', host: 0, name: 'script' });
  rec.describeSession(s);
  const ts = new Uint8Array(8);
  new DataView(ts.buffer).setBigUint64(0, 1_700_000_000_000_000_000n, true);
  const lsa = new Uint8Array(8 + 16).fill(0xab);
  lsa.fill(0, 0, 8); // offset 0
  const getLsa = new Uint8Array(8);
  getLsa[4] = 16; // length 16
  const answers = [];
  answers.push(await s.send({ device: 'mem0', opcode: 0x4200 })); // Get Health Info
  answers.push(await s.send({ device: 'mem1', opcode: 0x0301, payload: ts })); // Set Timestamp
  await new Promise((r) => setTimeout(r, 150)); // the device clock moves
  answers.push(await s.send({ device: 'mem1', opcode: 0x0300 })); // Get Timestamp: differs on replay, within tolerance
  answers.push(await s.send({ device: 'mem2', opcode: 0x4103, payload: lsa })); // Set LSA
  answers.push(await s.send({ device: 'mem2', opcode: 0x4102, payload: getLsa })); // Get LSA: reads it back
  answers.push(await s.send({ device: 'nvme0', opcode: 0x06, cdw10: 1 })); // Identify Controller
  answers.push(await s.send({ device: 'sw0', opcode: 0x4200, tunnel: [1] })); // tunnelled
  answers.push(await s.send({ device: 'mctp0', opcode: 0x5100 })); // MCTP endpoint fronting the switch
  answers.push(await s.send({ device: 'mem3', opcode: 0x0002 })); // Background Operation Status (nondeterministic)
  // pipelined burst across devices
  answers.push(...await Promise.all(Array.from({ length: 64 }, (_, i) => s.send({ device: `mem${i % 4}`, opcode: i % 2 ? 0x4200 : 0x0200 }))));
  const reader = mux.openSession({ tier: 'debug-read', name: 'reader' });
  assert.is(await reader.send({ device: 'mem0', opcode: 0x4400 }).then(() => 'resolved', (e: { code: string }) => e.code), 'EMBX_PERMISSION');
  await reader.send({ device: 'mem0', opcode: 0x4200, timeoutMs: 0 });
  assert.ok(answers.every((a) => a.rc === 0), JSON.stringify(answers.map((a) => a.rc)));
  const n = await rec.close();
  assert.is(n.records, 74);
  assert.is(n.refused, 1);

  const r = await readRecording(REC);
  assert.is(r.header.format, 'mbxmux-recording');
  assert.equal(r.header.fleet, FLEET);
  assert.is(r.header.workers, 1);
  assert.is(r.requests.length, 74);
  assert.equal(r.sessions.map((x) => [x.name, x.tier]), [['script', 'debug-write-full']]);
  assert.is(r.refused[0]!.opcode, 0x4400);
  assert.is(r.refused[0]!.neededTier, 'debug-write-full');
  assert.ok(r.end !== null);
  const setTs = r.requests.find((q) => q.opcode === 0x0301)!;
  assert.equal([...setTs.payload!], [...ts]);
  assert.ok(r.requests.every((q) => q.latencyUs >= 0 && q.result !== undefined));
});

test('NVMe I/O queues record and replay: queue and cid travel, the read returns what was written', async () => {
  const file = join(dir, 'nvme-io.mbxrec');
  {
    await using mux = await createMux({ workers: 1, fleet: FLEET });
    const rec = new Recorder({ file, mux, fleet: FLEET });
    const s = mux.openSession({ tier: 'debug-write-full', name: 'io' });
    rec.describeSession(s);
    const data = Uint8Array.from({ length: 1024 }, (_, i) => i & 0xff);
    assert.is((await s.send({ device: 'nvme0', opcode: 0x05, cdw10: 1 | (7 << 16), cdw11: 1 })).rc, 0);
    assert.is((await s.send({ device: 'nvme0', opcode: 0x01, cdw10: 1 | (7 << 16), cdw11: 1 | (1 << 16) })).rc, 0);
    assert.is((await s.send({ device: 'nvme0', queue: 1, cid: 9, opcode: 0x01, nsid: 1, cdw10: 5, cdw12: 1, data })).rc, 0);
    assert.is((await s.send({ device: 'nvme0', queue: 1, opcode: 0x02, nsid: 1, cdw10: 5, cdw12: 1 })).rc, 0);
    await rec.close();
  }
  const r = await readRecording(file);
  assert.equal(r.requests.map((q) => [q.queue, q.cid]), [[undefined, undefined], [undefined, undefined], [1, 9], [1, undefined]]);
  assert.is(Buffer.from(r.requests[3]!.result!.payload).toString('hex'), Buffer.from(Uint8Array.from({ length: 1024 }, (_, i) => i & 0xff)).toString('hex'));
  const rep = await replayRecording(file, { workers: 1 });
  assert.is(rep.differences, 0, JSON.stringify(rep.details));
  assert.is(rep.replayed, 4);
});

test('replay against the same fleet: 0 differences (CLI, exit 0)', () => {
  const r = replayCli(REC, '--workers', '1');
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /replayed 74 of 74 requests/);
  assert.match(r.out, /1 nondeterministic/);
  assert.match(r.out, /^0 differences$/m);
});

test('the timestamp tolerance is what lets Get Timestamp match', async () => {
  const strict = await replayRecording(REC, { workers: 1, timeToleranceMs: 0 });
  assert.is(strict.differences, 1);
  assert.is(strict.details[0]!.field, 'timestamp');
  assert.is(strict.details[0]!.opcode, '0x0300');
  const loose = await replayRecording(REC, { workers: 1 });
  assert.is(loose.differences, 0);
  assert.ok(loose.timeToleranceMs >= 1000);
});

test('realtime replay keeps the recorded pace', async () => {
  const rep = await replayRecording(REC, { workers: 1, realtime: true });
  assert.is(rep.differences, 0);
  assert.ok(rep.durationMs >= 140, `took ${rep.durationMs} ms; the recording waited 150 ms between two requests`);
});

test('tamper one recorded payload: 1 difference, exit 1', async () => {
  const rec = await readRecording(REC);
  const victim = rec.requests.find((q) => q.opcode === 0x4102)!; // Get LSA
  const p = Uint8Array.from(victim.result!.payload);
  p[3] ^= 0xff;
  victim.result!.payload = p;
  const bad = join(dir, 'tampered.mbxrec');
  writeRecording(bad, rec);
  const r = replayCli(bad, '--workers', '1');
  assert.is(r.code, 1, r.out + r.err);
  assert.match(r.out, /^1 difference$/m);
  assert.match(r.out, /mem2 0x4102 Get LSA: payload recorded ababab54.*first difference at byte 3/);
  // a recorded error code that does not happen again is a difference too
  const rec2 = await readRecording(REC);
  delete rec2.requests[0]!.result;
  rec2.requests[0]!.error = { code: 'EMBX_TIMEOUT', message: 'x' };
  const rep = await replayRecording(rec2, { workers: 1 });
  assert.is(rep.differences, 1);
  assert.equal([rep.details[0]!.field, rep.details[0]!.recorded, rep.details[0]!.replayed], ['error', 'EMBX_TIMEOUT', 'rc 0x0']);
});

test('serve --record, then replay the recording', async () => {
  const sock = join(dir, 'rec.sock');
  const file = join(dir, 'served.mbxrec');
  const child = spawn(process.execPath, [CLI, 'serve', '--socket', sock, '--record', file, '--max-tier', 'debug-write-full', '--quiet',
    '--fleet', 'cxl-type3=8,cxl-switch=1,nvme=2,mctp-pcc=2', '--workers', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  process.once('exit', () => child.kill('SIGKILL')); // never leave a server behind, even if this file crashes
  child.stderr!.on('data', (b) => (err += b));
  for await (const chunk of child.stdout!) if (String(chunk).includes('listening on')) break;
  {
    await using a = await SocketClient.connect({ path: sock, tier: 'debug-write-full', name: 'writer' });
    await using b = await SocketClient.connect({ path: sock, tier: 'debug-read', name: 'reader' });
    const lsa = new Uint8Array(8 + 32).fill(0x5a);
    lsa.fill(0, 0, 8);
    assert.is((await a.send({ device: 'mem4', opcode: 0x4103, payload: lsa })).rc, 0);
    const q = new Uint8Array(8);
    q[4] = 32;
    const back = await b.send({ device: 'mem4', opcode: 0x4102, payload: q });
    assert.equal([...back.payload], Array(32).fill(0x5a));
    await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).send({ device: i % 3 ? `mem${i % 8}` : 'nvme1', opcode: i % 3 ? 0x4200 : 0x06, cdw10: 1 })));
    // refused: recorded as such, not replayed
    assert.is(await b.send({ device: 'mem0', opcode: 0x4400 }).then(() => 'resolved', (e: { code: string }) => e.code), 'EMBX_PERMISSION');
  }
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.is(code, 0, err);
  const rec = await readRecording(file);
  assert.is(rec.requests.length, 202);
  assert.is(rec.refused.length, 1);
  assert.equal(rec.sessions.map((s) => s.tier).sort(), ['debug-read', 'debug-write-full']);
  const r = replayCli(file, '--workers', '1', '--json');
  assert.is(r.code, 0, r.out + r.err);
  const j = JSON.parse(r.out);
  assert.equal([j.total, j.replayed, j.skipped, j.differences, j.incomplete], [202, 202, 0, 0, false]);
});

test('replay usage errors exit 2', () => {
  assert.is(replayCli().code, 2);
  assert.is(replayCli(join(dir, 'missing.mbxrec')).code, 2);
  const notRec = join(dir, 'not.mbxrec');
  writeFileSync(notRec, 'hello world');
  const r = replayCli(notRec);
  assert.is(r.code, 1);
  assert.match(r.err, /not an mbxmux recording/);
});

test.run();
