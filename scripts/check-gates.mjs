#!/usr/bin/env node
// Shows that the test gates catch a broken build. Each breakage is applied to a temporary copy of the built
// tree (dist/, this scripts/ directory, package.json, and the TypeScript sources src/ with the dependency-cruiser
// configuration for the import-cycle check; node_modules linked), then scripts/run-tests.mjs runs the
// test file that must catch it there; the breakage counts as caught only if the runner exits non-zero and its
// "N passed, N failed" line reports a failure. The real tree is never touched. The same files pass unbroken:
// that is the ordinary `npm test` run.
//
//   skipped-test        a test file with a test.skip (the runner fails on uvu's Skipped count)
//   empty-file          a test file that runs no test (Total: 0)
//   frame-length        src/server/msgpack.js: FrameWriter writes each length one too big -> server-codec.test.js
//   dropped-completion  src/shard/shard-server.js: the CQ sink drops 1% of completions     -> reliability/soak.test.js
//   import-cycle        src/devices/nvme/controller-state.ts (a copy of the sources) imports controller.ts,
//                       closing a loop                                                     -> import-cycles.test.js
//
// Usage: node scripts/check-gates.mjs [name...]   (default: all). Run by test/gates.test.ts in `npm test`.
// Exit 0 when every breakage named was caught, 1 otherwise.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

/** Replaces `anchor` (which must occur exactly once) in a compiled file of the copy. */
function patch(tree, file, anchor, replacement) {
  const path = join(tree, file);
  const text = readFileSync(path, 'utf8');
  const at = text.indexOf(anchor);
  if (at < 0 || text.indexOf(anchor, at + 1) >= 0) {
    throw new Error(`${file}: the code to break was not found exactly once (${JSON.stringify(anchor)}); update scripts/check-gates.mjs`);
  }
  writeFileSync(path, text.slice(0, at) + replacement + text.slice(at + anchor.length));
}

const UVU_FILE = (body) => `import { test } from 'uvu';\nimport * as assert from 'uvu/assert';\n${body}\ntest.run();\n`;

const BREAKAGES = {
  'skipped-test': {
    filter: '^zz-gate-skipped',
    apply: (tree) => writeFileSync(join(tree, 'dist/test/zz-gate-skipped.test.js'),
      UVU_FILE(`test('runs', () => assert.ok(true));\ntest.skip('is skipped', () => assert.ok(false));`)),
    expect: /zz-gate-skipped\.test\.js: 0 of 1 failed, 1 skipped/,
  },
  'empty-file': {
    filter: '^zz-gate-empty',
    apply: (tree) => writeFileSync(join(tree, 'dist/test/zz-gate-empty.test.js'), UVU_FILE('')),
    expect: /zz-gate-empty\.test\.js: no test ran/,
  },
  'frame-length': {
    filter: '^server-codec\\.test',
    apply: (tree) => patch(tree, 'dist/src/server/msgpack.js', 'this.buf.writeUInt32BE(body.byteLength, this.pos);',
      'this.buf.writeUInt32BE(body.byteLength + 1, this.pos);'),
    expect: /server-codec\.test\.js: [1-9]\d* of \d+ failed/,
  },
  'dropped-completion': {
    filter: '^reliability/soak\\.test',
    env: { SOAK_SECONDS: '3' },
    // after the first 300 completions of a worker (the mux's enumeration at start), 1% are never written
    apply: (tree) => patch(tree, 'dist/src/shard/shard-server.js', 'complete(tag, target, opcode, flags, a0, a1, a2, head, body) {',
      'complete(tag, target, opcode, flags, a0, a1, a2, head, body) { if ((globalThis.gateCompletions = (globalThis.gateCompletions ?? 0) + 1) > 300 && Math.random() < 0.01) return;'),
    expect: /reliability\/soak\.test\.js: [1-9]\d* of \d+ failed/,
  },
  'import-cycle': {
    filter: '^import-cycles\\.test',
    apply: (tree) => patch(tree, 'src/devices/nvme/controller-state.ts', "import type { Sqe } from './sqe.js';\n",
      "import type { Sqe } from './sqe.js';\nimport type { NvmeController } from './controller.js';\n"),
    expect: /import-cycles\.test\.js: [1-9]\d* of \d+ failed/,
  },
};

function copyTree() {
  const tree = mkdtempSync(join(tmpdir(), 'mbxmux-gates-'));
  cpSync(join(root, 'dist'), join(tree, 'dist'), { recursive: true });
  cpSync(join(root, 'scripts'), join(tree, 'scripts'), { recursive: true });
  cpSync(join(root, 'package.json'), join(tree, 'package.json'));
  cpSync(join(root, 'src'), join(tree, 'src'), { recursive: true });
  cpSync(join(root, '.dependency-cruiser.cjs'), join(tree, '.dependency-cruiser.cjs'));
  symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'), 'dir');
  return tree;
}

function runTests(tree, filter, extraEnv) {
  const env = { ...process.env, ...extraEnv, FORCE_COLOR: '0' };
  delete env.NODE_V8_COVERAGE; // the copy is not what the coverage report measures
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(tree, 'scripts/run-tests.mjs'), filter], { cwd: tree, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('close', (code) => resolve({ code, out }));
  });
}

async function check(name) {
  const b = BREAKAGES[name];
  const tree = copyTree();
  try {
    b.apply(tree);
    const { code, out } = await runTests(tree, b.filter, b.env ?? {});
    const counts = /^(\d+) passed, (\d+) failed$/m.exec(out.split('\n').filter((l) => /^\d+ passed, \d+ failed$/.test(l)).at(-1) ?? '');
    const caught = code !== 0 && counts !== null && Number(counts[2]) > 0 && b.expect.test(out);
    const failedLines = out.split('\n').filter((l) => l.startsWith('FAILED '));
    return { caught, detail: caught ? `${counts[0]}; ${failedLines.join('; ')}` : `exit ${code}, runner said ${counts?.[0] ?? 'nothing'}\n${out.split('\n').map((l) => `    | ${l}`).join('\n')}` };
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}

const names = process.argv.slice(2);
for (const n of names) {
  if (!(n in BREAKAGES)) {
    console.error(`unknown breakage ${JSON.stringify(n)}; known: ${Object.keys(BREAKAGES).join(', ')}`);
    process.exit(2);
  }
}
if (!existsSync(join(root, 'dist/test'))) {
  console.error('no dist/test: run `npm run build` first');
  process.exit(2);
}
let missed = 0;
for (const name of names.length > 0 ? names : Object.keys(BREAKAGES)) {
  let r;
  try {
    r = await check(name);
  } catch (e) {
    r = { caught: false, detail: e.message };
  }
  if (!r.caught) missed++;
  // prefixed: a line of this output must never read like the runner's own final "N passed, N failed" line
  console.log(`${r.caught ? 'caught' : 'NOT CAUGHT'} ${name}: ${r.detail}`);
}
process.exitCode = missed === 0 ? 0 : 1;
