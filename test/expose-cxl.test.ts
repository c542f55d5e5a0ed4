import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exposeDevices, type ExposeResult } from '../src/expose/expose.js';
import { createMux, type Mux } from '../src/mux/mux.js';
import type { Session } from '../src/mux/session.js';
import { SocketServer } from '../src/server/socket-server.js';

// A C program built here against the kernel's <linux/cxl_mem.h> (test/fixtures/cxl-uapi-probe.c: it knows
// nothing of mbxmux) opens /dev/cxl/mem-mbx0 and /dev/cxl/switch-mbx0 through the preload library and
// issues Identify, Get Health Info and a Tunnel Management command to a logical device behind an MLD.
// Expected bytes come from the same devices asked directly through a mux session; expected sizes, errnos
// and the command table are the Linux 6.1 driver's (drivers/cxl/core/mbox.c), written out by hand here.

const run = promisify(execFile);
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/cxl-uapi-probe.c', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mbxmux-expose-cxl-'));
const SOCK = join(dir, 'serve.sock');
const PROBE = join(dir, 'cxl-uapi-probe');
const PORT = 2; // the default switch topology: an MLD of 4 LDs on port 2
const LD = 1;

let mux: Mux;
let server: SocketServer;
let fm: Session;
let ex: ExposeResult;

interface Step {
  ret: number;
  errno: number;
  retval: number;
  size: number;
  data: Buffer;
}

function parseSteps(out: string): Map<string, Step> {
  const steps = new Map<string, Step>();
  for (const line of out.split('\n')) {
    const m = /^(\S+) ret=(-?\d+) errno=(\d+) retval=(\d+) size=(\d+) data=([0-9a-f]*)$/.exec(line);
    if (m) steps.set(m[1]!, { ret: Number(m[2]), errno: Number(m[3]), retval: Number(m[4]), size: Number(m[5]), data: Buffer.from(m[6]!, 'hex') });
  }
  return steps;
}

async function probe(env: Record<string, string>, ...args: string[]): Promise<string> {
  const r = await run(PROBE, args, { env: { ...process.env, ...env }, timeout: 30_000 });
  return r.stdout;
}

test.before(async () => {
  mux = await createMux({ workers: 1, fleet: { seed: 4, hosts: 2, devices: [{ kind: 'cxl-type3', count: 2 }, { kind: 'cxl-switch' }] } });
  server = new SocketServer({ mux, maxTier: 'debug-write-full', allowFabricManager: true });
  await server.listen({ path: SOCK });
  fm = mux.openSession({ tier: 'debug-read', fabricManager: true, name: 'direct' });
  // the C program is built with the system compiler against the installed kernel uAPI header
  await run('cc', ['-O2', '-Wall', '-o', PROBE, FIXTURE]);
  // a debug-read fabric-manager session: tunnelling to an MLD's LDs needs the fabric manager
  ex = await exposeDevices({ socket: SOCK, mem: ['mem0'], switch: ['sw0'], fabricManager: true, cacheDir: join(dir, 'cache') });
});

test.after(async () => {
  await server.close({ timeoutMs: 1000 });
  await mux.close();
  rmSync(dir, { recursive: true, force: true });
});

test('expose maps the chosen memory device and switch', () => {
  assert.equal(ex.devices.map((d) => `${d.path}=${d.device}:${d.kind}:${d.payloadBytes}`), ['/dev/cxl/mem-mbx0=mem0:cxl-mem:4096', '/dev/cxl/switch-mbx0=sw0:cxl-switch:4096']);
  assert.is(ex.env.MBXMUX_FM, '1');
});

