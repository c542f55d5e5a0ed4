import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resetBackgroundTiming, setBackgroundTiming } from '../src/devices/cci/generic.js';
import { Rc } from '../src/devices/cci/return-codes.js';
import { Harness, hex, le32, MS, zeros } from './cxl-type3-harness.js';

const FW_INFO = 0x0200;
const TRANSFER = 0x0201;
const ACTIVATE = 0x0202;
const ABORT_BG = 0x0005;

const ascii = (s: string, width: number): string => Buffer.from(s.padEnd(width, '\0'), 'latin1').toString('hex');

/** A FW package: "MBXF", 16-byte revision, padding to `units` x 128 bytes. */
function image(rev: string, units = 2, magic = 'MBXF'): string {
  return (ascii(magic, 4) + ascii(rev, 16)).padEnd(units * 256, '0');
}

/** Transfer FW input (8.2.9.3.2): action, slot, 2 rsvd, le32 offset (128-byte units), 78h rsvd, data. */
const xfer = (action: number, slot: number, offset: number, data: string): string =>
  action.toString(16).padStart(2, '0') + slot.toString(16).padStart(2, '0') + '0000' + le32(offset) + zeros(0x78) + data;

const T0 = 1e9;
/** a 4 KiB mailbox: FW parts are 128-byte multiples after a 128-byte header */
const dev = (): Harness => new Harness({ mailboxBytes: 4096 });

test.before.each(() => resetBackgroundTiming());

test('Get FW Info at power-on: 2 slots, slot 1 active, online activation supported, revision text', () => {
  const t = dev();
  const out = t.ok(FW_INFO);
  assert.is(hex(out), '02' + '01' + '01' + zeros(13) + ascii('mbxmux-fw-1.0', 16) + zeros(16) + zeros(32));
});

test('Full transfer: Background Command Started, percent moves with time, completes Success into slot 2', () => {
  const t = dev();
  const r = t.run(TRANSFER, xfer(0, 2, 0, image('fw-2.0')), T0);
  assert.is(r.rc, Rc.BACKGROUND_STARTED);
  assert.ok(r.background, 'Status register bit 0');
  assert.equal(t.bgStatus(T0 + 150 * MS), { opcode: 0x0201, percent: 50, rc: 0, running: true });
  // Background Operation Status (0002h): [0] running, [7:1] percent; opcode; rc; vendor status
  assert.is(hex(t.ok(0x0002, null, 0, T0 + 30 * MS)), '15' + '00' + '0102' + '0000' + '0000');
  assert.is(t.rc(TRANSFER, xfer(0, 2, 0, image('x')), T0 + 200 * MS), Rc.BUSY, 'one background command at a time');
  assert.equal(t.bgStatus(T0 + 300 * MS), { opcode: 0x0201, percent: 100, rc: 0, running: false });
  assert.is(hex(t.ok(0x0002, null, 0, T0 + 301 * MS)), 'c8' + '00' + '0102' + '0000' + '0000');
  const info = t.ok(FW_INFO, null, 0, T0 + 400 * MS);
  assert.is(hex(info.subarray(0, 0x30)), '02' + '01' + '01' + zeros(13) + ascii('mbxmux-fw-1.0', 16) + ascii('fw-2.0', 16));
});

test('Full transfer of an image without the MBXF magic completes with FW Verification Failed (0Ah)', () => {
  const t = dev();
  assert.is(t.rc(TRANSFER, xfer(0, 2, 0, image('fw-2.0', 2, 'ELF\x7f')), T0), Rc.BACKGROUND_STARTED);
  assert.is(t.bgStatus(T0 + 300 * MS).rc, Rc.FW_VERIFICATION_FAILED);
  assert.is(hex(t.ok(FW_INFO, null, 0, T0 + 1e9).subarray(0x20, 0x30)), zeros(16), 'slot 2 still empty');
  // an empty revision does not verify either
  assert.is(t.rc(TRANSFER, xfer(0, 2, 0, image('')), 2 * T0), Rc.BACKGROUND_STARTED);
  assert.is(t.bgStatus(2 * T0 + 300 * MS).rc, Rc.FW_VERIFICATION_FAILED);
});

test('Invalid Slot (0Bh): the active slot, slot 0, a slot beyond the two supported', () => {
  const t = dev();
  assert.is(t.rc(TRANSFER, xfer(0, 1, 0, image('a'))), Rc.INVALID_SLOT);
  assert.is(t.rc(TRANSFER, xfer(0, 0, 0, image('a'))), Rc.INVALID_SLOT);
  assert.is(t.rc(TRANSFER, xfer(0, 3, 0, image('a'))), Rc.INVALID_SLOT);
});

