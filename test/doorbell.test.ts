import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CompletionBell } from '../src/doorbell/async-waiter.js';
import { Doorbell } from '../src/doorbell/doorbell.js';
import { SpinGate } from '../src/doorbell/spin-gate.js';
import { ThreadBell } from '../src/doorbell/thread-bell.js';
import { WorkerWaiter } from '../src/doorbell/worker-waiter.js';

const VALUE = 0;
const SLEEP = 32;

test('suppression: ringing an awake peer sends no notify; a sleeping peer gets exactly one', () => {
  const words = new Int32Array(new SharedArrayBuffer(256));
  const bell = new Doorbell(words, VALUE, SLEEP);
  for (let i = 0; i < 1000; i++) {
    Atomics.store(words, VALUE, i);
    bell.ring();
  }
  assert.is(bell.notifies, 0, 'peer never said it sleeps');
  Atomics.store(words, SLEEP, 1);
  bell.ring();
  assert.is(bell.notifies, 1);
});

test('waitSync returns at once when the value already moved, and after timeout when it does not', () => {
  const words = new Int32Array(new SharedArrayBuffer(256));
  const bell = new Doorbell(words, VALUE, SLEEP);
  Atomics.store(words, VALUE, 5);
  assert.is(bell.waitSync(4, 0, 1000), 5);
  assert.is(bell.sleeps, 0);
  const t = performance.now();
  assert.is(bell.waitSync(5, 10_000, 5), 5, 'unchanged after spinning 10 µs and sleeping 5 ms');
  assert.ok(performance.now() - t >= 4);
  assert.is(bell.sleeps, 1);
  assert.is(Atomics.load(words, SLEEP), 0, 'sleep flag cleared on wake');
});

test('every notify either doorbell sends is counted once in its own count and in the shared WAKES word', () => {
  const wakes = new Int32Array(new SharedArrayBuffer(8));
  const words = new Int32Array(new SharedArrayBuffer(64));
  const bell = new Doorbell(words, 0, 4);
  const tb = new ThreadBell(words, 8, 12);
  bell.wakeCounter = { words: wakes, index: 1 };
  tb.wakeCounter = { words: wakes, index: 1 };
  bell.ring(); // awake: nothing
  tb.ring();
  assert.equal([bell.notifies, tb.notifies, wakes[1]], [0, 0, 0]);
  Atomics.store(words, 4, 1); // the Doorbell's waiter sleeps
  Atomics.store(words, 12, 1); // the thread sleeps
  bell.ring();
  tb.ring();
  tb.ring(); // once per sleep: the flag was cleared by the first ring
  tb.wake(); // a stopper's wake-up counts too
  assert.equal([bell.notifies, tb.notifies, wakes[1], wakes[0]], [1, 2, 3, 0]);
  assert.equal(Atomics.load(words, 8), 2, 'SEQ moved once per wake-up');
});

test('spin gate: never more spinners than allowed', () => {
  const words = new Int32Array(new SharedArrayBuffer(256));
  const g = new SpinGate(words, 0, 1);
  assert.ok(g.enter());
  assert.not.ok(g.enter(), 'second spinner refused');
  g.leave();
  assert.ok(g.enter());
  g.leave();
  assert.is(words[0], 0);
  assert.not.ok(new SpinGate(words, 0, 0).enter(), 'zero spinners: always sleep');
});

const noWork = (): boolean => false;

