import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { activeNamespaces, formatMap, mapEntries, selectDevices } from '../src/expose/device-map.js';
import { BadRequestError } from '../src/errors.js';
import type { DeviceInfo } from '../src/mux/types.js';

const dev = (id: string, kind: DeviceInfo['kind'], mailboxBytes = 4096): DeviceInfo => ({ id, kind, fleetIndex: 0, shard: 0, host: 0, serial: '0', mailboxBytes });
const FLEET: DeviceInfo[] = [
  dev('nvme0', 'nvme', 131072), dev('nvme1', 'nvme', 131072), dev('mem0', 'cxl-type3'), dev('sw0', 'cxl-switch'), dev('mem1', 'cxl-type3', 1024),
  dev('mld0', 'cxl-mld'), dev('mctp0', 'mctp-pcc'),
];

test('no selection: every NVMe controller, type-3 device and switch, in the server\'s order', () => {
  const s = selectDevices(FLEET, {});
  assert.equal(s.nvme.map((d) => d.id), ['nvme0', 'nvme1']);
  assert.equal(s.mem.map((d) => d.id), ['mem0', 'mem1']);
  assert.equal(s.switch.map((d) => d.id), ['sw0']);
});

test('a selection names devices in path order; kinds not named are not exposed; "all" takes a whole kind', () => {
  const s = selectDevices(FLEET, { nvme: ['nvme1', 'nvme0'] });
  assert.equal(s.nvme.map((d) => d.id), ['nvme1', 'nvme0']);
  assert.equal([s.mem.length, s.switch.length], [0, 0]);
  assert.equal(selectDevices(FLEET, { mem: ['all'], switch: ['sw0'] }).mem.map((d) => d.id), ['mem0', 'mem1']);
});

test('unknown, wrong-kind and repeated devices are refused with a message naming the flag', () => {
  const err = (sel: Parameters<typeof selectDevices>[1]): BadRequestError => {
    try {
      selectDevices(FLEET, sel);
    } catch (e) {
      return e as BadRequestError;
    }
    throw new Error('expected a refusal');
  };
  const unknown = err({ nvme: ['nvme9'] });
  assert.is(unknown.code, 'EMBX_UNKNOWN_DEVICE');
  assert.match(unknown.message, /--nvme: the server has no device nvme9/);
  assert.match(err({ mem: ['sw0'] }).message, /--mem takes CXL type-3 devices \(mem<N>\); sw0 is a cxl-switch/);
  assert.match(err({ switch: ['mld0'] }).message, /mld0 is a cxl-mld/);
  assert.match(err({ nvme: ['nvme0', 'nvme0'] }).message, /nvme0 is listed twice/);
});

test('device paths and the map file: controllers, their namespaces, memory devices, switches', () => {
  const entries = mapEntries(selectDevices(FLEET, { nvme: ['nvme1'], mem: ['mem1'], switch: ['sw0'] }), new Map([['nvme1', [1, 3]]]));
  assert.is(formatMap(entries, '/tmp/s.sock'), [
    '# mbxmux expose device map: <path> <device> <kind> <payload-bytes> <nsid>',
    '# server /tmp/s.sock',
    '/dev/nvme-mbx0 nvme1 nvme 131072 0',
    '/dev/nvme-mbx0n1 nvme1 nvme-ns 131072 1',
    '/dev/nvme-mbx0n3 nvme1 nvme-ns 131072 3',
    '/dev/cxl/mem-mbx0 mem1 cxl-mem 1024 0',
    '/dev/cxl/switch-mbx0 sw0 cxl-switch 4096 0',
    '',
  ].join('\n'));
});

test('active namespace list (Identify CNS 02h): LE32 ids up to the first 0', () => {
  assert.equal(activeNamespaces(Uint8Array.from([1, 0, 0, 0, 2, 0, 0, 0, 0x10, 1, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0])), [1, 2, 0x110]);
  assert.equal(activeNamespaces(new Uint8Array(4096)), []);
  assert.equal(activeNamespaces(Uint8Array.from([5, 0, 0])), [], 'a partial id is ignored');
});

test.run();