test('input checks: < 80h bytes -> 16h; data not a multiple of 128 or empty -> 02h; unknown action -> 02h', () => {
  const t = dev();
  assert.is(t.rc(TRANSFER, zeros(0x7f)), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(TRANSFER, xfer(0, 2, 0, '')), Rc.INVALID_INPUT);
  assert.is(t.rc(TRANSFER, xfer(0, 2, 0, image('a').slice(0, 200))), Rc.INVALID_INPUT);
  assert.is(t.rc(TRANSFER, xfer(5, 2, 0, image('a'))), Rc.INVALID_INPUT);
  assert.is(t.rc(TRANSFER, xfer(1, 2, 1, image('a'))), Rc.INVALID_INPUT, 'Initiate with a non-zero offset');
  assert.is(t.rc(TRANSFER, xfer(2, 2, 0x20000, image('a'))), Rc.FW_TRANSFER_OUT_OF_ORDER, 'Continue with nothing open');
  assert.is(t.rc(TRANSFER, xfer(4, 0, 0, '')), Rc.SUCCESS, 'Abort with nothing open');
});

test('multi-part transfer: Initiate, Continue (with an identical retransmission), End -> slot 2', () => {
  const t = dev();
  const img = image('fw-3.1', 3); // 384 bytes = 3 parts of 128
  const part = (i: number): string => img.slice(i * 256, (i + 1) * 256);
  let now = T0;
  const step = (action: number, slot: number, offset: number, data: string, want = Rc.SUCCESS) => {
    assert.is(t.rc(TRANSFER, xfer(action, slot, offset, data), now), Rc.BACKGROUND_STARTED);
    assert.is(t.bgStatus(now + 25 * MS).percent, 50, 'a part takes 50 ms');
    assert.is(t.bgStatus(now + 50 * MS).rc, want);
    now += 100 * MS;
  };
  step(1, 0, 0, part(0));
  assert.is(t.rc(TRANSFER, xfer(0, 2, 0, image('x')), now), Rc.FW_TRANSFER_IN_PROGRESS, 'Full while a transfer is open');
  assert.is(t.rc(TRANSFER, xfer(1, 2, 0, part(0)), now), Rc.FW_TRANSFER_IN_PROGRESS, 'Initiate while a transfer is open');
  step(2, 0, 1, part(1));
  step(2, 0, 1, part(1)); // the same part again
  assert.is(t.rc(TRANSFER, xfer(3, 1, 2, part(2)), now), Rc.INVALID_SLOT, 'End into the active slot');
  step(3, 2, 2, part(2));
  assert.is(hex(t.ok(FW_INFO, null, 0, now).subarray(0x20, 0x30)), ascii('fw-3.1', 16));
  assert.is(t.rc(TRANSFER, xfer(2, 0, 3, part(0)), now), Rc.FW_TRANSFER_OUT_OF_ORDER, 'the transfer is closed');
});

test('a part out of order ends the transfer with FW Transfer Out of Order (09h)', () => {
  const t = dev();
  const img = image('fw-4', 3);
  assert.is(t.rc(TRANSFER, xfer(1, 0, 0, img.slice(0, 256)), T0), Rc.BACKGROUND_STARTED);
  t.poll(T0 + 50 * MS);
  assert.is(t.rc(TRANSFER, xfer(2, 0, 2, img.slice(512)), T0 + 60 * MS), Rc.FW_TRANSFER_OUT_OF_ORDER, 'skipped a part');
  assert.is(t.rc(TRANSFER, xfer(2, 0, 1, img.slice(256, 512)), T0 + 70 * MS), Rc.FW_TRANSFER_OUT_OF_ORDER, 'no longer open');
  assert.is(t.rc(TRANSFER, xfer(1, 0, 0, img.slice(0, 256)), T0 + 80 * MS), Rc.BACKGROUND_STARTED, 'a new Initiate works');
});

test('an End whose image does not verify fails with 0Ah and closes the transfer', () => {
  const t = dev();
  const img = image('fw-5', 2, 'XXXX');
  assert.is(t.rc(TRANSFER, xfer(1, 0, 0, img.slice(0, 256)), T0), Rc.BACKGROUND_STARTED);
  assert.is(t.rc(TRANSFER, xfer(3, 2, 1, img.slice(256)), T0 + 60 * MS), Rc.BACKGROUND_STARTED);
  assert.is(t.bgStatus(T0 + 200 * MS).rc, Rc.FW_VERIFICATION_FAILED);
  assert.is(t.rc(TRANSFER, xfer(2, 0, 2, img.slice(256)), T0 + 210 * MS), Rc.FW_TRANSFER_OUT_OF_ORDER);
});

