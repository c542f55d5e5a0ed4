import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resetBackgroundTiming, setBackgroundTiming } from '../src/devices/cci/generic.js';
import { Rc } from '../src/devices/cci/return-codes.js';
import { CxlMailboxEndpoint } from '../src/devices/cxl/mailbox-endpoint.js';
import { FaultInjector } from '../src/devices/faults.js';
import { CqFlag } from '../src/shard/protocol.js';
import { GiB, Harness, hex, le32, le64, MiB, MS, records, zeros } from './cxl-type3-harness.js';

const SANITIZE = 0x4400;
const SECURE_ERASE = 0x4401;
const T = 1e9;

test.before.each(() => resetBackgroundTiming());

/** A device with LSA data, poison, event records and written media. */
function dirty(): Harness {
  const t = new Harness({ mailboxBytes: 4096 });
  t.ok(0x4103, le32(0) + le32(0) + 'a5a5a5a5', 0, T);
  t.ok(0x4301, le64(0x1000), 0, T);
  t.ok(0x4301, le64(0x2000), 0, T);
  t.ok(0x4302, le64(0x2000) + 'ee'.repeat(64), 0, T);
  return t;
}

test('Sanitize: Background Started; percent over ~1 s for 1 GiB; a second background command is Busy', () => {
  const t = dirty();
  const r = t.run(SANITIZE, null, T);
  assert.is(r.rc, Rc.BACKGROUND_STARTED);
  assert.ok(r.background);
  assert.equal(t.bgStatus(T + 250 * MS), { opcode: 0x4400, percent: 25, rc: 0, running: true });
  assert.is(t.rc(SANITIZE, null, T + 300 * MS), Rc.BUSY);
  assert.is(t.rc(0x0201, zeros(0x80) + 'ab'.repeat(128), T + 300 * MS), Rc.BUSY);
  assert.is(t.rc(0x4304, le64(0) + le64(1) + '00', T + 300 * MS), Rc.BUSY);
  assert.equal(t.bgStatus(T + 1000 * MS), { opcode: 0x4400, percent: 100, rc: 0, running: false });
});

test('while Sanitize runs: only 4200h and 0002h run; media commands -> Media Disabled (07h); others -> Busy (06h)', () => {
  const t = dirty();
  t.ok(SANITIZE, null, Rc.BACKGROUND_STARTED, T);
  const at = T + 500 * MS;
  assert.is(t.ok(0x4200, null, 0, at).byteLength, 0x12, 'Get Health Info');
  assert.is(hex(t.ok(0x0002, null, 0, at)), (1 | (50 << 1)).toString(16) + '00' + '0044' + '0000' + '0000');
  const media: [number, string | null][] = [
    [0x4100, null], [0x4101, le64(1) + '00'], [0x4102, le32(0) + le32(4)], [0x4103, le32(0) + le32(0) + '00'],
    [0x4300, le64(0) + le64(1)], [0x4301, le64(0)], [0x4302, le64(0) + zeros(64)], [0x4303, le64(0) + le64(1)],
    [0x4305, null], [0x4401, null], [0x4802, le32(0) + zeros(4)], [0x4803, le32(0) + zeros(4)],
  ];
  for (const [op, input] of media) assert.is(t.rc(op, input, at), Rc.MEDIA_DISABLED, `opcode ${op.toString(16)}`);
  const other: [number, string | null][] = [
    [0x0001, null], [0x0005, null], [0x0100, '00'], [0x0200, null], [0x0300, null], [0x0400, null],
    [0x4000, null], [0x4201, null], [0x4800, '0200'], [0x0500, le32(8) + '00000000'],
  ];
  for (const [op, input] of other) assert.is(t.rc(op, input, at), Rc.BUSY, `opcode ${op.toString(16)}`);
  assert.is(t.rc(0xbeef, null, at), Rc.UNSUPPORTED, 'an unknown opcode is still Unsupported');
  assert.is(t.rc(0x0001, '00', at), Rc.INVALID_PAYLOAD_LENGTH, 'size checks come first');
});

test('at completion: LSA, media, poison list and the four event logs are cleared; media enabled; a record says so', () => {
  const t = dirty();
  assert.is(records(t.ok(0x0100, '00', 0, T)).length, 3, 'inject, inject, clear');
  t.ok(SANITIZE, null, Rc.BACKGROUND_STARTED, T);
  const after = T + 2e9;
  assert.is(hex(t.ok(0x4102, le32(0) + le32(4), 0, after)), '00000000', 'LSA zeroed and readable again');
  assert.is(hex(t.ok(0x4300, le64(0) + le64(GiB / 64), 0, after)), zeros(0x20), 'poison list empty');
  assert.is(t.state.media, null, 'written media dropped');
  const info = records(t.ok(0x0100, '00', 0, after));
  assert.is(info.length, 1, 'only the sanitize record');
  // Memory Module record: UUID, info severity, event type 01h media status change, health block at 31h
  assert.is(hex(info[0]!.subarray(0, 16)), 'fe927475dd594339a58679bab113b774');
  assert.is(hex(info[0]!.subarray(0x11, 0x14)), '000000');
  assert.is(info[0]![0x30], 0x01);
  assert.is(hex(info[0]!.subarray(0x31, 0x43)), hex(t.ok(0x4200, null, 0, after)));
  assert.is(records(t.ok(0x0100, '04', 0, after)).length, 1, 'the Dynamic Capacity log is kept');
  assert.is(t.rc(0x4304, le64(0) + le64(GiB / 64) + '00', after), Rc.BACKGROUND_STARTED);
  t.poll(after + GiB);
  assert.is(hex(t.ok(0x4305, null, 0, after + 2 * GiB).subarray(0x12, 0x14)), '0000', 'no latent errors left');
});

