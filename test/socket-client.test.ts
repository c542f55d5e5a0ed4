import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeMap, encodeFrame, FrameDecoder } from '../src/server/frames.js';
import { SocketClient } from '../src/server/socket-client.js';
import { codeOf, until } from './socket-harness.js';

/**
 * SocketClient against a scripted server: what it does with every kind of answer, with servers that
 * misbehave (no welcome, garbage, mismatched frames), and with each way a connection ends. (Against the
 * real server: server-socket, request-fate, socket-auth.)
 */

const dir = mkdtempSync(join(tmpdir(), 'mbxmux-client-'));
let n = 0;
test.after(() => rmSync(dir, { recursive: true, force: true }));

type Frame = Record<string, unknown> & { type: string };

interface Fake {
  path: string;
  server: Server;
  /** frames received on the latest connection */
  got: Frame[];
  /** the latest connection */
  peer: () => Socket;
  close: () => Promise<void>;
}

const WELCOME = { type: 'welcome', protocol: 1, session: 'conn-1', tier: 'debug-read', requestedTier: 'debug-read', host: 0, fabricManager: false, maxFrameBytes: 1 << 24 };

/** A server that runs `onFrame(frame, reply, socket)` for each frame it receives (default: welcome on hello). */
async function fake(onFrame: (f: Frame, reply: (...frames: object[]) => void, s: Socket) => void = (f, reply) => {
  if (f.type === 'hello') reply(WELCOME);
}): Promise<Fake> {
  const path = join(dir, `f${n++}.sock`);
  const got: Frame[] = [];
  let last: Socket | null = null;
  const server = createServer((s) => {
    last = s;
    s.on('error', () => {});
    const dec = new FrameDecoder();
    s.on('data', (b: Buffer) => {
      for (const body of dec.push(b)) {
        const f = decodeMap(body);
        got.push(f);
        onFrame(f, (...frames) => s.write(Buffer.concat(frames.map((x) => encodeFrame(x)))), s);
      }
    });
  });
  server.listen(path);
  await once(server, 'listening');
  return {
    path, server, got, peer: () => last!,
    close: () => new Promise<void>((r) => {
      last?.destroy();
      server.close(() => r());
    }),
  };
}

test('connect: needs a path or a port; an aborted signal; nobody listening; no welcome in time; closed before welcome', async () => {
  assert.is(await codeOf(SocketClient.connect({})), 'EMBX_BAD_REQUEST');
  assert.is(await codeOf(SocketClient.connect({ path: join(dir, 'x'), signal: AbortSignal.abort() })), 'EMBX_ABORTED');
  const nobody = SocketClient.connect({ path: join(dir, 'nobody.sock') });
  await nobody.then(() => assert.unreachable(), (e: Error & { code: string }) => {
    assert.is(e.code, 'EMBX_CLOSED');
    assert.match(e.message, /cannot connect to .*nobody\.sock/);
  });
  const silent = await fake(() => {});
  assert.is(await codeOf(SocketClient.connect({ path: silent.path, connectTimeoutMs: 100 })), 'EMBX_TIMEOUT');
  const ac = new AbortController();
  const aborting = await fake(() => ac.abort());
  assert.is(await codeOf(SocketClient.connect({ path: aborting.path, signal: ac.signal })), 'EMBX_ABORTED');
  const hangup = await fake((_f, _r, s) => s.destroy());
  await SocketClient.connect({ path: hangup.path }).then(() => assert.unreachable(), (e: Error & { code: string }) => {
    assert.is(e.code, 'EMBX_CLOSED');
    assert.match(e.message, /before welcome/);
  });
  for (const f of [silent, aborting, hangup]) await f.close();
});

test('connect: the hello carries only what was given; an error frame, a non-welcome or garbage first is refused with its type', async () => {
  const ok = await fake();
  {
    await using c = await SocketClient.connect({ path: ok.path, token: 't'.repeat(40), name: 'n', fabricManager: true, devices: false });
    assert.equal(ok.got[0], { type: 'hello', tier: 'debug-read', token: 't'.repeat(40), name: 'n', fabricManager: true, devices: false });
    assert.not.ok('host' in ok.got[0]!, 'the host is the server\'s choice unless asked');
    assert.is(c.welcome.session, 'conn-1');
  }
  const refusing = await fake((_f, reply) => reply({ type: 'error', code: 'EMBX_PERMISSION', message: 'authentication failed', lastId: null }));
  await SocketClient.connect({ path: refusing.path }).then(() => assert.unreachable(), (e: Error & { code: string }) => {
    assert.equal([e.name, e.code, e.message], ['PermissionError', 'EMBX_PERMISSION', 'authentication failed']);
  });
  const odd = await fake((_f, reply) => reply({ type: 'res', id: 1 }));
  await SocketClient.connect({ path: odd.path }).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /expected welcome from the server, got res/));
  const garbage = await fake((_f, _r, s) => s.write(Buffer.from([0, 0, 0, 2, 0xc1, 0xc1])));
  assert.is(await codeOf(SocketClient.connect({ path: garbage.path })), 'EMBX_PROTOCOL');
  const badLength = await fake((_f, _r, s) => s.write(Buffer.from([0xff, 0xff, 0xff, 0xff])));
  assert.is(await codeOf(SocketClient.connect({ path: badLength.path })), 'EMBX_PROTOCOL');
  for (const f of [ok, refusing, odd, garbage, badLength]) await f.close();
});

