import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type FleetFile, type Mux } from '../../src/index.js';
import { submitted } from '../submitted.js';
import { until } from '../wait.js';

/**
 * A worker that throws, exits or runs out of memory mid-burst: every request in flight on it completes
 * exactly once (its result, or EMBX_WORKER_LOST), the shard restarts with its devices rebuilt, and the
 * other shard is untouched. A promise settles once, so "exactly once" is read where a second settlement
 * could happen: the mux's stray completion records (a tag answered twice) and its settled-twice count (an
 * answer and a WORKER_LOST for the same request), both in mux.stats().
 */

// mem0..mem3 land on alternate shards (0,1,0,1); the faulty devices are mem4 (shard 0) and helpers
const fleet = (faults: Record<string, number>): FleetFile => ({
  devices: [{ kind: 'cxl-type3', count: 4 }, { kind: 'cxl-type3', count: 1, faults }],
});

interface Tally {
  ok: number;
  lost: number;
  other: Record<string, number>;
}

async function burst(mux: Mux, crashOpcode: number, onShard: number): Promise<{ byShard: Tally[]; trigger: string }> {
  const devs = mux.devices();
  const s = mux.openSession({ tier: 'debug-write-full' });
  const byShard: Tally[] = [0, 1].map(() => ({ ok: 0, lost: 0, other: {} }));
  const all: Promise<void>[] = [];
  const track = (shard: number, p: Promise<unknown>): void => {
    all.push(p.then(
      () => { byShard[shard]!.ok++; },
      (e: { code: string }) => {
        if (e.code === 'EMBX_WORKER_LOST') byShard[shard]!.lost++;
        else byShard[shard]!.other[e.code] = (byShard[shard]!.other[e.code] ?? 0) + 1;
      }));
  };
  for (let i = 0; i < 4000; i++) {
    const d = devs[i % 4]!;
    track(d.shard, s.send({ device: d.id, opcode: 0x4200 }));
  }
  const faulty = devs[4]!;
  assert.is(faulty.shard, onShard);
  let trigger = '';
  all.push(s.send({ device: faulty.id, opcode: crashOpcode }).then(() => { trigger = 'resolved'; }, (e: { code: string }) => { trigger = e.code; }));
  for (let i = 0; i < 4000; i++) {
    const d = devs[i % 4]!;
    track(d.shard, s.send({ device: d.id, opcode: 0x4200 }));
  }
  await Promise.all(all);
  return { byShard, trigger };
}

async function restartWait(mux: Mux): Promise<{ shard: number; generation: number }> {
  return new Promise((resolve) => mux.once('worker-restarted', resolve));
}

for (const [name, faults, limits] of [
  ['throws', { crashOn: 0xc000 }, undefined],
  ['exits', { exitOn: 0xc000 }, undefined],
  ['runs out of memory', { oomOn: 0xc000 }, { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 }],
] as const) {
  test(`a worker that ${name} mid-burst: exactly-once completion, restart, other shard untouched`, async () => {
    const mux = await createMux({ workers: 2, fleet: fleet(faults), ...(limits ? { resourceLimits: limits } : {}) });
    try {
      const lostEvents: { shard: number; lost: number }[] = [];
      mux.on('worker-lost', (e: { shard: number; lost: number }) => lostEvents.push(e));
      const restarted = restartWait(mux);
      const shard = mux.devices()[4]!.shard;
      const other = 1 - shard;
      const { byShard, trigger } = await burst(mux, 0xc000, shard);
      assert.is(trigger, 'EMBX_WORKER_LOST', 'the request that killed the worker fails, once');
      for (const t of byShard) assert.equal(t.other, {}, 'no other failure');
      assert.is(mux.stats().settledTwice, 0, 'no request settled twice (an answer and a WORKER_LOST)');
      assert.is(mux.stats().strayCompletions, 0, 'no completion record for a tag already answered');
      assert.is(byShard[shard]!.ok + byShard[shard]!.lost, 4000, 'every request of the dying shard settled');
      assert.is(byShard[other]!.ok, 4000, 'the other shard served everything');
      assert.is(byShard[other]!.lost, 0);
      assert.is(lostEvents.length, 1);
      assert.is(lostEvents[0]!.shard, shard);
      assert.is(lostEvents[0]!.lost, byShard[shard]!.lost + 1, 'the event counts the requests that were lost');
      const r = await restarted;
      assert.is(r.shard, shard);
      assert.is(r.generation, 1);
      // the restarted shard serves its devices again, from their power-on state
      const s = mux.openSession();
      for (const d of mux.devices().filter((x) => x.shard === shard)) assert.is((await s.send({ device: d.id, opcode: 0x4200 })).rc, 0);
      assert.is(mux.stats().inFlight, 0);
      assert.equal(mux.stats().shards.map((x) => x.status), ['ready', 'ready']);
    } finally {
      await mux.close();
    }
  });
}

