import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type Mux } from '../src/index.js';

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
};

let mux: Mux;

test.before(async () => {
  mux = await createMux({
    workers: 2,
    // an operator's vendor rule lets 0x7777 through the policy, so the device's own answer can be seen
    vendorRules: { cxl: { '0x7777': 'debug-write-full' } },
    fleet: {
      seed: 7,
      devices: [
        { kind: 'cxl-type3', count: 6 },
        { kind: 'cxl-type3', count: 1, mailboxBytes: 256, faults: { hang: [0x4200] } },
      ],
    },
  });
});

test.after(async () => {
  await mux.close();
});

test('devices(): every device once, spread over both shards', () => {
  const devs = mux.devices();
  assert.is(devs.length, 7);
  assert.equal(devs.map((d) => d.id), ['mem0', 'mem1', 'mem2', 'mem3', 'mem4', 'mem5', 'mem6']);
  assert.equal(new Set(devs.map((d) => d.shard)), new Set([0, 1]));
  assert.ok(devs.every((d) => /^[0-9a-f]{16}$/.test(d.serial) && d.kind === 'cxl-type3'));
});

test('send: Identify answers each device with its own serial', async () => {
  const s = mux.openSession();
  for (const d of mux.devices().slice(0, 6)) {
    const r = await s.send({ device: d.id, opcode: 0x0001 });
    assert.is(r.rc, 0);
    assert.is(r.payload.byteLength, 18);
    assert.is(Buffer.from(r.payload.subarray(8, 16)).readBigUInt64LE().toString(16).padStart(16, '0'), d.serial);
  }
});

test('send: a device answers Unsupported for an opcode it does not implement (an answer, not an error)', async () => {
  const r = await mux.openSession({ tier: 'debug-write-full' }).send({ device: 'mem0', opcode: 0x7777 });
  assert.is(r.rc, 0x03);
  assert.is(r.payload.byteLength, 0);
});

test('bad input is refused with typed errors before anything is queued', async () => {
  const s = mux.openSession();
  assert.is(await codeOf(s.send({ device: 'mem99', opcode: 1 })), 'EMBX_UNKNOWN_DEVICE');
  assert.is(await codeOf(s.send({ device: 'mem0', opcode: 0x10000 })), 'EMBX_BAD_REQUEST');
  assert.is(await codeOf(s.send({ device: 'mem0', opcode: 1.5 })), 'EMBX_BAD_REQUEST');
  assert.is(await codeOf(s.send({ device: 'mem0', opcode: 1, payload: new Uint8Array(4097) })), 'EMBX_BAD_REQUEST');
  assert.is(await codeOf(s.send({ device: 'mem6', opcode: 0x4103, payload: new Uint8Array(257) })), 'EMBX_BAD_REQUEST', '256-byte mailbox');
  assert.is(await codeOf(s.send({ device: 'mem0', opcode: 1, payload: [1, 2] as unknown as Uint8Array })), 'EMBX_BAD_REQUEST');
  assert.is(await codeOf(s.send({ device: 'mem0', opcode: 1, timeoutMs: -1 })), 'EMBX_BAD_REQUEST');
  assert.is(await codeOf(s.send(null as unknown as { device: string; opcode: number })), 'EMBX_BAD_REQUEST');
  const e = await s.send({ device: 'nope', opcode: 1 }).catch((x: Error) => x);
  assert.match((e as Error).message, /mux\.devices\(\)/, 'the message says what to do');
  assert.is(mux.stats().inFlight, 0);
});

