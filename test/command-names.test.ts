import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommandCatalog, slug } from '../src/commands/catalog.js';
import { catalog, FAMILIES, getLogCdw10 } from '../src/commands/families.js';
import { commandNames } from '../src/commands/index.js';
import { commandName, resolveCommand } from '../src/commands/resolve.js';
import { commandTarget } from '../src/commands/target.js';
import { buildFleet } from '../src/fleet/expand.js';

// mem0 mem1 | sw0: port 1 mem2, port 2 mld0 (LDs mem3-mem6), port 3 mem7 | nvme0 | mctp0 -> sw0, mctp1 -> mem0
const fleet = buildFleet({ 'cxl-type3': 2, 'cxl-switch': 1, nvme: 1, 'mctp-pcc': 2 }, 1);

/** The error a call throws: [code, message] (['ok', ''] if it did not throw). */
function failure(f: () => unknown): [string, string, Record<string, unknown>] {
  try {
    f();
    return ['ok', '', {}];
  } catch (e) {
    const x = e as { code?: string; message: string; context?: Record<string, unknown> };
    return [x.code ?? 'plain', x.message, x.context ?? {}];
  }
}

const op = (device: string, command: string | number, opts: { tunnel?: number[]; queue?: number } = {}) => {
  const t = commandTarget(fleet, device, opts);
  const c = resolveCommand(t.family, command);
  return { family: t.family, opcode: c.opcode, name: c.name, fields: c.fields, note: c.note };
};

test('cxl-type3: names in any case and punctuation, unique prefixes, aliases', () => {
  for (const text of ['get-health-info', 'Get Health Info', 'GET_HEALTH_INFO', 'get health info', 'get-health', 'health']) {
    assert.equal([op('mem0', text).family, op('mem0', text).opcode, op('mem0', text).name], ['cxl-type3', 0x4200, 'Get Health Info'], text);
  }
  assert.is(op('mem1', 'identify-memory-device').opcode, 0x4000);
  assert.is(op('mem1', 'Identify').opcode, 0x0001, 'an exact name wins over the longer names it prefixes');
  assert.is(op('mem1', 'sanitize').opcode, 0x4400);
  assert.is(op('mem1', 'get-fw-info').opcode, 0x0200);
  assert.is(op('mem1', 'Get Firmware Info').opcode, 0x0200);
  assert.is(op('mem1', 'get-vendor-debug-counters').opcode, 0xc000);
});

test('opcodes: numbers, 0x and h hex, and a bare number read as hex with a note', () => {
  assert.equal([op('mem0', 0x4200).opcode, op('mem0', 0x4200).note], [0x4200, undefined]);
  assert.equal([op('mem0', '0x4200').opcode, op('mem0', '0x4200').note], [0x4200, undefined]);
  assert.equal([op('mem0', '4200h').opcode, op('mem0', '4200H').name], [0x4200, 'Get Health Info']);
  const bare = op('mem0', '4200');
  assert.is(bare.opcode, 0x4200, '4200 is 4200h, not 1068h');
  assert.match(bare.note!, /^read "4200" as hex 0x4200 \(Get Health Info\).*write 0x4200/);
  assert.is(op('nvme0', '6').opcode, 0x06);
  assert.match(op('nvme0', '84').note!, /0x84 \(Sanitize\)/);
  assert.is(op('mem0', '0x7777').name, 'opcode 0x7777', 'an opcode the table lacks still resolves (the device answers Unsupported)');
  const [code, msg] = failure(() => op('mem0', '12345'));
  assert.is(code, 'EMBX_BAD_REQUEST');
  assert.match(msg, /read as hex 0x12345/);
  assert.match(failure(() => op('nvme0', '0x100'))[1], /0x0 to 0x00ff for nvme/);
  assert.is(failure(() => op('mem0', -1))[0], 'EMBX_BAD_REQUEST');
});

