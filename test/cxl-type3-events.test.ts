import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rc } from '../src/devices/cci/return-codes.js';
import { GiB, h, handleOf, Harness, hex, le16, le32, le64, MiB, records, zeros } from './cxl-type3-harness.js';

const GET_EVENTS = 0x0100;
const CLEAR_EVENTS = 0x0101;
const GET_POLICY = 0x0102;
const SET_POLICY = 0x0103;
const INJECT = 0x4301;

const DC_UUID = 'ca95afa7f18340188c2f95268e101a2a';
const GM_UUID = 'fbcd0a77c260417f85a9088b1621eba6';

/** Common header (8.2.9.2.1): uuid, length 80h, 3 flag bytes, handle, related handle, timestamp, 16 bytes. */
const header = (uuid: string, flags: string, handle: number, ts: number | bigint): string =>
  uuid + '80' + flags + le16(handle) + '0000' + le64(ts) + zeros(16);

test('power-on: informational log empty; header is 20h bytes of zeros with count 0', () => {
  const t = new Harness();
  const out = t.ok(GET_EVENTS, '00');
  assert.is(hex(out), zeros(0x20));
});

test('power-on: the Dynamic Capacity log holds the add-capacity offer record, byte for byte', () => {
  const t = new Harness();
  const out = t.ok(GET_EVENTS, '04');
  // flags 00, rsvd, overflow count 0, first/last overflow ts 0, record count 1, 10 rsvd
  assert.is(hex(out.subarray(0, 0x20)), '00' + '00' + '0000' + le64(0) + le64(0) + le16(1) + zeros(10));
  const rec = hex(out.subarray(0x20));
  const expected = header(DC_UUID, '000000', 1, 0)
    + '00' // 30h event type: add capacity
    + '00' // 31h validity flags
    + '0000' // 32h host id
    + '00' // 34h region index
    + '00' // 35h flags (More = 0)
    + '0000' // 36h reserved
    + le64(1 * GiB) // 38h extent start DPA: region 0 base = end of the 1 GiB static capacity
    + le64(128 * MiB) // 40h extent length
    + zeros(16) // 48h tag
    + '0000' + zeros(6) // 58h shared extent sequence, reserved
    + zeros(0x18) // 60h reserved
    + le32(32) // 78h available extents
    + le32(0); // 7Ch available tags
  assert.is(rec, expected);
});

test('Get Event Records: log > 4 is Invalid Input; wrong length is Invalid Payload Length', () => {
  const t = new Harness();
  assert.is(t.rc(GET_EVENTS, '05'), Rc.INVALID_INPUT);
  assert.is(t.rc(GET_EVENTS, '0000'), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(GET_EVENTS, null), Rc.INVALID_PAYLOAD_LENGTH);
});

test('Inject Poison posts a General Media record stamped with the device timestamp', () => {
  const t = new Harness();
  t.ok(0x0301, le64(0x1000), 0, 1e9); // Set Timestamp 1000h at t = 1 s
  t.ok(INJECT, le64(0x1000), 0, 1e9 + 500);
  const out = t.ok(GET_EVENTS, '00');
  const [rec] = records(out);
  assert.ok(rec);
  const expected = header(GM_UUID, '000000', 2, 0x1000 + 500) // handle 1 is the power-on DC record
    + le64(0x1000 | 1) // 30h physical address: DPA 1000h, bit 0 volatile (inside the volatile partition)
    + '01' // 38h descriptor: uncorrectable
    + '00' // 39h memory event type: media ECC error
    + '04' // 3Ah transaction type: host inject poison
    + '0000' // 3Bh validity flags
    + zeros(0x80 - 0x3d);
  assert.is(hex(rec), expected);
});

