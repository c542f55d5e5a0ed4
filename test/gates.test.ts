import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * The gates catch a broken build: scripts/check-gates.mjs breaks a temporary copy of this build (a skipped
 * test, a test file with no test, a frame writer that writes wrong lengths, a worker that drops
 * completions, an import cycle in the sources) and runs the test runner there, which must report a failure
 * each time.
 */

const SCRIPT = new URL('../../scripts/check-gates.mjs', import.meta.url).pathname;

function checkGates(name: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SCRIPT, name], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('close', (code) => resolve({ code, out }));
  });
}

for (const [name, what] of [
  ['skipped-test', 'a skipped test fails the run'],
  ['empty-file', 'a test file that runs no test fails the run'],
  ['frame-length', 'a frame writer whose lengths are one too big fails server-codec.test'],
  ['dropped-completion', 'a worker that drops completions fails the soak'],
  ['import-cycle', 'an import cycle planted in src/ fails import-cycles.test'],
] as const) {
  test(`broken build: ${what}`, async () => {
    const { code, out } = await checkGates(name);
    console.log(`  ${out.trim().split('\n')[0]}`);
    assert.is(code, 0, out);
    assert.match(out, new RegExp(`^caught ${name}: `, 'm'));
  });
}

test.run();