test('every request field goes on the wire; answers of each kind resolve with their own shape; defaults fill gaps', async () => {
  const f = await fake((fr, reply) => {
    if (fr.type === 'hello') reply(WELCOME);
    else if (fr.type === 'req' && fr.device === 'bare') reply({ type: 'res', id: fr.id, rc: 3 }); // no payload, no vendorStatus
    else if (fr.type === 'req') reply({ type: 'res', id: fr.id, rc: 0, payload: Buffer.from([1, 2]), vendorStatus: 7, background: true, cqe: new Uint8Array(16), tunnel: { hops: [], failedAt: -1 } });
    else if (fr.type === 'devices') reply({ type: 'devices', id: fr.id, devices: [{ id: 'mem0' }] });
    else if (fr.type === 'effects') reply({ type: 'err', id: fr.id, code: 'EMBX_UNKNOWN_DEVICE', message: 'no such device', context: { device: fr.device } });
    else if (fr.type === 'stats') reply({ type: 'stats', id: fr.id, stats: { connections: 1 } });
  });
  await using c = await SocketClient.connect({ path: f.path });
  const full = { device: 'nvme0', opcode: 0x09, payload: new Uint8Array([9]), data: new Uint8Array(4), nsid: 1, cdw10: 10, cdw11: 11, cdw12: 12, cdw13: 13, cdw14: 14, cdw15: 15, tunnel: [1, 2], mctpType: 8, timeoutMs: 250 };
  const r = await c.send(full);
  const sent = f.got.find((x) => x.type === 'req')!;
  for (const [k, v] of Object.entries(full)) assert.equal(v instanceof Uint8Array ? [...(sent[k] as Uint8Array)] : sent[k], v instanceof Uint8Array ? [...v] : v, k);
  assert.equal([r.rc, [...r.payload], r.payload.constructor, r.vendorStatus, r.background, r.cqe!.byteLength, r.tunnel!.failedAt], [0, [1, 2], Uint8Array, 7, true, 16, -1]);
  const bare = await c.send({ device: 'bare', opcode: 1 });
  assert.equal([bare.rc, bare.payload.byteLength, bare.vendorStatus, bare.background, bare.cqe, bare.tunnel], [3, 0, 0, false, undefined, undefined]);
  assert.equal(await c.devices(), [{ id: 'mem0' }]);
  await c.effects('nope').then(() => assert.unreachable(), (e: Error & { code: string; context: Record<string, unknown> }) => {
    assert.equal([e.code, e.context.device], ['EMBX_UNKNOWN_DEVICE', 'nope']);
  });
  assert.equal(await c.stats(), { connections: 1 } as never);
  // a value that cannot be encoded is refused before anything is sent
  assert.is(await codeOf(c.send({ device: 'mem0', opcode: 1, cdw10: Symbol('x') as unknown as number })), 'EMBX_BAD_REQUEST');
  assert.is(c.inFlight, 0);
  await f.close();
});

test('answers the client cannot use: a frame of the wrong kind rejects that request; unknown and late ids are dropped', async () => {
  const f = await fake((fr, reply) => {
    if (fr.type === 'hello') reply(WELCOME);
    else if (fr.type === 'devices') reply({ type: 'res', id: fr.id, rc: 0 }, { type: 'res', id: 999, rc: 0 });
    else if (fr.type === 'effects') reply({ type: 'stats', id: fr.id, stats: {} });
    else if (fr.type === 'stats') reply({ type: 'devices', id: fr.id, devices: [] });
    else if (fr.type === 'req' && fr.device === 'mem0') reply({ type: 'effects', id: fr.id, effects: [] });
    // req to 'slow': answered only after the client aborted it
  });
  await using c = await SocketClient.connect({ path: f.path });
  await c.devices().then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /answered request \d+ with a res frame/));
  await c.effects('mem0').then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /with a stats frame/));
  await c.stats().then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /with a devices frame/));
  await c.send({ device: 'mem0', opcode: 1 }).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /with a effects frame/));
  const ac = new AbortController();
  const slow = c.send({ device: 'slow', opcode: 1, signal: ac.signal });
  await new Promise((r) => setImmediate(r));
  ac.abort();
  assert.is(await codeOf(slow), 'EMBX_ABORTED');
  await until(() => f.got.some((x) => x.device === 'slow'), 'the aborted request at the server');
  const late = f.got.find((x) => x.device === 'slow')!;
  f.peer().write(encodeFrame({ type: 'res', id: late.id, rc: 0 })); // the late answer: dropped
  assert.is(await codeOf(c.devices({ signal: AbortSignal.abort() })), 'EMBX_ABORTED');
  assert.is(c.closedError, null);
  assert.is(c.inFlight, 0);
  await f.close();
});