test('More flag: a 256-byte mailbox returns one record per call; records stay until cleared', () => {
  const t = new Harness({ mailboxBytes: 256 });
  for (let i = 0; i < 3; i++) t.ok(INJECT, le64(0x1000 * (i + 1)));
  let out = t.ok(GET_EVENTS, '00');
  assert.is(out.byteLength, 0x20 + 0x80, 'one record fits: (256 - 32) / 128 = 1');
  assert.is(out[0], 0x02, 'More Event Records');
  assert.is(hex(out.subarray(0x14, 0x16)), le16(1));
  const first = handleOf(records(out)[0]!);
  out = t.ok(GET_EVENTS, '00');
  assert.is(handleOf(records(out)[0]!), first, 'non-destructive read');
  const seen: number[] = [];
  for (;;) {
    out = t.ok(GET_EVENTS, '00');
    const [rec] = records(out);
    if (!rec) break;
    seen.push(handleOf(rec));
    t.ok(CLEAR_EVENTS, '00' + '00' + '01' + '000000' + le16(handleOf(rec)));
    if (out[0] === 0) break;
  }
  assert.equal(seen, [2, 3, 4], 'oldest first');
  assert.is(hex(t.ok(GET_EVENTS, '00')), zeros(0x20), 'log empty, More clear');
});

test('a 4 KiB mailbox returns several records; More is clear when all fit', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  for (let i = 0; i < 3; i++) t.ok(INJECT, le64(0x40 * (i + 1)));
  const out = t.ok(GET_EVENTS, '00');
  assert.is(out[0], 0x00);
  assert.is(records(out).length, 3);
  assert.equal(records(out).map(handleOf), [2, 3, 4]);
});

test('Clear Event Records: handles must be the oldest records in order, else Invalid Handle (0Eh) and nothing is cleared', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  for (let i = 0; i < 3; i++) t.ok(INJECT, le64(0x40 * (i + 1)));
  const clear = (handles: number[], flags = '00', log = '00') =>
    t.rc(CLEAR_EVENTS, log + flags + handles.length.toString(16).padStart(2, '0') + '000000' + handles.map(le16).join(''));
  assert.is(clear([3]), Rc.INVALID_HANDLE, 'not the oldest');
  assert.is(clear([3, 2]), Rc.INVALID_HANDLE, 'wrong order');
  assert.is(clear([2, 9]), Rc.INVALID_HANDLE, 'unknown handle');
  assert.is(clear([2, 3, 4, 5]), Rc.INVALID_HANDLE, 'more handles than records');
  assert.is(records(t.ok(GET_EVENTS, '00')).length, 3, 'nothing cleared');
  assert.is(clear([2, 3]), Rc.SUCCESS);
  assert.equal(records(t.ok(GET_EVENTS, '00')).map(handleOf), [4]);
  assert.is(clear([]), Rc.SUCCESS, 'n = 0 clears nothing');
  assert.is(clear([1], '00', '05'), Rc.INVALID_INPUT, 'bad log');
  assert.is(clear([1], '00', '01'), Rc.INVALID_HANDLE, 'empty warning log');
  // the DC record (handle 1) clears from log 4
  assert.is(clear([1], '00', '04'), Rc.SUCCESS);
  assert.is(hex(t.ok(GET_EVENTS, '04')), zeros(0x20));
});

test('Clear Event Records input length is 6 + 2n (Invalid Payload Length otherwise)', () => {
  const t = new Harness();
  assert.is(t.rc(CLEAR_EVENTS, '00' + '00' + '02' + '000000' + le16(1)), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(CLEAR_EVENTS, '00' + '00' + '01' + '000000' + le16(1) + '0000'), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(CLEAR_EVENTS, '000000'), Rc.INVALID_PAYLOAD_LENGTH);
});

test('overflow: the 9th record is lost and counted with timestamps; Clear All is only valid after an overflow', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  t.ok(0x0301, le64(1_000_000), 0, 0); // device time = 1e6 + now
  assert.is(t.rc(CLEAR_EVENTS, '00' + '01' + '00' + '000000', 1e9), Rc.INVALID_INPUT, 'Clear All without overflow');
  for (let i = 0; i < 8; i++) t.ok(INJECT, le64(0x40 * (i + 1)), 0, 100 + i);
  t.ok(INJECT, le64(0x40 * 9), 0, 200); // lost
  t.ok(INJECT, le64(0x40 * 10), 0, 300); // lost
  const out = t.ok(GET_EVENTS, '00');
  assert.is(hex(out.subarray(0, 0x20)),
    '01' + '00' + le16(2) + le64(1_000_200) + le64(1_000_300) + le16(8) + zeros(10), 'Overflow flag, count 2, first/last');
  assert.is(t.rc(CLEAR_EVENTS, '00' + '01' + '01' + '000000' + le16(2)), Rc.INVALID_INPUT, 'Clear All with handles');
  assert.is(t.rc(CLEAR_EVENTS, '00' + '01' + '00' + '000000'), Rc.SUCCESS);
  assert.is(hex(t.ok(GET_EVENTS, '00')), zeros(0x20), 'empty, overflow reset');
});

