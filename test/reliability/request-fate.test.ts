import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame } from '../../src/server/frames.js';
import { SocketClient } from '../../src/server/socket-client.js';
import { Raw, serve, type Served, until } from '../socket-harness.js';

/**
 * Issue 11 item 7: a client must learn each request's fate. Like HTTP/2 GOAWAY, a connection that closes
 * (bad frame, shutdown) first processes every complete frame before the bad one, answers everything in
 * flight, and ends with an `error` frame carrying `lastId`: the last request it processed. The SocketClient
 * turns requests sent after lastId into NotRunError (EMBX_CLOSED, notRun) and a shutdown takes at most the
 * grace period, then answers the stragglers EMBX_CLOSED.
 */

const dir = mkdtempSync(join(tmpdir(), 'mbxmux-fate-'));
const SOCK = join(dir, 'f.sock');
const FLEET = join(dir, 'fleet.json');
// mem0, mem1: normal; mem2: every command takes 150 ms; mem3: never answers Get Health Info
writeFileSync(FLEET, JSON.stringify({
  devices: [
    { kind: 'cxl-type3', count: 2 },
    { kind: 'cxl-type3', count: 1, faults: { slowMs: 150 } },
    { kind: 'cxl-type3', count: 1, faults: { hang: [0x4200] } },
  ],
}));

let s: Served;
test.before(async () => {
  s = await serve(['--socket', SOCK, '--fleet', FLEET]);
});
test.after(async () => {
  await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The frames after welcome, by type. */
function tally(raw: Raw): { res: number[]; err: number[]; error: Record<string, unknown>[] } {
  return {
    res: raw.frames.filter((f) => f.type === 'res').map((f) => f.id as number).sort((a, b) => a - b),
    err: raw.frames.filter((f) => f.type === 'err').map((f) => f.id as number),
    error: raw.frames.filter((f) => f.type === 'error'),
  };
}

test('a bad length after valid frames in the same write: the frames before it run and are answered, then error with lastId', async () => {
  const raw = await Raw.open({ path: SOCK });
  raw.s.write(Buffer.concat([
    encodeFrame({ type: 'hello' }),
    encodeFrame({ type: 'req', id: 1, device: 'mem2', opcode: 0x4200 }), // slow: still in flight when the bad frame is seen
    encodeFrame({ type: 'req', id: 2, device: 'mem0', opcode: 0x4200 }),
    Buffer.from([0, 0, 0, 0]), // length 0: not a frame
    encodeFrame({ type: 'req', id: 3, device: 'mem0', opcode: 0x4200 }),
  ]));
  await raw.until(4);
  assert.ok(await raw.closedWithin());
  const t = tally(raw);
  assert.equal(t.res, [1, 2], 'both requests before the bad frame were run and answered');
  assert.is(t.error.length, 1);
  assert.equal([t.error[0]!.code, t.error[0]!.lastId], ['EMBX_PROTOCOL', 2]);
  assert.is(raw.frames.at(-1)!.type, 'error', 'the closing error comes after every answer');
  assert.not.ok(raw.frames.some((f) => f.id === 3), 'the frame after the bad one was not run');
});

test('a body that is not MessagePack, or a field of the wrong type: earlier requests in flight are answered first', async () => {
  for (const bad of [
    Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from([0xc1, 0xc1, 0xc1])]),
    encodeFrame({ type: 'req', id: 12, device: 'mem0', opcode: 'Get Health Info' }),
  ]) {
    const raw = await Raw.open({ path: SOCK });
    raw.s.write(Buffer.concat([
      encodeFrame({ type: 'hello' }),
      encodeFrame({ type: 'req', id: 10, device: 'mem2', opcode: 0x4200 }),
      encodeFrame({ type: 'devices', id: 11 }),
      bad,
      encodeFrame({ type: 'req', id: 13, device: 'mem0', opcode: 0x4200 }),
    ]));
    await raw.until(4);
    assert.ok(await raw.closedWithin());
    const t = tally(raw);
    assert.equal(t.res, [10], 'the slow request ran and was answered before the close');
    assert.ok(raw.find('devices', 11), 'the devices request was answered');
    assert.equal([t.error[0]!.code, t.error[0]!.lastId], ['EMBX_PROTOCOL', 11]);
    assert.is(raw.frames.at(-1)!.type, 'error');
    assert.not.ok(raw.frames.some((f) => f.id === 12 || f.id === 13));
  }
});

