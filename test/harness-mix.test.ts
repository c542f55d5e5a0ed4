import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BadRequestError } from '../src/errors.js';
import { buildFleet } from '../src/fleet/expand.js';
import type { FleetInput } from '../src/fleet/types.js';
import { buildSchedule, DEFAULT_MIX, describeCommands, mixDevices, NAMED_COMMANDS, parseMix } from '../src/harness/mix.js';

const devicesOf = (f: FleetInput) => mixDevices(buildFleet(f, 2).devices);
const MIXED = { 'cxl-type3': 8, 'cxl-switch': 2, nvme: 4, 'mctp-pcc': 4 };

const throwsBad = (fn: () => unknown, re: RegExp): void => {
  try {
    fn();
  } catch (e) {
    assert.instance(e, BadRequestError);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected a BadRequestError matching ${re}`);
};

test('parseMix: names, weights (default 1), kind filters and labels', () => {
  const m = parseMix('health=80, log=15,identify');
  assert.equal(m.map((e) => [e.label, e.weight]), [['health', 80], ['log', 15], ['identify', 1]]);
  assert.is(m[0]!.command, NAMED_COMMANDS.health);
  const k = parseMix('health@nvme=2.5,health@mem+sw=1,ports@mctp');
  assert.equal(k.map((e) => [e.label, e.kinds]), [['health@nvme', ['nvme']], ['health@mem+sw', ['cxl-type3', 'cxl-switch']], ['ports@mctp', ['mctp-pcc']]]);
  assert.is(k[0]!.weight, 2.5);
  assert.is(parseMix(DEFAULT_MIX).length, 3);
});

test('parseMix: every mistake is a BadRequestError naming the item', () => {
  throwsBad(() => parseMix('helth=5'), /bad --mix item "helth=5".*health, log, fw, identify, timestamp, ports, tunnel/);
  throwsBad(() => parseMix('health=0'), /weight for health=0 must be > 0/);
  throwsBad(() => parseMix('health=-1'), /bad --mix item/);
  throwsBad(() => parseMix('health=x'), /bad --mix item/);
  throwsBad(() => parseMix('health@gpu=1'), /unknown device kind "gpu"/);
  throwsBad(() => parseMix('tunnel@nvme=1'), /"tunnel" has no form for nvme/);
  throwsBad(() => parseMix('timestamp@nvme'), /has no form for nvme/);
  throwsBad(() => parseMix('log=1,log=2'), /names "log" twice/);
  throwsBad(() => parseMix(' , '), /empty/);
});


test('buildSchedule: each name maps to the real read-only command of each kind', () => {
  const devs = devicesOf(MIXED);
  const s = buildSchedule(parseMix('health,log,fw,identify,ports,tunnel,timestamp'), devs, { size: 8192 });
  const pick = (name: string, id: string) => s.items.find((i) => i.name === name && i.req.device === id)?.req;
  // health
  assert.equal(pick('health', 'mem0'), { opcode: 0x4200, device: 'mem0' });
  assert.equal(pick('health', 'nvme0'), { opcode: 0x02, nsid: 0xffffffff, cdw10: 0x02 | (1 << 15) | ((512 / 4 - 1) << 16), device: 'nvme0' });
  const swHealth = pick('health', 'sw0')!;
  assert.is(swHealth.opcode, 0x5101);
  assert.equal([...swHealth.payload!], [5, 0, 1, 2, 3, 4], 'Get Physical Port State of all 5 ports');
  // MCTP endpoints front the switches first, then memory devices
  const fronts = new Map(devs.filter((d) => d.kind === 'mctp-pcc').map((d) => [d.id, d.fronts!.kind]));
  assert.equal([...fronts.values()], ['cxl-switch', 'cxl-switch', 'cxl-type3', 'cxl-type3']);
  assert.is(pick('health', 'mctp0')!.opcode, 0x5101);
  assert.is(pick('health', 'mctp2')!.opcode, 0x4200);
  // log / fw / identify / timestamp
  assert.is(pick('log', 'mem1')!.opcode, 0x0401);
  assert.is(pick('log', 'mem1')!.payload!.byteLength, 0x18);
  assert.is(pick('log', 'sw1')!.opcode, 0x0401);
  assert.equal(pick('log', 'nvme1'), { opcode: 0x02, nsid: 0, cdw10: 0x05 | (1 << 15) | ((4096 / 4 - 1) << 16), device: 'nvme1' });
  assert.is(pick('fw', 'mem0')!.opcode, 0x0200);
  assert.is(pick('fw', 'nvme0')!.cdw10! & 0xff, 0x03);
  assert.equal(pick('identify', 'nvme2'), { opcode: 0x06, cdw10: 0x01, device: 'nvme2' });
  assert.is(pick('identify', 'mctp3')!.opcode, 0x0001);
  assert.is(pick('timestamp', 'sw0')!.opcode, 0x0300);
  assert.not.ok(s.items.some((i) => i.name === 'timestamp' && i.kind === 'nvme'), 'NVMe has no Get Timestamp');
  // ports: switches, and MCTP endpoints in front of a switch only
  assert.equal(new Set(s.items.filter((i) => i.name === 'ports').map((i) => i.req.device)), new Set(['sw0', 'sw1', 'mctp0', 'mctp1']));
  // tunnel: Get Health Info of the SLD on port 1 (the default topology: SLD 1, MLD 2, SLD 3)
  assert.equal(pick('tunnel', 'sw0'), { opcode: 0x4200, tunnel: [1], device: 'sw0' });
  assert.equal(new Set(s.items.filter((i) => i.name === 'tunnel').map((i) => i.kind)), new Set(['cxl-switch']));
  // an MLD's FM-owned LD is never addressed directly
  assert.not.ok(s.items.some((i) => i.req.device.startsWith('mld')));
  assert.equal(s.names, ['health', 'log', 'fw', 'identify', 'ports', 'tunnel', 'timestamp']);
});

test('buildSchedule: weights, every eligible device takes part, deterministic by seed', () => {
  const devs = devicesOf(MIXED);
  const s = buildSchedule(parseMix('health=80,log=15,identify=5'), devs, { size: 10_000 });
  const count = (n: string) => s.items.filter((i) => i.name === n).length;
  assert.is(count('health'), 8000);
  assert.is(count('log'), 1500);
  assert.is(count('identify'), 500);
  const direct = devs.filter((d) => !d.tunnelOnly);
  assert.is(s.devices.health, direct.length, 'health reaches every directly addressable device');
  assert.equal(new Set(s.items.filter((i) => i.name === 'health').map((i) => i.req.device)).size, direct.length);
  assert.equal(s.kindDevices['cxl-switch'], 2);
  // shuffled, not grouped by command
  assert.ok(s.items.slice(0, 200).some((i) => i.name !== 'health'));
  const again = buildSchedule(parseMix('health=80,log=15,identify=5'), devs, { size: 10_000 });
  assert.equal(again.items.map((i) => i.req.device), s.items.map((i) => i.req.device));
  const other = buildSchedule(parseMix('health=80,log=15,identify=5'), devs, { size: 10_000, seed: 2 });
  assert.not.equal(other.items.map((i) => i.req.device), s.items.map((i) => i.req.device));
  // default size: 4 slots per eligible device, at least 4096
  assert.is(buildSchedule(parseMix('health'), devs).items.length, 4096);
  const t = buildSchedule(parseMix('health'), devs, { timeoutMs: 250 });
  assert.ok(t.items.every((i) => i.req.timeoutMs === 250));
});

test('buildSchedule: a name no device of the fleet can take is a usage error', () => {
  const t3 = devicesOf({ 'cxl-type3': 4 });
  throwsBad(() => buildSchedule(parseMix('tunnel'), t3), /no device in the fleet supports "tunnel".*cxl-switch.*the fleet has cxl-type3/);
  throwsBad(() => buildSchedule(parseMix('health,ports'), t3), /supports "ports"/);
  throwsBad(() => buildSchedule(parseMix('health@nvme'), t3), /supports "health@nvme"/);
  const nv = devicesOf({ nvme: 2 });
  throwsBad(() => buildSchedule(parseMix('timestamp'), nv), /supports "timestamp"/);
  // a switch whose downstream ports hold only an MLD has no SLD to tunnel to
  const mldOnly = devicesOf({ devices: [{ kind: 'cxl-switch', downstream: [{ port: 2, device: { kind: 'cxl-mld', lds: [{ host: 0 }] } }] }] });
  throwsBad(() => buildSchedule(parseMix('tunnel'), mldOnly), /supports "tunnel"/);
  assert.is(buildSchedule(parseMix('ports'), mldOnly).items.length, 4096);
});

test('buildSchedule: read and write are 4 KiB NVMe I/O on queue 1 (LBA 0, NLB 7 of 512-byte blocks); their controllers need the queue', () => {
  const devs = devicesOf({ devices: [{ kind: 'cxl-type3', count: 2 }, { kind: 'nvme', count: 2 }, { kind: 'nvme', count: 1, namespaces: 0 }] });
  const s = buildSchedule(parseMix('read=3,write=1,health'), devs, { size: 4096 });
  const read = s.items.find((i) => i.name === 'read')!.req;
  assert.equal(read, { device: read.device, opcode: 0x02, queue: 1, nsid: 1, cdw10: 0, cdw12: 7 });
  const write = s.items.find((i) => i.name === 'write')!.req;
  assert.equal([write.opcode, write.queue, write.nsid, write.cdw10, write.cdw12, write.data!.byteLength], [0x01, 1, 1, 0, 7, 4096]);
  assert.equal(new Set(s.items.filter((i) => i.name === 'read' || i.name === 'write').map((i) => i.req.device)), new Set(['nvme0', 'nvme1']),
    'not the controller without a namespace, no CXL device');
  assert.equal(s.ioQueueDevices.sort(), ['nvme0', 'nvme1']);
  assert.equal(buildSchedule(parseMix('health'), devs).ioQueueDevices, []);
  assert.is(s.ioQueue, 1);
  // another queue (a segment's own): on every read / write item, and on nothing else
  const q5 = buildSchedule(parseMix('read=3,write=1,health@nvme'), devs, { size: 4096, ioQueue: 5 });
  assert.is(q5.ioQueue, 5);
  assert.equal(new Set(q5.items.map((i) => `${i.name}:${i.req.queue}`)), new Set(['read:5', 'write:5', 'health@nvme:undefined']));
  throwsBad(() => buildSchedule(parseMix('read'), devs, { ioQueue: 65 }), /ioQueue 65: an NVMe I\/O queue id is an integer from 1 to 64/);
  throwsBad(() => buildSchedule(parseMix('read'), devs, { ioQueue: 0 }), /from 1 to 64/);
  throwsBad(() => parseMix('read@mem'), /"read" has no form for cxl-type3/);
  throwsBad(() => buildSchedule(parseMix('write'), devicesOf({ 'cxl-type3': 2 })), /supports "write"/);
  assert.match(describeCommands(), /\n {2}read {7}nvme {8}Read \(02h\) 4 KiB/);
});

test('buildSchedule: a host session takes only the devices its host may reach', () => {
  const devs = devicesOf({ devices: [{ kind: 'cxl-type3', count: 2, host: 0 }, { kind: 'cxl-type3', count: 3, host: 1 }, { kind: 'cxl-switch', host: 1 }], hosts: 2 });
  const h1 = buildSchedule(parseMix('health,tunnel'), devs, { session: { host: 1, fabricManager: false } });
  const reached = new Set(h1.items.map((i) => i.req.device));
  const host1 = devs.filter((d) => d.host === 1 && !d.tunnelOnly).map((d) => d.id);
  assert.equal(reached, new Set(host1));
  // the switch's SLD for host 1 sits on port 3 (port 1's SLD belongs to host 0)
  assert.equal(h1.items.find((i) => i.name === 'tunnel')!.req.tunnel, [3]);
  throwsBad(() => buildSchedule(parseMix('ports'), devs, { session: { host: 0, fabricManager: false } }), /that host 0 may reach supports "ports"/);
  assert.match(describeCommands(), /\n {2}tunnel {5}cxl-switch {2}5300h/);
});

test.run();
