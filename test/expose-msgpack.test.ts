import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NATIVE_DIR } from '../src/expose/preload-build.js';

// The preload library's MessagePack reader (native/msgpack.c), built here with AddressSanitizer and driven by
// test/fixtures/msgpack-check.c: values msgpackr encodes (as the server does) decode to the same value, and
// arbitrary bytes are refused or decoded without reading past the body.

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'mbxmux-msgpack-'));
const CHECK = join(dir, 'msgpack-check');
const packr = new Packr({ useRecords: false, moreTypes: false });

test.before(async () => {
  const fixture = fileURLToPath(new URL('../../test/fixtures/msgpack-check.c', import.meta.url));
  await run('cc', ['-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-I', NATIVE_DIR, '-o', CHECK, fixture, join(NATIVE_DIR, 'msgpack.c')]);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Decodes every body in one run of the checker; resolves with one output line per body. */
function decode(bodies: Uint8Array[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(CHECK, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err += b));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`msgpack-check exited ${code}: ${err}`));
      else resolve(out.split('\n').slice(0, bodies.length));
    });
    child.stdin.end(bodies.map((b) => Buffer.from(b).toString('hex')).join('\n') + '\n');
  });
}

/** What the checker should print for a value msgpackr encoded. */
function expected(v: unknown): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return v;
  if (typeof v === 'string') return { s: Buffer.from(v, 'utf8').toString('hex') };
  if (v instanceof Uint8Array) return { b: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(expected);
  return { m: Object.entries(v as Record<string, unknown>).map(([k, x]) => [expected(k), expected(x)]) };
}

const value = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.constant(null), fc.boolean(), fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }), fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0) && !Number.isInteger(d)),
    fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 70_000 }).map((b) => Buffer.from(b)),
  ),
  node: fc.oneof({ depthSize: 'small', maxDepth: 4 }, tie('leaf'), fc.array(tie('node'), { maxLength: 20 }),
    fc.dictionary(fc.string({ maxLength: 12 }), tie('node'), { maxKeys: 20 })),
})).node;

test('every value msgpackr writes decodes to itself, and skipping consumes exactly its bytes', async () => {
  const values = fc.sample(value, { numRuns: 400, seed: 16 });
  const bodies = values.map((v) => packr.pack(v));
  const lines = await decode(bodies);
  values.forEach((v, i) => {
    const m = /^(\d+) (.*)$/.exec(lines[i]!);
    assert.ok(m, `value ${i}: ${lines[i]}`);
    assert.is(Number(m![1]), bodies[i]!.byteLength, `value ${i} skipped length`);
    assert.equal(JSON.parse(m![2]!), expected(v), `value ${i}`);
  });
});

test('hand-written headers: every integer width, str/bin 8/16/32, map/array 16/32, fixext and ext', async () => {
  const cases: [string, unknown][] = [
    ['cc ff', 255], ['cd 01 00', 256], ['ce 00 01 00 00', 65536], ['cf 00 00 00 01 00 00 00 00', 2 ** 32],
    ['d0 80', -128], ['d1 80 00', -32768], ['d2 80 00 00 00', -(2 ** 31)], ['d3 ff ff ff ff ff ff ff fe', -2], ['e0', -32],
    ['ca 3f c0 00 00', 1.5], ['d9 01 41', { s: '41' }], ['da 00 01 42', { s: '42' }], ['db 00 00 00 01 43', { s: '43' }],
    ['c4 01 07', { b: '07' }], ['c5 00 01 08', { b: '08' }], ['c6 00 00 00 01 09', { b: '09' }],
    ['dc 00 01 c0', [null]], ['dd 00 00 00 01 c3', [true]], ['de 00 01 a1 6b c2', { m: [[{ s: '6b' }, false]] }],
    ['df 00 00 00 01 01 02', { m: [[1, 2]] }], ['d4 05 aa', { e: 'aa' }], ['d8 05' + ' 11'.repeat(16), { e: '11'.repeat(16) }],
    ['c7 02 05 aa bb', { e: 'aabb' }], ['c8 00 01 05 cc', { e: 'cc' }], ['c9 00 00 00 01 05 dd', { e: 'dd' }],
  ];
  const lines = await decode(cases.map(([h]) => Buffer.from(h.replace(/ /g, ''), 'hex')));
  cases.forEach(([h, v], i) => {
    const m = /^(\d+) (.*)$/.exec(lines[i]!);
    assert.ok(m, `${h}: ${lines[i]}`);
    assert.is(Number(m![1]), h.split(' ').length, `${h} length`);
    assert.equal(JSON.parse(m![2]!), v, h);
  });
  // truncated headers and bodies, the never-used byte c1, and nesting past 32 levels are refused
  const bad = ['c1', 'cd 01', 'd9 05 41', 'c6 00 00 01 00 00', 'dc 00', '92 01', 'd4 05', 'c7 05 05 00', '91'.repeat(40) + 'c0'];
  assert.equal(await decode(bad.map((h) => Buffer.from(h.replace(/ /g, ''), 'hex'))), bad.map(() => 'ERR'));
});

test('arbitrary bytes are refused or decoded, never read past the end (AddressSanitizer watches)', async () => {
  const inputs = fc.sample(fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    // mostly well-formed values with a random byte changed or the tail cut
    fc.tuple(value, fc.nat(), fc.nat(255), fc.boolean()).map(([v, at, byte, cut]) => {
      const b = Buffer.from(packr.pack(v));
      if (b.byteLength === 0) return b;
      if (cut) return b.subarray(0, at % b.byteLength);
      b[at % b.byteLength] = byte;
      return b;
    }),
  ), { numRuns: 600, seed: 61 });
  const lines = await decode(inputs);
  lines.forEach((l, i) => {
    assert.ok(l === 'ERR' || /^\d+ /.test(l), `input ${i}: ${l}`);
    if (l !== 'ERR') assert.ok(Number(l.split(' ')[0]) <= inputs[i]!.byteLength, `input ${i}: consumed past the end`);
  });
});

test.run();
