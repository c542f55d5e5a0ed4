import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type CommandResult } from '../../src/index.js';

/**
 * Each answer has bytes of its own: `result.payload.buffer` is exactly the payload, so one session cannot read
 * another session's answers through it (issue 11, item 13). Checked for every decoder: a mailbox command, a
 * tunnel (inner payload), NVMe (data and CQE) and MCTP.
 */

const SECRET = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 ^ (i * 7));

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

function ownBytes(what: string, r: CommandResult): void {
  assert.is(r.payload.buffer.byteLength, r.payload.byteLength, `${what}: payload.buffer is exactly the payload`);
  assert.is(r.payload.byteOffset, 0, what);
  if (r.cqe) assert.is(r.cqe.buffer.byteLength, 16, `${what}: the CQE has its own 16 bytes`);
  assert.not.ok(contains(new Uint8Array(r.payload.buffer), SECRET), `${what}: another session's answer is not reachable`);
}

test('answers of one session never share bytes with another session\'s answers', async () => {
  const mux = await createMux({ workers: 1, fleet: { devices: [{ kind: 'cxl-type3', count: 2 }, { kind: 'cxl-switch' }, { kind: 'nvme' }, { kind: 'mctp-pcc', fronts: ['mem0'] }] } });
  try {
    const owner = mux.openSession({ tier: 'debug-write-full', name: 'owner' });
    const other = mux.openSession({ tier: 'debug-read', host: 0, name: 'other' });
    const set = new Uint8Array(8 + SECRET.length);
    set.set(SECRET, 8); // Set LSA: offset 0, reserved, data
    assert.is((await owner.send({ device: 'mem1', opcode: 0x4103, payload: set })).rc, 0);
    const get = new Uint8Array(8);
    new DataView(get.buffer).setUint32(4, SECRET.length, true); // Get LSA: offset 0, length 32
    // the owner's secret answers and the other session's answers come back interleaved in the same batches
    const mine: Promise<CommandResult>[] = [];
    const theirs: [string, Promise<CommandResult>][] = [];
    for (let i = 0; i < 50; i++) {
      mine.push(owner.send({ device: 'mem1', opcode: 0x4102, payload: get }));
      theirs.push(['mailbox', other.send({ device: 'mem0', opcode: 0x4200 })]);
      if (i % 10 === 0) {
        theirs.push(['tunnel', other.send({ device: 'sw0', opcode: 0x4200, tunnel: [1] })]);
        theirs.push(['nvme', other.send({ device: 'nvme0', opcode: 0x06, cdw10: 1 })]);
        theirs.push(['mctp', other.send({ device: 'mctp0', opcode: 0x4200 })]);
        theirs.push(['no payload', other.send({ device: 'mem0', opcode: 0x0002 })]);
      }
    }
    for (const r of await Promise.all(mine)) {
      assert.equal([...r.payload], [...SECRET]);
      assert.is(r.payload.buffer.byteLength, SECRET.length, 'the owner\'s own answer is exact too');
    }
    for (const [what, p] of theirs) {
      const r = await p;
      assert.is(r.rc, 0, what);
      ownBytes(what, r);
    }
  } finally {
    await mux.close();
  }
});

test.run();