test('worker waiter: spins first, naps without the flag, then sleeps with it', () => {
  const words = new Int32Array(new SharedArrayBuffer(256));
  const bell = new ThreadBell(words, VALUE, SLEEP);
  // windows far wider than any scheduling stall of a loaded 2-vCPU runner: 20 ms spin, then naps up to 1 s
  const w = new WorkerWaiter(bell, undefined, { spinNs: 20e6, napNs: 1000e6, napChunkMs: 0.2 });
  const now = (): number => performance.now() * 1e6;
  assert.is(w.wait(noWork, now(), 1000), false);
  assert.is(bell.sleeps, 0, 'within the spin window it does not sleep');
  w.wait(noWork, now() - 25e6, 1000);
  assert.is(bell.sleeps, 0, 'napping does not count as sleeping (no flag, no notify needed)');
  w.wait(noWork, now() - 2000e6, 2);
  assert.is(bell.sleeps, 1, 'after the nap window it sleeps with the flag set');
  assert.is(Atomics.load(words, SLEEP), 0, 'and clears the flag when it wakes');
  let calls = 0;
  assert.is(w.wait(() => ++calls > 100, now(), 1000), true, 'a spin that finds work returns at once');
});

test('worker waiter: a worker the spin gate refuses sleeps with its flag set (so the main thread notifies it)', () => {
  const words = new Int32Array(new SharedArrayBuffer(512));
  const bell = new ThreadBell(words, VALUE, SLEEP);
  const gate = new SpinGate(words, 64, 1, 96);
  assert.ok(gate.enter(), 'another worker holds the only spin place');
  const w = new WorkerWaiter(bell, gate, { spinNs: 1e6, napNs: 1e6, napChunkMs: 0.2 });
  w.wait(noWork, performance.now() * 1e6, 2);
  assert.is(bell.sleeps, 1, 'slept at once (with the flag) instead of napping unseen');
  gate.leave();
});

test('worker waiter: a spinner stops spinning when the main thread wakes another worker', async () => {
  const sab = new SharedArrayBuffer(512);
  const words = new Int32Array(sab);
  // a helper thread plays the main thread: 5 ms from now it counts a wake-up sent to some other worker
  const helper = new Worker(`const { workerData } = require('node:worker_threads');
    const w = new Int32Array(workerData); Atomics.wait(w, 120, 0, 5); Atomics.add(w, 96, 1);`, { eval: true, workerData: sab });
  await once(helper, 'online');
  const bell = new ThreadBell(words, VALUE, SLEEP);
  const gate = new SpinGate(words, 64, 1, 96);
  const w = new WorkerWaiter(bell, gate, { spinNs: 2000e6, napNs: 0, napChunkMs: 0.2 });
  const t = performance.now();
  w.wait(noWork, performance.now() * 1e6, 1);
  const took = performance.now() - t;
  await once(helper, 'exit');
  assert.ok(took < 1000, `gave up a 2 s spin after the wake-up (took ${took.toFixed(0)} ms)`);
  assert.is(words[64], 0, 'left the spin gate');
  // the next idle period of this worker does not spin at all (back-off): it sleeps at once
  const t2 = performance.now();
  w.wait(noWork, performance.now() * 1e6 + 1, 1);
  assert.ok(performance.now() - t2 < 500, 'no 2 s spin right after a yield');
});

// A worker sleeps on VALUE through the real Doorbell.sleep() and echoes what it saw; the main thread rings only
// when the flag says it sleeps. A lost wake-up leaves the echo behind: the sleep runs into its 2 s timeout and
// the worker raises word 96. A wake-up that finds VALUE unchanged before the timeout is not a loss: a ringer
// that read SLEEPING=1 just before the worker woke on its own can notify the worker's *next* sleep (a stale
// notify), and the protocol only promises that a new VALUE is never slept through.
const ECHO_WORKER = `
const { workerData } = require('node:worker_threads');
import(workerData.doorbell).then(({ Doorbell }) => {
  const w = new Int32Array(workerData.sab);
  const bell = new Doorbell(w, ${VALUE}, ${SLEEP});
  let seen = 0;
  for (;;) {
    const t = performance.now();
    const v = bell.sleep(seen, 2000);
    if (v === seen) {
      if (performance.now() - t >= 1900) { Atomics.store(w, 96, 1); break; } // timed out: a wake-up was lost
      Atomics.add(w, 97, 1); // early wake with nothing new: count it and sleep again
      continue;
    }
    seen = v;
    Atomics.store(w, 64, v);
    if (v < 0) break;
  }
});`;
const DOORBELL_JS = new URL('../src/doorbell/doorbell.js', import.meta.url).href;

