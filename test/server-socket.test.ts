import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PermissionError } from '../src/errors.js';
import { encodeFrame } from '../src/server/frames.js';
import { SocketClient } from '../src/server/socket-client.js';
import { codeOf, Raw as RawConn, serve, serveFails, type Served } from './socket-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'mbxmux-server-'));
const SOCK = join(dir, 'mbx.sock');

let server: Served;
const stderr = (): string => server.stderr();

/** A raw connection to this file's server. */
const Raw = { open: () => RawConn.open({ path: SOCK }) };

test.before(async () => {
  server = await serve(['--socket', SOCK]);
});

test.after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('hello -> welcome, then Get Health Info', async () => {
  await using c = await SocketClient.connect({ path: SOCK, tier: 'debug-read', host: 0, name: 'first' });
  assert.is(c.welcome.type, 'welcome');
  assert.is(c.welcome.tier, 'debug-read');
  assert.is(c.welcome.host, 0);
  assert.match(c.welcome.session, /^conn-\d+:first$/);
  assert.is(c.welcome.devices!.length, 20);
  assert.ok(c.welcome.devices!.some((d) => d.id === 'nvme1' && d.kind === 'nvme'));
  const r = await c.send({ device: 'mem0', opcode: 0x4200 });
  assert.is(r.rc, 0);
  assert.is(r.payload.byteLength, 0x12);
  assert.instance(r.payload, Uint8Array);
  // NVMe: Identify Controller answers 4096 bytes and the CQE
  const id = await c.send({ device: 'nvme0', opcode: 0x06, cdw10: 1 });
  assert.is(id.rc, 0);
  assert.is(id.payload.byteLength, 4096);
  assert.is(id.cqe!.byteLength, 16);
  // switch tunnel to the device on port 1
  const t = await c.send({ device: 'sw0', opcode: 0x4200, tunnel: [1] });
  assert.is(t.rc, 0);
  assert.is(t.tunnel!.failedAt, -1);
  assert.equal((await c.devices()).length, 20);
  const eff = await c.effects('mem0');
  assert.ok(eff.some((e) => e.opcode === 0x4400 && e.tier === 'debug-write-full'));
});

test('1000 pipelined requests on one connection: every id answered once, with its own answer', async () => {
  const raw = await Raw.open();
  raw.send({ type: 'hello', tier: 'debug-read', host: 0 });
  await raw.until(1);
  assert.is(raw.frames[0]!.type, 'welcome');
  // even ids: Get Health Info (18 bytes); odd ids: Identify (CXL 0001h, 0x12 bytes too) -> use Get FW Info (0x50 bytes)
  const reqs = Array.from({ length: 1000 }, (_, i) => ({ type: 'req', id: 10_000 + i, device: `mem${i % 8}`, opcode: i % 2 === 0 ? 0x4200 : 0x0200 }));
  raw.send(...reqs); // one write: all 1000 in flight at once
  await raw.until(1001);
  const res = raw.frames.slice(1);
  assert.is(res.length, 1000);
  const ids = new Set(res.map((f) => f.id as number));
  assert.is(ids.size, 1000);
  for (const f of res) {
    assert.is(f.type, 'res');
    const i = (f.id as number) - 10_000;
    assert.ok(i >= 0 && i < 1000);
    assert.is(f.rc, 0);
    assert.is((f.payload as Uint8Array).byteLength, i % 2 === 0 ? 0x12 : 0x50, `id ${f.id}`);
  }
  raw.s.destroy();
});

test('1000 pipelined sends through the client, and a second client at the same time', async () => {
  await using a = await SocketClient.connect({ path: SOCK, name: 'a' });
  await using b = await SocketClient.connect({ path: SOCK, name: 'b' });
  assert.is.not(a.welcome.session, b.welcome.session);
  const pa = Array.from({ length: 1000 }, (_, i) => a.send({ device: `mem${i % 8}`, opcode: i % 3 === 0 ? 0x0200 : 0x4200 }));
  const pb = Array.from({ length: 1000 }, (_, i) => b.send({ device: i % 2 ? 'nvme1' : 'mem3', opcode: i % 2 ? 0x06 : 0x4200, cdw10: 1 }));
  assert.is(a.inFlight, 1000);
  const [ra, rb] = await Promise.all([Promise.all(pa), Promise.all(pb)]);
  ra.forEach((r, i) => assert.is(r.payload.byteLength, i % 3 === 0 ? 0x50 : 0x12));
  rb.forEach((r, i) => assert.is(r.payload.byteLength, i % 2 ? 4096 : 0x12));
  assert.is(a.inFlight, 0);
});