test('submit(): a worker that dies mid-burst calls back each of its requests once (answer or EMBX_WORKER_LOST); the other shard is untouched', async () => {
  const mux = await createMux({ workers: 2, fleet: fleet({ crashOn: 0xc000 }) });
  try {
    const devs = mux.devices();
    const shard = devs[4]!.shard;
    const s = mux.openSession({ tier: 'debug-write-full' });
    const burst = (): ReturnType<typeof submitted>[] => Array.from({ length: 4000 }, (_, i) => submitted(s, { device: devs[i % 4]!.id, opcode: 0x4200 }));
    const restarted = restartWait(mux);
    const first = burst();
    const trigger = submitted(s, { device: devs[4]!.id, opcode: 0xc000 });
    const second = burst();
    const got = await Promise.all([...first, ...second].map((x) => x.done));
    assert.is((await trigger.done).code, 'EMBX_WORKER_LOST');
    await restarted;
    const reqs = [...first, ...second];
    for (let i = 0; i < got.length; i++) {
      const onShard = devs[i % 4]!.shard === shard;
      assert.ok(onShard ? ['ok', 'EMBX_WORKER_LOST'].includes(got[i]!.code) : got[i]!.code === 'ok', `request ${i}: ${got[i]!.code}`);
    }
    await until(() => mux.stats().inFlight === 0, 'drained');
    assert.ok([...reqs, trigger].every((x) => x.record.calls === 1 && !x.record.early), 'each callback exactly once');
    assert.equal([mux.stats().settledTwice, mux.stats().strayCompletions], [0, 0]);
  } finally {
    await mux.close();
  }
});

test('device state after a restart is the power-on state (documented: nothing of the dead worker survives)', async () => {
  const mux = await createMux({ workers: 1, fleet: fleet({ crashOn: 0xc000 }) });
  try {
    const s = mux.openSession({ tier: 'debug-write-full' });
    const ts = new Uint8Array(8);
    new DataView(ts.buffer).setBigUint64(0, 123_000_000_000n, true);
    await s.send({ device: 'mem0', opcode: 0x0301, payload: ts });
    assert.ok(new DataView((await s.send({ device: 'mem0', opcode: 0x0300 })).payload.buffer).getBigUint64(0, true) > 0n);
    const restarted = restartWait(mux);
    assert.is(await s.send({ device: 'mem4', opcode: 0xc000 }).then(() => 'resolved', (e: { code: string }) => e.code), 'EMBX_WORKER_LOST');
    await restarted;
    const after = await s.send({ device: 'mem0', opcode: 0x0300 });
    assert.is(Buffer.from(after.payload).readBigUInt64LE(), 0n, 'the timestamp was never set in the new worker');
  } finally {
    await mux.close();
  }
});