test('stress: no lost wake-up over 20,000 suppressed doorbells', async () => {
  const sab = new SharedArrayBuffer(512);
  const words = new Int32Array(sab);
  const bell = new Doorbell(words, VALUE, SLEEP);
  const worker = new Worker(ECHO_WORKER, { eval: true, workerData: { sab, doorbell: DOORBELL_JS } });
  await once(worker, 'online');
  const N = 20_000;
  try {
    for (let i = 1; i <= N; i++) {
      Atomics.store(words, VALUE, i);
      bell.ring();
      const t = performance.now();
      while (Atomics.load(words, 64) !== i) {
        if (Atomics.load(words, 96) !== 0 || performance.now() - t > 3000) assert.unreachable(`wake-up lost at ${i}`);
      }
    }
  } catch (e) {
    await worker.terminate(); // a failed run must not leave the echo worker keeping the file alive
    throw e;
  }
  Atomics.store(words, VALUE, -1);
  bell.ring();
  await once(worker, 'exit');
  assert.is(Atomics.load(words, 96), 0, 'worker never timed out');
  assert.ok(bell.notifies > 0 && bell.notifies <= N, `notifies sent only to a sleeper (${bell.notifies} of ${N})`);
});

test('thread bell: ringing an awake worker sends nothing; a sleeping one gets one wake-up per sleep, however many rings', () => {
  const words = new Int32Array(new SharedArrayBuffer(256));
  const bell = new ThreadBell(words, VALUE, SLEEP);
  for (let i = 0; i < 100; i++) assert.not.ok(bell.ring());
  assert.is(bell.notifies, 0);
  Atomics.store(words, SLEEP, 1); // the worker said it sleeps
  assert.ok(bell.ring(), 'the first ring wakes it');
  for (let i = 0; i < 100; i++) assert.not.ok(bell.ring(), 'later rings before it runs again cost a load');
  assert.equal([bell.notifies, Atomics.load(words, VALUE), Atomics.load(words, SLEEP)], [1, 1, 0], 'SEQ moved once, the flag is clear');
  // a sleep that finds work after setting its flag does not sleep
  assert.not.ok(bell.sleep(() => true, 1000));
  assert.is(Atomics.load(words, SLEEP), 0);
  // one that finds none waits on SEQ until the timeout
  assert.ok(bell.sleep(() => false, 1));
  assert.is(bell.sleeps, 1);
});

// A worker serves two rings (words 64 and 65 hold what was published to each) through ThreadBell.sleep and
// echoes the sum it saw; the main thread publishes to one ring or the other and rings. A lost wake-up leaves
// the echo behind: the sleep runs into its 2 s timeout and the worker raises word 96.
const THREAD_ECHO_WORKER = `
const { workerData } = require('node:worker_threads');
import(workerData.bell).then(({ ThreadBell }) => {
  const w = new Int32Array(workerData.sab);
  const bell = new ThreadBell(w, ${VALUE}, ${SLEEP});
  let seen = 0;
  const published = () => Atomics.load(w, 64) + Atomics.load(w, 65);
  for (;;) {
    const t = performance.now();
    bell.sleep(() => published() !== seen, 2000);
    const v = published();
    if (v === seen) {
      if (performance.now() - t >= 1900) { Atomics.store(w, 96, 1); break; } // timed out: a wake-up was lost
      continue; // an early wake with nothing new (a ring that raced the worker's own wake)
    }
    seen = v;
    Atomics.store(w, 80, v);
    if (Atomics.load(w, 66) !== 0) break;
  }
});`;
const THREAD_BELL_JS = new URL('../src/doorbell/thread-bell.js', import.meta.url).href;