test('the uAPI program: query, Identify, Get Health Info, a tunnelled command, and the kernel\'s refusals', async () => {
  const out = await probe(ex.env, 'all', '/dev/cxl/mem-mbx0', '/dev/cxl/switch-mbx0', String(PORT), String(LD));
  const s = parseSteps(out);

  // CXL_MEM_QUERY_COMMANDS: 21 entries (CXL_MEM_COMMAND_ID_MAX in 6.1), table order, slot 0 all zero, flags 0
  assert.match(out, /^query-count ret=0 n=21$/m);
  assert.match(out, new RegExp('^query-list ret=0 n=21 0:0:0:0 1:0:0:43 2:0:ffffffff:ffffffff 3:0:0:ffffffff 4:0:0:50 5:0:0:20 6:0:8:ffffffff '
    + '7:0:0:12 8:0:18:ffffffff 9:0:a:0 10:0:ffffffff:0 11:0:0:10 12:0:c:0 13:0:0:1 14:0:1:0 15:0:10:ffffffff 16:0:8:0 17:0:48:0 '
    + '18:0:10:4 19:0:11:0 20:0:0:ffffffff$', 'm'));

  // Identify Memory Device: the device answers 45h bytes (CXL 3.1); the driver's table says 43h, and min3()
  // copies no more than the 43h the caller asked for
  const id = await fm.send({ device: 'mem0', opcode: 0x4000 });
  assert.is(id.payload.byteLength, 0x45);
  assert.equal(s.get('identify'), { ret: 0, errno: 0, retval: 0, size: 0x43, data: Buffer.from(id.payload.subarray(0, 0x43)) });
  assert.equal(s.get('raw-identify-full'), { ret: 0, errno: 0, retval: 0, size: 0x45, data: Buffer.from(id.payload) });
  assert.is(Buffer.from(id.payload.subarray(0, 13)).toString('latin1'), 'mbxmux-fw-1.0', 'FW Revision, bytes 0-15');

  const health = await fm.send({ device: 'mem0', opcode: 0x4200 });
  assert.equal(s.get('health'), { ret: 0, errno: 0, retval: 0, size: 0x12, data: Buffer.from(health.payload) });

  // the driver's validation, before anything reaches the device
  assert.equal([s.get('identify-short-buffer')!.ret, s.get('identify-short-buffer')!.errno], [-1, 12], 'out.size < 43h: ENOMEM');
  assert.equal([s.get('raw-out-too-big')!.ret, s.get('raw-out-too-big')!.errno], [-1, 22], 'raw out.size > payload size: EINVAL');
  assert.equal([s.get('raw-sanitize')!.ret, s.get('raw-sanitize')!.errno], [-1, 1], 'raw security command set 44h: EPERM');
  assert.equal([s.get('bad-id')!.ret, s.get('bad-id')!.errno], [-1, 25], 'id >= CXL_MEM_COMMAND_ID_MAX: ENOTTY');
  assert.match(out, /^unknown-ioctl ret=-1 errno=25$/m);
  assert.match(out, /^read ret=-1 errno=22$/m);

  // the session's tier: Set Timestamp (an immediate policy change) needs debug-write-full; refused with EACCES
  assert.equal([s.get('raw-set-timestamp')!.ret, s.get('raw-set-timestamp')!.errno], [-1, 13]);
  const refusal = mux.auditLog().find((a) => a.decision === 'refused' && a.device === 'mem0' && a.opcode === 0x0301);
  assert.ok(refusal && /expose:cxl-uapi-probe:mem0/.test(refusal.session), 'audited under the tool\'s session');

  // a device error: the ioctl succeeds, retval is the device's return code, out.size stays as requested and
  // the caller gets the zeroed bounce buffer (6.1 reads no output length after an error)
  const uuidFF = new Uint8Array(0x18);
  uuidFF[0] = 0xff;
  uuidFF[0x14] = 0x40;
  const bad = await fm.send({ device: 'mem0', opcode: 0x0401, payload: uuidFF });
  assert.is.not(bad.rc, 0);
  assert.equal(s.get('get-log-unknown'), { ret: 0, errno: 0, retval: bad.rc, size: 0x40, data: Buffer.alloc(0x40) });

  // Tunnel Management (5300h) through the switch to LD `LD` of the MLD on port `PORT`, Get Health Info inside
  const t = s.get('tunnel-ld-health')!;
  assert.is(t.ret, 0);
  assert.is(t.retval, 0, 'the outer command succeeds; the inner status travels inside');
  const innerHealth = await fm.send({ device: 'sw0', opcode: 0x4200, tunnel: [PORT, LD] });
  assert.is(innerHealth.rc, 0);
  const p = t.data;
  assert.is(p.byteLength, t.size);
  // outer response: LE16 length, 2 reserved bytes, then the MLD's CCI message: category 1 (response), tag 2,
  // command 00h set 53h, 20-bit payload length, rc 0, vendor status 0
  assert.is(p.readUInt16LE(0), p.byteLength - 4);
  assert.equal([...p.subarray(4, 16)], [1, 2, 0, 0x00, 0x53, 4 + 12 + 18, 0, 0, 0, 0, 0, 0]);
  // inside it the LD's answer: length, reserved, CCI message: response, tag 3, command 00h set 42h, 18 bytes
  assert.is(p.readUInt16LE(16), 12 + 18);
  assert.equal([...p.subarray(20, 32)], [1, 3, 0, 0x00, 0x42, 18, 0, 0, 0, 0, 0, 0]);
  assert.equal(p.subarray(32), Buffer.from(innerHealth.payload), 'the LD\'s health payload');
  // the same raw bytes the switch returns to a direct 5300h
  const raw = await fm.send({ device: 'sw0', opcode: 0x5300, payload: rawTunnel(PORT, LD) });
  assert.equal(p, Buffer.from(raw.payload));
});

