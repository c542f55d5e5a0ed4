import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { shellQuote } from '../src/expose/expose.js';
import { createMux, type Mux } from '../src/mux/mux.js';
import { SocketServer } from '../src/server/socket-server.js';
import { NVME } from './host-tools.js';

// `mbxmux expose` on the command line, against servers (Unix socket and TCP) running in this process.

const CLI = new URL('../src/cli/main.js', import.meta.url).pathname;
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'mbxmux-expose-cli-'));
const SOCK = join(dir, 'serve.sock');
const CACHE = join(dir, 'cache');
// TCP needs a token: the client's token file holds it on its first line
const TOKEN = 'expose-cli-test-token-0123456789abcdef';
const TOKEN_FILE = join(dir, 'client.token');

let mux: Mux;
let unix: SocketServer;
let tcp: SocketServer;
let port = 0;

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

test.before(async () => {
  mux = await createMux({ workers: 1, fleet: { nvme: 2, 'cxl-type3': 1, seed: 3 } });
  unix = new SocketServer({ mux, maxTier: 'debug-write' });
  await unix.listen({ path: SOCK });
  writeFileSync(TOKEN_FILE, `${TOKEN}\n`, { mode: 0o600 });
  tcp = new SocketServer({ mux, tokens: [{ name: 'expose-test', token: TOKEN, maxTier: 'debug-read', hosts: [0] }] });
  const a = await tcp.listen({ port: 0 });
  port = (a as { port: number }).port;
});

test.after(async () => {
  await unix.close({ timeoutMs: 1000 });
  await tcp.close({ timeoutMs: 1000 });
  await mux.close();
  rmSync(dir, { recursive: true, force: true });
});

test('--print-env prints one line to put in front of a command', async () => {
  const r = await cli(['expose', '--socket', SOCK, '--cache-dir', CACHE, '--print-env', '--tier', 'debug-write']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`^LD_PRELOAD=${CACHE}/preload/mbxmux-preload-[0-9a-f]{16}\\.so MBXMUX_SOCKET=${SOCK} MBXMUX_MAP=${CACHE}/maps/[0-9a-f]{16}\\.map MBXMUX_TIER=debug-write\\n$`));
});

test('asking for fabric-manager sessions from a server that refuses them: MBXMUX_FM=1 and a note on stderr', async () => {
  const r = await cli(['expose', '--socket', SOCK, '--cache-dir', CACHE, '--fm', '--print-env']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, / MBXMUX_FM=1\n$/);
  assert.match(r.err, /note: the server refused fabric-manager sessions \(start it with --allow-fm\)/);
});

test('without --print-env: the device paths, the session the server grants, and an example', async () => {
  const r = await cli(['expose', '--socket', SOCK, '--cache-dir', CACHE, '--tier', 'debug-write-full', '--host', '0']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /^\s+\/dev\/nvme-mbx1\s+-> nvme1 \(NVMe controller\)$/m);
  assert.match(r.out, /^\s+\/dev\/nvme-mbx0n1\s+-> nvme0 namespace 1 \(NVMe namespace\)$/m);
  assert.match(r.out, /^\s+\/dev\/cxl\/mem-mbx0\s+-> mem0 \(CXL memory device\)$/m);
  assert.match(r.out, /each open is a session with tier debug-write \(asked debug-write-full; the server caps it\), host 0/);
  assert.match(r.out, /LD_PRELOAD=\S+ .* nvme id-ctrl \/dev\/nvme-mbx0 -o json/);
});

test('-- COMMAND runs the tool with the environment and exits with its status', async () => {
  const r = await cli(['expose', '--socket', SOCK, '--cache-dir', CACHE, '--nvme', 'nvme1', '--', NVME, 'id-ctrl', '/dev/nvme-mbx0', '-o', 'json']);
  assert.is(r.code, 0, r.err);
  const sn = (JSON.parse(r.out) as { sn: string }).sn;
  const id = await mux.openSession({}).send({ device: 'nvme1', opcode: 0x06, cdw10: 1 });
  assert.is(sn, Buffer.from(id.payload.subarray(4, 24)).toString('latin1'));
  const e = await cli(['expose', '--socket', SOCK, '--cache-dir', CACHE, '--', 'sh', '-c', 'echo "$MBXMUX_TIER"; exit 7']);
  assert.is(e.code, 7);
  assert.is(e.out, 'debug-read\n');
});