test('a permission refusal comes back as err EMBX_PERMISSION; the tier is capped at --max-tier; no FM without --allow-fm', async () => {
  await using c = await SocketClient.connect({ path: SOCK, tier: 'debug-write-full', fabricManager: true, name: 'greedy' });
  assert.is(c.welcome.tier, 'debug-read');
  assert.is(c.welcome.requestedTier, 'debug-write-full');
  assert.is(c.welcome.fabricManager, false);
  try {
    await c.send({ device: 'mem0', opcode: 0x4400 }); // Sanitize
    assert.unreachable('Sanitize must be refused at debug-read');
  } catch (e) {
    assert.instance(e, PermissionError);
    assert.is((e as PermissionError).code, 'EMBX_PERMISSION');
    assert.is((e as PermissionError).context.neededTier, 'debug-write-full');
  }
  // the connection is still fine, and a semantic error is an err frame, not fatal
  assert.is(await codeOf(c.send({ device: 'nope', opcode: 0x4200 })), 'EMBX_UNKNOWN_DEVICE');
  assert.is(await codeOf(c.send({ device: 'mem0', opcode: 0x10000 })), 'EMBX_BAD_REQUEST');
  assert.is((await c.send({ device: 'mem0', opcode: 0x4200 })).rc, 0);
  // raw: the err frame carries the id and code
  const raw = await Raw.open();
  raw.send({ type: 'hello', tier: 'fabric-destructive' }, { type: 'req', id: 7, device: 'mem1', opcode: 0x4400 });
  await raw.until(2);
  assert.is(raw.frames[0]!.tier, 'debug-read');
  assert.equal([raw.frames[1]!.type, raw.frames[1]!.id, raw.frames[1]!.code], ['err', 7, 'EMBX_PERMISSION']);
  raw.s.destroy();
});

test('NVMe I/O over the socket: queue and cid travel; the I/O half of the effects log decides; queues need debug-write', async () => {
  await using c = await SocketClient.connect({ path: SOCK, tier: 'debug-read', host: 0 });
  const noQueue = await c.send({ device: 'nvme0', queue: 1, opcode: 0x02, nsid: 1, cid: 3 }).catch((e) => e);
  assert.is(noQueue.code, 'EMBX_BAD_REQUEST', 'a Read for I/O queue 1 (not Get Log Page 02h on the admin queue)');
  assert.match(noQueue.message, /no I\/O submission queue 1/);
  const write = await c.send({ device: 'nvme0', queue: 1, opcode: 0x01, nsid: 1, data: new Uint8Array(512) }).catch((e) => e);
  assert.is(write.code, 'EMBX_PERMISSION');
  assert.match(write.message, /needs tier debug-write-full/);
  assert.is(await codeOf(c.send({ device: 'nvme0', opcode: 0x05, cdw10: 1 | (7 << 16), cdw11: 1 })), 'EMBX_PERMISSION', 'Create I/O CQ needs debug-write');
});

