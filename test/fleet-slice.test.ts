import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildFleet, serialFor } from '../src/fleet/expand.js';
import { balanceGroups, parseSlice } from '../src/fleet/slice.js';
import type { DeviceDescriptor, Fleet, FleetFile } from '../src/fleet/types.js';
import { createMux } from '../src/mux/mux.js';
import { thrownCode } from './error-code.js';

/** A fleet with every kind of reference between devices: switch ports, an MLD's LDs, MCTP fronts (a switch and a type-3). */
const FLEET: FleetFile = {
  seed: 11,
  hosts: 2,
  devices: [
    { kind: 'cxl-type3', count: 5 },
    { kind: 'cxl-switch', count: 2 },
    { kind: 'nvme', count: 3 },
    { kind: 'cxl-switch', ports: 4, downstream: [
      { port: 1, device: { kind: 'cxl-mld', lds: [{ host: 0 }, { host: 1 }] } },
      { port: 3, device: { kind: 'cxl-type3', host: 1 } },
    ] },
    { kind: 'cxl-type3', count: 4 },
    { kind: 'mctp-pcc', fronts: ['sw2', 'mem3', 'sw0'], count: 3 },
  ],
};

const code = thrownCode;

/** Every reference of a device, by the id of the device it points at. */
function refs(f: Fleet, d: DeviceDescriptor): Record<string, unknown> {
  const id = (i: number): string => f.devices[i]!.id;
  return {
    ports: d.switchInfo?.downstream.map((p) => [p.port, id(p.target)]),
    lds: d.mld?.lds.map(id),
    parent: d.type3?.mld ? [id(d.type3.mld.parent), d.type3.mld.ld] : undefined,
    fronts: d.mctp ? [id(d.mctp.fronts), d.mctp.mtu, d.mctp.eid] : undefined,
    via: d.tunnelOnly ? [id(d.tunnelOnly.via), d.tunnelOnly.port] : undefined,
  };
}

const identity = (d: DeviceDescriptor): unknown[] => [d.kind, d.serial, d.host, d.group, d.mailboxBytes, d.vendorCommands, d.memBytes, d.nvme, d.type3?.capacityBytes, d.switchInfo?.ports];

test('slices partition the fleet: every device in exactly one, with the id, serial and references it has in the whole fleet', () => {
  const whole = buildFleet(FLEET, 1);
  const byId = new Map(whole.devices.map((d) => [d.id, d]));
  for (const n of [1, 2, 3, 5]) {
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const s = buildFleet(FLEET, 2, { index: i, count: n });
      assert.equal(s.slice, { index: i, count: n });
      assert.is(s.fleetDevices, whole.devices.length);
      s.devices.forEach((d, k) => {
        assert.is(d.index, k, 'renumbered densely');
        assert.not.ok(seen.has(d.id), `${d.id} in slices ${seen.get(d.id)} and ${i} of ${n}`);
        seen.set(d.id, i);
        const w = byId.get(d.id)!;
        assert.is(d.fleetIndex, w.index);
        assert.is(d.serial, serialFor(11, w.index), `${d.id}: the serial of its place in the whole fleet`);
        assert.equal(identity(d), identity(w), d.id);
        assert.equal(refs(s, d), refs(whole, w), `${d.id}: references point at the same devices`);
      });
      // devices keep the fleet's order
      assert.equal(s.devices.map((d) => d.fleetIndex), [...s.devices.map((d) => d.fleetIndex)].sort((a, b) => a - b));
    }
    assert.is(seen.size, whole.devices.length, `${n} slices hold every device`);
  }
});

test('a switch with everything below it and the MCTP endpoints fronting it stay in one slice', () => {
  const whole = buildFleet(FLEET, 1);
  const groups = new Map<number, string[]>();
  for (const d of whole.devices) groups.set(d.group, [...(groups.get(d.group) ?? []), d.id]);
  assert.equal(groups.get(whole.byId.get('sw2')!.group), ['sw2', 'mld2', 'mem17', 'mem18', 'mem19', 'mctp0'], 'the group of sw2');
  for (let i = 0; i < 4; i++) {
    const ids = new Set(buildFleet(FLEET, 1, { index: i, count: 4 }).devices.map((d) => d.id));
    for (const members of groups.values()) {
      const inSlice = members.filter((m) => ids.has(m)).length;
      assert.ok(inSlice === 0 || inSlice === members.length, `group ${members.join(',')} split by slice ${i}/4`);
    }
  }
});