test('over TCP with a token file: MBXMUX_SOCKET=tcp:HOST:PORT, the token file (not the token) in the env line, and the tool reaches the device', async () => {
  const r = await cli(['expose', '--port', String(port), '--token-file', TOKEN_FILE, '--cache-dir', CACHE, '--print-env']);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`MBXMUX_SOCKET=tcp:127\\.0\\.0\\.1:${port} `));
  assert.match(r.out, new RegExp(`MBXMUX_TOKEN_FILE=${TOKEN_FILE}`));
  assert.not.match(r.out, new RegExp(TOKEN), 'the secret is not printed');
  assert.not.match(r.out, /MBXMUX_HOST=/, 'no host asked: the server picks it');
  const t = await cli(['expose', '--port', String(port), '--address', '127.0.0.1', '--token-file', TOKEN_FILE, '--cache-dir', CACHE, '--', NVME, 'smart-log', '/dev/nvme-mbx1', '-o', 'json']);
  assert.is(t.code, 0, t.err);
  assert.ok((JSON.parse(t.out) as { temperature: number }).temperature > 273);
});

test('over TCP without the token: expose is refused, and so is the tool (EIO/EACCES, never a session)', async () => {
  const r = await cli(['expose', '--port', String(port), '--cache-dir', CACHE, '--print-env']);
  assert.is(r.code, 1);
  assert.match(r.err, /^mbxmux expose: EMBX_PERMISSION: /);
  const wrong = join(dir, 'wrong.token');
  writeFileSync(wrong, 'not-the-token\n', { mode: 0o600 });
  const w = await cli(['expose', '--port', String(port), '--token-file', wrong, '--cache-dir', CACHE, '--print-env']);
  assert.is(w.code, 1);
  assert.match(w.err, /EMBX_PERMISSION/);
});

test('bad usage is one line on stderr and exit 2; an unreachable server or no compiler exit 1', async () => {
  for (const args of [
    ['expose'], ['expose', '--socket', SOCK, '--port', '1'], ['expose', '--socket', SOCK, 'nvme'], ['expose', '--socket', SOCK, '--print-env', '--', 'true'],
    ['expose', '--socket', SOCK, '--'], ['expose', '--socket', SOCK, '--fleet', 'nvme=1'], ['expose', '--socket', SOCK, '--address', '::1'],
    ['expose', '--socket', SOCK, '--tier', 'root'], ['expose', '--socket', SOCK, '--nvme', 'mem0'], ['expose', '--socket', SOCK, '--mem', 'mem7'],
  ]) {
    const r = await cli([...args, '--cache-dir', CACHE]);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.is(r.err.trim().split('\n').length, 1, r.err);
    assert.match(r.err, /^mbxmux expose: /);
  }
  const gone = await cli(['expose', '--socket', join(dir, 'nobody.sock'), '--cache-dir', CACHE]);
  assert.is(gone.code, 1);
  assert.match(gone.err, /^mbxmux expose: EMBX_CLOSED: cannot connect to /);
  const noCc = await cli(['expose', '--socket', SOCK, '--cache-dir', join(dir, 'fresh-cache')], { CC: 'mbxmux-no-such-cc' });
  assert.is(noCc.code, 1);
  assert.match(noCc.err, /^mbxmux expose: EMBX_BUILD: no C compiler found/);
  assert.ok((await cli(['expose', '--help'])).out.includes('--print-env'));
});

test('shellQuote leaves plain words alone and single-quotes anything else', () => {
  assert.is(shellQuote('/home/u/.cache/mbxmux/x.so'), '/home/u/.cache/mbxmux/x.so');
  assert.is(shellQuote('tcp:127.0.0.1:7000'), 'tcp:127.0.0.1:7000');
  assert.is(shellQuote('/tmp/my dir/s.sock'), "'/tmp/my dir/s.sock'");
  assert.is(shellQuote("it's"), "'it'\\''s'");
});

test.run();
