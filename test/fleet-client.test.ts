import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ServerLostError } from '../src/errors.js';
import { buildFleet } from '../src/fleet/expand.js';
import type { FleetCounts, FleetSlice } from '../src/fleet/types.js';
import { runLoad } from '../src/harness/load.js';
import { buildSchedule, mixDevices, parseMix } from '../src/harness/mix.js';
import { createMux, type Mux } from '../src/mux/mux.js';
import { endpointName, parseEndpoint, parseEndpoints } from '../src/server/endpoints.js';
import { connectFleet, type FleetClient } from '../src/server/fleet-client.js';
import { fleetLoadTarget } from '../src/server/fleet-target.js';
import { SocketServer } from '../src/server/socket-server.js';
import { codeOf, serve } from './socket-harness.js';
import { until } from './wait.js';

const FLEET: FleetCounts = { 'cxl-type3': 12, 'cxl-switch': 2, nvme: 3, 'mctp-pcc': 3, seed: 5 };
const dir = mkdtempSync(join(tmpdir(), 'mbxmux-fleet-client-'));
const sock = (name: string): string => join(dir, `${name}.sock`);

interface Slice {
  mux: Mux;
  server: SocketServer;
  path: string;
  stop(): Promise<void>;
}

async function startSlice(name: string, slice: FleetSlice | undefined, extra: Partial<ConstructorParameters<typeof SocketServer>[0]> = {}): Promise<Slice> {
  const mux = await createMux({ workers: 1, fleet: FLEET, ...(slice ? { slice } : {}) });
  const server = new SocketServer({ mux, allowFabricManager: true, maxTier: 'debug-read', ...extra });
  const path = sock(name);
  await server.listen({ path });
  return { mux, server, path, stop: async () => { await server.close({ timeoutMs: 0 }); await mux.close({ timeoutMs: 0 }); } };
}

const serialOf = (p: Uint8Array): bigint => new DataView(p.buffer, p.byteOffset).getBigUint64(0x08, true);

test('endpoints: unix:/path, /path, tcp://host:port, host:port, [v6]:port; bad ones are EMBX_BAD_REQUEST', () => {
  assert.equal(parseEndpoint('unix:/run/a.sock'), { path: '/run/a.sock' });
  assert.equal(parseEndpoint('/run/a.sock'), { path: '/run/a.sock' });
  assert.equal(parseEndpoint('tcp://10.1.2.3:7070'), { port: 7070, address: '10.1.2.3' });
  assert.equal(parseEndpoint('mbxmux-serve-0.mbxmux-serve:7070'), { port: 7070, address: 'mbxmux-serve-0.mbxmux-serve' });
  assert.equal(parseEndpoint('tcp://[::1]:9'), { port: 9, address: '::1' });
  assert.equal(parseEndpoints('unix:/a, tcp://h:1').map(endpointName), ['unix:/a', 'tcp://h:1']);
  assert.is(endpointName({ port: 9, address: '::1' }), 'tcp://[::1]:9');
  for (const bad of ['tcp://h', 'h:0', 'h:70000', 'http://h:80', '', 'unix']) {
    let c = 'ok';
    try {
      parseEndpoints(bad);
    } catch (e) {
      c = (e as { code: string }).code;
    }
    assert.is(c, 'EMBX_BAD_REQUEST', bad);
  }
});

