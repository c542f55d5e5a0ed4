import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type FleetFile, type Mux, type SendRequest, TIERS, type Tier } from '../src/index.js';

// sw0: port 1 SLD (host 0, mem2), port 2 MLD (mld0) with LD0 host 0 (mem3) and LD1 host 1 (mem4), port 3 SLD host 1 (mem5).
const FLEET: FleetFile = {
  hosts: 2,
  devices: [
    { kind: 'cxl-type3', count: 1, vendorCommands: 'declared' }, // mem0
    { kind: 'cxl-type3', count: 1, vendorCommands: 'hidden' }, // mem1
    {
      kind: 'cxl-switch', count: 1, ports: 5, downstream: [
        { port: 1, device: { kind: 'cxl-type3', host: 0 } },
        { port: 2, device: { kind: 'cxl-mld', lds: [{ host: 0 }, { host: 1 }], faults: { lieEffects: true } } },
        { port: 3, device: { kind: 'cxl-type3', host: 1 } },
      ],
    }, // sw0, mem2, mld0, mem3, mem4, mem5
    { kind: 'cxl-type3', count: 1, host: 1 }, // mem6
    { kind: 'nvme', count: 1, vendorCommands: 'declared' }, // nvme0
    { kind: 'mctp-pcc', count: 1, fronts: ['mem0'] }, // mctp0
  ],
};

const LEVEL: Record<Tier | 'never', number> = { configuration: 0, 'debug-read': 1, 'debug-write': 2, 'debug-write-full': 3, 'fabric-destructive': 4, never: 99 };
const bad1 = new Uint8Array(1); // wrong input size: an allowed destructive command reaches the device but changes nothing

interface Case {
  what: string;
  req: SendRequest;
  /** tier the command needs, written down from the rules in README, not computed by the policy */
  need: Tier | 'never';
  fm?: boolean;
}

const CASES: Case[] = [
  { what: 'type-3 Get Health Info (no effects)', req: { device: 'mem0', opcode: 0x4200 }, need: 'configuration' },
  { what: 'declared vendor command without effects', req: { device: 'mem0', opcode: 0xc000 }, need: 'debug-read' },
  { what: 'vendor command the device hides from its CEL', req: { device: 'mem1', opcode: 0xc000 }, need: 'never' },
  { what: 'unknown opcode', req: { device: 'mem0', opcode: 0x7777 }, need: 'never' },
  { what: 'Transfer FW (background only)', req: { device: 'mem0', opcode: 0x0201, payload: bad1 }, need: 'debug-write' },
  { what: 'Activate FW (cold reset + immediate config)', req: { device: 'mem0', opcode: 0x0202, payload: bad1 }, need: 'debug-write-full' },
  { what: 'Scan Media (immediate log + background)', req: { device: 'mem0', opcode: 0x4304, payload: bad1 }, need: 'debug-write-full' },
  { what: 'Sanitize of a single-host device', req: { device: 'mem0', opcode: 0x4400, payload: bad1 }, need: 'debug-write-full' },
  { what: 'switch Identify Switch Device', req: { device: 'sw0', opcode: 0x5100 }, need: 'configuration' },
  { what: 'Physical Port Control (the switch reports effects 0)', req: { device: 'sw0', opcode: 0x5102, payload: bad1 }, need: 'fabric-destructive' },
  { what: 'Bind vPPB', req: { device: 'sw0', opcode: 0x5201, payload: bad1 }, need: 'fabric-destructive' },
  { what: 'tunnel depth 1: Get Health Info of the SLD on port 1 (host 0)', req: { device: 'sw0', opcode: 0x4200, tunnel: [1] }, need: 'configuration' },
  { what: 'tunnel depth 1: Sanitize of that SLD', req: { device: 'sw0', opcode: 0x4400, payload: bad1, tunnel: [1] }, need: 'debug-write-full' },
  { what: 'tunnel depth 1: Set LD Allocations at the MLD (which lies: its CEL says 0)', req: { device: 'sw0', opcode: 0x5402, payload: bad1, tunnel: [2] }, need: 'fabric-destructive', fm: true },
  { what: 'tunnel depth 2: Get Health Info of LD 1', req: { device: 'sw0', opcode: 0x4200, tunnel: [2, 1] }, need: 'configuration', fm: true },
  { what: 'tunnel depth 2: Set LSA of LD 1', req: { device: 'sw0', opcode: 0x4103, payload: bad1, tunnel: [2, 1] }, need: 'debug-write-full', fm: true },
  { what: 'NVMe Identify', req: { device: 'nvme0', opcode: 0x06, cdw10: 1 }, need: 'configuration' },
  { what: 'NVMe Set Features (host-to-controller)', req: { device: 'nvme0', opcode: 0x09, cdw10: 0xff }, need: 'debug-write' },
  { what: 'NVMe Format NVM (LBCC|NCC|CSE)', req: { device: 'nvme0', opcode: 0x80, nsid: 1, cdw10: 0xf }, need: 'debug-write-full' },
  { what: 'NVMe vendor admin command', req: { device: 'nvme0', opcode: 0xc6, cdw12: 0xffffffff }, need: 'debug-write-full' },
  // queue management and Abort (bad inputs: the device answers an error and changes nothing)
  { what: 'NVMe Create I/O CQ', req: { device: 'nvme0', opcode: 0x05, cdw10: 0 }, need: 'debug-write' },
  { what: 'NVMe Delete I/O SQ', req: { device: 'nvme0', opcode: 0x00, cdw10: 9 }, need: 'debug-write' },
  { what: 'NVMe Abort', req: { device: 'nvme0', opcode: 0x08, cdw10: 9 }, need: 'debug-write' },
  // I/O commands on queue 1 (created before the matrix), decided by the IOCS half of log 05h
  { what: 'NVMe I/O Flush', req: { device: 'nvme0', queue: 1, opcode: 0x00, nsid: 1 }, need: 'configuration' },
  { what: 'NVMe I/O Read (user data)', req: { device: 'nvme0', queue: 1, opcode: 0x02, nsid: 1 }, need: 'debug-read' },
  { what: 'NVMe I/O Write (LBCC)', req: { device: 'nvme0', queue: 1, opcode: 0x01, nsid: 1, data: new Uint8Array(512) }, need: 'debug-write-full' },
  { what: 'NVMe I/O opcode the log does not list', req: { device: 'nvme0', queue: 1, opcode: 0x05, nsid: 1 }, need: 'never' },
  { what: 'through an MCTP endpoint, decided by the fronted device', req: { device: 'mctp0', opcode: 0x4200 }, need: 'configuration' },
  { what: 'through an MCTP endpoint, a write-class command', req: { device: 'mctp0', opcode: 0x0301, payload: bad1 }, need: 'debug-write-full' },
];

