import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { until } from './wait.js';
import { availableParallelism } from 'node:os';
import { buildFleet, createMux, type Mux } from '../src/index.js';
import { submitAll, submitted } from './submitted.js';

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
    // both sent before anything can complete (no await in between): the ring and the queue are still full
    const [full, over] = await Promise.all([codeOf(s.send({ device: 'mem0', opcode: 0x4200, noWait: true })), codeOf(s.send({ device: 'mem0', opcode: 0x4200 }))]);
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

test('threads and shards: by default the fleet keeps one shard per core and cores - 1 threads serve them; workers and shards override', async () => {
  const cores = availableParallelism();
  const fleet = { 'cxl-type3': 12 };
  const layout = (shards: number): number[] => buildFleet(fleet, shards).devices.map((d) => d.shard);
  const shape = (m: Mux): [number[], number[][]] => [m.devices().map((d) => d.shard), m.stats().threads.map((t) => t.shards)];
  const cases: [Parameters<typeof createMux>[0], number, number[][]][] = [
    [{ fleet }, cores, Array.from({ length: Math.max(1, cores - 1) }, (_, t) => Array.from({ length: cores }, (_, i) => i).filter((i) => i % Math.max(1, cores - 1) === t))],
    [{ fleet, workers: 2 }, 2, [[0], [1]]],
    [{ fleet, workers: 1, shards: 3 }, 3, [[0, 1, 2]]],
    [{ fleet, workers: 4, shards: 2 }, 2, [[0], [1]]], // no thread without a shard
    [{ fleet, shards: 5, workers: 2 }, 5, [[0, 2, 4], [1, 3]]],
  ];
  for (const [opts, shards, threads] of cases) {
    const m = await createMux(opts);
    try {
      assert.equal(shape(m), [layout(shards), threads], JSON.stringify(opts));
      const s = m.openSession();
      const rs = await Promise.all(m.devices().map((d) => s.send({ device: d.id, opcode: 0x0001 })));
      assert.ok(rs.every((r) => r.rc === 0), 'every shard answers');
      assert.ok(m.stats().shards.every((x) => x.requests > 0 && x.status === 'ready'));
    } finally {
      await m.close();
    }
  }
  for (const shards of [0, 1.5, 1025, NaN]) assert.is(await codeOf(createMux({ fleet, shards })), 'EMBX_BAD_REQUEST', String(shards));
});

test('submit(): the answers send() gives, each callback exactly once and never from inside submit()', async () => {
  const s = mux.openSession({ tier: 'debug-write-full' });
  const reqs = [
    ...mux.devices().slice(0, 6).map((d) => ({ device: d.id, opcode: 0x0001 })), // Identify: each device's own serial
    { device: 'mem0', opcode: 0x7777 }, // Unsupported: an answer
    { device: 'mem1', opcode: 0x4102, payload: Uint8Array.of(0, 0, 0, 0, 64, 0, 0, 0) }, // Get LSA, 64 bytes
  ];
  const viaSend = await Promise.all(reqs.map((r) => s.send(r)));
  const records = reqs.map((r) => submitted(s, r));
  const viaSubmit = await Promise.all(records.map((x) => x.done));
  assert.equal(viaSubmit.map((x) => x.result), viaSend, 'the same answers, copied out of the view');
  assert.ok(viaSubmit.every((x) => x.code === 'ok' && !x.early));
  // a burst larger than the windows: every callback once, none early, whatever waited in the mux
  const burst = Array.from({ length: 3000 }, (_, i) => submitted(s, { device: `mem${i % 6}`, opcode: 0x4200 }));
  await Promise.all(burst.map((x) => x.done));
  await until(() => mux.stats().inFlight === 0, 'drained');
  assert.ok(burst.every((x) => x.record.calls === 1 && !x.record.early && x.record.code === 'ok'));
  assert.equal([mux.stats().settledTwice, mux.stats().strayCompletions], [0, 0]);
});

