import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildFleet, loadFleetFile, parseFleetFlag, serialFor } from '../src/fleet/expand.js';
import { thrownCode } from './error-code.js';

const code = thrownCode;

test('counts expand deterministically: same input, same ids, serials, shards and offsets', () => {
  const a = buildFleet({ 'cxl-type3': 50, seed: 9 }, 3);
  const b = buildFleet({ 'cxl-type3': 50, seed: 9 }, 3);
  assert.equal(a.devices.map((d) => [d.id, d.serial, d.shard, d.local, d.memOffset]), b.devices.map((d) => [d.id, d.serial, d.shard, d.local, d.memOffset]));
  assert.is(a.devices[0]!.id, 'mem0');
  assert.is(a.devices[49]!.id, 'mem49');
  assert.is.not(buildFleet({ 'cxl-type3': 1, seed: 10 }, 1).devices[0]!.serial, a.devices[0]!.serial, 'seed changes serials');
});

test('shards are balanced and every device lives in exactly one', () => {
  const f = buildFleet({ 'cxl-type3': 1001 }, 4);
  const sizes = f.perShard.map((s) => s.length);
  assert.is(sizes.reduce((x, y) => x + y), 1001);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
  const seen = new Set<number>();
  f.perShard.forEach((list, shard) => list.forEach((idx, local) => {
    assert.not.ok(seen.has(idx));
    seen.add(idx);
    assert.is(f.devices[idx]!.shard, shard);
    assert.is(f.devices[idx]!.local, local);
  }));
});

test('mailbox blocks never overlap inside a shard arena and respect their alignment', () => {
  const f = buildFleet({ devices: [{ kind: 'cxl-type3', count: 20, mailboxBytes: 256 }, { kind: 'cxl-type3', count: 20, mailboxBytes: 1 << 20 }] }, 2);
  for (const list of f.perShard) {
    const blocks = list.map((i) => f.devices[i]!).sort((x, y) => x.memOffset - y.memOffset);
    for (let i = 1; i < blocks.length; i++) assert.ok(blocks[i]!.memOffset >= blocks[i - 1]!.memOffset + blocks[i - 1]!.memBytes);
    for (const d of blocks) assert.is(d.memOffset % (d.mailboxBytes >= 4096 ? 4096 : 64), 0);
  }
});

test('serial numbers are 64-bit and differ between devices', () => {
  const s = new Set<bigint>();
  for (let i = 0; i < 1000; i++) s.add(serialFor(1, i));
  assert.is(s.size, 1000);
  assert.ok([...s].every((x) => x >= 0n && x < 2n ** 64n));
});

test('--fleet flag parsing and its errors', () => {
  assert.equal(parseFleetFlag('cxl-type3=1024,nvme=4,seed=3'), { 'cxl-type3': 1024, nvme: 4, seed: 3 });
  assert.is(code(() => parseFleetFlag('cxl-type3')), 'EMBX_BAD_FLEET');
  assert.is(code(() => parseFleetFlag('gpu=3')), 'EMBX_BAD_FLEET');
});

test('bad fleets are refused with EMBX_BAD_FLEET and a message naming the field', () => {
  const bad: unknown[] = [
    { devices: [{ kind: 'cxl-type3', mailboxBytes: 1000 }] },
    { devices: [{ kind: 'cxl-type3', mailboxBytes: 128 }] },
    { devices: [{ kind: 'cxl-type3', count: -1 }] },
    { devices: [{ kind: 'toaster' }] },
    { devices: [{ kind: 'cxl-type3', vendorCommands: 'maybe' }] },
    { devices: [{ kind: 'cxl-type3', faults: { busy: 2 } }] },
    { devices: [{ kind: 'cxl-type3', faults: { explode: true } }] },
    { devices: [{ kind: 'cxl-type3', faults: { testOnly: { dropCompletion: 2 } } }] },
    { devices: [{ kind: 'cxl-type3', faults: { testOnly: { loseEverything: 1 } } }] },
    { devices: [{ kind: 'cxl-type3', faults: { testOnly: true } }] },
    { devices: [{ kind: 'cxl-type3', capacityBytes: 1000 }] },
    { devices: [{ kind: 'cxl-type3', host: 5 }], hosts: 2 },
    { devices: 'all of them' },
  ];
  for (const f of bad) assert.is(code(() => buildFleet(f as never, 1)), 'EMBX_BAD_FLEET', JSON.stringify(f));
  const message = (f: unknown): string => {
    try {
      buildFleet(f as never, 1);
    } catch (e) {
      return (e as Error).message;
    }
    assert.unreachable(`the fleet was accepted: ${JSON.stringify(f)}`);
    return '';
  };
  assert.match(message({ devices: [{ kind: 'cxl-type3', mailboxBytes: 1000 }] }), /fleet\.devices\[0\]\.mailboxBytes must be a power of two/);
  assert.match(message({ devices: [{ kind: 'cxl-type3', faults: { testOnly: { loseEverything: 1 } } }] }),
    /fleet\.devices\[0\]\.faults\.testOnly\.loseEverything is not a test-only fault; use dropCompletion, duplicateCompletion, misdeliverCompletion/);
  assert.equal(buildFleet({ devices: [{ kind: 'cxl-type3', faults: { testOnly: { dropCompletion: 0.5 } } }] }, 1).devices[0]!.faults,
    { testOnly: { dropCompletion: 0.5 } });
});

test('fleet files: read, and clear errors for missing or malformed files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mbxmux-fleet-'));
  const good = join(dir, 'good.json');
  writeFileSync(good, JSON.stringify({ seed: 4, devices: [{ kind: 'cxl-type3', count: 3 }] }));
  assert.is(buildFleet(loadFleetFile(good), 1).devices.length, 3);
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{ "devices": [');
  assert.is(code(() => loadFleetFile(broken)), 'EMBX_BAD_FLEET');
  assert.is(code(() => loadFleetFile(join(dir, 'missing.json'))), 'EMBX_BAD_FLEET');
  writeFileSync(broken, '{ "things": [] }');
  assert.is(code(() => loadFleetFile(broken)), 'EMBX_BAD_FLEET');
});

test.run();
