import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type FleetFile, type Mux, type SendRequest, type Tier } from '../../src/index.js';

/**
 * Policy state belongs to its mux: two muxes in one process whose devices report identical effects logs must
 * not share what vendorRules or gates decided for the other (issue 11, item 2).
 */

// mem0 and nvme0 run their vendor commands but leave them out of their effects logs: only a vendor rule opens them.
const FLEET: FleetFile = {
  devices: [
    { kind: 'cxl-type3', count: 1, vendorCommands: 'hidden' }, // mem0
    { kind: 'nvme', count: 1, vendorCommands: 'hidden' }, // nvme0
    { kind: 'cxl-switch', count: 1 }, // sw0 (+ mem1, mld0, mem2..mem5, mem6 behind it)
  ],
};
const VENDOR_CXL = 0xc000;
const VENDOR_NVME = 0xc6;
const PORT_CONTROL = 0x5102; // fabric-destructive whatever the device reports

async function outcome(mux: Mux, tier: Tier, req: SendRequest): Promise<string> {
  const s = mux.openSession({ tier, fabricManager: true });
  try {
    const r = await s.send(req);
    return `rc${r.rc}`;
  } catch (e) {
    const err = e as { code: string; context?: { neededTier?: string } };
    return err.code === 'EMBX_PERMISSION' ? `refused:${err.context?.neededTier}` : err.code;
  } finally {
    s.close();
  }
}

test('vendorRules of one mux neither open nor lower opcodes for another mux with the same effects logs', async () => {
  const open = await createMux({ workers: 1, fleet: FLEET, vendorRules: { cxl: { '0xc000': 'debug-read' }, nvme: { '0xc6': 'debug-write-full' } } });
  const none = await createMux({ workers: 1, fleet: FLEET });
  const strict = await createMux({ workers: 1, fleet: FLEET, vendorRules: { cxl: { '0xc000': 'debug-write-full' } } });
  try {
    // the mux with the rule: opened at its tier
    assert.is(await outcome(open, 'debug-read', { device: 'mem0', opcode: VENDOR_CXL }), 'rc0');
    assert.match(await outcome(open, 'debug-write-full', { device: 'nvme0', opcode: VENDOR_NVME }), /^rc/, 'reached the controller');
    // the mux without rules, created second with identical logs: still refused at every tier
    assert.is(await outcome(none, 'fabric-destructive', { device: 'mem0', opcode: VENDOR_CXL }), 'refused:refused');
    assert.is(await outcome(none, 'fabric-destructive', { device: 'nvme0', opcode: VENDOR_NVME }), 'refused:refused');
    // the third mux's own, stricter rule is the one in force
    assert.is(await outcome(strict, 'debug-read', { device: 'mem0', opcode: VENDOR_CXL }), 'refused:debug-write-full');
    assert.is(await outcome(strict, 'debug-write-full', { device: 'mem0', opcode: VENDOR_CXL }), 'rc0');
    // and the first mux is not changed by the muxes created after it
    assert.is(await outcome(open, 'debug-read', { device: 'mem0', opcode: VENDOR_CXL }), 'rc0');
    assert.is(await outcome(open, 'configuration', { device: 'mem0', opcode: VENDOR_CXL }), 'refused:debug-read');
    // no table object is shared between the muxes
    const mem0 = open.fleet.byId.get('mem0')!.index;
    assert.ok(open.policy.table(mem0) !== none.policy.table(mem0));
    assert.ok(none.policy.table(mem0) !== strict.policy.table(mem0));
  } finally {
    await Promise.all([open.close(), none.close(), strict.close()]);
  }
});

test('gates are per mux: fabric-destructive commands pass only where the gate is on', async () => {
  const gated = await createMux({ workers: 1, fleet: FLEET, gates: { fabricDestructive: true } });
  const plain = await createMux({ workers: 1, fleet: FLEET });
  try {
    const ctl = new Uint8Array([4, 3]); // port opcode 3 does not exist: the switch answers Invalid Input and changes nothing
    const onGated = await outcome(gated, 'fabric-destructive', { device: 'sw0', opcode: PORT_CONTROL, payload: ctl });
    assert.ok(onGated.startsWith('rc'), `gate on: the command reaches the switch (${onGated})`);
    assert.is(await outcome(plain, 'fabric-destructive', { device: 'sw0', opcode: PORT_CONTROL, payload: ctl }), 'refused:fabric-destructive');
    assert.ok((await outcome(gated, 'fabric-destructive', { device: 'sw0', opcode: PORT_CONTROL, payload: ctl })).startsWith('rc'), 'the second mux did not close the first one\'s gate');
  } finally {
    await Promise.all([gated.close(), plain.close()]);
  }
});

test.run();
