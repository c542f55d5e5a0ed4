import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeTunnelRequest } from '../../src/devices/cxl/tunnel.js';
import { createMux, type FleetFile, type Mux, type SendRequest, type Session } from '../../src/index.js';

/**
 * Every path to a device passes the same host, fabric-manager and tier checks: directly, through a switch
 * tunnel, through an MCTP endpoint fronting it, nested, and any combination (issue 11, item 1). Each case is
 * tried as an attacker would: a debug-read session that is not the fabric manager, of the right host and of
 * the other one.
 */

// sw0 (host 0): port 1 mem0 (SLD, host 0), port 2 mld0 (MLD) with LD 0 = mem1 (host 0) and LD 1 = mem2 (host 1),
// port 3 mem3 (SLD, host 1). mctp0 fronts mld0, mctp1 fronts sw0, mctp2 fronts mem2.
const FLEET: FleetFile = {
  hosts: 2,
  devices: [
    {
      kind: 'cxl-switch', count: 1, ports: 5, downstream: [
        { port: 1, device: { kind: 'cxl-type3', host: 0 } },
        { port: 2, device: { kind: 'cxl-mld', lds: [{ host: 0 }, { host: 1 }] } },
        { port: 3, device: { kind: 'cxl-type3', host: 1 } },
      ],
    },
    { kind: 'mctp-pcc', fronts: ['mld0'] },
    { kind: 'mctp-pcc', fronts: ['sw0'] },
    { kind: 'mctp-pcc', fronts: ['mem2'] },
  ],
};

const IDENTIFY = 0x0001;
const HEALTH = 0x4200;
const GET_LD_INFO = 0x5400;
const GET_LD_ALLOCATIONS = 0x5401;
const SET_LD_ALLOCATIONS = 0x5402;
const TUNNEL = 0x5300;
const FM_API = 7;
const CCI = 8;
const tunnel = (hops: number[], opcode: number, payload?: Uint8Array): Uint8Array =>
  encodeTunnelRequest(hops.map((portOrLd) => ({ portOrLd })), opcode, payload);

async function outcome(s: Session, req: SendRequest): Promise<string> {
  try {
    return `rc${(await s.send(req)).rc}`;
  } catch (e) {
    return (e as { code: string }).code;
  }
}