let off: Mux;
let on: Mux;
test.before(async () => {
  off = await createMux({ workers: 1, fleet: FLEET });
  on = await createMux({ workers: 1, fleet: FLEET, gates: { fabricDestructive: true } });
  for (const m of [off, on]) {
    const s = m.openSession({ tier: 'debug-write' });
    assert.is((await s.send({ device: 'nvme0', opcode: 0x05, cdw10: 1 | (15 << 16), cdw11: 1 })).rc, 0, 'I/O CQ 1');
    assert.is((await s.send({ device: 'nvme0', opcode: 0x01, cdw10: 1 | (15 << 16), cdw11: 1 | (1 << 16) })).rc, 0, 'I/O SQ 1');
  }
});
test.after(async () => {
  await off.close();
  await on.close();
});

async function outcome(mux: Mux, tier: Tier, c: Case): Promise<'allowed' | 'refused'> {
  try {
    await mux.openSession({ tier, host: 0, fabricManager: c.fm === true }).send({ timeoutMs: 2000, ...c.req });
    return 'allowed';
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'EMBX_PERMISSION') throw e;
    return 'refused';
  }
}

test('matrix: every tier x device kind x opcode x tunnel depth, gate off and on', async () => {
  let checked = 0;
  for (const c of CASES) {
    for (const tier of TIERS) {
      for (const [mux, gate] of [[off, false], [on, true]] as const) {
        const allowed = LEVEL[c.need] <= LEVEL[tier] && (c.need !== 'fabric-destructive' || gate);
        assert.is(await outcome(mux, tier, c), allowed ? 'allowed' : 'refused', `${c.what} at ${tier}, gate ${gate ? 'on' : 'off'}`);
        checked++;
      }
    }
  }
  assert.is(checked, CASES.length * TIERS.length * 2);
});

