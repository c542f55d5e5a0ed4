import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exposeDevices, type ExposeResult } from '../src/expose/expose.js';
import { createMux, type Mux } from '../src/mux/mux.js';
import type { Session } from '../src/mux/session.js';
import { SocketServer } from '../src/server/socket-server.js';
import { NVME } from './host-tools.js';

// The real Debian nvme-cli (2.3 on Debian 12) against two emulated NVMe controllers, through the preload
// library, with `mbxmux serve`'s socket server running in this process. Expected values come from the same
// controllers asked directly through a mux session and decoded here at the NVMe spec's byte offsets.
// nvme-cli missing is a failure, not a skip: .ci/run installs it with apt-get.

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'mbxmux-expose-nvme-'));
const SOCK = join(dir, 'serve.sock');
const CACHE = join(dir, 'cache');

let mux: Mux;
let server: SocketServer;
let direct: Session;
let full: ExposeResult;
let readOnly: ExposeResult;

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs nvme-cli with an expose environment (or none). Resolves with its exit code and output. */
async function nvme(env: Record<string, string> | null, ...args: string[]): Promise<Run> {
  try {
    const r = await run(NVME, args, { env: { ...process.env, ...(env ?? {}) }, timeout: 30_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: unknown; stdout?: string; stderr?: string };
    if (x.code === 'ENOENT') throw new Error('nvme-cli is not installed: these tests drive the real tool (.ci/run installs it with apt-get install nvme-cli)');
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

async function json<T>(env: Record<string, string>, ...args: string[]): Promise<T> {
  const r = await nvme(env, ...args);
  assert.is(r.code, 0, `nvme ${args.join(' ')}: ${r.err}`);
  return JSON.parse(r.out) as T;
}

async function identifyController(device: string): Promise<DataView> {
  const r = await direct.send({ device, opcode: 0x06, cdw10: 1 });
  assert.is(r.rc, 0);
  return new DataView(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength);
}

const ascii = (v: DataView, from: number, to: number): string => Buffer.from(v.buffer, v.byteOffset + from, to - from).toString('latin1');

test.before(async () => {
  mux = await createMux({ workers: 1, fleet: { seed: 11, hosts: 1, devices: [{ kind: 'nvme', count: 2, namespaces: 2 }] } });
  server = new SocketServer({ mux, maxTier: 'debug-write-full' });
  await server.listen({ path: SOCK });
  direct = mux.openSession({ tier: 'debug-read', name: 'direct' });
  full = await exposeDevices({ socket: SOCK, tier: 'debug-write-full', cacheDir: CACHE });
  // the user chooses devices and order: nvme1 first
  readOnly = await exposeDevices({ socket: SOCK, tier: 'debug-read', nvme: ['nvme1', 'nvme0'], cacheDir: CACHE });
});

test.after(async () => {
  await server.close({ timeoutMs: 1000 });
  await mux.close();
  rmSync(dir, { recursive: true, force: true });
});

test('expose maps both controllers and their namespaces to device paths', () => {
  assert.equal(full.devices.map((d) => `${d.path}=${d.device}${d.nsid ? `:${d.nsid}` : ''}`),
    ['/dev/nvme-mbx0=nvme0', '/dev/nvme-mbx0n1=nvme0:1', '/dev/nvme-mbx0n2=nvme0:2', '/dev/nvme-mbx1=nvme1', '/dev/nvme-mbx1n1=nvme1:1', '/dev/nvme-mbx1n2=nvme1:2']);
  assert.equal(readOnly.devices.filter((d) => d.kind === 'nvme').map((d) => `${d.path}=${d.device}`), ['/dev/nvme-mbx0=nvme1', '/dev/nvme-mbx1=nvme0']);
  assert.match(full.envLine, /^LD_PRELOAD=\S+\.so MBXMUX_SOCKET=\S+ MBXMUX_MAP=\S+ MBXMUX_TIER=debug-write-full$/);
  assert.is(full.session.tier, 'debug-write-full');
});

test('nvme id-ctrl -o json reports what each emulated controller answers (Identify Controller bytes)', async () => {
  for (const [path, device] of [['/dev/nvme-mbx0', 'nvme0'], ['/dev/nvme-mbx1', 'nvme1']] as const) {
    const j = await json<Record<string, unknown>>(full.env, 'id-ctrl', path, '-o', 'json');
    const v = await identifyController(device);
    assert.is(j.vid, v.getUint16(0, true), 'VID bytes 1:0');
    assert.is(j.ssvid, v.getUint16(2, true), 'SSVID bytes 3:2');
    assert.is(j.sn, ascii(v, 4, 24), 'SN bytes 23:4');
    assert.is(j.mn, ascii(v, 24, 64), 'MN bytes 63:24');
    assert.is(j.fr, ascii(v, 64, 72), 'FR bytes 71:64');
    assert.is(j.ieee, v.getUint8(73) | (v.getUint8(74) << 8) | (v.getUint8(75) << 16), 'IEEE bytes 75:73');
    assert.is(j.mdts, v.getUint8(77), 'MDTS byte 77');
    assert.is(j.cntlid, v.getUint16(78, true), 'CNTLID bytes 79:78');
    assert.is(j.ver, v.getUint32(80, true), 'VER bytes 83:80');
    assert.is(j.oacs, v.getUint16(256, true), 'OACS bytes 257:256');
    assert.is(j.frmw, v.getUint8(260), 'FRMW byte 260');
    assert.is(j.lpa, v.getUint8(261), 'LPA byte 261');
    assert.is(j.sanicap, v.getUint32(328, true), 'SANICAP bytes 331:328');
    assert.is(j.nn, v.getUint32(516, true), 'NN bytes 519:516');
    assert.is(j.subnqn, ascii(v, 768, 1024).replace(/\0+$/, ''), 'SUBNQN bytes 1023:768');
  }
  // two distinct controllers, and the second expose session maps them the other way round
  const a = await json<{ sn: string }>(readOnly.env, 'id-ctrl', '/dev/nvme-mbx0', '-o', 'json');
  const b = await json<{ sn: string }>(readOnly.env, 'id-ctrl', '/dev/nvme-mbx1', '-o', 'json');
  assert.is(a.sn, ascii(await identifyController('nvme1'), 4, 24));
  assert.is(b.sn, ascii(await identifyController('nvme0'), 4, 24));
  assert.is.not(a.sn, b.sn);
});

test('nvme smart-log -o json decodes the controller\'s SMART / Health log (LID 02h)', async () => {
  const j = await json<Record<string, unknown>>(full.env, 'smart-log', '/dev/nvme-mbx1', '-o', 'json');
  const r = await direct.send({ device: 'nvme1', opcode: 0x02, nsid: 0xffffffff, cdw10: 0x02 | (127 << 16) });
  const v = new DataView(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength);
  assert.is(j.critical_warning, v.getUint8(0));
  assert.is(j.temperature, v.getUint16(1, true), 'composite temperature, K');
  assert.is(j.avail_spare, v.getUint8(3));
  assert.is(j.spare_thresh, v.getUint8(4));
  assert.is(j.percent_used, v.getUint8(5));
  assert.is(j.data_units_read, String(v.getBigUint64(32, true)));
  assert.is(j.data_units_written, String(v.getBigUint64(48, true)));
  assert.is(j.power_cycles, String(v.getBigUint64(112, true)));
  assert.is(j.power_on_hours, String(v.getBigUint64(128, true)));
  assert.is(j.unsafe_shutdowns, String(v.getBigUint64(144, true)));
  assert.is(j.temperature_sensor_1, v.getUint16(200, true));
});

test('nvme effects-log -c 0 lists the controller\'s Commands Supported and Effects log (LID 05h)', async () => {
  const [j] = await json<{ command_set_identifier: number; admin_cmd_set: Record<string, number>; io_cmd_set: Record<string, number> }[]>(
    full.env, 'effects-log', '/dev/nvme-mbx0', '-c', '0', '-o', 'json');
  const r = await direct.send({ device: 'nvme0', opcode: 0x02, cdw10: 0x05 | (1023 << 16) });
  const v = new DataView(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength);
  assert.is(j!.command_set_identifier, 0);
  const acs = Object.fromEntries(Object.entries(j!.admin_cmd_set).map(([k, x]) => [Number(/ACS_(\d+)/.exec(k)![1]), x]));
  const expected: Record<number, number> = {};
  for (let op = 0; op < 256; op++) if (v.getUint32(op * 4, true) !== 0) expected[op] = v.getUint32(op * 4, true);
  assert.equal(acs, expected);
  // Format NVM: CSUPP | LBCC | NCC | CSE=010b | scope namespace (bit 20) — the bits that make the tier debug-write-full
  assert.is(acs[0x80], 0x1 | 0x2 | 0x4 | (0b010 << 16) | (1 << 20));
  assert.is(Object.keys(j!.io_cmd_set).length, 5);
});

test('nvme get-feature -f 7 shows the Number of Queues dword the controller completes with', async () => {
  const r = await nvme(full.env, 'get-feature', '/dev/nvme-mbx0', '-f', '7');
  assert.is(r.code, 0, r.err);
  const d = await direct.send({ device: 'nvme0', opcode: 0x0a, cdw10: 7 });
  const dw0 = Buffer.from(d.cqe!).readUInt32LE(0);
  assert.match(r.out, new RegExp(`get-feature:0x07 \\(Number of Queues\\), Current value:0x${dw0.toString(16).padStart(8, '0')}`));
  // Temperature Threshold, decoded by nvme-cli from the same dword
  const t = await nvme(full.env, 'get-feature', '/dev/nvme-mbx0', '-f', '4', '-H');
  const td = Buffer.from((await direct.send({ device: 'nvme0', opcode: 0x0a, cdw10: 4 })).cqe!).readUInt32LE(0);
  assert.match(t.out, new RegExp(`Current value:0x${td.toString(16).padStart(8, '0')}`));
  assert.match(t.out, new RegExp(`\\(${td & 0xffff} Kelvin\\)`));
});

test('nvme admin-passthru: the ioctl returns the status field; flags and buffers past MDTS are EINVAL', async () => {
  const bad = await nvme(full.env, 'admin-passthru', '/dev/nvme-mbx0', '--opcode=0x06', '--cdw10=0x55', '--data-len=4096', '-r');
  const direct55 = await direct.send({ device: 'nvme0', opcode: 0x06, cdw10: 0x55 });
  // the kernel returns the whole status field: DNR (bit 14) and More (bit 13, an error log entry was made)
  assert.is(direct55.rc, 0x6002, 'Invalid Field in Command with DNR and More');
  assert.match(bad.err, /NVMe status: Invalid Field in Command.*\(0x6002\)/);
  const ok = await nvme(full.env, 'admin-passthru', '/dev/nvme-mbx0', '--opcode=0x0a', '--cdw10=7');
  assert.is(ok.code, 0, ok.err);
  const queues = Buffer.from((await direct.send({ device: 'nvme0', opcode: 0x0a, cdw10: 7 })).cqe!).readUInt32LE(0);
  assert.match(ok.err, new RegExp(`Get Features is Success and result: 0x${queues.toString(16).padStart(8, '0')}`), 'the result dword');
  const flags = await nvme(full.env, 'admin-passthru', '/dev/nvme-mbx0', '--opcode=0x06', '--cdw10=1', '--data-len=4096', '-r', '--flags=1');
  assert.match(flags.err, /passthru: Invalid argument/);
  const big = await nvme(full.env, 'admin-passthru', '/dev/nvme-mbx0', '--opcode=0x06', '--cdw10=1', '--data-len=262144', '-r');
  assert.match(big.err, /passthru: Invalid argument/, '256 KiB is past the 128 KiB largest transfer');
});

test('nvme fw-download + fw-commit stage and activate an image; id-ctrl and fw-log show it; both are audited', async () => {
  const img = Buffer.alloc(8192);
  img.write('MBXF', 0, 'latin1');
  img.write('2.7.1   ', 4, 'latin1'); // revision, 8 ASCII bytes; byte 12 = 0: activation needs no reset
  const file = join(dir, 'fw.bin');
  writeFileSync(file, img);
  const dl = await nvme(full.env, 'fw-download', '/dev/nvme-mbx0', `--fw=${file}`, '--xfer=4096');
  assert.is(dl.code, 0, dl.err);
  assert.match(dl.out, /Firmware download success/);
  const commit = await nvme(full.env, 'fw-commit', '/dev/nvme-mbx0', '--slot=2', '--action=3');
  assert.is(commit.code, 0, commit.err);
  assert.match(commit.out, /Success committing firmware action:3 slot:2/);
  const id = await json<{ fr: string }>(full.env, 'id-ctrl', '/dev/nvme-mbx0', '-o', 'json');
  assert.is(id.fr, '2.7.1   ');
  assert.is(ascii(await identifyController('nvme0'), 64, 72), '2.7.1   ');
  const log = await json<Record<string, Record<string, unknown>>>(full.env, 'fw-log', '/dev/nvme-mbx0', '-o', 'json');
  assert.is(log['nvme-mbx0']!['Active Firmware Slot (afi)'], 2);
  assert.match(String(log['nvme-mbx0']!['Firmware Rev Slot 2']), /\(2\.7\.1/);
  // the other controller is untouched
  assert.is(ascii(await identifyController('nvme1'), 64, 72), '1.0.0   ');
  const audit = mux.auditLog().filter((a) => a.device === 'nvme0' && /expose:nvme:nvme0/.test(a.session) && a.decision === 'allowed');
  assert.ok(audit.some((a) => a.opcode === 0x11 && a.tier === 'debug-write'), 'FW Image Download audited at debug-write');
  assert.ok(audit.some((a) => a.opcode === 0x10 && a.result === 0), 'FW Commit audited with its result');
});

test('nvme format changes the namespace\'s LBA format (Identify Namespace FLBAS, NUSE)', async () => {
  // one block written through an I/O queue pair makes NUSE non-zero, so the format has something to clear
  const writer = mux.openSession({ tier: 'debug-write-full', name: 'writer' });
  assert.is((await writer.send({ device: 'nvme0', opcode: 0x05, cdw10: 1 | (1 << 16), cdw11: 1 })).rc, 0, 'Create I/O CQ 1');
  assert.is((await writer.send({ device: 'nvme0', opcode: 0x01, cdw10: 1 | (1 << 16), cdw11: 1 | (1 << 16) })).rc, 0, 'Create I/O SQ 1');
  assert.is((await writer.send({ device: 'nvme0', queue: 1, opcode: 0x01, nsid: 2, data: new Uint8Array(512).fill(0xa5) })).rc, 0, 'Write LBA 0');
  assert.is((await writer.send({ device: 'nvme0', opcode: 0x00, cdw10: 1 })).rc, 0, 'Delete I/O SQ 1');
  assert.is((await writer.send({ device: 'nvme0', opcode: 0x04, cdw10: 1 })).rc, 0, 'Delete I/O CQ 1');
  writer.close();
  const before = await json<{ flbas: number; nuse: number }>(full.env, 'id-ns', '/dev/nvme-mbx0n2', '-o', 'json');
  assert.is(before.flbas, 0);
  assert.ok(before.nuse > 0);
  // on a controller character device nvme-cli asks for a rescan after changing the LBA size (NVME_IOCTL_RESCAN)
  const f = await nvme(full.env, 'format', '/dev/nvme-mbx0', '--namespace-id=2', '--lbaf=1', '--force');
  assert.is(f.code, 0, f.err);
  assert.match(f.out, /Success formatting namespace:2/);
  const after = await json<{ flbas: number; nuse: number; nsze: number }>(full.env, 'id-ns', '/dev/nvme-mbx0n2', '-o', 'json');
  const r = await direct.send({ device: 'nvme0', opcode: 0x06, nsid: 2, cdw10: 0 });
  const v = new DataView(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength);
  assert.is(after.flbas, v.getUint8(26));
  assert.is(after.flbas & 0xf, 1);
  assert.is(after.nuse, 0);
  assert.is(after.nsze, Number(v.getBigUint64(0, true)));
  // the namespace device reports its nsid (NVME_IOCTL_ID), so nvme-cli formats the right one
  const g = await nvme(full.env, 'format', '/dev/nvme-mbx1n1', '--lbaf=0', '--force');
  assert.is(g.code, 0, g.err);
  assert.match(g.out, /Success formatting namespace:1/);
});

test('nvme sanitize starts a block erase; sanitize-log reports it', async () => {
  const s = await nvme(full.env, 'sanitize', '/dev/nvme-mbx1', '--sanact=2');
  assert.is(s.code, 0, s.err);
  const log = await json<Record<string, { sstat: { status: string }; cdw10_info: number }>>(full.env, 'sanitize-log', '/dev/nvme-mbx1', '-o', 'json');
  const l = log['nvme-mbx1']!;
  assert.is(l.cdw10_info, 2, 'SCDW10 holds the block-erase action we sent');
  assert.match(l.sstat.status, /Sanitize in Progress|Completed/);
  const r = await direct.send({ device: 'nvme1', opcode: 0x02, cdw10: 0x81 | (127 << 16) });
  assert.is(Buffer.from(r.payload).readUInt32LE(4), 2, 'the device\'s own log 81h SCDW10');
});

test('a command the session\'s tier forbids fails with EACCES (Permission denied) and is audited as refused', async () => {
  const f = await nvme(readOnly.env, 'format', '/dev/nvme-mbx0n1', '--lbaf=0', '--force');
  assert.is.not(f.code, 0);
  assert.match(f.err, /Permission denied/);
  const refused = mux.auditLog().filter((a) => a.decision === 'refused' && a.device === 'nvme1' && a.opcode === 0x80);
  assert.ok(refused.length > 0 && /expose:nvme:nvme1/.test(refused[0]!.session), 'the refusal names the tool\'s session');
  assert.is(refused[0]!.sessionTier, 'debug-read');
  // reads still work in that session
  const ok = await nvme(readOnly.env, 'smart-log', '/dev/nvme-mbx0');
  assert.is(ok.code, 0, ok.err);
});

test('an unknown device path is ENOENT; paths and descriptors the library does not own pass through', async () => {
  const missing = await nvme(full.env, 'id-ctrl', '/dev/nvme-mbx7');
  assert.is.not(missing.code, 0);
  assert.match(missing.err, /No such file or directory/);
  // /dev/null is a real character device: nvme-cli's ioctl reaches the kernel, which answers ENOTTY as without the library
  const plain = await nvme(null, 'smart-log', '/dev/null');
  const viaPreload = await nvme(full.env, 'smart-log', '/dev/null');
  assert.match(plain.err, /Inappropriate ioctl for device/);
  assert.is(viaPreload.err, plain.err);
  assert.is(viaPreload.code, plain.code);
});

test('a server that went away is EIO (Input/output error)', async () => {
  const env = { ...full.env, MBXMUX_SOCKET: join(dir, 'no-server-here.sock') };
  const r = await nvme(env, 'id-ctrl', '/dev/nvme-mbx0');
  assert.is.not(r.code, 0);
  assert.match(r.err, /Input\/output error/);
  assert.match(r.err, /cannot reach mbxmux serve/);
});

test.run();