test('clearing records resets the overflow counters', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  for (let i = 0; i < 9; i++) t.ok(INJECT, le64(0x40 * (i + 1)));
  let out = t.ok(GET_EVENTS, '00');
  assert.is(out[0], 1);
  t.ok(CLEAR_EVENTS, '00' + '00' + '01' + '000000' + le16(handleOf(records(out)[0]!)));
  out = t.ok(GET_EVENTS, '00');
  assert.is(hex(out.subarray(0, 0x14)), zeros(0x14));
  assert.is(records(out).length, 7);
});

test('Event Interrupt Policy: 5 bytes; Set takes 4 or 5; MSI mode reports message number 1, FW mode keeps the host vector', () => {
  const t = new Harness();
  assert.is(hex(t.ok(GET_POLICY)), '0000000000');
  t.ok(SET_POLICY, '01' + 'a2' + '00' + '01');
  assert.is(hex(t.ok(GET_POLICY)), '11' + 'a2' + '00' + '11' + '00', '4 bytes leave the DC setting alone');
  t.ok(SET_POLICY, '00' + '00' + '01' + '00' + '51');
  assert.is(hex(t.ok(GET_POLICY)), '00' + '00' + '11' + '00' + '11');
  assert.is(t.rc(SET_POLICY, '03000000'), Rc.INVALID_INPUT, 'mode 3 is reserved');
  assert.is(hex(t.ok(GET_POLICY)), '00' + '00' + '11' + '00' + '11', 'unchanged');
  assert.is(t.rc(SET_POLICY, '000000'), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(SET_POLICY, '000000000000'), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(GET_POLICY, '00'), Rc.INVALID_PAYLOAD_LENGTH);
});

test('Response Message Limit: Get reports log2 of the payload; Set accepts 8..20 up to the CCI maximum and echoes n', () => {
  const small = new Harness({ mailboxBytes: 256 });
  assert.is(hex(small.ok(0x0003)), '08');
  assert.is(small.rc(0x0004, '09'), Rc.INVALID_INPUT, 'above the 256-byte maximum');
  assert.is(hex(small.ok(0x0004, '08')), '08');
  const big = new Harness({ mailboxBytes: 4096 });
  assert.is(hex(big.ok(0x0003)), '0c');
  assert.is(big.rc(0x0004, '07'), Rc.INVALID_INPUT);
  assert.is(big.rc(0x0004, '0d'), Rc.INVALID_INPUT);
  assert.is(big.rc(0x0004, '15'), Rc.INVALID_INPUT);
  assert.is(big.rc(0x0004, ''), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(hex(big.ok(0x0004, '08')), '08');
  assert.is(hex(big.ok(0x0003)), '08');
});

test('Response Message Limit bounds variable-length responses (events, Get Log, Get LSA)', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  for (let i = 0; i < 3; i++) t.ok(INJECT, le64(0x40 * (i + 1)));
  assert.is(records(t.ok(GET_EVENTS, '00')).length, 3);
  t.ok(0x0004, '08');
  const out = t.ok(GET_EVENTS, '00');
  assert.is(records(out).length, 1);
  assert.is(out[0], 0x02, 'More');
  assert.is(t.rc(0x4102, le32(0) + le32(257)), Rc.INVALID_INPUT, 'Get LSA longer than the limit');
  assert.is(t.ok(0x4102, le32(0) + le32(256)).byteLength, 256);
  assert.is(t.rc(0x0401, h('0da9c0b5bf414b788f7996b1623b3f17' + le32(0) + le32(260))), Rc.INVALID_INPUT);
});

test.run();
