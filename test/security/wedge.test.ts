import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type MuxOptions, type Session } from '../../src/index.js';

/**
 * A lowest-tier session cannot wedge a device for everyone (issue 11, item 3): long-lived commands (NVMe
 * Asynchronous Event Requests) do not count against the session and device windows but take bounded slots of
 * their own, "no timeout" needs a tier (or the mux option noTimeoutTier), and closing a session cancels what it
 * still has queued or in flight, in the worker too.
 */

const AER = 0x0c;
const IDENTIFY = 0x06;
const HEALTH = 0x4200;

type Outcome = Promise<string>;
const settle = (p: Promise<{ rc: number }>): Outcome => p.then((r) => `rc${r.rc}`, (e: { code: string }) => e.code);
/** the outcome if settled within `ms`, else 'pending' */
const within = (p: Outcome, ms: number): Outcome => Promise.race([p, new Promise<string>((r) => setTimeout(() => r('pending'), ms))]);

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

test('timeoutMs 0 (no timeout) needs the noTimeoutTier (default debug-write-full) unless the mux sets no default timeout', async () => {
  const mux = await createMux({ workers: 1, fleet: { nvme: 1, 'cxl-type3': 1 } });
  const open = await createMux({ workers: 1, fleet: { nvme: 1, 'cxl-type3': 1 }, noTimeoutTier: 'configuration' } as MuxOptions);
  const untimed = await createMux({ workers: 1, fleet: { nvme: 1, 'cxl-type3': 1 }, defaultTimeoutMs: 0 });
  try {
    for (const tier of ['configuration', 'debug-read', 'debug-write'] as const) {
      const s = mux.openSession({ tier });
      const e = await s.send({ device: 'mem0', opcode: HEALTH, timeoutMs: 0 }).catch((x: { code: string; context: { neededTier?: string } }) => x);
      assert.is((e as { code: string }).code, 'EMBX_PERMISSION', tier);
      assert.is((e as { context: { neededTier?: string } }).context.neededTier, 'debug-write-full');
    }
    assert.is(await settle(mux.openSession({ tier: 'debug-write-full' }).send({ device: 'mem0', opcode: HEALTH, timeoutMs: 0 })), 'rc0');
    assert.is(await settle(open.openSession({ tier: 'configuration' }).send({ device: 'mem0', opcode: HEALTH, timeoutMs: 0 })), 'rc0', 'noTimeoutTier lowers the bar');
    assert.is(await settle(untimed.openSession({ tier: 'configuration' }).send({ device: 'mem0', opcode: HEALTH, timeoutMs: 0 })), 'rc0', 'defaultTimeoutMs 0: the operator chose no timeouts');
    assert.ok(mux.auditLog().some((r) => r.decision === 'refused' && /no timeout/.test(r.reason)), 'the refusal is audited');
  } finally {
    await Promise.all([mux.close(), open.close(), untimed.close()]);
  }
});

