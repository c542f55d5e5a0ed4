import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, parseFleetFlag } from '../src/index.js';

// The CLI of the same build as this compiled test file.
const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const FLEET = 'cxl-type3=8,cxl-switch=1,nvme=2,mctp-pcc=2';

let client: Client;
let transport: StdioClientTransport;
let stderr = '';
/** what the same fleet's devices answer (the seed fixes every value), read through the library */
let mem0Health: DataView;
let nvme0Smart: DataView;

async function call(name: string, args: Record<string, unknown> = {}): Promise<CallToolResult & { structuredContent?: any }> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult & { structuredContent?: any };
}

/** A resource read, parsed as the JSON text it carries. */
async function resourceJson(uri: string): Promise<any> {
  const c = (await client.readResource({ uri })).contents[0]!;
  assert.is(c.mimeType, 'application/json');
  return JSON.parse('text' in c ? c.text : '');
}

function text(r: CallToolResult): string {
  return r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

test.before(async () => {
  const mux = await createMux({ workers: 1, fleet: parseFleetFlag(FLEET) });
  try {
    const s = mux.openSession();
    const view = (p: Uint8Array): DataView => new DataView(p.buffer, p.byteOffset, p.byteLength);
    mem0Health = view((await s.send({ device: 'mem0', opcode: 0x4200 })).payload);
    // Get Log Page, LID 02h, 512 bytes: NUMDL (dwords - 1) in CDW10 bits 31:16
    nvme0Smart = view((await s.send({ device: 'nvme0', opcode: 0x02, nsid: 0xffffffff, cdw10: (127 << 16) | 0x02 })).payload);
  } finally {
    await mux.close();
  }
  transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', '--tier', 'debug-read', '--fleet', FLEET, '--workers', '1'],
    stderr: 'pipe',
  });
  transport.stderr!.on('data', (b) => (stderr += b));
  client = new Client({ name: 'mbxmux-test', version: '1.0.0' });
  await client.connect(transport);
});

test.after(async () => {
  await client.close();
});

test('listTools shows the five tools with input schemas', async () => {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  assert.equal(names, ['get_health', 'list_devices', 'read_effects_log', 'send_command', 'wait_background']);
  const send = tools.find((t) => t.name === 'send_command')!;
  assert.ok(send.inputSchema.properties?.device);
  assert.ok(send.inputSchema.properties?.opcode);
  assert.equal(send.inputSchema.required?.sort(), ['device', 'opcode']);
  assert.match(client.getInstructions() ?? '', /tier debug-read/);
});

test('list_devices: id, kind, host, shard; filter by kind', async () => {
  const r = await call('list_devices');
  assert.not.ok(r.isError);
  const s = r.structuredContent;
  assert.is(s.total, 20);
  const mem0 = s.devices.find((d: { id: string }) => d.id === 'mem0');
  assert.equal(mem0, { id: 'mem0', kind: 'cxl-type3', host: 0, shard: 0 });
  assert.is(s.devices.find((d: { id: string }) => d.id === 'mctp0').fronts, 'sw0');
  assert.equal(JSON.parse(text(r)).total, 20);
  const nv = await call('list_devices', { kind: 'nvme' });
  assert.equal(nv.structuredContent.devices.map((d: { id: string }) => d.id), ['nvme0', 'nvme1']);
});