/** Requests that reach the MLD's FM-owned LD, or another host's device, by any path but the front door. */
const ATTACKS: { what: string; req: SendRequest; /** the one host this request is legitimate for */ ownHost?: number }[] = [
  { what: 'Identify through the MCTP endpoint fronting the MLD (type 8)', req: { device: 'mctp0', opcode: IDENTIFY } },
  { what: 'Identify through the MLD front as MCTP type 7', req: { device: 'mctp0', opcode: IDENTIFY, mctpType: FM_API } },
  { what: 'Get LD Info through the MLD front (type 7)', req: { device: 'mctp0', opcode: GET_LD_INFO } },
  { what: 'Get LD Info through the MLD front as MCTP type 8', req: { device: 'mctp0', opcode: GET_LD_INFO, mctpType: CCI } },
  { what: 'Get LD Allocations through the MLD front', req: { device: 'mctp0', opcode: GET_LD_ALLOCATIONS, payload: new Uint8Array([0, 2]) } },
  { what: '5300h through the MLD front to LD 0 (host 0)', req: { device: 'mctp0', opcode: TUNNEL, payload: tunnel([0], HEALTH) } },
  { what: '5300h through the MLD front to LD 1 (host 1)', req: { device: 'mctp0', opcode: TUNNEL, payload: tunnel([1], HEALTH) } },
  { what: '5300h through the MLD front to LD 1, sent as MCTP type 8', req: { device: 'mctp0', opcode: TUNNEL, mctpType: CCI, payload: tunnel([1], HEALTH) } },
  { what: 'tunnel sw0 -> port 2 (the MLD itself)', req: { device: 'sw0', opcode: IDENTIFY, tunnel: [2] } },
  { what: 'tunnel sw0 -> MLD -> LD 0 (host 0)', req: { device: 'sw0', opcode: HEALTH, tunnel: [2, 0] } },
  { what: 'tunnel sw0 -> MLD -> LD 1 (host 1)', req: { device: 'sw0', opcode: HEALTH, tunnel: [2, 1] } },
  { what: 'tunnel sw0 -> port 3 (host 1)', req: { device: 'sw0', opcode: HEALTH, tunnel: [3] } },
  { what: 'raw 5300h to sw0 nested three deep (MLD -> LD -> 5300h)', req: { device: 'sw0', opcode: TUNNEL, payload: tunnel([2, 0, 1], HEALTH) } },
  { what: 'MCTP front of sw0: 5300h to the MLD', req: { device: 'mctp1', opcode: TUNNEL, payload: tunnel([2], GET_LD_INFO) } },
  { what: 'MCTP front of sw0: 5300h to MLD -> LD 0', req: { device: 'mctp1', opcode: TUNNEL, payload: tunnel([2, 0], HEALTH) } },
  { what: 'MCTP front of sw0: 5300h to MLD -> LD 1', req: { device: 'mctp1', opcode: TUNNEL, payload: tunnel([2, 1], HEALTH) } },
  { what: 'MCTP front of sw0: 5300h to port 3 (host 1)', req: { device: 'mctp1', opcode: TUNNEL, payload: tunnel([3], HEALTH) } },
  { what: 'MCTP front of sw0: 5300h to port 3 as type 8', req: { device: 'mctp1', opcode: TUNNEL, mctpType: CCI, payload: tunnel([3], HEALTH) } },
  { what: 'MCTP front of LD 1 (host 1)', req: { device: 'mctp2', opcode: HEALTH }, ownHost: 1 },
  { what: 'tunnel field through the MLD front to LD 1', req: { device: 'mctp0', opcode: HEALTH, tunnel: [1] } },
  { what: 'tunnel field through the MLD front to LD 0', req: { device: 'mctp0', opcode: HEALTH, tunnel: [0] } },
  { what: 'tunnel field through the switch front to MLD -> LD 0', req: { device: 'mctp1', opcode: HEALTH, tunnel: [2, 0] } },
  { what: 'tunnel field through the switch front to port 3 (host 1)', req: { device: 'mctp1', opcode: HEALTH, tunnel: [3] } },
];

let mux: Mux;

test.before(async () => {
  mux = await createMux({ workers: 1, fleet: FLEET });
});
test.after(async () => {
  await mux.close();
});

test('the fleet may put an MCTP endpoint in front of an MLD\'s FM-owned LD (the checks apply there too)', () => {
  assert.is(mux.fleet.byId.get('mctp0')!.mctp!.fronts, mux.fleet.byId.get('mld0')!.index);
  assert.equal(mux.enumeration!.failed, []);
});

test('no path lets a debug-read session that is not the fabric manager reach the FM-owned LD or another host\'s device', async () => {
  const completedBefore = mux.stats().completed;
  let tried = 0;
  for (const host of [0, 1]) {
    const s = mux.openSession({ tier: 'debug-write-full', host, name: `attacker-host${host}` });
    for (const a of ATTACKS) {
      if (a.ownHost === host) continue;
      assert.is(await outcome(s, a.req), 'EMBX_PERMISSION', `host ${host}: ${a.what}`);
      tried++;
    }
    s.close();
  }
  assert.is(mux.stats().completed, completedBefore, 'no refused request reached a device');
  const refused = mux.auditLog().filter((r) => r.decision === 'refused');
  assert.is(refused.length, tried, 'every refusal is audited');
  const viaFront = refused.filter((r) => r.device === 'mctp0');
  assert.ok(viaFront.length >= 8 && viaFront.every((r) => /fabric-manager/.test(r.reason)), 'refusals through the MLD front name the fabric-manager rule');
});