test('thread bell stress: no lost wake-up over 20,000 publishes to two rings of one sleeping worker', async () => {
  const sab = new SharedArrayBuffer(512);
  const words = new Int32Array(sab);
  const bell = new ThreadBell(words, VALUE, SLEEP);
  const worker = new Worker(THREAD_ECHO_WORKER, { eval: true, workerData: { sab, bell: THREAD_BELL_JS } });
  await once(worker, 'online');
  const N = 20_000;
  try {
    for (let i = 1; i <= N; i++) {
      Atomics.add(words, 64 + (i & 1), 1); // publish to ring i mod 2
      bell.ring();
      const t = performance.now();
      while (Atomics.load(words, 80) !== i) {
        if (Atomics.load(words, 96) !== 0 || performance.now() - t > 3000) assert.unreachable(`wake-up lost at ${i}`);
      }
    }
  } catch (e) {
    await worker.terminate();
    throw e;
  }
  Atomics.store(words, 66, 1);
  Atomics.add(words, 64, 1);
  bell.wake();
  await once(worker, 'exit');
  assert.is(Atomics.load(words, 96), 0, 'worker never timed out');
  assert.ok(bell.notifies > 0 && bell.notifies <= N + 1, `notifies sent only to a sleeper (${bell.notifies} of ${N})`);
});

test('completion bell: arming after a worker rang returns at once (no lost wake-up)', async () => {
  const words = new Int32Array(new SharedArrayBuffer(256));
  const bell = new CompletionBell(words, 0, 32);
  assert.not.ok(bell.ring(), 'main awake: workers do not ring');
  const seq = bell.seq();
  bell.setSleeping(true);
  assert.ok(bell.ring(), 'main asleep: the worker bumps SEQ and notifies');
  assert.is(bell.waitAsync(seq), null, 'SEQ moved since we read it: no wait');
  const p = bell.waitAsync(bell.seq());
  assert.ok(p !== null);
  bell.wake();
  assert.is(await p, 'ok');
});

test('completion bell across threads: 2,000 sleeps of the main thread, each woken by a worker', async () => {
  const sab = new SharedArrayBuffer(512);
  const words = new Int32Array(sab);
  const bell = new CompletionBell(words, 0, 32);
  // worker: publish value i at word 64 whenever the main thread asks at word 96, then ring
  const worker = new Worker(`
    const { workerData } = require('node:worker_threads');
    const w = new Int32Array(workerData);
    let asked = 0;
    for (;;) {
      Atomics.wait(w, 96, asked, 2000);
      const a = Atomics.load(w, 96);
      if (a === asked) continue;
      asked = a;
      if (a < 0) break;
      Atomics.store(w, 64, a);
      if (Atomics.load(w, 32) !== 0) { Atomics.add(w, 0, 1); Atomics.notify(w, 0); }
    }`, { eval: true, workerData: sab });
  await once(worker, 'online');
  try {
    let slept = 0;
    for (let i = 1; i <= 2000; i++) {
      Atomics.store(words, 96, i);
      Atomics.notify(words, 96);
      // the mux's protocol: read SEQ, set the flag, re-check, then wait on SEQ. A wake (or a SEQ that already
      // moved) may be a late ring for the previous request, so re-check until the answer is there.
      while (Atomics.load(words, 64) !== i) {
        const seq = bell.seq();
        bell.setSleeping(true);
        if (Atomics.load(words, 64) === i) break;
        const p = bell.waitAsync(seq);
        if (p === null) continue;
        slept++;
        const r = await Promise.race([p, new Promise((res) => setTimeout(() => res('lost'), 2000))]);
        assert.is.not(r, 'lost', `main-thread wake-up lost at ${i}`);
      }
      bell.setSleeping(false);
      assert.is(Atomics.load(words, 64), i);
    }
    assert.ok(slept > 0, 'the main thread actually slept');
  } catch (e) {
    await worker.terminate(); // a failed run must not leave the worker keeping the file alive
    throw e;
  }
  Atomics.store(words, 96, -1);
  Atomics.notify(words, 96);
  await once(worker, 'exit');
});

test.run();
