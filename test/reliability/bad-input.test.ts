import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type SendRequest } from '../../src/index.js';
import { rejectedCode } from '../error-code.js';

/**
 * Every public entry point validates. Bad requests interleaved with good ones get typed errors, never crash a
 * worker, and never disturb another request's bytes.
 */

const code = rejectedCode;

test('bad requests interleaved with good ones: typed errors, and every good answer carries its own bytes', async () => {
  const mux = await createMux({ workers: 2, fleet: { 'cxl-type3': 8, 'cxl-switch': 1, nvme: 2, 'mctp-pcc': 2 } });
  try {
    const s = mux.openSession({ tier: 'debug-write-full', fabricManager: true });
    const bad: [string, SendRequest][] = [
      ['unknown device', { device: 'mem999', opcode: 0x4200 }],
      ['device id of the wrong type', { device: 42 as unknown as string, opcode: 0x4200 }],
      ['opcode out of range', { device: 'mem0', opcode: 0x10000 }],
      ['negative opcode', { device: 'mem0', opcode: -1 }],
      ['opcode not a number', { device: 'mem0', opcode: '0x4200' as unknown as number }],
      ['payload too long for the mailbox', { device: 'mem0', opcode: 0x4103, payload: new Uint8Array(4097) }],
      ['payload not bytes', { device: 'mem0', opcode: 0x4103, payload: 'abc' as unknown as Uint8Array }],
      ['malformed raw tunnel', { device: 'sw0', opcode: 0x5300, payload: new Uint8Array([1, 0, 200, 0, 0]) }],
      ['tunnel hop out of range', { device: 'sw0', opcode: 0x4200, tunnel: [300] }],
      ['tunnel to nothing', { device: 'sw0', opcode: 0x4200, tunnel: [4] }],
      ['tunnel on a device that is not a switch', { device: 'mem0', opcode: 0x4200, tunnel: [1] }],
      ['NVMe opcode over 255', { device: 'nvme0', opcode: 0x106 }],
      ['NVMe cdw10 not a dword', { device: 'nvme0', opcode: 0x06, cdw10: 2 ** 32 }],
      ['NVMe data on a controller-to-host command', { device: 'nvme0', opcode: 0x06, cdw10: 1, data: new Uint8Array(4) }],
      ['NVMe data not whole dwords', { device: 'nvme0', opcode: 0x11, data: new Uint8Array(3) }],
      ['MCTP type out of range', { device: 'mctp0', opcode: 0x0001, mctpType: 300 }],
      ['MCTP type on a non-MCTP device', { device: 'mem0', opcode: 0x0001, mctpType: 8 }],
      ['payload larger than an MCTP endpoint\'s message limit', { device: 'mctp1', opcode: 0x4103, payload: new Uint8Array(5000) }],
      ['negative timeout', { device: 'mem0', opcode: 0x4200, timeoutMs: -5 }],
      ['an MLD\'s FM-owned LD addressed directly', { device: 'mld0', opcode: 0x0001 }],
    ];
    const serials = new Map(mux.devices().map((d) => [d.id, d.serial]));
    for (let round = 0; round < 20; round++) {
      const good: Promise<void>[] = [];
      const errs: Promise<[string, string]>[] = [];
      for (let i = 0; i < 8; i++) {
        const dev = `mem${i}`;
        const data = new Uint8Array(8 + 64).map((_, k) => (k * 7 + i * 13 + round) & 0xff);
        data.fill(0, 0, 8);
        good.push((async () => {
          await s.send({ device: dev, opcode: 0x4103, payload: data });
          const get = new Uint8Array(8);
          new DataView(get.buffer).setUint32(4, 64, true);
          const r = await s.send({ device: dev, opcode: 0x4102, payload: get });
          assert.equal(r.payload, data.subarray(8), `${dev} read back its own LSA bytes`);
          const id = await s.send({ device: dev, opcode: 0x0001 });
          assert.is(Buffer.from(id.payload.subarray(8, 16)).readBigUInt64LE().toString(16).padStart(16, '0'), serials.get(dev));
        })());
        const [what, req] = bad[(round * 8 + i) % bad.length]!;
        errs.push(code(s.send(req)).then((c) => [what, c]));
      }
      await Promise.all(good);
      for (const [what, c] of await Promise.all(errs)) {
        assert.ok(['EMBX_BAD_REQUEST', 'EMBX_UNKNOWN_DEVICE'].includes(c), `${what}: ${c}`);
      }
    }
    assert.ok(mux.stats().shards.every((x) => x.status === 'ready' && x.generation === 0), 'no worker crashed or restarted');
  } finally {
    await mux.close();
  }
});

test('bad options and fleets are refused before any worker starts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mbxmux-bad-'));
  const broken = join(dir, 'fleet.json');
  writeFileSync(broken, '{"devices": [{"kind": "cxl-switch", "downstream": [{"port": 9, "device": {"kind": "cxl-type3"}}]}]}');
  const cases: [string, Parameters<typeof createMux>[0]][] = [
    ['zero workers', { workers: 0 }],
    ['ring slots not a power of two', { ringSlots: 1000 }],
    ['negative spin', { spinUs: -1 }],
    ['unknown tier in a vendor rule', { vendorRules: { cxl: { '0xc002': 'root' as never } } }],
    ['opcode that is not one', { vendorRules: { nvme: { '0x1ff': 'debug-write' } } }],
    ['switch port outside the switch', { fleet: broken }],
    ['missing fleet file', { fleet: join(dir, 'nope.json') }],
    ['MCTP fronting an NVMe controller', { fleet: { devices: [{ kind: 'nvme' }, { kind: 'mctp-pcc', fronts: ['nvme0'] }] } }],
  ];
  for (const [what, opts] of cases) {
    const c = await code(createMux({ ...opts, fleet: opts?.fleet ?? { 'cxl-type3': 1 } }));
    assert.ok(['EMBX_BAD_REQUEST', 'EMBX_BAD_FLEET'].includes(c), `${what}: ${c}`);
  }
  const mux = await createMux({ workers: 1, fleet: { 'cxl-type3': 1 } });
  try {
    assert.throws(() => mux.openSession({ tier: 'root' as never }), /unknown tier/);
    assert.throws(() => mux.openSession({ host: -1 }), /host must be/);
    assert.throws(() => mux.effects('nope'), /unknown device/);
  } finally {
    await mux.close();
  }
});

test.run();
