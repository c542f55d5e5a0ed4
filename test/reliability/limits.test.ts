import { availableParallelism } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type MuxOptions } from '../../src/index.js';

/**
 * Every numeric option of createMux, openSession, send and close is checked by the same validators: NaN,
 * negative, infinite, non-integer where a count is needed, and values past a documented cap are refused with
 * EMBX_BAD_REQUEST and a message naming the limit (issue 11, item 11). Nothing is started for a refused mux.
 */

const TIMER_MAX = 2 ** 31 - 1;
const cores = availableParallelism();

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code?: string; message: string };
    return { code: err.code ?? 'none', message: err.message };
  }
  return { code: 'accepted', message: '' };
}

test('workers is capped at 4 x the cores, with a message that names the cap', async () => {
  const cap = 4 * cores;
  const over = await refusal(createMux({ workers: cap + 1, fleet: { 'cxl-type3': 1 } }));
  assert.is(over.code, 'EMBX_BAD_REQUEST', `workers ${cap + 1} on ${cores} cores`);
  assert.match(over.message, new RegExp(`\\b${cap}\\b`), 'names the cap');
  assert.match(over.message, /cores/);
  // (only now that the small excess is refused: on code without the cap this would start 1000 threads)
  assert.is((await refusal(createMux({ workers: 1000, fleet: { 'cxl-type3': 1 } }))).code, 'EMBX_BAD_REQUEST');
});

test('createMux: NaN, negative, infinite, fractional and oversized numbers are refused before any worker starts', async () => {
  const threadsBefore = process.getActiveResourcesInfo().length;
  const cases: [string, MuxOptions][] = [
    ['workers NaN', { workers: NaN }],
    ['workers fractional', { workers: 1.5 }],
    ['workers as a string', { workers: '2' as never }],
    ['ringSlots NaN', { ringSlots: NaN }],
    ['shardWindow Infinity', { shardWindow: Infinity }],
    ['sessionWindow 0', { sessionWindow: 0 }],
    ['sharedSessionWindow fractional', { sharedSessionWindow: 2.5 }],
    ['deviceWindow past its 16-bit counter', { deviceWindow: 70_000 }],
    ['sharedDeviceWindow negative', { sharedDeviceWindow: -4 }],
    ['spinUs NaN', { spinUs: NaN }],
    ['spinUs Infinity', { spinUs: Infinity }],
    ['spinUs 1e12', { spinUs: 1e12 }],
    ['napUs negative', { napUs: -1 }],
    ['pollUs Infinity', { pollUs: Infinity }],
    ['mainSpinUs past the 100 µs turn limit', { mainSpinUs: 1e6 }],
    ['maxSpinners fractional', { maxSpinners: 1.5 }],
    ['defaultTimeoutMs past the timer maximum', { defaultTimeoutMs: 1e12 }],
    ['defaultTimeoutMs NaN', { defaultTimeoutMs: NaN }],
    ['maxRestarts fractional', { maxRestarts: 2.5 }],
    ['restartWindowMs Infinity', { restartWindowMs: Infinity }],
    ['startTimeoutMs past the timer maximum', { startTimeoutMs: 1e12 }],
    ['startTimeoutMs NaN', { startTimeoutMs: NaN }],
    ['startTimeoutMs negative', { startTimeoutMs: -5 }],
    ['audit.limit 1e12 (an array that size)', { audit: { limit: 1e12 } }],
    ['audit.limit fractional', { audit: { limit: 0.5 } }],
    ['resourceLimits with NaN', { resourceLimits: { maxOldGenerationSizeMb: NaN } }],
  ];
  for (const [what, opts] of cases) {
    const r = await refusal(createMux({ workers: 1, fleet: { 'cxl-type3': 1 }, ...opts }));
    assert.is(r.code, 'EMBX_BAD_REQUEST', `${what}: ${r.code} ${r.message}`);
    const field = what.split(' ')[0]!;
    assert.ok(r.message.includes(field), `${what}: the message names ${field}: ${r.message}`);
  }
  assert.ok(process.getActiveResourcesInfo().length <= threadsBefore, 'nothing was left running');
});

test('openSession, send and close: the same checks; timeoutMs is capped at the timer maximum, without TimeoutOverflowWarning', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => { warnings.push(w.name); };
  process.on('warning', onWarning);
  const mux = await createMux({ workers: 1, fleet: { 'cxl-type3': 1 } });
  try {
    for (const host of [1.5, -1, NaN, 65536]) assert.throws(() => mux.openSession({ host }), /host must be an integer from 0 to 65535/);
    for (const queueLimit of [0, Infinity, 2.5]) assert.throws(() => mux.openSession({ queueLimit }), /queueLimit must be/);
    const s = mux.openSession({ tier: 'debug-write-full' });
    for (const timeoutMs of [1e12, TIMER_MAX + 1, Infinity, NaN, -1, '5' as never]) {
      const r = await refusal(s.send({ device: 'mem0', opcode: 0x4200, timeoutMs }));
      assert.is(r.code, 'EMBX_BAD_REQUEST', `timeoutMs ${String(timeoutMs)}`);
      assert.match(r.message, /timeoutMs must be/);
    }
    assert.is((await s.send({ device: 'mem0', opcode: 0x4200, timeoutMs: TIMER_MAX })).rc, 0, 'the timer maximum itself is fine');
    assert.is((await refusal(mux.close({ timeoutMs: 1e12 }))).code, 'EMBX_BAD_REQUEST', 'close() timeout too');
    assert.is((await s.send({ device: 'mem0', opcode: 0x4200 })).rc, 0, 'a refused close() leaves the mux open');
    await new Promise((r) => setImmediate(r));
    assert.equal(warnings.filter((w) => w === 'TimeoutOverflowWarning'), []);
  } finally {
    process.off('warning', onWarning);
    await mux.close();
  }
});

test.run();
