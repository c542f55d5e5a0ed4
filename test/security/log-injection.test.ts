import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { guardedLog, printable } from '../../src/server/log-text.js';
import { SocketClient } from '../../src/server/socket-client.js';
import { Raw, serve, until } from '../socket-harness.js';

/**
 * Issue 11 item 8: text from a client must not forge the operator's log lines. A hello.name with a newline
 * wrote a second, made-up line into `mbxmux serve`'s log; escape sequences could move the cursor.
 */

const dir = mkdtempSync(join(tmpdir(), 'mbxmux-log-'));
const SOCK = join(dir, 'l.sock');
test.after(() => rmSync(dir, { recursive: true, force: true }));

const FORGED = 'mbxmux serve: conn-99:admin (unix): session tier fabric-destructive, host 0, fabric manager';

test('a hello.name with a newline or an escape sequence is refused and forges no log line', async () => {
  const s = await serve(['--socket', SOCK]);
  try {
    for (const name of [`x\n${FORGED}`, 'x\r\nmbxmux serve: fake', 'x\u001b[2K\u001b[1Gclean', 'x\u2028line', 'x\u202etxt.exe']) {
      const raw = await Raw.open({ path: SOCK });
      raw.send({ type: 'hello', name });
      await raw.until(1);
      assert.equal([raw.frames[0]!.type, raw.frames[0]!.code], ['error', 'EMBX_PROTOCOL'], JSON.stringify(name));
      assert.match(String(raw.frames[0]!.message), /printable/);
      assert.ok(await raw.closedWithin());
    }
    await using ok = await SocketClient.connect({ path: SOCK, name: 'plain name: ok' });
    assert.match(ok.welcome.session, /:plain name: ok$/);
    await until(() => s.stderr().includes('plain name: ok'), 'the good session in the log');
    const lines = s.stderr().split('\n');
    assert.not.ok(lines.some((l) => l.startsWith(FORGED) || l.startsWith('mbxmux serve: fake') || l.startsWith('line') || l.startsWith('txt')),
      `a forged line reached the log:\n${s.stderr()}`);
    assert.not.ok(s.stderr().includes('\u001b') || s.stderr().includes('\u2028') || s.stderr().includes('\u202e'), 'no raw control characters in the log');
    // every line the server wrote is one of its own
    for (const l of lines.filter(Boolean)) assert.match(l, /^mbxmux serve: /, l);
  } finally {
    await s.stop();
  }
});

test('printable() escapes every control character a log line could be forged or redrawn with', () => {
  assert.is(printable('plain: text (ok) ü ✓'), 'plain: text (ok) ü ✓');
  assert.is(printable('a\nb'), 'a\\x0ab');
  assert.is(printable('a\r\n\tb\u0000'), 'a\\x0d\\x0a\\x09b\\x00');
  assert.is(printable('\u001b[31mred'), '\\x1b[31mred');
  assert.is(printable('\u007f\u0085\u009b'), '\\x7f\\x85\\x9b');
  assert.is(printable('\u2028\u2029\u202e\u2066'), '\\u2028\\u2029\\u202e\\u2066');
});

test('the server log sink escapes and rate-limits, and says how many lines it held back', () => {
  const out: string[] = [];
  let clock = 5000;
  const log = guardedLog((l) => out.push(l), 3, () => clock);
  for (let i = 0; i < 10; i++) log(`line ${i}\nforged`);
  assert.equal(out, ['line 0\\x0aforged', 'line 1\\x0aforged', 'line 2\\x0aforged']);
  clock += 1000;
  log('next');
  assert.is(out.at(-1), 'next (7 earlier lines not logged: rate limit)');
});

test.run();