test('three slices through one client: the whole fleet in its order, requests routed by device, effects from the owner', async () => {
  const slices = await Promise.all([0, 1, 2].map((i) => startSlice(`s${i}`, { index: i, count: 3 })));
  await using whole = await createMux({ workers: 1, fleet: FLEET });
  try {
    await using fleet = await connectFleet(slices.map((s) => ({ path: s.path })), { fabricManager: true });
    const strip = (d: { shard?: number }): object => ({ ...d, shard: 0 });
    assert.equal(fleet.devices().map(strip), whole.devices().map(strip), 'every device once, as the unsliced fleet lists it');
    assert.equal(fleet.servers().map((s) => [s.state, s.slice?.index, s.slice?.count, s.fabricManager]), [['up', 0, 3, true], ['up', 1, 3, true], ['up', 2, 3, true]]);
    assert.is(fleet.servers().reduce((n, s) => n + s.devices, 0), whole.devices().length);
    const wholeFleet = buildFleet(FLEET, 1);
    for (const d of fleet.devices()) {
      if (d.kind === 'nvme' || d.kind === 'cxl-mld') continue;
      const r = await fleet.send({ device: d.id, opcode: 0x0001 });
      assert.is(r.rc, 0, d.id);
      const fronted = d.fronts === undefined ? d.id : d.fronts;
      assert.is(serialOf(r.payload), wholeFleet.byId.get(fronted)!.serial, `${d.id}: answered by the device itself`);
    }
    const owner = slices.find((s) => s.mux.devices().some((d) => d.id === 'nvme1'))!;
    assert.equal(await fleet.effects('nvme1'), owner.mux.effects('nvme1'));
    assert.is(await codeOf(fleet.send({ device: 'mem99', opcode: 0x0001 })), 'EMBX_UNKNOWN_DEVICE');
    assert.is(await codeOf(fleet.effects('mem99')), 'EMBX_UNKNOWN_DEVICE');
    // the server's own checks still apply: a debug-read session cannot write
    assert.is(await codeOf(fleet.send({ device: 'mem0', opcode: 0x0301, payload: new Uint8Array(8) })), 'EMBX_PERMISSION');
  } finally {
    await Promise.all(slices.map((s) => s.stop()));
  }
});

test('servers that serve the same devices or slices of different splits are refused', async () => {
  const a = await startSlice('dup-a', { index: 0, count: 2 });
  const b = await startSlice('dup-b', { index: 0, count: 2 });
  const c = await startSlice('dup-c', { index: 1, count: 3 });
  try {
    const dup = await connectFleet([{ path: a.path }, { path: b.path }]).then(() => null, (e: Error & { code: string }) => e);
    assert.is(dup?.code, 'EMBX_BAD_FLEET');
    assert.match(dup!.message, /served by both unix:.*dup-a\.sock and unix:.*dup-b\.sock \(slices 0\/2 and 0\/2\)/);
    const split = await connectFleet([{ path: a.path }, { path: c.path }]).then(() => null, (e: Error & { code: string }) => e);
    assert.is(split?.code, 'EMBX_BAD_FLEET');
    assert.match(split!.message, /different splits/);
    await until(() => a.server.connections + b.server.connections + c.server.connections === 0, 'nothing left connected');
  } finally {
    await Promise.all([a, b, c].map((s) => s.stop()));
  }
  let listed = 'ok';
  try {
    await connectFleet([{ path: a.path }, { path: a.path }]);
  } catch (e) {
    listed = (e as Error).message;
  }
  assert.match(listed, /listed twice/);
});

test('tokens: a missing token fails at once (no retrying), the right one connects', async () => {
  const token = 'f'.repeat(40);
  const s = await startSlice('auth', undefined, { tokens: [{ name: 'gen', token, maxTier: 'debug-read', hosts: [0] }], allowFabricManager: undefined, maxTier: undefined });
  try {
    const t0 = performance.now();
    assert.is(await codeOf(connectFleet([{ path: s.path }], { connectTimeoutMs: 20_000 })), 'EMBX_PERMISSION');
    assert.ok(performance.now() - t0 < 15_000, 'refused, not retried until the deadline');
    await using fleet = await connectFleet([{ path: s.path }], { token });
    assert.is((await fleet.send({ device: 'mem0', opcode: 0x4200 })).rc, 0);
    assert.match(fleet.servers()[0]!.session, /@gen/);
  } finally {
    await s.stop();
  }
});

test('connectFleet waits for servers that are still starting, and gives up after connectTimeoutMs', async () => {
  const path = sock('late');
  const pending = connectFleet([{ path }], { retry: { initialDelayMs: 20, maxDelayMs: 50 }, connectTimeoutMs: 60_000 });
  await new Promise((r) => setTimeout(r, 150));
  const s = await startSlice('late', undefined);
  try {
    const fleet = await pending;
    assert.is((await fleet.send({ device: 'mem0', opcode: 0x4200 })).rc, 0);
    await fleet.close();
  } finally {
    await s.stop();
  }
  const err = await connectFleet([{ path: sock('never') }], { retry: { initialDelayMs: 10, maxDelayMs: 20 }, connectTimeoutMs: 200 })
    .then(() => null, (e: Error & { code: string }) => e);
  assert.is(err?.code, 'EMBX_CLOSED');
  assert.match(err!.message, /^unix:.*never\.sock: cannot connect .*\(gave up after \d+ attempts\)/);
});