test('closing frames: lastId splits run from not run; lastId null means none ran; no lastId or a broken connection: fate unknown', async () => {
  // the server processes requests 1 and 2 and closes with lastId 2; 3 and 4 were never run
  const f = await fake((fr, reply, s) => {
    if (fr.type === 'hello') reply(WELCOME);
    else if (fr.id === 2) {
      reply({ type: 'res', id: 1, rc: 0 }, { type: 'error', code: 'EMBX_PROTOCOL', message: 'bad frame', lastId: 2 });
      s.end();
    }
  });
  const c = await SocketClient.connect({ path: f.path });
  const events: string[] = [];
  c.on('server-error', (e: Error & { code: string }) => events.push(`server-error ${e.code}`));
  c.on('close', (e: Error & { code: string }) => events.push(`close ${e.code}`));
  const ps = [1, 2, 3, 4].map(() => c.send({ device: 'mem0', opcode: 1 }).then(() => 'ok', (e: Error & { code: string }) => `${e.name} ${e.code}`));
  assert.equal(await Promise.all(ps), ['ok', 'ProtocolError EMBX_PROTOCOL', 'NotRunError EMBX_CLOSED', 'NotRunError EMBX_CLOSED']);
  assert.equal(events, ['server-error EMBX_PROTOCOL', 'close EMBX_PROTOCOL']);
  assert.is((c.closedError as Error & { context: Record<string, unknown> }).context.lastId, 2);
  assert.is(await codeOf(c.send({ device: 'mem0', opcode: 1 })), 'EMBX_PROTOCOL', 'later calls get the closing error');
  await c.close();
  await f.close();

  for (const [closing, expect] of [
    [{ type: 'error', code: 'EMBX_TIMEOUT', message: 'idle', lastId: null }, /NotRunError EMBX_CLOSED .*before processing any request/],
    [{ type: 'error', code: 'EMBX_CLOSED', message: 'old server' }, /^ClosedError EMBX_CLOSED old server$/],
  ] as const) {
    const g = await fake((fr, reply) => {
      if (fr.type === 'hello') reply(WELCOME);
      else reply(closing);
    });
    await using c2 = await SocketClient.connect({ path: g.path });
    const got = await c2.send({ device: 'mem0', opcode: 1 }).then(() => 'ok', (e: Error & { code: string }) => `${e.name} ${e.code} ${e.message}`);
    assert.match(got, expect);
    await g.close();
  }

  const h = await fake((fr, reply, s) => {
    if (fr.type === 'hello') reply(WELCOME);
    else s.destroy(); // gone without a closing frame
  });
  await using c3 = await SocketClient.connect({ path: h.path });
  await c3.send({ device: 'mem0', opcode: 1 }).then(() => assert.unreachable(), (e: Error & { code: string }) => {
    assert.is(e.code, 'EMBX_CLOSED');
    assert.match(e.message, /without a closing frame; requests waiting may or may not have run/);
  });
  await h.close();
});

test('garbage from the server after welcome ends the client with EMBX_PROTOCOL; frames after welcome in the same write are read', async () => {
  const f = await fake((fr, reply, s) => {
    if (fr.type === 'hello') reply(WELCOME);
    else s.write(Buffer.from([0, 0, 0, 2, 0xc1, 0xc1]));
  });
  await using c = await SocketClient.connect({ path: f.path });
  assert.is(await codeOf(c.send({ device: 'mem0', opcode: 1 })), 'EMBX_PROTOCOL');
  await f.close();
  const g = await fake((fr, reply) => {
    if (fr.type === 'hello') reply(WELCOME, { type: 'error', code: 'EMBX_CLOSED', message: 'shutting down', lastId: null });
  });
  const c2 = await SocketClient.connect({ path: g.path });
  const closed = await new Promise<Error>((r) => (c2.closedError ? r(c2.closedError) : c2.once('close', r)));
  assert.match(closed.message, /shutting down/);
  await g.close();
});

test('close(): pending requests reject EMBX_CLOSED; twice is fine; with a signal; on an already closed socket', async () => {
  const f = await fake();
  const c = await SocketClient.connect({ path: f.path });
  const pending = c.send({ device: 'mem0', opcode: 1 });
  const done = c.close({ signal: new AbortController().signal });
  await pending.then(() => assert.unreachable(), (e: Error & { code: string }) => {
    assert.is(e.code, 'EMBX_CLOSED');
    assert.match(e.message, /the client closed the connection/);
  });
  await done;
  await c.close(); // already closed: resolves at once
  const c2 = await SocketClient.connect({ path: f.path });
  const ac = new AbortController();
  const closing = c2.close({ signal: ac.signal });
  ac.abort(); // stop waiting for the socket to close
  await closing;
  await f.close();
});

test.run();