test('an aborted signal refuses the request; aborting later rejects it once', async () => {
  const s = mux.openSession({ tier: 'debug-write-full' }); // (a request without timeout needs noTimeoutTier)
  const ac = new AbortController();
  ac.abort();
  assert.is(await codeOf(s.send({ device: 'mem0', opcode: 1, signal: ac.signal })), 'EMBX_ABORTED');
  const ac2 = new AbortController();
  const p = s.send({ device: 'mem6', opcode: 0x4200, signal: ac2.signal, timeoutMs: 0 }); // hangs
  setTimeout(() => ac2.abort(), 20);
  assert.is(await codeOf(p), 'EMBX_ABORTED');
  const after = await s.send({ device: 'mem6', opcode: 0x0001 });
  assert.is(after.rc, 0, 'the mailbox was freed for the next command');
});

test('a hung device times out; the caller gets EMBX_TIMEOUT, the device serves the next command', async () => {
  const s = mux.openSession();
  const t = performance.now();
  assert.is(await codeOf(s.send({ device: 'mem6', opcode: 0x4200, timeoutMs: 60 })), 'EMBX_TIMEOUT');
  assert.ok(performance.now() - t >= 55);
  assert.is((await s.send({ device: 'mem6', opcode: 0x0001 })).rc, 0);
  assert.is(mux.stats().inFlight, 0, 'the timed-out request gave its slot back');
});

test('payload bytes pass both ways intact (Set LSA / Get LSA)', async () => {
  const s = mux.openSession({ tier: 'debug-write-full' });
  const data = new Uint8Array(4000).map((_, i) => (i * 13) & 0xff);
  const set = new Uint8Array(8 + data.byteLength);
  set.set(data, 8);
  assert.is((await s.send({ device: 'mem3', opcode: 0x4103, payload: set })).rc, 0);
  set.fill(0xee); // the caller may reuse its buffer at once: the mux copied it
  const get = new Uint8Array(8);
  new DataView(get.buffer).setUint32(4, 4000, true);
  const r = await s.send({ device: 'mem3', opcode: 0x4102, payload: get });
  assert.equal(r.payload, data);
});

test('noWait: EMBX_RING_FULL when the ring has no room; queueLimit: EMBX_BACKPRESSURE', async () => {
  const small = await createMux({ workers: 1, fleet: { 'cxl-type3': 2 }, shardWindow: 4, sessionWindow: 4 });
  try {
    const s = small.openSession({ queueLimit: 3 });
    const ps = Array.from({ length: 7 }, () => s.send({ device: 'mem0', opcode: 0x4200 }));
    const full = await codeOf(s.send({ device: 'mem0', opcode: 0x4200, noWait: true }));
    const over = await codeOf(s.send({ device: 'mem0', opcode: 0x4200 }));
    assert.is(full, 'EMBX_RING_FULL');
    assert.is(over, 'EMBX_BACKPRESSURE');
    const rs = await Promise.all(ps);
    assert.ok(rs.every((r) => r.rc === 0), 'queued requests all completed, none lost');
  } finally {
    await small.close();
  }
});

test('close(): drains in-flight work, then refuses new requests; await using closes too', async () => {
  const m = await createMux({ workers: 2, fleet: { 'cxl-type3': 10 } });
  const s = m.openSession();
  const ps = Array.from({ length: 2000 }, (_, i) => s.send({ device: `mem${i % 10}`, opcode: 0x4200 }));
  const closing = m.close();
  assert.is(await codeOf(s.send({ device: 'mem0', opcode: 1 })), 'EMBX_CLOSED');
  const rs = await Promise.all(ps);
  assert.is(rs.length, 2000);
  assert.ok(rs.every((r) => r.rc === 0));
  await closing;
  assert.ok(m.stats().shards.every((x) => x.status === 'stopped'));
  {
    await using m2 = await createMux({ workers: 1, fleet: { 'cxl-type3': 1 } });
    assert.is((await m2.openSession().send({ device: 'mem0', opcode: 1 })).rc, 0);
  }
});

