import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * `mbxmux devices | head`: when the reader of its output goes away, a command exits quietly (status 0, no error
 * on stderr) instead of dying with an EPIPE stack (issue 11, item 13). The read end is closed before the
 * command writes anything, so its first write meets EPIPE whatever the output's size.
 */

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname;
const SMALL = ['--fleet', 'cxl-type3=2', '--workers', '1'];

function runWithClosedStdout(args: string[]): Promise<{ code: number | null; signal: string | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone, as `head` is after its lines
    let err = '';
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, err });
    });
  });
}

test('every printing command exits 0 without a stack when its stdout reader has gone', async () => {
  const commands = [
    ['--help'],
    ['devices', '--help'],
    ['devices', ...SMALL],
    ['devices', '--json', ...SMALL],
    ['send', 'mem0', '0x4200', '--json', ...SMALL],
    ['send', 'mem0', '0x0001', ...SMALL],
    ['load', '--duration', '200ms', '--warmup', '0s', ...SMALL],
  ];
  for (const args of commands) {
    const r = await runWithClosedStdout(args);
    assert.not.match(r.err, /EPIPE|Error|\n\s+at /, `${args.join(' ')}: no error or stack on stderr: ${r.err}`);
    assert.is(r.code, 0, `${args.join(' ')}: exit status`);
  }
});

test.run();
