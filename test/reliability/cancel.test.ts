import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux } from '../../src/index.js';
import { submitted } from '../submitted.js';
import { until } from '../wait.js';

/**
 * Per-request timeouts and AbortSignal: a cancelled request rejects once, never resolves later, and never
 * leaks its ring slot (the slot comes back when the worker answers the cancel). Its promise cannot settle
 * twice, so "never resolves later" is read from the mux: a late answer delivered to a rejected request
 * counts in stats().settledTwice, one for a tag nobody holds in stats().strayCompletions.
 */

const FLEET = {
  devices: [
    { kind: 'cxl-type3' as const, count: 2 },
    { kind: 'cxl-type3' as const, count: 1, faults: { hang: true } },
    { kind: 'cxl-type3' as const, count: 1, faults: { slowMs: 30 } },
    { kind: 'nvme' as const, count: 1, faults: { hang: true } },
    { kind: 'mctp-pcc' as const, count: 1, fronts: ['mem3'], faults: { hang: true } },
  ],
};

test('timeouts on hung devices of every kind: one rejection each, no late resolve, every slot returned', async () => {
  const mux = await createMux({ workers: 2, fleet: FLEET, shardWindow: 64, sessionWindow: 64 });
  try {
    // a device that hangs on everything could not report its effects log at start: reaching it takes the
    // highest fwctl scope
    const s = mux.openSession({ tier: 'debug-write-full' });
    const outcomes: string[] = [];
    const targets = [
      { device: 'mem2', opcode: 0x4200 },
      { device: 'nvme0', opcode: 0x06, cdw10: 1 },
      { device: 'mctp0', opcode: 0x4200 },
    ];
    const ps = [];
    for (let i = 0; i < 300; i++) {
      ps.push(s.send({ ...targets[i % 3]!, timeoutMs: 20 + (i % 5) * 5 }).then(
        () => { outcomes.push('resolved'); },
        (e: { code: string }) => { outcomes.push(e.code); },
      ));
    }
    await Promise.all(ps);
    assert.is(outcomes.length, 300);
    assert.ok(outcomes.every((o) => o === 'EMBX_TIMEOUT'), `all timed out: ${[...new Set(outcomes)]}`);
    // 300 requests went through a window of 64: had a single slot leaked, the later ones would still be queued.
    // A slot comes back when the worker's (late) answer to the cancel arrives: every late answer came back ...
    await until(() => mux.stats().inFlight === 0, 'every slot came back');
    assert.is(mux.stats().queued, 0);
    // ... and none reached its request
    assert.is(mux.stats().settledTwice, 0, 'no late answer settled a rejected request');
    assert.is(mux.stats().strayCompletions, 0);
    assert.is((await s.send({ device: 'mem0', opcode: 0x4200 })).rc, 0, 'healthy devices are unaffected');
  } finally {
    await mux.close();
  }
});

test('AbortSignal: abort before, while queued, and while in flight; a slow device\'s late answer is dropped', async () => {
  const mux = await createMux({ workers: 1, fleet: FLEET, shardWindow: 2, sessionWindow: 2 });
  try {
    const s = mux.openSession();
    const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code: string }) => e.code);
    const pre = new AbortController();
    pre.abort();
    assert.is(await code(s.send({ device: 'mem3', opcode: 0x4200, signal: pre.signal })), 'EMBX_ABORTED');
    // two fill the window on the slow device, the third waits in the session queue
    const ac = [new AbortController(), new AbortController(), new AbortController()];
    const ps = ac.map((a) => code(s.send({ device: 'mem3', opcode: 0x4200, signal: a.signal })));
    ac[2]!.abort(); // queued: never written to the ring
    ac[0]!.abort(); // in flight: the worker holds it
    const [a0, a1, a2] = await Promise.all(ps);
    assert.is(a0, 'EMBX_ABORTED');
    assert.is(a1, 'resolved', 'the untouched request completes');
    assert.is(a2, 'EMBX_ABORTED');
    // the aborted in-flight request's slot comes back with the slow device's late answer, which is dropped
    await until(() => mux.stats().inFlight === 0, 'the aborted request\'s slot came back');
    assert.is(mux.stats().settledTwice, 0, 'the late answer did not reach the aborted request');
    assert.is(mux.stats().strayCompletions, 0);
    assert.is(await code(s.send({ device: 'mem3', opcode: 0x4200 })), 'resolved', 'the window is whole again');
  } finally {
    await mux.close();
  }
});

test('submit(): timeouts and aborts settle each request once, through its callback, and return every slot', async () => {
  const mux = await createMux({ workers: 2, fleet: FLEET, shardWindow: 64, sessionWindow: 64 });
  try {
    const s = mux.openSession({ tier: 'debug-write-full' });
    const targets = [{ device: 'mem2', opcode: 0x4200 }, { device: 'nvme0', opcode: 0x06, cdw10: 1 }, { device: 'mctp0', opcode: 0x4200 }];
    const hung = Array.from({ length: 300 }, (_, i) => submitted(s, { ...targets[i % 3]!, timeoutMs: 20 + (i % 5) * 5 }));
    // aborted: before, while in flight on the slow device, and while queued behind it (device window 16)
    const pre = new AbortController();
    pre.abort();
    const before = submitted(s, { device: 'mem3', opcode: 0x4200, signal: pre.signal });
    const ac = Array.from({ length: 20 }, () => new AbortController());
    const slow = ac.map((a) => submitted(s, { device: 'mem3', opcode: 0x4200, signal: a.signal }));
    for (let i = 0; i < 20; i += 2) ac[i]!.abort(); // even ones: the first in flight, the last queued
    const got = await Promise.all([...hung, before, ...slow].map((x) => x.done));
    assert.ok(got.slice(0, 300).every((x) => x.code === 'EMBX_TIMEOUT'), `all timed out: ${[...new Set(got.slice(0, 300).map((x) => x.code))]}`);
    assert.is(got[300]!.code, 'EMBX_ABORTED');
    assert.equal(got.slice(301).map((x) => x.code), ac.map((_, i) => (i % 2 === 0 ? 'EMBX_ABORTED' : 'ok')));
    await until(() => mux.stats().inFlight === 0, 'every slot came back (the late answers to the cancels arrived)');
    assert.ok([...hung, before, ...slow].every((x) => x.record.calls === 1 && !x.record.early), 'each callback ran exactly once, after submit() returned');
    assert.equal([mux.stats().settledTwice, mux.stats().strayCompletions, mux.stats().queued], [0, 0, 0]);
  } finally {
    await mux.close();
  }
});

test.run();
