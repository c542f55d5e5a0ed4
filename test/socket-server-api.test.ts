import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type Mux } from '../src/mux/mux.js';
import { TokenStore } from '../src/server/auth.js';
import { DEFAULT_LIMITS, resolveLimits } from '../src/server/limits.js';
import { encodeFrame } from '../src/server/frames.js';
import { SocketClient } from '../src/server/socket-client.js';
import { SocketServer } from '../src/server/socket-server.js';
import { codeOf, Raw, until } from './socket-harness.js';

/**
 * SocketServer as a library (in this process): option checks, listen and close paths, stale socket files,
 * the shutdown grace, tokens given as data. The CLI's behaviour is in server-socket and the security /
 * reliability tests.
 */

const dir = mkdtempSync(join(tmpdir(), 'mbxmux-api-'));
let mux: Mux;
let k = 0;
const sockPath = (): string => join(dir, `s${k++}.sock`);
const TOKEN = 'k'.repeat(48);

test.before(async () => {
  // mem0-1 normal, mem2 never answers Get Health Info
  mux = await createMux({ workers: 1, fleet: { devices: [{ kind: 'cxl-type3', count: 2 }, { kind: 'cxl-type3', count: 1, faults: { hang: [0x4200] } }] } });
});
test.after(async () => {
  await mux.close({ timeoutMs: 0 });
  rmSync(dir, { recursive: true, force: true });
});

test('options are checked: tokens exclude operator caps; socket mode, limits, hosts and tiers are validated', () => {
  const bad = (o: Partial<ConstructorParameters<typeof SocketServer>[0]>, why: RegExp): void => {
    assert.throws(() => new SocketServer({ mux, ...o }), why, JSON.stringify(o));
  };
  bad({ tokens: [{ name: 'a', token: TOKEN }], maxTier: 'debug-write' }, /each token sets its own tier cap/);
  bad({ tokens: [{ name: 'a', token: TOKEN }], allowedHosts: [1] }, /each token sets its own/);
  bad({ tokens: [] }, /non-empty "tokens" array/);
  bad({ socketMode: 0o1000 }, /socketMode must be from 0 to 0o777/);
  bad({ limits: { maxConnections: 0 } }, /maxConnections must be an integer from 1/);
  bad({ limits: { idleTimeoutMs: 2 ** 31 } }, /idleTimeoutMs must be a number from 0 to 2147483647/);
  bad({ limits: { nonsense: 1 } as never }, /unknown server limit "nonsense"/);
  bad({ maxFrameBytes: 10 }, /maxFrameBytes must be an integer from 64/);
  bad({ maxTier: 'root' as never }, /./);
  assert.equal(resolveLimits(), { ...DEFAULT_LIMITS });
  const s = new SocketServer({ mux, tokens: new TokenStore([{ name: 'a', token: TOKEN }]) });
  assert.is(s.authenticated, true);
  assert.is(new SocketServer({ mux }).authenticated, false);
});

test('listen: once only; an aborted signal; port, auth and address checks; a failed bind leaves the server able to listen', async () => {
  const s = new SocketServer({ mux, insecureNoAuth: true });
  assert.is(await codeOf(s.listen({ path: sockPath() }, { signal: AbortSignal.abort() })), 'EMBX_ABORTED');
  assert.is(await codeOf(s.listen({ port: 70000 })), 'EMBX_BAD_REQUEST');
  assert.is(await codeOf(s.listen({ port: 0, host: '192.0.2.1' })), 'EMBX_BAD_REQUEST'); // not loopback, no listenAny
  await s.listen({ path: '' }).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /non-empty string/));
  assert.is(await codeOf(new SocketServer({ mux }).listen({ port: 0 })), 'EMBX_BAD_REQUEST', 'TCP without tokens or insecureNoAuth');
  // a port in use: the bind fails, and the same server can then listen elsewhere
  const taken = createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  const port = (taken.address() as { port: number }).port;
  await s.listen({ port }).then(() => assert.unreachable(), (e: Error & { code?: string }) => assert.is(e.code, 'EADDRINUSE'));
  const addr = await s.listen({ port: 0, host: 'localhost' });
  assert.ok('port' in addr && addr.port > 0);
  assert.is(await codeOf(s.listen({ port: 0 })), 'EMBX_BAD_REQUEST', 'already listening');
  await using c = await SocketClient.connect({ port: (addr as { port: number }).port });
  assert.is((await c.send({ device: 'mem0', opcode: 0x4200 })).rc, 0);
  await c.close();
  await s.close();
  taken.close();
});