test('four AERs without timeout from the lowest tier no longer wedge the device; closing the session cancels them in the worker', async () => {
  const opts = { workers: 1, fleet: { nvme: 1 }, sessionWindow: 4, sharedSessionWindow: 4, noTimeoutTier: 'configuration' } as MuxOptions;
  const mux = await createMux(opts);
  try {
    const victim = mux.openSession({ tier: 'debug-read', name: 'victim' });
    const attacker = mux.openSession({ tier: 'configuration', name: 'attacker' });
    assert.is(await settle(victim.send({ device: 'nvme0', opcode: IDENTIFY, cdw10: 1 })), 'rc0');
    // the shard is shared now (two sessions): 4 requests per device in flight, and the controller takes 4 AERs
    const aers = Array.from({ length: 4 }, () => settle(attacker.send({ device: 'nvme0', opcode: AER, timeoutMs: 0 })));
    await until('the AERs to reach the controller', () => mux.stats().inFlight === 4);
    assert.is(await within(settle(victim.send({ device: 'nvme0', opcode: IDENTIFY, cdw10: 1, timeoutMs: 3000 })), 3500), 'rc0', 'another session still gets the device');
    assert.is(await within(settle(attacker.send({ device: 'nvme0', opcode: IDENTIFY, cdw10: 1, timeoutMs: 3000 })), 3500), 'rc0', 'AERs do not fill the session window either');
    attacker.close();
    assert.equal(await Promise.all(aers.map((p) => within(p, 2000))), ['EMBX_CLOSED', 'EMBX_CLOSED', 'EMBX_CLOSED', 'EMBX_CLOSED'], 'close rejects them at once');
    await until('the worker to answer the cancels', () => mux.stats().inFlight === 0);
    // the controller holds no AER any more: a new session may post its full 4
    const next = mux.openSession({ tier: 'debug-write-full' });
    const again = Array.from({ length: 4 }, () => settle(next.send({ device: 'nvme0', opcode: AER, timeoutMs: 60_000 })));
    await until('4 new AERs in flight', () => mux.stats().inFlight === 4);
    next.close();
    assert.equal(await Promise.all(again), ['EMBX_CLOSED', 'EMBX_CLOSED', 'EMBX_CLOSED', 'EMBX_CLOSED']);
    await until('no request left in the worker', () => mux.stats().inFlight === 0);
  } finally {
    await mux.close();
  }
});

test('closing a session rejects its queued and parked requests and cancels its in-flight ones; other sessions are untouched', async () => {
  const mux = await createMux({
    workers: 1, deviceWindow: 2, sharedDeviceWindow: 2,
    fleet: { devices: [{ kind: 'cxl-type3', count: 1, faults: { hang: [HEALTH] } }, { kind: 'cxl-type3', count: 2 }] },
  });
  try {
    const s = mux.openSession({ tier: 'debug-read' });
    const other = mux.openSession({ tier: 'debug-read' });
    const hung = Array.from({ length: 10 }, () => settle(s.send({ device: 'mem0', opcode: HEALTH, timeoutMs: 60_000 })));
    const fine = Array.from({ length: 50 }, (_, i) => settle(other.send({ device: `mem${1 + (i % 2)}`, opcode: HEALTH })));
    await until('two requests held by the hung device', () => mux.stats().inFlight >= 2);
    s.close();
    assert.equal(await Promise.all(hung.map((p) => within(p, 2000))), Array(10).fill('EMBX_CLOSED'));
    assert.equal(await Promise.all(fine), Array(50).fill('rc0'));
    await until('the cancelled commands to leave the worker', () => mux.stats().inFlight === 0 && mux.stats().queued === 0);
    // the hung mailbox was released by the cancel: another command to mem0 gets an answer
    assert.is(await settle(other.send({ device: 'mem0', opcode: 0x0001 })), 'rc0');
    assert.is(await settle(s.send({ device: 'mem1', opcode: HEALTH })), 'EMBX_CLOSED');
  } finally {
    await mux.close();
  }
});

test('long-lived slots are bounded per shard (a quarter of shardWindow): more AERs wait in the mux, normal traffic flows', async () => {
  const mux = await createMux({ workers: 1, shardWindow: 8, fleet: { nvme: 3 } });
  try {
    const holder: Session = mux.openSession({ tier: 'debug-write-full' });
    const other = mux.openSession({ tier: 'debug-read' });
    const aers = Array.from({ length: 12 }, (_, i) => settle(holder.send({ device: `nvme${i % 3}`, opcode: AER, timeoutMs: 60_000 })));
    await until('the long-lived slots to fill', () => mux.stats().inFlight === 2);
    assert.is(mux.stats().queued, 10, 'the rest wait in the mux');
    for (let i = 0; i < 3; i++) assert.is(await settle(other.send({ device: `nvme${i}`, opcode: IDENTIFY, cdw10: 1 })), 'rc0');
    assert.is(mux.stats().inFlight, 2);
    holder.close();
    assert.equal(await Promise.all(aers), Array(12).fill('EMBX_CLOSED'));
    await until('all cancelled in the worker', () => mux.stats().inFlight === 0);
  } finally {
    await mux.close();
  }
});

test.run();