/** The probe's request, built independently here: switch port -> MLD's FM-owned LD -> LD, Get Health Info. */
function rawTunnel(port: number, ld: number): Uint8Array {
  const cci = (tag: number, opcode: number, payload: number[]): number[] =>
    [0, tag, 0, opcode & 0xff, opcode >> 8, payload.length & 0xff, (payload.length >> 8) & 0xff, (payload.length >> 16) & 0x0f, 0, 0, 0, 0, ...payload];
  const tunnel = (id: number, msg: number[]): number[] => [id, 0, msg.length & 0xff, msg.length >> 8, ...msg];
  return Uint8Array.from(tunnel(port, cci(2, 0x5300, tunnel(ld, cci(3, 0x4200, [])))));
}

test('a path that is not in the map is left to the system (ENOENT); without the library nothing is found', async () => {
  assert.is(await probe(ex.env, 'open', '/dev/cxl/mem-mbx1'), 'open errno=2\n');
  assert.is(await probe({ LD_PRELOAD: '' }, 'open', '/dev/cxl/mem-mbx0'), 'open errno=2\n');
  assert.is(await probe(ex.env, 'open', '/dev/null'), 'open errno=0\n');
});

test('a descriptor closed behind the library\'s back and reused for another file is that file\'s again', async () => {
  // the open device node is character major 242; /dev/null is 1:3 and answers the CXL ioctl with ENOTTY
  assert.is(await probe(ex.env, 'reuse', '/dev/cxl/mem-mbx0'), 'reuse same=1 ret=-1 errno=25 rdev=1:3\n');
});

test('a device the server does not know (stale map) is ENOENT at open', async () => {
  const stale = await exposeDevices({ socket: SOCK, mem: ['mem1'], cacheDir: join(dir, 'cache') });
  // rewrite the map so the path names a device the server has never had
  const { readFileSync, writeFileSync } = await import('node:fs');
  const map = join(dir, 'stale.map');
  writeFileSync(map, readFileSync(stale.map, 'utf8').replace(' mem1 ', ' mem99 '));
  assert.is(await probe({ ...stale.env, MBXMUX_MAP: map }, 'open', '/dev/cxl/mem-mbx0'), 'open errno=2\n');
});

test('a server that goes away while the device is open: the next ioctl fails with EIO', async () => {
  const child = spawn(PROBE, ['wait', '/dev/cxl/mem-mbx0'], { env: { ...process.env, ...ex.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (err += b));
  const deadline = Date.now() + 10_000;
  while (!out.includes('opened') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.match(out, /opened/, err);
  await server.close({ timeoutMs: 1000 });
  child.stdin.end('go\n');
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.is(code, 0, err);
  assert.match(out, /^health ret=-1 errno=5 /m, `${out}\n${err}`);
  // depending on timing the library sees the server's closing frame or only the closed socket
  assert.match(err, /mbxmux serve ended the session for mem0: EMBX_CLOSED|lost the connection to mbxmux serve/);
});

test.run();