test('submit(): the Answer is valid during the callback: rc, payload view, NVMe CQE, tunnel hops', async () => {
  const m = await createMux({ workers: 1, fleet: { 'cxl-type3': 1, 'cxl-switch': 1, nvme: 1 } });
  try {
    const s = m.openSession({ fabricManager: true });
    for (const req of [
      { device: 'mem0', opcode: 0x4200 },
      { device: 'nvme0', opcode: 0x06, cdw10: 1 }, // Identify Controller: a CQE and 4 KiB
      { device: 'sw0', opcode: 0x4200, tunnel: [1] }, // tunnelled to the SLD on port 1
    ]) {
      const copy = await s.send(req);
      const seen = await new Promise<{ rc: number; payload: Uint8Array; cqe: Uint8Array | undefined; tunnel: unknown; length: number }>((resolve, reject) => {
        s.submit(req, (err, a) => {
          if (err !== null) return reject(err);
          // read inside the callback: copies of what the views show
          resolve({ rc: a!.rc, payload: a!.payload().slice(), cqe: a!.cqe()?.slice(), tunnel: a!.tunnel, length: a!.length });
        });
      });
      // (two commands: the CQEs differ in SQHD and CID, bytes 8-13; DW0, DW1 and the status match)
      const cqeOf = (c: Uint8Array | undefined): number[] | undefined => (c === undefined ? undefined : [...c.subarray(0, 8), ...c.subarray(14)]);
      assert.equal([seen.rc, seen.payload, cqeOf(seen.cqe), seen.tunnel, seen.length], [copy.rc, copy.payload, cqeOf(copy.cqe), copy.tunnel, copy.payload.byteLength], req.device);
      if (copy.cqe !== undefined) assert.is(seen.cqe!.byteLength, 16);
    }
  } finally {
    await m.close();
  }
});

test('submit(): refusals reach the callback after submit() returns; a throwing callback does not stop the others', async () => {
  const small = await createMux({ workers: 1, fleet: { 'cxl-type3': 2 }, shardWindow: 4, sessionWindow: 4 });
  try {
    const s = small.openSession({ queueLimit: 3 });
    const pending = Array.from({ length: 7 }, () => submitted(s, { device: 'mem0', opcode: 0x4200 }));
    const refused = [
      submitted(s, { device: 'mem0', opcode: 0x4200, noWait: true }), // the ring is full: EMBX_RING_FULL
      submitted(s, { device: 'mem0', opcode: 0x4200 }), // 3 already wait: EMBX_BACKPRESSURE
      submitted(s, { device: 'mem9', opcode: 1 }),
      submitted(s, { device: 'mem0', opcode: 0x10000 }),
      submitted(s, null as unknown as { device: string; opcode: number }),
    ];
    assert.ok(refused.every((x) => x.record.calls === 0), 'no callback ran inside submit()');
    assert.equal((await Promise.all(refused.map((x) => x.done))).map((x) => x.code),
      ['EMBX_RING_FULL', 'EMBX_BACKPRESSURE', 'EMBX_UNKNOWN_DEVICE', 'EMBX_BAD_REQUEST', 'EMBX_BAD_REQUEST']);
    assert.ok((await Promise.all(pending.map((x) => x.done))).every((x) => x.code === 'ok'), 'queued requests all completed');
    assert.throws(() => s.submit({ device: 'mem0', opcode: 1 }, undefined as never), /submit\(\) takes a callback/);
    // a callback that throws: its error surfaces as uncaught; the other answers of the same drain still arrive
    const seen: unknown[] = [];
    const handler = (e: unknown): void => void seen.push(e);
    process.on('uncaughtException', handler);
    try {
      s.submit({ device: 'mem1', opcode: 0x4200 }, () => {
        throw new Error('a caller bug');
      });
      const after = Array.from({ length: 3 }, () => submitted(s, { device: 'mem1', opcode: 0x4200 }));
      assert.ok((await Promise.all(after.map((x) => x.done))).every((x) => x.code === 'ok'));
      await until(() => seen.length === 1, 'the thrown error surfaced');
      assert.is((seen[0] as Error).message, 'a caller bug');
    } finally {
      process.off('uncaughtException', handler);
    }
    s.close();
    assert.equal((await submitAll(s, [{ device: 'mem0', opcode: 1 }])).map((x) => x.code), ['EMBX_CLOSED']);
    assert.equal([small.stats().settledTwice, small.stats().strayCompletions, small.stats().inFlight], [0, 0, 0]);
  } finally {
    await small.close();
  }
});

test('stats(): wake-ups per 1,000 settled requests, from the counts it reports', async () => {
  // spinUs 0: the worker sleeps after every batch, so the main thread has to wake it (and it the main thread)
  const m = await createMux({ workers: 1, shards: 2, spinUs: 0, fleet: { 'cxl-type3': 4 } });
  try {
    const s = m.openSession();
    for (let i = 0; i < 20; i++) await Promise.all(m.devices().map((d) => s.send({ device: d.id, opcode: 0x4200 })));
    const st = m.stats();
    const settled = st.completed + st.failed;
    assert.ok(st.workerWakeups > 0, 'a sleeping worker was woken');
    assert.is(st.notifiesPer1k, ((st.mainWakeups + st.workerWakeups) * 1000) / settled);
    assert.is(st.threads[0]!.wakeups, st.workerWakeups, 'one thread: every wake-up was its');
  } finally {
    await m.close();
  }
});

test('a closed session refuses requests', async () => {
  const s = mux.openSession();
  s.close();
  assert.is(await codeOf(s.send({ device: 'mem0', opcode: 1 })), 'EMBX_CLOSED');
});

test.run();