test('a server that dies fails its requests in flight with EMBX_SERVER_LOST, refuses its devices at once, and is reconnected with backoff', async () => {
  // mem0 of the hanging slice never answers Get Health Info, so requests are in flight when the server dies
  const fleetFile = join(dir, 'hang.json');
  writeFileSync(fleetFile, JSON.stringify({ devices: [{ kind: 'cxl-type3', count: 4, faults: { hang: [0x4200] } }, { kind: 'cxl-type3', count: 4 }] }));
  const path0 = sock('kill0');
  const path1 = sock('kill1');
  const s0 = await serve(['--socket', path0, '--slice', '0/2', '--allow-fm'], { fleet: fleetFile });
  const s1 = await serve(['--socket', path1, '--slice', '1/2', '--allow-fm'], { fleet: fleetFile });
  let fleet: FleetClient | null = null;
  try {
    fleet = await connectFleet([{ path: path0 }, { path: path1 }], { fabricManager: true, retry: { initialDelayMs: 40, maxDelayMs: 160, jitter: 0 } });
    const f = fleet;
    // slice 0 of 2 holds mem0, mem2, mem4, mem6 (one-device groups alternate)
    assert.equal(f.devices().map((d) => d.id), ['mem0', 'mem1', 'mem2', 'mem3', 'mem4', 'mem5', 'mem6', 'mem7']);
    assert.equal(f.servers().map((x) => x.devices), [4, 4]);
    const events: { type: string; retryInMs?: number; endpoint: string }[] = [];
    for (const type of ['disconnect', 'retry', 'reconnect']) f.on(type, (e: { retryInMs?: number; endpoint: string }) => events.push({ type, ...e }));
    const inFlight = Array.from({ length: 5 }, () => f.send({ device: 'mem0', opcode: 0x4200, timeoutMs: 60_000 }).then(() => null, (e: unknown) => e));
    await until(() => f.servers()[0]!.inFlight === 5, 'requests in flight');
    const dead = s0.child.pid!;
    assert.is(await s0.stop('SIGKILL'), null);
    const errors = await Promise.all(inFlight);
    for (const e of errors) {
      assert.ok(e instanceof ServerLostError, String(e));
      assert.is((e as ServerLostError).code, 'EMBX_SERVER_LOST');
      assert.is((e as ServerLostError).context.endpoint, `unix:${path0}`);
      assert.is((e as ServerLostError).context.notRun, false, 'it was in flight: it may have run');
    }
    assert.match((errors[0] as Error).message, /went away with the request in flight/);
    await until(() => events.some((e) => e.type === 'disconnect'), 'the disconnect event');
    assert.is(events[0]!.retryInMs, 40, 'first retry after initialDelayMs (no jitter)');
    // while it is away: its devices fail at once, without being sent; the other server's still answer
    const away = await f.send({ device: 'mem0', opcode: 0x0001 }).then(() => null, (e: ServerLostError) => e);
    assert.is(away?.code, 'EMBX_SERVER_LOST');
    assert.is(away?.context.notRun, true);
    const answered = await Promise.all(f.devices().map((d) => f.send({ device: d.id, opcode: 0x0001 }).then((r) => r.rc, (e: { code: string }) => e.code)));
    const byCode = answered.reduce<Record<string, number>>((m, c) => ((m[String(c)] = (m[String(c)] ?? 0) + 1), m), {});
    assert.equal(byCode, { 0: 4, EMBX_SERVER_LOST: 4 }, 'half the fleet answers, the other half is refused at once');
    // failed attempts back off: 80, 160, 160 ... ms
    await until(() => events.filter((e) => e.type === 'retry').length >= 3, 'three failed reconnect attempts');
    assert.equal(events.filter((e) => e.type === 'retry').slice(0, 3).map((e) => e.retryInMs), [80, 160, 160]);
    assert.is(f.servers()[0]!.state, 'down');
    assert.match(f.servers()[0]!.lastError!, /EMBX_CLOSED/);
    // the server comes back on the same socket: the client reconnects and its devices answer again
    const again = await serve(['--socket', path0, '--slice', '0/2', '--allow-fm'], { fleet: fleetFile });
    try {
      assert.is.not(again.child.pid, dead);
      await until(() => events.some((e) => e.type === 'reconnect'), 'the reconnect', 20_000);
      assert.equal(f.servers().map((s) => [s.state, s.reconnects]), [['up', 1], ['up', 0]]);
      assert.is((await f.send({ device: 'mem0', opcode: 0x0001 })).rc, 0);
    } finally {
      await f.close();
      await again.stop();
    }
  } finally {
    await fleet?.close();
    await s0.stop('SIGKILL');
    await s1.stop();
  }
});

