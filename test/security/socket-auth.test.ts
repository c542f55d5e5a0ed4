import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SocketClient } from '../../src/server/socket-client.js';
import { codeOf, Raw, serve, serveFails, until } from '../socket-harness.js';

/**
 * Issue 11 item 4: who may connect and what they get. TCP needs tokens (or an explicit, warned-about
 * --insecure-no-auth); the Unix socket file is 0600 whatever the umask, from its first moment; a token
 * decides tier cap, hosts and the fabric-manager right; the server, not the client, picks the host;
 * refusals are counted and logged.
 */

const dir = mkdtempSync(join(tmpdir(), 'mbxmux-auth-'));
const READER = randomBytes(32).toString('hex');
const WRITER = randomBytes(32).toString('hex');
const FM = randomBytes(32).toString('hex');
const TOKENS = join(dir, 'tokens.json');
writeFileSync(TOKENS, JSON.stringify({
  tokens: [
    { name: 'reader', token: READER, maxTier: 'debug-read', hosts: [1] },
    { name: 'writer', token: WRITER, maxTier: 'debug-write-full', hosts: [0, 1] },
    // stored as its SHA-256 only
    { name: 'fm', sha256: createHash('sha256').update(FM).digest('hex'), maxTier: 'fabric-destructive', hosts: [0], fabricManager: true },
  ],
}), { mode: 0o600 });

test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `serve ARGS` expecting it to refuse to start (exit 2); returns stderr. */
async function refusedStart(args: string[]): Promise<string> {
  const r = await serveFails(args);
  assert.is(r.code, 2, `serve ${args.join(' ')} must refuse to start (exit 2); started: ${r.started}; stderr: ${r.stderr.trim()}`);
  return r.stderr;
}

test('TCP without tokens is refused; --insecure-no-auth serves it with a warning; a token file makes TCP work', async () => {
  assert.match(await refusedStart(['--port', '0']), /TCP needs authentication/);
  assert.match(await refusedStart(['--port', '0', '--max-tier', 'debug-write-full']), /--tokens/);
  const insecure = await serve(['--port', '0', '--insecure-no-auth', '--max-tier', 'debug-read']);
  try {
    assert.match(insecure.stderr(), /WARNING: --insecure-no-auth/);
    await using c = await SocketClient.connect({ port: insecure.port! });
    assert.is(c.welcome.tier, 'debug-read');
  } finally {
    await insecure.stop();
  }
  const tcp = await serve(['--port', '0', '--tokens', TOKENS]);
  try {
    // a client without a token (the attack of the issue: any local process got --max-tier) is refused
    assert.is(await codeOf(SocketClient.connect({ port: tcp.port!, tier: 'debug-write-full' })), 'EMBX_PERMISSION');
    await using w = await SocketClient.connect({ port: tcp.port!, token: WRITER, tier: 'debug-write-full' });
    assert.equal([w.welcome.tier, w.welcome.host, w.welcome.identity], ['debug-write-full', 0, 'writer']);
    const lsa = new Uint8Array(8 + 4).fill(7);
    lsa.fill(0, 0, 8);
    assert.is((await w.send({ device: 'mem0', opcode: 0x4103, payload: lsa })).rc, 0); // Set LSA: a debug-write-full command
  } finally {
    await tcp.stop();
  }
});

test('the Unix socket file is 0600 under umask 000 from its first moment; --socket-mode sets it; the file is removed on exit', async () => {
  const sock = join(dir, 'm.sock');
  const seen = new Set<number>();
  let polling = true;
  // watch the path while the server starts: any moment at which the file is wider than 0600 is a hole
  const sample = (): void => {
    try {
      seen.add(lstatSync(sock).mode & 0o777);
    } catch {
      // not there yet
    }
  };
  const watcher = (async () => {
    while (polling) {
      sample();
      await new Promise((r) => setImmediate(r));
    }
    sample(); // at least the mode once the server is up
  })();
  const s = await serve(['--socket', sock], { shell: 'umask 000;' });
  polling = false;
  await watcher;
  try {
    assert.is(lstatSync(sock).mode & 0o777, 0o600);
    assert.equal([...seen], [0o600], `modes seen while starting: ${[...seen].map((m) => m.toString(8)).join(', ')}`);
  } finally {
    assert.is(await s.stop(), 0);
  }
  assert.is(existsSync(sock), false);
  const g = await serve(['--socket', sock, '--socket-mode', '660'], { shell: 'umask 000;' });
  try {
    assert.is(lstatSync(sock).mode & 0o777, 0o660);
    assert.match(g.stderr(), /WARNING: socket mode 660 lets other users connect/);
  } finally {
    await g.stop();
  }
});

