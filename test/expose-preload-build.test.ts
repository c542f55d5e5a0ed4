import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BuildError } from '../src/errors.js';
import { buildPreloadLibrary } from '../src/expose/preload-build.js';

// Building the preload library of mbxmux expose with the system C compiler (native/*.c).

test('the preload library is built once per source and compiler, then taken from the cache', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'mbxmux-build-'));
  try {
    const a = await buildPreloadLibrary({ cacheDir: cache });
    assert.match(a, /\/preload\/mbxmux-preload-[0-9a-f]{16}\.so$/);
    const built = statSync(a).mtimeMs;
    const b = await buildPreloadLibrary({ cacheDir: cache });
    assert.is(b, a);
    assert.is(statSync(b).mtimeMs, built, 'not rebuilt');
    // another compiler command is another cache entry
    const c = await buildPreloadLibrary({ cacheDir: cache, cc: 'cc -DMBXMUX_VARIANT' });
    assert.is.not(c, a);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('no compiler, or a failing compile: BuildError (EMBX_BUILD) with one line saying what to do', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'mbxmux-build-'));
  try {
    const none = await buildPreloadLibrary({ cacheDir: cache, cc: 'mbxmux-no-such-compiler' }).catch((e: unknown) => e);
    assert.ok(none instanceof BuildError);
    assert.is((none as BuildError).code, 'EMBX_BUILD');
    assert.match((none as BuildError).message, /no C compiler found \(tried mbxmux-no-such-compiler\).*install one \(e\.g\. apt-get install gcc\) or set CC/);
    const broken = await buildPreloadLibrary({ cacheDir: cache, cc: 'cc -include mbxmux-missing-header.h' }).catch((e: unknown) => e);
    assert.ok(broken instanceof BuildError);
    assert.match((broken as BuildError).message, /building the preload library with cc -include mbxmux-missing-header\.h failed: .*mbxmux-missing-header\.h/);
    assert.not.match((broken as BuildError).message, /\n/);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test.run();