test('Sanitize duration scales with capacity and is bounded; Request Abort cannot be sent during it', () => {
  const t = new Harness({ capacityBytes: 4 * GiB });
  t.ok(SANITIZE, null, Rc.BACKGROUND_STARTED, T);
  assert.is(t.state.bg.deadlineNs, T + 4e9);
  assert.is(t.rc(0x0005, null, T + 1e9), Rc.BUSY);
  assert.is(t.bgStatus(T + 2e9).percent, 50);
  const small = new Harness({ capacityBytes: 256 * MiB });
  small.ok(SANITIZE, null, Rc.BACKGROUND_STARTED, T);
  assert.is(small.state.bg.deadlineNs, T + 1e9, 'at least sanitizeMinNs');
  setBackgroundTiming({ sanitizeNsPerGiB: 10e9, sanitizeMaxNs: 20e9 });
  const big = new Harness({ capacityBytes: 4 * GiB });
  big.ok(SANITIZE, null, Rc.BACKGROUND_STARTED, T);
  assert.is(big.state.bg.deadlineNs, T + 20e9, 'capped at sanitizeMaxNs');
  assert.is(t.rc(SANITIZE, '00', T + 5e9), Rc.INVALID_PAYLOAD_LENGTH);
});

test('Secure Erase: foreground; drops user data, keeps LSA and poison list; Busy during Scan Media', () => {
  const t = dirty();
  t.ok(SECURE_ERASE, null, 0, T);
  assert.is(t.state.media, null);
  assert.is(hex(t.ok(0x4102, le32(0) + le32(4), 0, T)), 'a5a5a5a5');
  assert.is(hex(t.ok(0x4300, le64(0) + le64(GiB / 64), 0, T).subarray(0x0a, 0x0c)), '0100');
  t.ok(0x4304, le64(0) + le64(GiB / 64) + '01', Rc.BACKGROUND_STARTED, T);
  assert.is(t.rc(SECURE_ERASE, null, T + 10 * MS), Rc.BUSY);
  assert.is(t.rc(SECURE_ERASE, '00', T + 10 * MS), Rc.INVALID_PAYLOAD_LENGTH);
  t.poll(T + 1e9);
  assert.is(t.rc(SECURE_ERASE, null, T + 1e9), Rc.SUCCESS);
});

test('through the worker endpoint: deadline and poll() drive the sanitize to completion in the BG status register', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  const done: { tag: number; rc: number; flags: number; len: number }[] = [];
  const sink = {
    complete(tag: number, _t: number, _op: number, flags: number, a0: number, _a1: number, _a2: number, _h: Uint8Array | null, body: Uint8Array | null) {
      done.push({ tag, rc: a0 & 0xffff, flags, len: body === null ? 0 : body.byteLength });
    },
  };
  const ep = new CxlMailboxEndpoint('mem0', 0, t.regs, t.state, sink, FaultInjector.NONE);
  ep.submit(1, SANITIZE, 0, new Uint8Array(0), 0, 0, 0, T);
  assert.equal(done[0], { tag: 1, rc: Rc.BACKGROUND_STARTED, flags: CqFlag.BACKGROUND, len: 0 });
  assert.is(ep.deadline(), T + 1e9, 'the worker wakes when the sanitize ends');
  ep.submit(2, 0x4200, 0, new Uint8Array(0), 0, 0, 0, T + 100 * MS);
  assert.equal(done[1], { tag: 2, rc: Rc.SUCCESS, flags: CqFlag.BACKGROUND, len: 0x12 });
  ep.submit(3, 0x4102, 0, Uint8Array.from(Buffer.from(le32(0) + le32(4), 'hex')), 0, 0, 0, T + 100 * MS);
  assert.is(done[2]!.rc, Rc.MEDIA_DISABLED);
  assert.is(ep.poll(T + 600 * MS), T + 1e9);
  assert.equal(t.regs.backgroundStatus(), { opcode: 0x4400, percent: 60, rc: 0, vendor: 0 });
  assert.is(ep.poll(T + 1e9), Infinity);
  assert.equal(t.regs.backgroundStatus(), { opcode: 0x4400, percent: 100, rc: 0, vendor: 0 });
  assert.not.ok(t.regs.statusBackground());
  ep.submit(4, 0x4102, 0, Uint8Array.from(Buffer.from(le32(0) + le32(4), 'hex')), 0, 0, 0, T + 1e9 + 1);
  assert.equal(done[3], { tag: 4, rc: Rc.SUCCESS, flags: 0, len: 4 });
});

test.run();