test('without tokens the operator decides the host: a client may not claim another host (default --hosts 0)', async () => {
  const sock = join(dir, 'h.sock');
  const s = await serve(['--socket', sock, '--max-tier', 'debug-write-full']);
  try {
    assert.is(await codeOf(SocketClient.connect({ path: sock, host: 1 })), 'EMBX_PERMISSION');
    await using c = await SocketClient.connect({ path: sock });
    assert.is(c.welcome.host, 0);
    await until(() => /EMBX_PERMISSION: host 1 is not served here/.test(s.stderr()), 'the refusal in the log');
  } finally {
    await s.stop();
  }
  const two = await serve(['--socket', sock, '--hosts', '1,0']);
  try {
    await using c = await SocketClient.connect({ path: sock });
    assert.is(c.welcome.host, 1, 'a hello without host gets the first of --hosts');
    await using d = await SocketClient.connect({ path: sock, host: 0 });
    assert.is(d.welcome.host, 0);
  } finally {
    await two.stop();
  }
});

test('tokens: each caps tier, hosts and fabric manager; bad or missing tokens are refused, counted and logged', async () => {
  const sock = join(dir, 't.sock');
  const s = await serve(['--socket', sock, '--tokens', TOKENS]);
  try {
    // the reader token: tier capped, host decided by the token (its only host is 1), no fabric manager
    await using r = await SocketClient.connect({ path: sock, token: READER, tier: 'fabric-destructive', fabricManager: true });
    assert.equal([r.welcome.tier, r.welcome.host, r.welcome.fabricManager, r.welcome.identity], ['debug-read', 1, false, 'reader']);
    assert.match(r.welcome.session, /^conn-\d+@reader$/);
    assert.is(await codeOf(r.send({ device: 'mem0', opcode: 0x4400 })), 'EMBX_PERMISSION'); // Sanitize
    assert.is(await codeOf(SocketClient.connect({ path: sock, token: READER, host: 0 })), 'EMBX_PERMISSION');
    // the fm token (stored as a digest) may open fabric-manager sessions
    await using f = await SocketClient.connect({ path: sock, token: FM, fabricManager: true, tier: 'debug-write-full' });
    assert.equal([f.welcome.fabricManager, f.welcome.tier], [true, 'debug-write-full']);
    // missing, wrong, and nearly right tokens
    const nearly = READER.slice(0, -1) + (READER.endsWith('0') ? '1' : '0');
    for (const token of [undefined, 'x', nearly, FM.toUpperCase()]) {
      const raw = await Raw.open({ path: sock });
      raw.send({ type: 'hello', ...(token !== undefined ? { token } : {}) });
      await raw.until(1);
      assert.equal([raw.frames[0]!.type, raw.frames[0]!.code, raw.frames[0]!.lastId], ['error', 'EMBX_PERMISSION', null], String(token));
      assert.match(String(raw.frames[0]!.message), /authentication failed/);
      assert.ok(await raw.closedWithin(), 'closed after the refusal');
    }
    const st = await f.stats();
    assert.is(st.refused.auth, 4);
    assert.is(st.refused.host, 1);
    assert.ok(st.refused.permission >= 1);
    await until(() => (s.stderr().match(/EMBX_PERMISSION: authentication failed/g) ?? []).length === 4, 'four refusals in the log');
    assert.not.match(s.stderr(), new RegExp(READER.slice(0, 16)), 'tokens never reach the log');
  } finally {
    await s.stop();
  }
});

test('token files are checked: plain tokens need mode 600, short tokens and unknown fields are refused, caps flags conflict', async () => {
  const open = join(dir, 'open.json');
  writeFileSync(open, JSON.stringify({ tokens: [{ name: 'a', token: READER }] }), { mode: 0o644 });
  assert.match(await refusedStart(['--socket', join(dir, 'x.sock'), '--tokens', open]), /readable by others \(mode 644\); run chmod 600/);
  const short = join(dir, 'short.json');
  writeFileSync(short, JSON.stringify({ tokens: [{ name: 'a', token: 'hunter2' }] }), { mode: 0o600 });
  assert.match(await refusedStart(['--socket', join(dir, 'x.sock'), '--tokens', short]), /at least 32 characters/);
  const odd = join(dir, 'odd.json');
  writeFileSync(odd, JSON.stringify({ tokens: [{ name: 'a', token: READER, tier: 'debug-read' }] }), { mode: 0o600 });
  assert.match(await refusedStart(['--socket', join(dir, 'x.sock'), '--tokens', odd]), /unknown field "tier"/);
  assert.match(await refusedStart(['--socket', join(dir, 'x.sock'), '--tokens', TOKENS, '--max-tier', 'debug-write']), /does not apply with --tokens/);
});

test.run();