test('a client that half-closes its side still gets the answers to what it sent, then EMBX_CLOSED with lastId', async () => {
  const raw = await Raw.open({ path: SOCK });
  raw.send({ type: 'hello' }, { type: 'req', id: 7, device: 'mem2', opcode: 0x4200 }, { type: 'effects', id: 8, device: 'mem0' });
  raw.s.end(); // shutdown(SHUT_WR): no more requests, answers still wanted
  assert.ok(await raw.closedWithin(5000));
  assert.equal(raw.frames.map((f) => f.type).sort(), ['effects', 'error', 'res', 'welcome']);
  assert.equal([raw.frames.at(-1)!.code, raw.frames.at(-1)!.lastId], ['EMBX_CLOSED', 8]);
});

test('SocketClient: requests sent after the bad frame reject with NotRunError; those before resolve', async () => {
  const c = await SocketClient.connect({ path: SOCK, name: 'fate' });
  const before = [0, 1, 2].map(() => c.send({ device: 'mem2', opcode: 0x4200 }));
  await new Promise((r) => setImmediate(r)); // the three are written
  (c as unknown as { socket: import('node:net').Socket }).socket.write(Buffer.from([0, 0, 0, 0])); // a corrupted write
  const after = [0, 1].map(() => c.send({ device: 'mem0', opcode: 0x4200 }));
  const got = await Promise.allSettled([...before, ...after]);
  assert.equal(got.slice(0, 3).map((g) => g.status), ['fulfilled', 'fulfilled', 'fulfilled']);
  for (const g of got.slice(3)) {
    assert.is(g.status, 'rejected');
    const e = (g as PromiseRejectedResult).reason as Error & { code: string; context: Record<string, unknown> };
    assert.is(e.name, 'NotRunError');
    assert.is(e.code, 'EMBX_CLOSED');
    assert.equal([e.context.notRun, e.context.lastId, e.context.reason], [true, 3, 'EMBX_PROTOCOL']);
    assert.match(e.message, /was not run: .* after processing request 3; it is safe to send it again/);
  }
  assert.is(c.closedError!.code, 'EMBX_PROTOCOL');
});

test('SIGTERM: within the grace period, in-flight requests are answered EMBX_CLOSED (may have run), unread ones NotRunError, exit 0', async () => {
  const sock = join(dir, 'term.sock');
  const t = await serve(['--socket', sock, '--fleet', FLEET, '--max-in-flight', '4', '--shutdown-grace', '300ms']);
  const c = await SocketClient.connect({ path: sock, name: 'term' });
  const closed = new Promise<Error & { code?: string; context?: Record<string, unknown> }>((r) => c.once('close', r));
  const hung = [0, 1, 2, 3].map(() => c.send({ device: 'mem3', opcode: 0x4200, timeoutMs: 30_000 })); // ids 1-4: never answered by the device
  const waiting = [0, 1, 2, 3, 4, 5].map(() => c.send({ device: 'mem0', opcode: 0x4200 })); // ids 5-10: over the in-flight cap
  {
    await using o = await SocketClient.connect({ path: sock, name: 'observer' });
    await until(async () => (await o.stats()).peak.inFlight >= 4, 'four requests in flight on the server');
  }
  t.child.kill('SIGTERM');
  const got = await Promise.allSettled([...hung, ...waiting]);
  for (const g of got.slice(0, 4)) {
    const e = (g as PromiseRejectedResult).reason as Error & { code: string; context: Record<string, unknown> };
    assert.equal([g.status, e.name, e.code, e.context.mayHaveRun], ['rejected', 'ClosedError', 'EMBX_CLOSED', true], String(e));
  }
  for (const g of got.slice(4)) {
    const e = (g as PromiseRejectedResult).reason as Error & { code: string; context: Record<string, unknown> };
    assert.equal([g.status, e.name, e.code, e.context.lastId], ['rejected', 'NotRunError', 'EMBX_CLOSED', 4], String(e));
  }
  const why = await closed;
  assert.equal([why.code, why.context?.lastId], ['EMBX_CLOSED', 4]);
  assert.is(await t.stop(), 0, t.stderr());
  assert.match(t.stderr(), /SIGTERM: stopping/);
});

test.run();