test('a refusal never reaches the device and names the tier and the effects that required it', async () => {
  const before = off.stats().completed;
  const e = await off.openSession({ tier: 'debug-read' }).send({ device: 'mem0', opcode: 0x0301, payload: new Uint8Array(8) }).catch((x) => x);
  assert.is(e.code, 'EMBX_PERMISSION');
  assert.is(e.context.neededTier, 'debug-write-full');
  assert.equal(e.context.effects, ['IMMEDIATE_POLICY_CHANGE']);
  assert.match(e.message, /needs tier debug-write-full/);
  assert.is(off.stats().completed, before, 'nothing was sent');
  const g = await off.openSession({ tier: 'fabric-destructive', fabricManager: true }).send({ device: 'sw0', opcode: 0x5102, payload: new Uint8Array(2) }).catch((x) => x);
  assert.match(g.message, /gates\.fabricDestructive/);
});

test('one tier test for every check: a no-timeout bar at fabric-destructive is behind the gate too', async () => {
  const gated = await createMux({ workers: 1, fleet: { 'cxl-type3': 1 }, noTimeoutTier: 'fabric-destructive' });
  const open = await createMux({ workers: 1, fleet: { 'cxl-type3': 1 }, noTimeoutTier: 'fabric-destructive', gates: { fabricDestructive: true } });
  try {
    const e = await gated.openSession({ tier: 'fabric-destructive' }).send({ device: 'mem0', opcode: 0x4200, timeoutMs: 0 }).catch((x) => x);
    assert.is(e.code, 'EMBX_PERMISSION');
    assert.match(e.message, /gates\.fabricDestructive/);
    assert.is((await open.openSession({ tier: 'fabric-destructive' }).send({ device: 'mem0', opcode: 0x4200, timeoutMs: 0 })).rc, 0);
  } finally {
    await Promise.all([gated.close(), open.close()]);
  }
});

test('host isolation: one host cannot read or change another host\'s device or LD, directly or through a tunnel', async () => {
  const h0 = off.openSession({ tier: 'debug-write-full', host: 0 });
  const h1 = off.openSession({ tier: 'debug-write-full', host: 1 });
  const refused = async (s: typeof h0, req: SendRequest): Promise<boolean> => s.send(req).then(() => false, (e: { code: string }) => e.code === 'EMBX_PERMISSION');
  assert.ok(await refused(h0, { device: 'mem4', opcode: 0x4200 }), 'host 0 reads host 1\'s LD directly');
  assert.ok(await refused(h0, { device: 'mem4', opcode: 0x4103, payload: new Uint8Array(9) }), 'host 0 writes host 1\'s LD directly');
  assert.ok(await refused(h1, { device: 'mem3', opcode: 0x4200 }), 'host 1 reads host 0\'s LD');
  assert.ok(await refused(h0, { device: 'sw0', opcode: 0x4200, tunnel: [2, 1] }), 'host 0 reaches LD 1 through the switch');
  assert.ok(await refused(h0, { device: 'sw0', opcode: 0x4200, tunnel: [3] }), 'host 0 reaches host 1\'s SLD through the switch');
  assert.ok(await refused(h1, { device: 'sw0', opcode: 0x4200, tunnel: [3] }), 'host 1 may not use host 0\'s switch');
  assert.ok(await refused(h0, { device: 'mem6', opcode: 0x4200 }), 'a standalone device of host 1');
  assert.is((await h1.send({ device: 'mem4', opcode: 0x4200 })).rc, 0, 'host 1 reads its own LD');
  assert.is((await h1.send({ device: 'mem6', opcode: 0x4200 })).rc, 0);
  assert.is((await h0.send({ device: 'sw0', opcode: 0x4200, tunnel: [1] })).rc, 0, 'host 0 gets telemetry from its own SLD through the switch');
  const fm = off.openSession({ tier: 'debug-read', fabricManager: true });
  const r = await fm.send({ device: 'sw0', opcode: 0x0001, tunnel: [2, 1] });
  assert.is(r.rc, 0, 'the fabric manager reaches every LD');
  assert.is(Buffer.from(r.payload.subarray(8, 16)).readBigUInt64LE().toString(16).padStart(16, '0'), off.devices().find((d) => d.id === 'mem4')!.serial,
    'and the answer is LD 1\'s own Identify');
});

