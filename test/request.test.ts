import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CancelledError, ClosedError, WorkerLostError } from '../src/errors.js';
import { buildFleet } from '../src/fleet/expand.js';
import { decodeCxl } from '../src/mux/encode.js';
import { RequestRecord, RState } from '../src/mux/request.js';
import { Session, type SessionHost } from '../src/mux/session.js';

/**
 * A request settles exactly once. Its promise would swallow a second settlement silently, so the pending table
 * counts it on its mux instead (mux.stats().settledTwice): the witness the reliability tests assert is 0.
 */

const device = buildFleet({ 'cxl-type3': 1 }, 1).devices[0]!;

function setup(): { host: SessionHost & { twice: number }; make: () => { p: RequestRecord; outcomes: string[] } } {
  const host = {
    twice: 0,
    dispatch: () => Promise.reject(new Error('not used')),
    closeSession: () => {},
    noteSettledTwice(): void { this.twice++; },
  };
  const session = new Session(1, host, 'debug-read', 0, false, 100, 's', 1);
  const make = (): { p: RequestRecord; outcomes: string[] } => {
    const p = new RequestRecord(session, device, 0, 0, 0, 0x4200, 0, null, 0, 0, 0, decodeCxl);
    const outcomes: string[] = [];
    p.resolve = (v) => outcomes.push(`resolve rc ${(v as { rc: number }).rc}`);
    p.reject = (e) => outcomes.push(`reject ${(e as { code: string }).code}`);
    return { p, outcomes };
  };
  return { host, make };
}

const answer = { rc: 0, payload: new Uint8Array(0), vendorStatus: 0, background: false };

test('one settlement reaches the caller; nothing is counted', () => {
  const { host, make } = setup();
  const a = make();
  a.p.state = RState.IN_FLIGHT;
  a.p.settle(answer);
  assert.equal(a.outcomes, ['resolve rc 0']);
  assert.is(a.p.state, RState.DONE);
  const b = make();
  b.p.settleError(new ClosedError());
  assert.equal(b.outcomes, ['reject EMBX_CLOSED']);
  assert.is(host.twice, 0);
});

test('a second settle, settleError or fail is counted and does not reach the caller', () => {
  const { host, make } = setup();
  const { p, outcomes } = make();
  p.state = RState.IN_FLIGHT;
  p.settle(answer);
  p.settle(answer); // a duplicated completion
  p.settleError(new WorkerLostError('x')); // failed as lost after its answer
  p.fail(new ClosedError()); // rejected at close after its answer
  assert.equal(outcomes, ['resolve rc 0']);
  assert.is(host.twice, 3);
});

test('a late answer to a request already rejected (timed out while the worker held it) is counted, not delivered', () => {
  const { host, make } = setup();
  const { p, outcomes } = make();
  p.state = RState.IN_FLIGHT;
  p.fail(new CancelledError('EMBX_TIMEOUT', 'late'));
  assert.is(p.state, RState.CANCELLED, 'the worker still holds its slot');
  p.settle(answer);
  assert.equal(outcomes, ['reject EMBX_TIMEOUT']);
  assert.is(host.twice, 1);
});

test.run();