test('get_health decodes a type-3 device, an NVMe SMART log, a switch and an MCTP endpoint', async () => {
  const mem = await call('get_health', { device: 'mem0' });
  assert.not.ok(mem.isError, text(mem));
  const h = mem.structuredContent.health;
  assert.is(mem.structuredContent.family, 'cxl-type3');
  // Get Health Info output (CXL r3.1 8.2.9.9.3.1): 03h life used, 04h temperature (s16), 06h dirty shutdowns
  assert.is(h.temperatureC, mem0Health.getInt16(4, true));
  assert.ok(h.temperatureC >= 30 && h.temperatureC < 45, `temperature ${h.temperatureC}`);
  assert.is(h.lifeUsedPercent, mem0Health.getUint8(3));
  assert.is(h.mediaStatus.text, 'normal');
  assert.is(h.additionalStatus.lifeUsed, 'normal');
  assert.is(h.dirtyShutdownCount, mem0Health.getUint32(6, true));

  const nv = await call('get_health', { device: 'nvme0' });
  assert.not.ok(nv.isError, text(nv));
  const s = nv.structuredContent.health;
  // SMART / Health log (NVMe Base 2.0 Figure 207): 01h composite temperature (K), 03h available spare,
  // 05h percentage used, 32 data units read (u128), 128 power-on hours (u128)
  assert.is(s.compositeTemperatureK, nvme0Smart.getUint16(1, true));
  assert.is(s.compositeTemperatureC, s.compositeTemperatureK - 273);
  assert.is(s.percentageUsed, nvme0Smart.getUint8(5));
  assert.is(s.availableSparePercent, nvme0Smart.getUint8(3));
  assert.is(s.dataUnitsRead, Number(nvme0Smart.getBigUint64(32, true)));
  assert.is(nvme0Smart.getBigUint64(40, true), 0n, 'the upper half of the 128-bit count');
  assert.is(s.powerOnHours, Number(nvme0Smart.getBigUint64(128, true)));
  assert.is(s.availableSpareThresholdPercent, 10);
  assert.is(s.criticalWarning.raw, 0);
  assert.ok(s.powerOnHours >= 1000);

  const sw = await call('get_health', { device: 'sw0' });
  assert.not.ok(sw.isError, text(sw));
  const ports = sw.structuredContent.ports;
  assert.is(ports.length, sw.structuredContent.portCount);
  assert.is(ports[0].configState, 'USP');
  assert.ok(ports.some((p: { connectedDeviceType: string; linkUp: boolean }) => p.connectedDeviceType === 'CXL_TYPE3_MLD' && p.linkUp));

  const mctp = await call('get_health', { device: 'mctp1' }); // fronts mem0
  assert.not.ok(mctp.isError, text(mctp));
  assert.equal(mctp.structuredContent.health, h);
});

test('read_effects_log: opcodes with names, effects and the tier each needs', async () => {
  const r = await call('read_effects_log', { device: 'mem0' });
  assert.not.ok(r.isError, text(r));
  const e = r.structuredContent;
  assert.is(e.sessionTier, 'debug-read');
  const health = e.entries.find((x: { opcode: string }) => x.opcode === '0x4200');
  assert.equal([health.name, health.tier, health.allowed], ['Get Health Info', 'configuration', true]);
  const sanitize = e.entries.find((x: { opcode: string }) => x.opcode === '0x4400');
  assert.is(sanitize.name, 'Sanitize');
  assert.is(sanitize.tier, 'debug-write-full');
  assert.is(sanitize.allowed, false);
  assert.ok(sanitize.effects.includes('SECURITY_STATE_CHANGE'));
  const nv = await call('read_effects_log', { device: 'nvme0' });
  const fmt = nv.structuredContent.entries.find((x: { opcode: string }) => x.opcode === '0x80');
  assert.is(fmt.name, 'Format NVM');
  assert.is(fmt.allowed, false);
});