test('malformed frames: an error frame, that connection closes, the other keeps working', async () => {
  await using good = await SocketClient.connect({ path: SOCK, name: 'good' });
  const cases: [string, Buffer][] = [
    ['garbage bytes', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['a valid length with a non-MessagePack body', Buffer.concat([Buffer.from([0, 0, 0, 6]), Buffer.from([0xc1, 0xc1, 0xc1, 0xff, 0x00, 0x13])])],
    ['an oversize length', Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3])],
    ['a body that is not a map', encodeFrame([1, 2, 3])],
    ['a zero length', Buffer.from([0, 0, 0, 0])],
  ];
  for (const [what, bytes] of cases) {
    const raw = await Raw.open();
    raw.s.write(bytes);
    await raw.until(1);
    assert.is(raw.frames.length, 1, what);
    assert.is(raw.frames[0]!.type, 'error', what);
    assert.is(raw.frames[0]!.code, 'EMBX_PROTOCOL', what);
    assert.ok(await raw.closedWithin(), `${what}: the server closes the connection`);
    assert.is((await good.send({ device: 'mem2', opcode: 0x4200 })).rc, 0, `${what}: the other connection still works`);
  }
  // after a valid hello: an unknown type, a bad field type, a second hello, a reused id in flight
  const afterHello: [string, object[]][] = [
    ['unknown frame type', [{ type: 'frobnicate', id: 1 }]],
    ['opcode of the wrong type', [{ type: 'req', id: 1, device: 'mem0', opcode: '0x4200' }]],
    ['payload that is not binary', [{ type: 'req', id: 1, device: 'mem0', opcode: 0x4200, payload: 'abc' }]],
    ['a second hello', [{ type: 'hello' }]],
  ];
  for (const [what, frames] of afterHello) {
    const raw = await Raw.open();
    raw.send({ type: 'hello' }, ...frames);
    await raw.until(2);
    assert.is(raw.frames[0]!.type, 'welcome', what);
    assert.is(raw.frames.at(-1)!.type, 'error', what);
    assert.match(String(raw.frames.at(-1)!.message), /./);
    assert.ok(await raw.closedWithin(), `${what}: closed`);
  }
  // a request before hello
  const raw = await Raw.open();
  raw.send({ type: 'req', id: 1, device: 'mem0', opcode: 0x4200 });
  await raw.until(1);
  assert.is(raw.frames[0]!.type, 'error');
  assert.match(String(raw.frames[0]!.message), /first frame must be hello/);
  assert.ok(await raw.closedWithin());
  assert.is((await good.send({ device: 'nvme0', opcode: 0x06, cdw10: 1 })).rc, 0);
  assert.is(good.closedError, null);
});

test('client-side abort: the request rejects with EMBX_ABORTED at once, its late answer is dropped', async () => {
  await using c = await SocketClient.connect({ path: SOCK, name: 'aborter' });
  const pre = new AbortController();
  pre.abort();
  assert.is(await codeOf(c.send({ device: 'mem0', opcode: 0x4200, signal: pre.signal })), 'EMBX_ABORTED');
  const ac = new AbortController();
  const p = c.send({ device: 'mem0', opcode: 0x4200, signal: ac.signal });
  ac.abort();
  assert.is(await codeOf(p), 'EMBX_ABORTED');
  assert.is(c.inFlight, 0);
  assert.is(await codeOf(c.effects('nope')), 'EMBX_UNKNOWN_DEVICE');
  assert.is((await c.send({ device: 'mem0', opcode: 0x4200 })).rc, 0);
  assert.is(c.closedError, null);
});

test('TCP: loopback only unless --listen-any; without tokens only with --insecure-no-auth (and a warning)', async () => {
  const refuse = async (args: string[], why: RegExp): Promise<void> => {
    const r = await serveFails(args);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, why);
  };
  await refuse(['--port', '0', '--host', '0.0.0.0', '--insecure-no-auth'], /refusing to listen on 0\.0\.0\.0/);
  await refuse(['--port', '0'], /TCP needs authentication/);
  const tcp = await serve(['--port', '0', '--insecure-no-auth']);
  assert.match(tcp.stderr(), /WARNING: --insecure-no-auth/);
  assert.match(tcp.line, /127\.0\.0\.1:\d+/);
  {
    await using c = await SocketClient.connect({ port: tcp.port!, name: 'tcp' });
    assert.is((await c.send({ device: 'mem0', opcode: 0x4200 })).rc, 0);
  }
  assert.is(await tcp.stop('SIGINT'), 0);
});

test('SIGTERM: requests in flight are answered, then EMBX_CLOSED, the socket file is removed, exit 0', async () => {
  const c = await SocketClient.connect({ path: SOCK, name: 'last' });
  const closed = new Promise<Error>((r) => c.once('close', r));
  const pending = Array.from({ length: 300 }, (_, i) => c.send({ device: `mem${i % 8}`, opcode: 0x4200 }));
  // the server reads a connection's frames in order: once it answered a devices frame sent after the batch,
  // it has taken every request of the batch
  await c.devices();
  server.child.kill('SIGTERM');
  const results = await Promise.allSettled(pending);
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  assert.is(ok, 300, `all in-flight requests answered (${results.find((r) => r.status === 'rejected') ? String((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason) : ''})`);
  const why = await closed;
  assert.is((why as Error & { code?: string }).code, 'EMBX_CLOSED');
  assert.is(await server.stop(), 0, stderr());
  assert.is(existsSync(SOCK), false);
});

test.run();