test('the same paths work for what the session may reach (the checks are not blanket refusals)', async () => {
  const h0 = mux.openSession({ tier: 'debug-read', host: 0 });
  const h1 = mux.openSession({ tier: 'debug-read', host: 1 });
  assert.is(await outcome(h0, { device: 'sw0', opcode: HEALTH, tunnel: [1] }), 'rc0', 'tunnel to the host\'s own SLD');
  assert.is(await outcome(h0, { device: 'mctp1', opcode: TUNNEL, payload: tunnel([1], HEALTH) }), 'rc0', 'the same through the switch\'s MCTP front');
  assert.is(await outcome(h0, { device: 'mem1', opcode: HEALTH }), 'rc0', 'an LD is reached directly by its host');
  // send()'s tunnel field on an MCTP endpoint is the same 5300h message, decoded like a switch mailbox's answer
  const viaField = await h0.send({ device: 'mctp1', opcode: HEALTH, tunnel: [1] });
  const direct = await h0.send({ device: 'sw0', opcode: HEALTH, tunnel: [1] });
  assert.is(viaField.rc, 0);
  assert.is(viaField.payload.byteLength, 0x12, 'the inner Get Health Info answer, not the 5300h envelope');
  assert.equal(viaField.tunnel, direct.tunnel, 'the same hops as through the switch\'s own mailbox');
  assert.is(await outcome(h0, { device: 'mctp1', opcode: HEALTH, tunnel: [1, 2, 3, 4] }), 'EMBX_BAD_REQUEST', 'at most 3 hops');
  assert.is(await outcome(h0, { device: 'mem1', opcode: HEALTH, tunnel: [1] }), 'EMBX_BAD_REQUEST', 'a type-3 mailbox has no tunnel');
  assert.is(await outcome(h1, { device: 'mctp2', opcode: HEALTH }), 'rc0', 'the MCTP front of an LD, by the LD\'s host');
  assert.is(await outcome(h1, { device: 'mem3', opcode: HEALTH }), 'rc0');
  h0.close();
  h1.close();
});

test('a fabric-manager session reaches the FM-owned LD through every path, and the tier still applies', async () => {
  const fm = mux.openSession({ tier: 'debug-read', fabricManager: true });
  const info = await fm.send({ device: 'mctp0', opcode: GET_LD_INFO });
  assert.is(info.rc, 0);
  assert.is(info.payload.byteLength, 0x0b, 'Get LD Info output is 0Bh bytes');
  assert.is(info.payload[8], 2, 'LD Count 2');
  assert.is(await outcome(fm, { device: 'mctp0', opcode: GET_LD_INFO, mctpType: CCI }), 'rc3', 'FM API set over type 8: Unsupported');
  assert.is(await outcome(fm, { device: 'mctp0', opcode: IDENTIFY }), 'rc0');
  assert.is(await outcome(fm, { device: 'mctp0', opcode: TUNNEL, payload: tunnel([1], HEALTH) }), 'rc0');
  assert.is(await outcome(fm, { device: 'mctp1', opcode: TUNNEL, payload: tunnel([2, 1], HEALTH) }), 'rc0');
  assert.is(await outcome(fm, { device: 'sw0', opcode: GET_LD_INFO, tunnel: [2] }), 'rc0');
  // Set LD Allocations is fabric-destructive and this mux has no gate: refused on every path
  const alloc = new Uint8Array(4 + 16);
  alloc[0] = 1;
  const full = mux.openSession({ tier: 'fabric-destructive', fabricManager: true });
  assert.is(await outcome(full, { device: 'mctp0', opcode: SET_LD_ALLOCATIONS, payload: alloc }), 'EMBX_PERMISSION');
  assert.is(await outcome(full, { device: 'sw0', opcode: SET_LD_ALLOCATIONS, payload: alloc, tunnel: [2] }), 'EMBX_PERMISSION');
  assert.is(await outcome(full, { device: 'mctp1', opcode: TUNNEL, payload: tunnel([2], SET_LD_ALLOCATIONS, alloc) }), 'EMBX_PERMISSION');
  fm.close();
  full.close();
});

test.run();