test('send_command by name and by number', async () => {
  const h = await call('send_command', { device: 'mem0', opcode: 'Get Health Info' });
  assert.not.ok(h.isError, text(h));
  assert.equal([h.structuredContent.rc, h.structuredContent.opcode, h.structuredContent.command, h.structuredContent.payloadBytes], [0, '0x4200', 'Get Health Info', 18]);
  const byNum = await call('send_command', { device: 'mem0', opcode: 0x4200 });
  assert.is(byNum.structuredContent.payload, h.structuredContent.payload);
  const hexText = await call('send_command', { device: 'mem0', opcode: 'get_health_info' });
  assert.is(hexText.structuredContent.rc, 0);
  const idc = await call('send_command', { device: 'nvme0', opcode: 'Identify Controller' });
  assert.not.ok(idc.isError, text(idc));
  assert.is(idc.structuredContent.payloadBytes, 4096);
  assert.is(idc.structuredContent.command, 'Identify: Identify Controller');
  assert.is(idc.structuredContent.status.split(' ')[0], 'SUCCESS');
  const smart = await call('send_command', { device: 'nvme1', opcode: 'SMART / Health Information' });
  assert.is(smart.structuredContent.payloadBytes, 512);
  const tunnel = await call('send_command', { device: 'sw0', opcode: 'Get Health Info', tunnel: [1] });
  assert.not.ok(tunnel.isError, text(tunnel));
  assert.is(tunnel.structuredContent.tunnel.failedAt, -1);
  const ts = await call('send_command', { device: 'mem1', opcode: '0x0300' });
  assert.is(ts.structuredContent.command, 'Get Timestamp');
});

test('a command the tier refuses is a tool error naming the tier needed; bad input is a tool error too', async () => {
  const r = await call('send_command', { device: 'mem0', opcode: 'Sanitize' });
  assert.is(r.isError, true);
  assert.match(text(r), /EMBX_PERMISSION/);
  assert.match(text(r), /debug-write-full/);
  assert.match(text(r), /fixed by the operator/);
  const nv = await call('send_command', { device: 'nvme0', opcode: 'Format NVM' });
  assert.is(nv.isError, true);
  assert.match(text(nv), /EMBX_PERMISSION/);
  // NVMe I/O: queue travels (opcode 02h on queue 1 is a Read, not Get Log Page); queue 1 does not exist yet
  const io = await call('send_command', { device: 'nvme0', opcode: 2, queue: 1, nsid: 1 });
  assert.is(io.isError, true);
  assert.match(text(io), /EMBX_BAD_REQUEST.*no I\/O submission queue 1/s);
  const ioWrite = await call('send_command', { device: 'nvme0', opcode: 1, queue: 1, nsid: 1, data: '00'.repeat(512) });
  assert.match(text(ioWrite), /EMBX_PERMISSION.*debug-write-full/s);
  const unknown = await call('send_command', { device: 'mem0', opcode: 'Make Coffee' });
  assert.is(unknown.isError, true);
  assert.match(text(unknown), /no cxl-type3 command is named/);
  const badHex = await call('send_command', { device: 'mem0', opcode: 0x4200, payload: 'xyz' });
  assert.is(badHex.isError, true);
  const noDev = await call('get_health', { device: 'mem99' });
  assert.is(noDev.isError, true);
  assert.match(text(noDev), /EMBX_UNKNOWN_DEVICE/);
  // the server is still alive and answering
  assert.is((await call('send_command', { device: 'mem0', opcode: 'Identify' })).structuredContent.rc, 0);
});

