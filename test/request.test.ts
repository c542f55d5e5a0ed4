import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CancelledError, ClosedError, type MbxError, WorkerLostError } from '../src/errors.js';
import { buildFleet } from '../src/fleet/expand.js';
import { Answer } from '../src/mux/answer.js';
import { fillCxl } from '../src/mux/encode.js';
import { RecordQueue } from '../src/mux/record-queue.js';
import { RecordPool, type RequestRecord, type RequestSession, RState } from '../src/mux/request.js';

/**
 * A request settles exactly once, and its record goes back to the pool only when nothing in the ring holds it.
 * A callback or promise would swallow a second settlement silently, so the record counts it on its mux's
 * witness instead (mux.stats().settledTwice): the number the reliability tests assert is 0.
 */

const device = buildFleet({ 'cxl-type3': 1 }, 1).devices[0]!;
const session = { name: 's', mux: {} } as unknown as RequestSession;

function setup(): { witness: { settledTwice: number; promised: number }; pool: RecordPool; make: (mode?: 'callback' | 'promise') => { p: RequestRecord; outcomes: string[] } } {
  const witness = { settledTwice: 0, promised: 0 };
  const pool = new RecordPool(witness);
  const make = (mode: 'callback' | 'promise' = 'callback'): { p: RequestRecord; outcomes: string[] } => {
    const p = pool.take();
    p.init(session, device, 0, 0, 0, 0x4200, 0, null, 0, fillCxl, false);
    const outcomes: string[] = [];
    if (mode === 'callback') {
      p.onDone = (err, a) => outcomes.push(err === null ? `answer rc ${a!.rc}` : `error ${err.code}`);
    } else {
      p.resolve = (v) => outcomes.push(`resolve rc ${v.rc}`);
      p.reject = (e) => outcomes.push(`reject ${(e as MbxError).code}`);
    }
    return { p, outcomes };
  };
  return { witness, pool, make };
}

/** an answer as a drain fills it: rc 6 (Busy), 3 payload bytes in a ring */
function answer(): Answer {
  const a = new Answer();
  fillCxl(a, 6 | (0x1234 << 16), 0, 0, 0, Uint8Array.of(9, 9, 1, 2, 3, 9), 2, 3);
  return a;
}

test('one settlement reaches the caller, and the record goes back to the pool with a new generation', () => {
  const { witness, pool, make } = setup();
  const a = make();
  const gen = a.p.gen;
  a.p.state = RState.IN_FLIGHT;
  a.p.complete(answer());
  assert.equal(a.outcomes, ['answer rc 6']);
  assert.equal([a.p.state, a.p.gen, pool.size], [RState.FREE, gen + 1, 1]);
  assert.is(pool.take(), a.p, 'the next request reuses it');
  const b = make('promise');
  b.p.settleError(new ClosedError());
  assert.equal(b.outcomes, ['reject EMBX_CLOSED']);
  assert.is(witness.settledTwice, 0);
});

test('send()\'s promise gets a copy with bytes of its own; a callback gets the view', () => {
  const { make } = setup();
  const got: unknown[] = [];
  const { p } = make('promise');
  p.resolve = (v) => got.push(v);
  p.state = RState.IN_FLIGHT;
  p.complete(answer());
  assert.equal(got, [{ rc: 6, payload: Uint8Array.of(1, 2, 3), vendorStatus: 0x1234, background: false }]);
  assert.is((got[0] as { payload: Uint8Array }).payload.buffer.byteLength, 3, 'the payload owns exactly its bytes');
  const a = answer();
  assert.equal([a.payload(), a.payload().buffer.byteLength], [Uint8Array.of(1, 2, 3), 6], 'the view lies in the ring');
  const into = new Uint8Array(4);
  assert.is(a.copyPayload(into, 1), 3);
  assert.equal(into, Uint8Array.of(0, 1, 2, 3));
});

test('a second complete, settleError or fail is counted and does not reach the caller', () => {
  const { witness, make } = setup();
  const { p, outcomes } = make();
  p.state = RState.IN_FLIGHT;
  p.complete(answer());
  // the record is back in the pool (FREE): anything more is a second settlement
  p.complete(answer()); // a duplicated completion
  p.settleError(new WorkerLostError('x')); // failed as lost after its answer
  p.fail(new ClosedError()); // rejected at close after its answer
  assert.equal(outcomes, ['answer rc 6']);
  assert.is(witness.settledTwice, 3);
});

test('a request rejected while the worker holds it stays out of the pool until the worker answers', () => {
  const { witness, pool, make } = setup();
  const { p, outcomes } = make();
  p.state = RState.IN_FLIGHT;
  p.tag = 5;
  p.fail(new CancelledError('EMBX_TIMEOUT', 'late'));
  assert.is(p.state, RState.CANCELLED, 'the worker still holds its slot');
  assert.is(pool.size, 0, 'not reusable: its tag is still in the ring');
  p.complete(answer());
  assert.equal(outcomes, ['error EMBX_TIMEOUT']);
  assert.is(witness.settledTwice, 1, 'the late answer is counted, not delivered');
  p.tag = -1; // the scheduler freed its slot
  p.retire();
  assert.equal([p.state, pool.size], [RState.FREE, 1]);
});

test('settleError(later): a submit() callback refused inside submit() hears of it only after submit() returns', async () => {
  const { make } = setup();
  const { p, outcomes } = make();
  p.settleError(new ClosedError(), true);
  assert.equal(outcomes, [], 'not from inside the call');
  await Promise.resolve();
  assert.equal(outcomes, ['error EMBX_CLOSED']);
});

test('a callback that throws does not stop the caller of complete(); its error surfaces as uncaught', async () => {
  const { make } = setup();
  const { p } = make();
  p.onDone = () => {
    throw new Error('boom');
  };
  p.state = RState.IN_FLIGHT;
  const seen: unknown[] = [];
  const handler = (e: unknown): void => void seen.push(e);
  process.on('uncaughtException', handler);
  try {
    p.complete(answer());
    assert.is(p.state, RState.FREE, 'the record was still settled and recycled');
    await new Promise((r) => setImmediate(r));
    assert.is((seen[0] as Error).message, 'boom');
  } finally {
    process.off('uncaughtException', handler);
  }
});

test('record queues: an entry whose record was reused for another request is not that request', () => {
  const { make } = setup();
  const q = new RecordQueue<RequestRecord>();
  const a = make();
  const b = make();
  q.push(a.p);
  q.push(b.p);
  assert.equal([q.length, q.peek(), q.peekActive()], [2, a.p, a.p]);
  a.p.settleError(new ClosedError()); // settled while queued: back to the pool
  const c = make(); // ... and reused at once for a new request, active again
  assert.is(c.p, a.p);
  assert.ok(c.p.active);
  assert.is(q.peek(), undefined, 'the entry pushed for the old request does not point at the new one');
  assert.equal(q.active(), [b.p]);
  assert.is(q.peekActive(), b.p, 'the stale entry is dropped');
  assert.is(q.length, 1);
  q.push(c.p);
  assert.equal(q.active(), [b.p, c.p], 'the new request has an entry of its own');
  for (let i = 0; i < 100; i++) q.push(b.p); // grows past its first capacity, keeping the order and the generations
  assert.is(q.length, 102);
  q.shift();
  assert.is(q.peek(), c.p);
  q.clear();
  assert.equal([q.length, q.peek(), q.peekActive()], [0, undefined, undefined]);
});

test.run();
