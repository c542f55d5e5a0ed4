import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * Dependencies under src/ run one way (issue 14): dependency-cruiser, configured by .dependency-cruiser.cjs,
 * reads the TypeScript sources (type-only imports included) and reports every import cycle. The project root
 * is two levels above this compiled file (dist/test/), so scripts/check-gates.mjs can plant a cycle in a copy
 * of src/ and run this file there: it must fail.
 */

const root = new URL('../../', import.meta.url).pathname;

interface Cruise {
  modules: { source: string; dependencies: { resolved: string }[] }[];
  summary: { violations: { type: string; from: string; rule: { name: string }; cycle?: { name: string }[] }[] };
}

function cruise(): Cruise {
  const bin = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
  const r = spawnSync(process.execPath, [bin, '--config', '.dependency-cruiser.cjs', '--output-type', 'json', 'src'], {
    cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024,
  });
  if (r.stdout.trim() === '') throw new Error(`dependency-cruiser printed nothing (status ${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Cruise;
}

function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : []);
}

const result = cruise();
/** Each cycle as its sorted file list, so the same loop reported from any of its files compares equal. */
const cycles = result.summary.violations
  .filter((v) => v.rule.name === 'no-circular')
  .map((v) => [...new Set([v.from, ...(v.cycle ?? []).map((c) => c.name)])].sort());
const key = (files: readonly string[]): string => [...files].sort().join(' -> ');

test('dependency-cruiser reads every TypeScript file under src/, type-only imports included', () => {
  const seen = new Set(result.modules.map((m) => m.source));
  const missed = tsFiles('src').filter((f) => !seen.has(f));
  assert.equal(missed, [], 'files the cruiser did not read (is its TypeScript parser, @swc/core, installed?)');
  // nvm-io.ts imports only types from the leaf: the edge must be there
  const nvmIo = result.modules.find((m) => m.source === 'src/devices/nvme/nvm-io.ts')!;
  assert.ok(nvmIo.dependencies.some((d) => d.resolved === 'src/devices/nvme/controller-state.ts'), 'type-only import not seen');
});

test('no import cycle under src/', () => {
  const all = cycles.map(key);
  assert.equal([...new Set(all)], [], `import cycles:\n  ${all.join('\n  ')}`);
});

test('no cycle at all under src/devices and src/transport', () => {
  const here = cycles.filter((c) => c.some((f) => f.startsWith('src/devices/') || f.startsWith('src/transport/')));
  assert.equal(here.map(key), []);
});


test.run();