test('a server that shuts down answers what it can: the rest fail with EMBX_SERVER_LOST, never a plain EMBX_CLOSED', async () => {
  const fleetFile = join(dir, 'hang2.json');
  writeFileSync(fleetFile, JSON.stringify({ devices: [{ kind: 'cxl-type3', count: 2, faults: { hang: [0x4200] } }] }));
  const path = sock('term');
  const s = await serve(['--socket', path, '--shutdown-grace', '200ms'], { fleet: fleetFile });
  try {
    await using fleet = await connectFleet([{ path }], { retry: { initialDelayMs: 5000 } });
    const hung = Array.from({ length: 3 }, () => fleet.send({ device: 'mem1', opcode: 0x4200, timeoutMs: 60_000 }).then(() => null, (e: ServerLostError) => e));
    // the server takes frames in order: once a later request is answered, the hung ones have reached the mux
    assert.is((await fleet.send({ device: 'mem0', opcode: 0x0001 })).rc, 0);
    assert.is(fleet.inFlight, 3);
    assert.is(await s.stop('SIGTERM'), 0);
    for (const e of await Promise.all(hung)) {
      assert.is(e?.code, 'EMBX_SERVER_LOST');
      assert.is(e?.context.cause, 'EMBX_CLOSED');
      assert.is(e?.context.mayHaveRun, true, 'the server said it reached the device');
    }
  } finally {
    await s.stop('SIGKILL');
  }
});

test('a load run over the slices builds the same schedule as the unsliced fleet and reaches every slice', async () => {
  const slices = await Promise.all([0, 1].map((i) => startSlice(`load${i}`, { index: i, count: 2 })));
  try {
    await using fleet = await connectFleet(slices.map((s) => ({ path: s.path })), { fabricManager: true });
    const target = fleetLoadTarget(fleet);
    assert.equal(target.session, { tier: 'debug-read', host: 0, fabricManager: true });
    const mix = parseMix('health=4,log=1,ports=1,tunnel=1,identify@mctp=1');
    const remote = buildSchedule(mix, mixDevices(target.fleet.devices));
    const local = buildSchedule(mix, mixDevices(buildFleet(FLEET, 3).devices));
    assert.equal(remote.items.map((i) => [i.req.device, i.req.opcode, i.req.tunnel, i.name]), local.items.map((i) => [i.req.device, i.req.opcode, i.req.tunnel, i.name]));
    assert.equal(remote.devices, local.devices);
    const { result } = runLoad({ mux: target, durationMs: 300, warmupMs: 50, concurrency: 8, mix: 'health=4,log=1,ports=1,tunnel=1,identify@mctp=1', fabricManager: true });
    const r = await result;
    assert.ok(r.requests > 0);
    assert.equal(r.errors, {});
    assert.equal(Object.keys(r.byKind).sort(), ['cxl-switch', 'cxl-type3', 'mctp-pcc', 'nvme']);
    assert.throws(() => target.openSession({ tier: 'debug-read', host: 1, fabricManager: false, name: 'x' }), /granted a fabric-manager session/);
  } finally {
    await Promise.all(slices.map((s) => s.stop()));
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