test('Unix socket files: a stale one is replaced, a live one or a regular file is refused; the file goes with close()', async () => {
  const stale = sockPath();
  // a server killed without cleanup leaves its socket file behind
  const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  assert.is(r.signal, 'SIGKILL');
  assert.ok(lstatSync(stale).isSocket());
  const a = new SocketServer({ mux });
  await a.listen({ path: stale });
  await using c = await SocketClient.connect({ path: stale });
  assert.is(c.welcome.host, 0);
  assert.is(a.connections, 1);
  await new SocketServer({ mux }).listen({ path: stale }).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /another server is listening/));
  const file = join(dir, 'plain-file');
  writeFileSync(file, 'x');
  await new SocketServer({ mux }).listen({ path: file }).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /exists and is not a socket/));
  const gone = new Promise<number>((res) => a.once('disconnect', res));
  await c.close();
  assert.ok((await gone) >= 1);
  await a.close();
  assert.is(existsSync(stale), false);
  assert.ok(existsSync(file), 'a file that is not ours is left alone');
});

test('close(): before listening, twice, with an aborted signal (no grace): the client still gets its closing frame', async () => {
  await new SocketServer({ mux }).close();
  const s = new SocketServer({ mux });
  const path = sockPath();
  await s.listen({ path });
  const raw = await Raw.open({ path });
  raw.send({ type: 'hello', devices: false });
  await raw.until(1);
  const first = s.close({ signal: AbortSignal.abort() });
  assert.is(s.close(), first, 'one close');
  await first;
  assert.ok(await raw.closedWithin());
  assert.equal([raw.frames.at(-1)!.type, raw.frames.at(-1)!.code], ['error', 'EMBX_CLOSED']);
  await using disposable = new SocketServer({ mux });
  await disposable.listen({ path: sockPath() });
});

test('shutdown grace: a request still in flight is answered EMBX_CLOSED (may have run), then the closing frame with lastId', async () => {
  const lines: string[] = [];
  const s = new SocketServer({ mux, log: (l) => lines.push(l), limits: { shutdownGraceMs: 100 } });
  const path = sockPath();
  await s.listen({ path });
  const raw = await Raw.open({ path });
  raw.send({ type: 'hello', name: 'g', devices: false }, { type: 'req', id: 5, device: 'mem2', opcode: 0x4200, timeoutMs: 30_000 }, { type: 'req', id: 6, device: 'mem0', opcode: 0x4200 });
  await raw.until(2); // welcome, and the answer to id 6
  await until(() => s.stats().peak.inFlight >= 1, 'the hung request in flight');
  await s.close();
  assert.ok(await raw.closedWithin());
  const [welcome, six, five, closing] = raw.frames;
  assert.equal([welcome!.type, six!.type, six!.id], ['welcome', 'res', 6]);
  assert.equal([five!.type, five!.id, five!.code, (five!.context as Record<string, unknown>).mayHaveRun], ['err', 5, 'EMBX_CLOSED', true]);
  assert.equal([closing!.type, closing!.code, closing!.lastId], ['error', 'EMBX_CLOSED', 6]);
  assert.ok(lines.some((l) => /conn-\d+:g \(unix\): session tier debug-read, host 0/.test(l)), lines.join('\n'));
  assert.is(s.stats().closed.shutdown, 1);
});

test('a connection cut by its peer mid-request is cleaned up; later answers are dropped', async () => {
  const s = new SocketServer({ mux });
  const path = sockPath();
  await s.listen({ path });
  const sock = connect({ path });
  await once(sock, 'connect');
  sock.on('error', () => {});
  sock.write(Buffer.concat([encodeFrame({ type: 'hello' }), encodeFrame({ type: 'req', id: 1, device: 'mem2', opcode: 0x4200, timeoutMs: 200 })]));
  await until(() => s.stats().requests >= 1, 'the request taken');
  sock.destroy();
  await until(() => s.connections === 0, 'the connection gone');
  await s.close();
});

test.run();