test('malformed tunnels are bad requests, not permission questions', async () => {
  const fm = off.openSession({ tier: 'fabric-destructive', fabricManager: true });
  const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code: string }) => e.code);
  assert.is(await code(fm.send({ device: 'sw0', opcode: 0x5300, payload: new Uint8Array(3) })), 'EMBX_BAD_REQUEST');
  assert.is(await code(fm.send({ device: 'sw0', opcode: 0x4200, tunnel: [9] })), 'EMBX_BAD_REQUEST', 'no component on port 9');
  assert.is(await code(fm.send({ device: 'sw0', opcode: 0x4200, tunnel: [2, 7] })), 'EMBX_BAD_REQUEST', 'no LD 7');
  assert.is(await code(fm.send({ device: 'sw0', opcode: 0x4200, tunnel: [1, 2, 3, 4] })), 'EMBX_BAD_REQUEST', 'deeper than 3 hops');
});

test('audit log and taint: write-class uses and refusals are recorded with their results', async () => {
  const m = await createMux({ workers: 1, fleet: { 'cxl-type3': 2 } });
  try {
    assert.not.ok(m.tainted);
    const s = m.openSession({ tier: 'debug-write-full', name: 'ops' });
    await s.send({ device: 'mem0', opcode: 0x4200 });
    assert.not.ok(m.tainted, 'reads do not taint');
    assert.is(m.auditLog().length, 0, 'reads are not audited');
    const ts = new Uint8Array(8);
    await s.send({ device: 'mem0', opcode: 0x0301, payload: ts });
    assert.ok(m.tainted, 'the first debug-write-full use taints the mux');
    await m.openSession({ tier: 'configuration' }).send({ device: 'mem1', opcode: 0x4400 }).catch(() => {});
    const log = m.auditLog();
    assert.is(log.length, 2);
    assert.equal({ ...log[0], time: 0 }, {
      time: 0, session: 'ops', host: 0, device: 'mem0', opcode: 0x0301, tier: 'debug-write-full', sessionTier: 'debug-write-full',
      effects: ['IMMEDIATE_POLICY_CHANGE'], decision: 'allowed', reason: 'immediate configuration, data, policy, log or security change', result: 0,
    });
    assert.is(log[1]!.decision, 'refused');
    assert.is(log[1]!.device, 'mem1');
  } finally {
    await m.close();
  }
});

test('check()\'s fast path for plain reads answers exactly as the full check, for any session, device and opcode', () => {
  for (const m of [off, on]) {
    const devices = m.devices().map((d) => m.fleet.byId.get(d.id)!.index);
    // opcodes the devices declare (so allowed and refused both occur), and any others
    const declared = [...new Set(m.devices().flatMap((d) => m.effects(d.id).map((e) => e.opcode)))];
    const outcome = (f: () => unknown): string => {
      try {
        const r = f();
        return r === null ? 'allowed' : 'allowed, audited';
      } catch (e) {
        return (e as { code?: string }).code ?? String(e);
      }
    };
    fc.assert(fc.property(
      fc.constantFrom(...TIERS), fc.integer({ min: 0, max: 2 }), fc.boolean(), fc.constantFrom(...devices),
      fc.oneof(fc.constantFrom(...declared), fc.integer({ min: 0, max: 0xffff })),
      (tier, host, fabricManager, di, opcode) => {
        const s = { name: 'prop', tier, level: LEVEL[tier], host, fabricManager };
        // audited commands add records: compare the outcome classes, which a fast path must not change
        assert.is(outcome(() => m.policy.check(s, di, opcode, null)), outcome(() => m.policy.checkFully(s, di, opcode, null)), `${tier} host ${host} fm ${fabricManager} #${di} 0x${opcode.toString(16)}`);
      },
    ), { numRuns: 3000 });
  }
});

test('the effects log the policy used is the device\'s own, reported per opcode', () => {
  const e = off.effects('mem0');
  const byOp = new Map(e.map((x) => [x.opcode, x]));
  assert.is(byOp.get(0x4200)!.tier, 'configuration');
  assert.is(byOp.get(0x0301)!.tier, 'debug-write-full');
  assert.ok(!off.effects('mem1').some((x) => x.opcode === 0xc000), 'a hidden vendor command is not in mem1\'s log');
  assert.ok(off.effects('sw0').some((x) => x.opcode === 0x5300 && x.effects === 0), 'the switch reports 5300h with effects 0');
  assert.ok(off.effects('mctp0').length === e.length, 'an MCTP endpoint answers for the device it fronts');
});

test.run();