test('cxl-switch, and an MCTP endpoint speaking for the switch it fronts', () => {
  assert.equal([op('sw0', 'identify-switch-device').family, op('sw0', 'identify-switch-device').opcode], ['cxl-switch', 0x5100]);
  assert.is(op('sw0', 'Get Physical Port State').opcode, 0x5101);
  assert.is(op('sw0', 'port-state').opcode, 0x5101);
  assert.is(op('sw0', 'tunnel-management-command').opcode, 0x5300);
  assert.is(op('sw0', 'identify').opcode, 0x0001);
  assert.equal([op('mctp0', 'identify-switch').family, op('mctp0', 'identify-switch').opcode], ['cxl-switch', 0x5100]);
  assert.equal([op('mctp1', 'get-health-info').family, op('mctp1', 'get-health-info').opcode], ['cxl-type3', 0x4200]);
  // a switch has no Get Health Info of its own
  assert.match(failure(() => op('sw0', 'get-health-info'))[1], /no cxl-switch command is named "get-health-info"/);
});

test('cxl-mld and tunnels: names come from the device at the end of the tunnel', () => {
  assert.equal([op('sw0', 'get-ld-info', { tunnel: [2] }).family, op('sw0', 'get-ld-info', { tunnel: [2] }).opcode], ['cxl-mld', 0x5400]);
  assert.is(op('sw0', 'Set LD Allocations', { tunnel: [2] }).opcode, 0x5402);
  assert.is(op('mld0', 'get-ld-allocations').opcode, 0x5401);
  assert.equal([op('sw0', 'get-health-info', { tunnel: [1] }).family, op('sw0', 'get-health-info', { tunnel: [1] }).opcode], ['cxl-type3', 0x4200]);
  assert.equal(commandTarget(fleet, 'sw0', { tunnel: [2, 1] }).path, ['sw0', 'mld0', 'mem4']);
  assert.is(op('sw0', 'sanitize', { tunnel: [2, 1] }).family, 'cxl-type3');
  assert.equal(commandTarget(fleet, 'mctp0', { tunnel: [3] }).path, ['mctp0', 'sw0', 'mem7']);
  const [code, msg] = failure(() => op('sw0', 'health', { tunnel: [4] }));
  assert.is(code, 'EMBX_BAD_REQUEST');
  assert.match(msg, /sw0 has no component at port 4/);
  assert.match(failure(() => op('sw0', 'health', { tunnel: [2, 9] }))[1], /mld0 has no component at LD 9/);
  assert.is(failure(() => op('mem99', 'health'))[0], 'EMBX_UNKNOWN_DEVICE');
});

test('nvme admin and I/O sets: Identify and Get Log Page variants fix CNS and log id', () => {
  const idc = op('nvme0', 'identify-controller');
  assert.equal([idc.family, idc.opcode, idc.fields], ['nvme', 0x06, { cdw10: 0x01 }]);
  assert.equal(op('nvme0', 'Identify Namespace').fields, { cdw10: 0x00, nsid: 1 });
  // Get Log Page cdw10: LID in 7:0, NUMDL (dwords - 1) in 31:16: 512 bytes = 127
  assert.equal(op('nvme0', 'smart-log').fields, { cdw10: 0x007f0002, nsid: 0xffffffff });
  assert.equal(op('nvme0', 'SMART / Health Information').fields, op('nvme0', 'smart-log').fields);
  assert.is(getLogCdw10(0x05, 4096), 0x03ff0005);
  assert.is(op('nvme0', 'format-nvm').opcode, 0x80);
  assert.is(op('nvme0', 'create-io-completion-queue').opcode, 0x05, 'slug of "Create I/O Completion Queue"');
  assert.is(op('nvme0', 'Create I/O Completion Queue').opcode, 0x05);
  assert.is(op('nvme0', 'get-log-page').opcode, 0x02);
  // queue 1 and up: the NVM command set, whose Read shares opcode 02h with admin Get Log Page
  assert.equal([op('nvme0', 'read', { queue: 1 }).family, op('nvme0', 'read', { queue: 1 }).opcode], ['nvme-io', 0x02]);
  assert.is(op('nvme0', 'write-zeroes', { queue: 2 }).opcode, 0x08);
  assert.match(failure(() => op('nvme0', 'read'))[1], /no nvme command is named "read"/, 'Read is an I/O command, not an admin one');
  assert.is(commandName('nvme', 0x02, { cdw10: 0x007f0002 }), 'Get Log Page: SMART / Health Information');
  assert.is(commandName('nvme', 0x06, { cdw10: 1 }), 'Identify: Identify Controller');
  assert.is(commandName('nvme', 0x06), 'Identify');
  assert.is(commandName('nvme-io', 0x01), 'Write');
});