test('a thread serving two shards dies: each of its shards fails what it held exactly once and restarts; the other thread is untouched', async () => {
  // 4 shards on 2 threads: thread 0 serves shards 0 and 2, thread 1 serves 1 and 3; mem8 (the last device) crashes
  const mux = await createMux({
    workers: 2, shards: 4,
    fleet: { devices: [{ kind: 'cxl-type3', count: 8 }, { kind: 'cxl-type3', count: 1, faults: { crashOn: 0xc000 } }] },
  });
  try {
    const st0 = mux.stats();
    assert.equal(st0.threads.map((t) => t.shards), [[0, 2], [1, 3]]);
    const devs = mux.devices();
    const faulty = devs[8]!;
    const thread = st0.shards[faulty.shard]!.thread;
    const mine = st0.threads[thread]!.shards;
    const lostEvents: { shard: number; thread: number; lost: number }[] = [];
    mux.on('worker-lost', (e: { shard: number; thread: number; lost: number }) => lostEvents.push(e));
    const restartedShards: number[] = [];
    const restarted = new Promise<void>((resolve) => mux.on('worker-restarted', (e: { shard: number }) => {
      restartedShards.push(e.shard);
      if (restartedShards.length === mine.length) resolve();
    }));
    const s = mux.openSession({ tier: 'debug-write-full' });
    const tally = new Map<number, { sent: number; ok: number; lost: number; other: number }>(st0.shards.map((x) => [x.index, { sent: 0, ok: 0, lost: 0, other: 0 }]));
    const all: Promise<void>[] = [];
    const burst = (): void => {
      for (let i = 0; i < 4000; i++) {
        const d = devs[i % 8]!;
        const t = tally.get(d.shard)!;
        t.sent++;
        all.push(s.send({ device: d.id, opcode: 0x4200 }).then(() => { t.ok++; }, (e: { code: string }) => { if (e.code === 'EMBX_WORKER_LOST') t.lost++; else t.other++; }));
      }
    };
    burst();
    const trigger = s.send({ device: faulty.id, opcode: 0xc000 }).then(() => 'resolved', (e: { code: string }) => e.code);
    burst();
    await Promise.all(all);
    assert.is(await trigger, 'EMBX_WORKER_LOST');
    await restarted;
    assert.equal(lostEvents.map((e) => e.shard).sort(), [...mine].sort(), 'one worker-lost per shard of the dead thread');
    assert.ok(lostEvents.every((e) => e.thread === thread));
    assert.equal(restartedShards.sort(), [...mine].sort(), 'each of its shards restarted once');
    for (const [shard, t] of tally) {
      assert.is(t.other, 0);
      assert.ok(t.sent > 0);
      assert.is(t.ok + t.lost, t.sent, `every request of shard ${shard} settled once`);
      if (!mine.includes(shard)) assert.is(t.lost, 0, `shard ${shard} (the other thread) lost nothing`);
    }
    const lostByShard = new Map(lostEvents.map((e) => [e.shard, e.lost]));
    for (const shard of mine) {
      assert.is(lostByShard.get(shard), tally.get(shard)!.lost + (shard === faulty.shard ? 1 : 0), `shard ${shard}: the event counts its lost requests`);
    }
    const st = mux.stats();
    assert.equal([st.settledTwice, st.strayCompletions], [0, 0]);
    assert.equal(st.shards.map((x) => [x.status, x.generation]), st.shards.map((x) => ['ready', mine.includes(x.index) ? 1 : 0]));
    assert.equal(st.threads.map((t) => t.generation), st.threads.map((t) => (t.index === thread ? 1 : 0)));
    for (const d of devs.slice(0, 8)) assert.is((await s.send({ device: d.id, opcode: 0x4200 })).rc, 0, `${d.id} answers after the restart`);
  } finally {
    await mux.close();
  }
});

test('a shard that keeps dying is declared dead after maxRestarts: its requests fail fast, others keep working', async () => {
  const mux = await createMux({ workers: 2, fleet: fleet({ crashOn: 0xc000 }), maxRestarts: 2, restartWindowMs: 60_000 });
  try {
    const s = mux.openSession({ tier: 'debug-write-full' });
    const shard = mux.devices()[4]!.shard;
    for (let i = 0; i < 3; i++) {
      const restarted = restartWait(mux);
      assert.is(await s.send({ device: 'mem4', opcode: 0xc000 }).then(() => 'ok', (e: { code: string }) => e.code), 'EMBX_WORKER_LOST');
      if (i < 2) await restarted;
    }
    await until(() => mux.stats().shards[shard]!.status === 'dead', `shard ${shard} declared dead`);
    const victim = mux.devices().find((d) => d.shard === shard)!;
    assert.is(await s.send({ device: victim.id, opcode: 0x4200 }).then(() => 'ok', (e: { code: string }) => e.code), 'EMBX_WORKER_LOST');
    const alive = mux.devices().find((d) => d.shard !== shard)!;
    assert.is((await s.send({ device: alive.id, opcode: 0x4200 })).rc, 0);
  } finally {
    await mux.close();
  }
});

test.run();