test('slices are balanced by device count and the same on every call', () => {
  const sizes = [0, 1, 2].map((i) => buildFleet({ 'cxl-type3': 100, 'cxl-switch': 4, nvme: 20 }, 1, { index: i, count: 3 }).devices.length);
  assert.is(sizes.reduce((a, b) => a + b), 100 + 4 * 8 + 20);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 8, `sizes ${sizes}: within one group (a switch with 7 devices below)`);
  const a = buildFleet(FLEET, 3, { index: 1, count: 3 });
  const b = buildFleet(FLEET, 3, { index: 1, count: 3 });
  assert.equal(a.devices.map((d) => [d.id, d.shard, d.local, d.memOffset]), b.devices.map((d) => [d.id, d.shard, d.local, d.memOffset]));
  // groups go to the bin with the fewest devices so far, ties to the lowest
  assert.equal([...balanceGroups(new Map([[0, 5], [1, 1], [2, 1], [3, 1], [4, 3]]), 2)], [[0, 0], [1, 1], [2, 1], [3, 1], [4, 1]]);
});

test('an unsliced fleet is unchanged: fleetIndex is the index, one slice of one is the whole fleet', () => {
  const whole = buildFleet(FLEET, 2);
  assert.ok(whole.devices.every((d) => d.fleetIndex === d.index));
  assert.is(whole.slice, undefined);
  const one = buildFleet(FLEET, 2, { index: 0, count: 1 });
  assert.equal(one.devices.map((d) => [d.id, d.shard, d.local, d.memOffset]), whole.devices.map((d) => [d.id, d.shard, d.local, d.memOffset]));
});

test('bad slices: clear EMBX_BAD_FLEET errors', () => {
  assert.equal(parseSlice('2/3'), { index: 2, count: 3 });
  assert.equal(parseSlice(' 0 / 1 '), { index: 0, count: 1 });
  for (const t of ['3/3', '1', '-1/2', 'a/b', '1/0', '']) assert.is(code(() => parseSlice(t)), 'EMBX_BAD_FLEET', t);
  assert.match(String((() => { try { parseSlice('3/3'); } catch (e) { return (e as Error).message; } })()), /numbered 0 to 2/);
  assert.is(code(() => buildFleet({ 'cxl-type3': 2 }, 1, { index: 2, count: 3 })), 'EMBX_BAD_FLEET', 'more slices than groups');
  assert.is(code(() => buildFleet({ 'cxl-type3': 2 }, 1, { index: 1.5, count: 2 })), 'EMBX_BAD_FLEET');
});

test('a mux on a slice serves its devices with their whole-fleet serials, through switch tunnels and MCTP fronts', async () => {
  const whole = buildFleet(FLEET, 1);
  await using mux = await createMux({ workers: 2, fleet: FLEET, slice: { index: 0, count: 2 } });
  const mine = buildFleet(FLEET, 2, { index: 0, count: 2 });
  const infos = mux.devices();
  assert.equal(infos.map((d) => d.id), mine.devices.map((d) => d.id));
  assert.equal(infos.map((d) => d.fleetIndex), mine.devices.map((d) => whole.byId.get(d.id)!.index));
  const s = mux.openSession({ tier: 'debug-read', fabricManager: true });
  let cxl = 0;
  for (const d of infos) {
    if (d.kind !== 'cxl-type3' && d.kind !== 'cxl-switch') continue;
    const r = await s.send({ device: d.id, opcode: 0x0001 }); // Identify: serial number at offset 08h (CXL r3.1 8.2.9.1.1)
    assert.is(r.rc, 0, d.id);
    assert.is(new DataView(r.payload.buffer, r.payload.byteOffset).getBigUint64(0x08, true), whole.byId.get(d.id)!.serial, `${d.id} serial over its mailbox`);
    cxl++;
  }
  assert.ok(cxl >= 4);
  const sw = infos.find((d) => d.kind === 'cxl-switch' && d.downstream!.some((p) => p.device.startsWith('mem')))!;
  const port = sw.downstream!.find((p) => p.device.startsWith('mem'))!;
  const behind = await s.send({ device: sw.id, opcode: 0x0001, tunnel: [port.port] });
  assert.is(behind.rc, 0);
  assert.is(new DataView(behind.payload.buffer, behind.payload.byteOffset).getBigUint64(0x08, true), whole.byId.get(port.device)!.serial, 'the device behind the switch, through 5300h');
  assert.ok(infos.some((d) => d.kind === 'mctp-pcc'), 'the slice has an MCTP endpoint');
  for (const m of infos.filter((d) => d.kind === 'mctp-pcc')) {
    const r = await s.send({ device: m.id, opcode: 0x0001 });
    assert.is(r.rc, 0);
    assert.is(new DataView(r.payload.buffer, r.payload.byteOffset).getBigUint64(0x08, true), whole.byId.get(m.fronts!)!.serial, `${m.id} fronts ${m.fronts}`);
  }
  const other = buildFleet(FLEET, 1, { index: 1, count: 2 }).devices[0]!.id;
  const err = await s.send({ device: other, opcode: 0x0001 }).catch((e: { code: string }) => e.code);
  assert.is(err, 'EMBX_UNKNOWN_DEVICE', 'a device of the other slice is not here');
});

test.run();