test('annotations per tool; every tool declares an outputSchema and answers structuredContent the client checks against it', async () => {
  const { tools } = await client.listTools();
  const by = Object.fromEntries(tools.map((t) => [t.name, t]));
  for (const name of ['list_devices', 'get_health', 'read_effects_log', 'wait_background']) {
    assert.equal(by[name]!.annotations, { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false }, name);
  }
  // send_command: the worst this session's tier allows; a debug-read session can send nothing the logs say changes state
  assert.equal(by.send_command!.annotations, { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false });
  for (const t of tools) {
    assert.is(t.outputSchema?.type, 'object', t.name);
    assert.ok(Object.keys(t.outputSchema!.properties ?? {}).length > 0, t.name);
  }
  assert.ok(by.send_command!.outputSchema!.required!.includes('hints'));
  // each answer carries the hints of its own command, from the target's effects log
  const h = await call('send_command', { device: 'mem0', opcode: 'get-health-info' });
  assert.equal(h.structuredContent.hints, {
    readOnlyHint: true, destructiveHint: false, idempotentHint: true, tier: 'configuration', effects: [],
    decidedBy: "mem0's Command Effects Log entry for 0x4200 (no effects): tier configuration",
  });
  assert.equal(h.structuredContent.decoded.value.temperatureC, mem0Health.getInt16(4, true));
  const viaTunnel = await call('send_command', { device: 'sw0', tunnel: [1], opcode: 'identify' });
  assert.match(viaTunnel.structuredContent.hints.decidedBy, /^mem8's Command Effects Log entry for 0x0001/);
  const note = await call('send_command', { device: 'mem0', opcode: '4200' });
  assert.match(note.structuredContent.note, /^read "4200" as hex 0x4200 \(Get Health Info\)/);
  const e = await call('read_effects_log', { device: 'mem0' });
  const sanitize = e.structuredContent.entries.find((x: { opcode: string }) => x.opcode === '0x4400');
  assert.equal(sanitize.hints, { readOnlyHint: false, destructiveHint: true, idempotentHint: false });
});

test('resources: the fleet, and each device\'s effects log through a resource template', async () => {
  const { resources } = await client.listResources();
  assert.is(resources[0]!.uri, 'mbxmux://fleet');
  assert.is(resources.length, 1 + 20);
  assert.ok(resources.some((r) => r.uri === 'mbxmux://devices/nvme1/effects' && r.mimeType === 'application/json'));
  const { resourceTemplates } = await client.listResourceTemplates();
  assert.equal(resourceTemplates.map((t) => t.uriTemplate), ['mbxmux://devices/{device}/effects']);
  const fleet = await resourceJson('mbxmux://fleet');
  assert.equal(fleet.session, { tier: 'debug-read', host: 0, fabricManager: false });
  assert.is(fleet.total, 20);
  const reach = Object.fromEntries(fleet.devices.map((d: { id: string; reachable: boolean }) => [d.id, d.reachable]));
  // mem10, mem12 (LDs) and mem13 (port 3) belong to host 1; mld0 answers only through a tunnel
  assert.equal([reach.mem0, reach.mem10, reach.mem12, reach.mem13, reach.mld0, reach.mctp0], [true, false, false, false, false, true]);
  const log = await resourceJson('mbxmux://devices/nvme0/effects');
  assert.equal([log.device, log.family, log.reachable], ['nvme0', 'nvme', true]);
  const read = log.entries.find((x: { set: string; opcode: string }) => x.set === 'io' && x.opcode === '0x02');
  assert.equal([read.name, read.tier, read.allowed], ['Read', 'debug-read', true]);
  const other = await resourceJson('mbxmux://devices/mem13/effects');
  assert.equal([other.reachable, other.unreachableReason, other.entries.some((x: { allowed: boolean }) => x.allowed)], [false, 'mem13 is bound to host 1, not 0', false]);
  let err = '';
  try {
    await client.readResource({ uri: 'mbxmux://devices/mem99/effects' });
  } catch (x) {
    err = (x as Error).message;
  }
  assert.match(err, /unknown device "mem99"/);
  const done = await client.complete({ ref: { type: 'ref/resource', uri: 'mbxmux://devices/{device}/effects' }, argument: { name: 'device', value: 'mem1' } });
  assert.equal(done.completion.values, ['mem1', 'mem10', 'mem11', 'mem12', 'mem13']);
});

test('closing the client stops the server cleanly (stdout carried only the protocol)', async () => {
  const pid = transport.pid!;
  await client.close();
  const end = Date.now() + 5000;
  let alive = true;
  while (alive && Date.now() < end) {
    try {
      process.kill(pid, 0);
      await new Promise((r) => setTimeout(r, 50));
    } catch {
      alive = false;
    }
  }
  assert.is(alive, false, `the mcp process exits when its client goes away; stderr: ${stderr}`);
  assert.match(stderr, /serving 20 devices on stdio \(tier debug-read/);
});

test.run();