test('mainSpinUs: answers are the same with and without the quick poll; the event loop keeps turning; bad values refused', async () => {
  assert.is(await codeOf(createMux({ workers: 1, fleet: { 'cxl-type3': 1 }, mainSpinUs: -1 })), 'EMBX_BAD_REQUEST');
  const quick = await createMux({ workers: 1, fleet: { seed: 3, devices: [{ kind: 'cxl-type3', count: 2 }] } });
  const slow = await createMux({ workers: 1, fleet: { seed: 3, devices: [{ kind: 'cxl-type3', count: 2 }] }, mainSpinUs: 0 });
  try {
    const a = await quick.openSession().send({ device: 'mem1', opcode: 0x0001 });
    const b = await slow.openSession().send({ device: 'mem1', opcode: 0x0001 });
    assert.equal(a, b);
    // a tight loop of one-at-a-time requests: the quick poll answers most of them inside the turn, but a
    // turn never grows without bound, so timers still fire while the loop runs. Had the quick poll kept the
    // event loop from turning, the interval would not fire at all and the loop would end at its request cap.
    const s = quick.openSession();
    const CAP = 200_000;
    const loop = async (until: () => boolean): Promise<number> => {
      let n = 0;
      for (; !until() && n < CAP; n++) assert.is((await s.send({ device: 'mem0', opcode: 0x4200 })).rc, 0);
      return n;
    };
    // first until the quick poll answers (the worker must be awake and spinning), then until the timer fired
    assert.ok(await loop(() => quick.stats().quickHits >= 100) < CAP, `the quick poll answered: ${JSON.stringify(quick.stats())}`);
    const hits = quick.stats().quickHits;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const n = await loop(() => ticks >= 10 && quick.stats().quickHits >= hits + 10);
    clearInterval(timer);
    const st = quick.stats();
    assert.ok(n < CAP, `a 1 ms interval fired ${ticks} times and the quick poll answered ${st.quickHits - hits} of ${n} back-to-back requests (cap ${CAP})`);
    assert.ok(st.quickHits <= st.quickPolls, JSON.stringify(st));
    assert.is(slow.stats().quickPolls, 0);
  } finally {
    await quick.close();
    await slow.close();
  }
});

test('windows: a session alone on a shard gets deviceWindow; once another session uses the shard, the shared window', async () => {
  const fleet = { seed: 5, devices: [{ kind: 'cxl-type3' as const, count: 2 }] };
  const alone = await createMux({ workers: 1, fleet });
  const shared = await createMux({ workers: 1, fleet });
  try {
    const burst = (m: Mux): Promise<unknown>[] => {
      const s = m.openSession({ name: 'flood' });
      return Array.from({ length: 64 }, () => s.send({ device: 'mem0', opcode: 0x4200 }));
    };
    const a = burst(alone);
    assert.is(alone.stats().inFlight, 16, 'deviceWindow (16) requests written, the rest wait in the mux');
    await shared.openSession({ name: 'light' }).send({ device: 'mem1', opcode: 0x4200 });
    const b = burst(shared);
    assert.is(shared.stats().inFlight, 4, 'sharedDeviceWindow (4) once a second session has used the shard');
    // a session that closed does not make the shard shared for the next one (one load run after another)
    const again = await createMux({ workers: 1, fleet });
    try {
      const first = again.openSession();
      await first.send({ device: 'mem1', opcode: 0x4200 });
      first.close();
      const c = burst(again);
      assert.is(again.stats().inFlight, 16, 'full window after the previous session closed');
      await Promise.all(c);
    } finally {
      await again.close();
    }
    const results = await Promise.all([...a, ...b]);
    assert.ok(results.every((r) => (r as { rc: number }).rc === 0));
    assert.is(await codeOf(createMux({ workers: 1, fleet, sharedDeviceWindow: 0 })), 'EMBX_BAD_REQUEST');
  } finally {
    await alone.close();
    await shared.close();
  }
});

test('a closed session refuses requests', async () => {
  const s = mux.openSession();
  s.close();
  assert.is(await codeOf(s.send({ device: 'mem0', opcode: 1 })), 'EMBX_CLOSED');
});

test.run();