test('ambiguity: a prefix that fits several commands is refused, naming each candidate', () => {
  const [code, msg, ctx] = failure(() => op('mem0', 'get-scan'));
  assert.is(code, 'EMBX_BAD_REQUEST');
  assert.match(msg, /"get-scan" is ambiguous for cxl-type3: it could be Get Scan Media Capabilities \(0x4303\), Get Scan Media Results \(0x4305\)/);
  assert.equal(ctx.candidates, ['Get Scan Media Capabilities', 'Get Scan Media Results']);
  assert.match(failure(() => op('sw0', 'get'))[1], /ambiguous for cxl-switch/);
  assert.match(failure(() => op('nvme0', 'identify-n'))[1], /Identify Namespace \(0x06 cdw10 0x0\), Identify Namespace Identification Descriptor List/);
  assert.match(failure(() => op('mld0', 'get-ld'))[1], /Get LD Info \(0x5400\), Get LD Allocations \(0x5401\)/);
  assert.match(failure(() => op('nvme0', 'wr', { queue: 1 }))[1], /ambiguous for nvme-io: it could be Write \(0x01\), Write Zeroes \(0x08\)/);
  assert.is(op('nvme0', 'write', { queue: 1 }).opcode, 0x01, 'an exact name is never ambiguous');
  // aliases of one command are one candidate, not an ambiguity
  assert.is(op('mem0', 'get-firmware').opcode, 0x0200);
  assert.is(op('nvme0', 'smart').fields?.cdw10, 0x007f0002);
});

test('a catalog whose names collide after normalisation is refused when built; every real one builds', () => {
  const [, msg] = failure(() => new CommandCatalog('test', [{ name: 'Get Thing', opcode: 1 }, { name: 'get_thing', opcode: 2 }]));
  assert.match(msg, /the name "get_thing" \(0x0002\) collides with "Get Thing" \(0x0001\)/);
  // two names of the same command are fine
  new CommandCatalog('test', [{ name: 'Get Thing', opcode: 1 }, { name: 'GET THING', opcode: 1 }]);
  for (const family of FAMILIES) {
    const cat = catalog(family);
    for (const c of cat.list) {
      // every table name and every slug resolves back to its own command: no name of a kind means two commands
      const bySlug = cat.lookup(slug(c.name));
      assert.equal([bySlug.opcode, bySlug.fields], [c.opcode, c.fields], `${family}: ${c.name}`);
    }
  }
  assert.ok(catalog('cxl-type3').list.length > 40);
  assert.is(commandNames('cxl-mld'), catalog('cxl-mld').list, 'the public list is the catalog\'s');
});

test('unknown names: suggestions, and hex-looking text pointed at 0x', () => {
  const [, msg] = failure(() => op('mem0', 'Get Health Stuff'));
  assert.match(msg, /no cxl-type3 command is named "Get Health Stuff"; did you mean .*"Get Health Info"/);
  assert.match(failure(() => op('mem0', 'dead'))[1], /an opcode is written 0xdead/);
  assert.match(failure(() => op('mem0', ''))[1], /no cxl-type3 command is named ""/);
});

test.run();