test('an open transfer is dropped after the timeout without parts; Abort drops it at once', () => {
  const t = dev();
  setBackgroundTiming({ fwTransferTimeoutNs: 1e9 });
  const img = image('fw-6', 2);
  t.rc(TRANSFER, xfer(1, 0, 0, img.slice(0, 256)), T0);
  t.poll(T0 + 50 * MS);
  assert.is(t.rc(TRANSFER, xfer(2, 0, 1, img.slice(256)), T0 + 50 * MS + 2e9), Rc.FW_TRANSFER_OUT_OF_ORDER);
  t.rc(TRANSFER, xfer(1, 0, 0, img.slice(0, 256)), 5 * T0);
  t.poll(5 * T0 + 50 * MS);
  assert.is(t.rc(TRANSFER, xfer(0, 2, 0, img), 5 * T0 + 60 * MS), Rc.FW_TRANSFER_IN_PROGRESS);
  assert.is(t.rc(TRANSFER, xfer(4, 0, 0, ''), 5 * T0 + 61 * MS), Rc.SUCCESS);
  assert.is(t.rc(TRANSFER, xfer(0, 2, 0, img), 5 * T0 + 62 * MS), Rc.BACKGROUND_STARTED);
});

test('Request Abort (0005h) stops a transfer: BG rc Aborted (12h), nothing written; no-op when idle', () => {
  const t = dev();
  assert.is(t.rc(ABORT_BG, null, T0), Rc.SUCCESS, 'nothing running');
  assert.is(t.rc(TRANSFER, xfer(0, 2, 0, image('fw-7')), T0), Rc.BACKGROUND_STARTED);
  const r = t.run(ABORT_BG, null, T0 + 100 * MS);
  assert.is(r.rc, Rc.SUCCESS);
  assert.not.ok(r.background, 'Status.BG cleared');
  assert.equal(t.bgStatus(T0 + 400 * MS), { opcode: 0x0201, percent: 33, rc: Rc.ABORTED, running: false });
  assert.is(hex(t.ok(0x0002, null, 0, T0 + 500 * MS)), (33 << 1).toString(16) + '00' + '0102' + '1200' + '0000');
  assert.is(hex(t.ok(FW_INFO, null, 0, T0 + 500 * MS).subarray(0x20, 0x30)), zeros(16));
});

test('Activate FW: empty slot or active slot -> 0Bh; offline stages the slot; online switches the running revision', () => {
  const t = dev();
  assert.is(t.rc(ACTIVATE, '0002'), Rc.INVALID_SLOT, 'slot 2 empty');
  assert.is(t.rc(ACTIVATE, '0001'), Rc.INVALID_SLOT, 'slot 1 is active');
  t.rc(TRANSFER, xfer(0, 2, 0, image('fw-8.0')), T0);
  t.poll(T0 + 300 * MS);
  const now = T0 + 1e9;
  assert.is(t.rc(ACTIVATE, '0202', now), Rc.INVALID_INPUT, 'action 2');
  assert.is(t.rc(ACTIVATE, '0000', now), Rc.INVALID_SLOT);
  assert.is(t.rc(ACTIVATE, '0003', now), Rc.INVALID_SLOT);
  assert.is(t.rc(ACTIVATE, '00', now), Rc.INVALID_PAYLOAD_LENGTH);
  t.ok(ACTIVATE, '0102', 0, now);
  assert.is(hex(t.ok(FW_INFO, null, 0, now).subarray(0, 2)), '02' + '11', 'active 1, staged 2 in bits 5:3');
  t.ok(ACTIVATE, '0002', 0, now);
  assert.is(hex(t.ok(FW_INFO, null, 0, now).subarray(0, 2)), '02' + '02', 'active 2, nothing staged');
  assert.is(hex(t.ok(0x4000, null, 0, now).subarray(0, 16)), ascii('fw-8.0', 16), 'Identify Memory Device FW revision');
  assert.is(t.rc(ACTIVATE, '0002', now), Rc.INVALID_SLOT, 'already active');
  assert.is(t.rc(TRANSFER, xfer(0, 2, 0, image('x')), now), Rc.INVALID_SLOT, 'slot 2 is now the active one');
  t.ok(ACTIVATE, '0001', 0, now);
  assert.is(hex(t.ok(FW_INFO, null, 0, now).subarray(0, 2)), '02' + '01');
  // while a Transfer FW is in flight, activation waits
  t.ok(ACTIVATE, '0002', 0, now);
  assert.is(t.rc(TRANSFER, xfer(0, 1, 0, image('fw-8.1')), now), Rc.BACKGROUND_STARTED);
  assert.is(t.rc(ACTIVATE, '0001', now + 10 * MS), Rc.FW_TRANSFER_IN_PROGRESS);
  assert.is(t.rc(ACTIVATE, '0001', now + 300 * MS), Rc.SUCCESS);
  assert.is(hex(t.ok(FW_INFO, null, 0, now + 300 * MS).subarray(0, 0x30)),
    '02' + '01' + '01' + zeros(13) + ascii('fw-8.1', 16) + ascii('fw-8.0', 16));
});

test('timing comes from the shared BG_TIMING object', () => {
  const t = dev();
  setBackgroundTiming({ fwFullNs: 10 * MS });
  t.rc(TRANSFER, xfer(0, 2, 0, image('fw-9')), T0);
  assert.equal(t.bgStatus(T0 + 10 * MS), { opcode: 0x0201, percent: 100, rc: 0, running: false });
});

test.run();
