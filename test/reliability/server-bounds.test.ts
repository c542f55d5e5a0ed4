import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame } from '../../src/server/frames.js';
import { SocketClient } from '../../src/server/socket-client.js';
import type { ServerStats } from '../../src/server/server-stats.js';
import { Raw, rssOf, serve, type Served, until } from '../socket-harness.js';

/**
 * Issue 11 item 5: the socket server's memory and connections are bounded, as Redis bounds them with
 * maxclients / timeout / client-output-buffer-limit. The blowups of the issue are reproduced: clients asking
 * for the device list thousands of times and never reading (server RSS 124 -> 799 MiB), clients that pipeline
 * requests and never read (91 -> 853 MiB), and hundreds of idle connections, half of which never say hello.
 */

const dir = mkdtempSync(join(tmpdir(), 'mbxmux-bounds-'));
const SOCK = join(dir, 'b.sock');
const MAX_OUTPUT = 256 * 1024;
const MAX_IN_FLIGHT = 64;
let s: Served;

test.before(async () => {
  // 2000 type-3 devices: one device list is ~100 KB
  s = await serve(['--socket', SOCK, '--fleet', 'cxl-type3=2000,nvme=8', '--max-output', String(MAX_OUTPUT), '--max-in-flight', String(MAX_IN_FLIGHT),
    '--max-connections', '40', '--hello-timeout', '400ms', '--idle-timeout', '800ms', '--stall-timeout', '800ms']);
});
test.after(async () => {
  await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The server's counters, from a short-lived connection (a long-lived one would itself go idle). */
async function stats(): Promise<ServerStats> {
  await using c = await SocketClient.connect({ path: SOCK, devices: false });
  return await c.stats();
}

/** A connection that sends `frames` and never reads a byte (its socket stays paused). */
async function neverReads(frames: Buffer): Promise<Socket> {
  const sock = connect({ path: SOCK });
  await once(sock, 'connect');
  sock.on('error', () => {});
  sock.write(frames);
  return sock;
}

test('device-list floods that are never read: requests of every kind count against the in-flight cap, output stays under the limit', async () => {
  const rss0 = rssOf(s.child.pid!);
  const flood = Buffer.concat([encodeFrame({ type: 'hello', devices: false }), ...Array.from({ length: 4000 }, (_, i) => encodeFrame({ type: 'devices', id: i }))]);
  const socks = await Promise.all([0, 1, 2, 3].map(() => neverReads(flood)));
  // the server stops reading them and, once they have taken nothing for the stall timeout, disconnects them
  await until(async () => (await stats()).closed.slowReader >= 4, 'four slow readers disconnected');
  const st = await stats();
  assert.ok(st.peak.inFlight <= MAX_IN_FLIGHT, `peak in flight ${st.peak.inFlight}`);
  assert.ok(st.peak.outputBytes <= MAX_OUTPUT, `peak buffered output ${st.peak.outputBytes} bytes`);
  const grown = rssOf(s.child.pid!) - rss0;
  // unbounded, 4 x 4000 device lists of ~100 KB each would be ~1.6 GB; bounded, a few MB
  assert.ok(grown < 200 * 1024 * 1024, `server RSS grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);
  for (const k of socks) k.destroy();
});

test('pipelining clients that never read are disconnected as slow readers after an error frame; the buffered bytes never pass the limit', async () => {
  const before = (await stats()).closed.slowReader;
  // NVMe Identify Controller: 4 KiB answers; 8 clients x 3000 requests
  const burst = Buffer.concat([encodeFrame({ type: 'hello', devices: false }),
    ...Array.from({ length: 3000 }, (_, i) => encodeFrame({ type: 'req', id: i, device: `nvme${i % 8}`, opcode: 0x06, cdw10: 1 }))]);
  const socks = await Promise.all(Array.from({ length: 8 }, () => neverReads(burst)));
  await until(async () => (await stats()).closed.slowReader >= before + 8, 'eight slow readers disconnected');
  const st = await stats();
  assert.ok(st.peak.outputBytes <= MAX_OUTPUT, `peak buffered output ${st.peak.outputBytes} bytes`);
  assert.ok(st.peak.inFlight <= MAX_IN_FLIGHT);
  assert.match(s.stderr(), /slow reader/);
  // a disconnected client that reads after all finds the answers that were sent, then the error frame saying why
  const raw = new Raw(socks[0]!);
  socks[0]!.resume();
  assert.ok(await raw.closedWithin(5000));
  const last = raw.frames.at(-1)!;
  assert.equal([last.type, last.code, typeof last.lastId], ['error', 'EMBX_BACKPRESSURE', 'number']);
  assert.match(String(last.message), /did not read its answers/);
  for (const k of socks) k.destroy();
  // the server still serves
  await using c = await SocketClient.connect({ path: SOCK, devices: false });
  assert.is((await c.send({ device: 'mem0', opcode: 0x4200 })).rc, 0);
});

test('a client that reads gets every answer past the caps: reading pauses at the in-flight cap and resumes as answers go out', async () => {
  const before = await stats();
  await using c = await SocketClient.connect({ path: SOCK, devices: false });
  // 2000 requests pipelined at once (31 x the in-flight cap), and 100 device lists of ~100 KB (10 MB through a 256 KiB output limit)
  const reqs = Array.from({ length: 2000 }, (_, i) => c.send({ device: i % 3 ? `mem${i % 2000}` : `nvme${i % 8}`, opcode: i % 3 ? 0x4200 : 0x06, cdw10: 1 }));
  const lists = Array.from({ length: 100 }, () => c.devices());
  const answers = await Promise.all(reqs);
  assert.ok(answers.every((a) => a.rc === 0));
  const got = await Promise.all(lists);
  assert.ok(got.every((l) => l.length === 2008));
  const st = await c.stats();
  assert.ok(st.peak.inFlight <= MAX_IN_FLIGHT, `peak in flight ${st.peak.inFlight}`);
  assert.ok(st.peak.outputBytes <= MAX_OUTPUT, `peak buffered output ${st.peak.outputBytes}`);
  assert.is(st.closed.slowReader, before.closed.slowReader, 'a client that reads is never cut off');
});

test('idle and hello-less connections are closed; over --max-connections new ones are refused with an error frame', async () => {
  const st0 = await stats();
  await until(async () => (await stats()).connections === 1, 'earlier connections gone');
  const silent = await Promise.all(Array.from({ length: 25 }, () => Raw.open({ path: SOCK })));
  const idle = await Promise.all(Array.from({ length: 15 }, async () => {
    const r = await Raw.open({ path: SOCK });
    r.send({ type: 'hello', devices: false });
    await r.until(1);
    return r;
  }));
  // 40 open: the limit. More are refused at once, each with an error frame
  const extra = await Promise.all(Array.from({ length: 10 }, () => Raw.open({ path: SOCK })));
  for (const r of extra) {
    await r.until(1);
    assert.equal([r.frames[0]?.type, r.frames[0]?.code], ['error', 'EMBX_BACKPRESSURE']);
    assert.ok(await r.closedWithin());
  }
  for (const r of silent) {
    assert.ok(await r.closedWithin(5000), 'a connection without hello is closed');
    assert.equal([r.frames[0]?.type, r.frames[0]?.code], ['error', 'EMBX_TIMEOUT']);
  }
  for (const r of idle) {
    assert.ok(await r.closedWithin(5000), 'an idle connection is closed');
    assert.equal([r.frames.at(-1)?.type, r.frames.at(-1)?.code], ['error', 'EMBX_TIMEOUT']);
  }
  const st = await stats();
  assert.ok(st.refused.connections >= st0.refused.connections + 10, JSON.stringify(st.refused));
  assert.ok(st.closed.helloTimeout >= st0.closed.helloTimeout + 25, JSON.stringify(st.closed));
  assert.ok(st.closed.idleTimeout >= st0.closed.idleTimeout + 15, JSON.stringify(st.closed));
  assert.is(st.connections, 1, 'only the stats connection is open');
});

test('a request without a timeout, or longer than the cap, is refused with err EMBX_BAD_REQUEST; the connection stays open', async () => {
  await using c = await SocketClient.connect({ path: SOCK, devices: false });
  assert.is(c.welcome.maxRequestTimeoutMs, 60_000);
  for (const timeoutMs of [0, 60_001]) {
    await c.send({ device: 'mem0', opcode: 0x4200, timeoutMs }).then(
      () => assert.unreachable(`timeoutMs ${timeoutMs} must be refused`),
      (e: Error & { code: string }) => {
        assert.is(e.code, 'EMBX_BAD_REQUEST');
        assert.match(e.message, /timeoutMs must be more than 0 and at most 60000/);
      },
    );
  }
  assert.is((await c.send({ device: 'mem0', opcode: 0x4200, timeoutMs: 60_000 })).rc, 0);
});

test.run();
