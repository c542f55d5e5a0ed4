import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rc } from '../src/devices/cci/return-codes.js';
import { Harness, hex, le16, le32, zeros } from './cxl-type3-harness.js';

const SUPPORTED = 0x0500;
const GET = 0x0501;
const SET = 0x0502;

const PATROL = '96dad7d6fde8482ba73375774e06db8a';
const TELEMETRY = '5cfc294064df43d8b8443e84ad2ab9f0';
const POWER = '1422deae3ab844c79bc9da9c739f7df3';
const UNKNOWN = '00112233445566778899aabbccddeeff';

/** Get Supported Features entry (8.2.9.6.1): uuid, index, get size, set size, attributes, versions, effects, 18 rsvd. */
const ENTRY = [
  PATROL + le16(0) + le16(4) + le16(2) + '79000000' + '01' + '01' + le16(0x0002) + zeros(18),
  TELEMETRY + le16(1) + le16(16) + le16(0) + '00000000' + '01' + '00' + le16(0) + zeros(18),
  POWER + le16(2) + le16(256) + le16(256) + '69000000' + '01' + '01' + le16(0x0001) + zeros(18),
];

const supported = (count: number, start: number): string => le32(count) + le16(start) + '0000';
const get = (uuid: string, offset: number, count: number, sel = 0): string =>
  uuid + le16(offset) + le16(count) + sel.toString(16).padStart(2, '0');
/** Set Feature input (8.2.9.6.3): uuid, le32 flags, le16 offset, version, 9 rsvd, data. */
const set = (uuid: string, flags: number, offset: number, data: string, version = 1): string =>
  uuid + le32(flags) + le16(offset) + version.toString(16).padStart(2, '0') + zeros(9) + data;

const FULL = 0;
const INITIATE = 1;
const CONTINUE = 2;
const FINISH = 3;
const ABORT = 4;
const SAVED = 8;

test('Get Supported Features: count 8 learns the total; then every entry, byte for byte', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  assert.is(hex(t.ok(SUPPORTED, supported(8, 0))), le16(0) + le16(3) + zeros(4));
  assert.is(hex(t.ok(SUPPORTED, supported(8 + 3 * 48, 0))), le16(3) + le16(3) + zeros(4) + ENTRY.join(''));
  assert.is(hex(t.ok(SUPPORTED, supported(8 + 48, 1))), le16(1) + le16(3) + zeros(4) + ENTRY[1], 'start index 1, room for one');
  assert.is(hex(t.ok(SUPPORTED, supported(0xffff, 2))), le16(1) + le16(3) + zeros(4) + ENTRY[2]);
  assert.is(t.rc(SUPPORTED, supported(7, 0)), Rc.INVALID_INPUT, 'count < 8');
  assert.is(t.rc(SUPPORTED, supported(8, 3)), Rc.INVALID_INPUT, 'start index past the end');
  assert.is(t.rc(SUPPORTED, supported(8, 0).slice(0, 14)), Rc.INVALID_PAYLOAD_LENGTH);
});

test('Get Supported Features on a 256-byte mailbox returns what fits: (256 - 8) / 48 = 5, so all 3', () => {
  const t = new Harness({ mailboxBytes: 256 });
  assert.is(t.ok(SUPPORTED, supported(0xffffffff, 0)).byteLength, 8 + 3 * 48);
});

test('patrol scrub: current, default and saved selections; Full set with and without "saved across reset"', () => {
  const t = new Harness();
  // readable: cycle capabilities (changeable), le16 {current 12 h, minimum 1 h}, flags (enabled)
  assert.is(hex(t.ok(GET, get(PATROL, 0, 4))), '01' + '0c01' + '01');
  t.ok(SET, set(PATROL, FULL | SAVED, 0, '18' + '00')); // 24 h, disabled, saved
  assert.is(hex(t.ok(GET, get(PATROL, 0, 4, 0))), '01' + '1801' + '00');
  assert.is(hex(t.ok(GET, get(PATROL, 0, 4, 1))), '01' + '0c01' + '01', 'default');
  assert.is(hex(t.ok(GET, get(PATROL, 0, 4, 2))), '01' + '1801' + '00', 'saved');
  t.ok(SET, set(PATROL, FULL, 0, '06' + '01'));
  assert.is(hex(t.ok(GET, get(PATROL, 0, 4, 0))), '01' + '0601' + '01');
  assert.is(hex(t.ok(GET, get(PATROL, 0, 4, 2))), '01' + '1801' + '00', 'saved unchanged without bit 3');
  assert.is(hex(t.ok(GET, get(PATROL, 1, 2))), '0601', 'offset 1, count 2');
  assert.is(hex(t.ok(GET, get(PATROL, 2, 100))), '0101', 'count past the end is trimmed');
});

test('Set Feature return codes: 03h unknown/read-only, 19h version, 16h length, 02h bad value or not the whole data', () => {
  const t = new Harness();
  assert.is(t.rc(SET, set(UNKNOWN, FULL, 0, '0c01')), Rc.UNSUPPORTED);
  assert.is(t.rc(SET, set(TELEMETRY, FULL, 0, '00')), Rc.UNSUPPORTED, 'not changeable');
  assert.is(t.rc(SET, set(PATROL, FULL, 0, '0c01', 2)), Rc.UNSUPPORTED_FEATURE_VERSION);
  assert.is(t.rc(SET, set(PATROL, FULL, 0, '0c01', 0)), Rc.UNSUPPORTED_FEATURE_VERSION);
  assert.is(t.rc(SET, set(PATROL, FULL, 0, '')), Rc.INVALID_PAYLOAD_LENGTH, 'no data');
  assert.is(t.rc(SET, set(PATROL, FULL, 0, '0c0100')), Rc.INVALID_PAYLOAD_LENGTH, 'more than the set size');
  assert.is(t.rc(SET, set(PATROL, FULL, 0, '').slice(0, 62)), Rc.INVALID_PAYLOAD_LENGTH, '< 20h bytes');
  assert.is(t.rc(SET, set(PATROL, FULL, 0, '0c')), Rc.INVALID_INPUT, 'Full with part of the data');
  assert.is(t.rc(SET, set(PATROL, FULL, 1, '01')), Rc.INVALID_INPUT, 'Full at an offset');
  assert.is(t.rc(SET, set(PATROL, FULL, 0, '0001')), Rc.INVALID_INPUT, 'cycle below the 1 h minimum');
  assert.is(t.rc(SET, set(PATROL, 5, 0, '0c01')), Rc.INVALID_INPUT, 'action 5');
  assert.is(hex(t.ok(GET, get(PATROL, 0, 4))), '01' + '0c01' + '01', 'nothing changed');
});

test('Get Feature return codes: 03h unknown, 1Ah selection, 02h offset or count', () => {
  const t = new Harness();
  assert.is(t.rc(GET, get(UNKNOWN, 0, 4)), Rc.UNSUPPORTED);
  assert.is(t.rc(GET, get(PATROL, 0, 4, 3)), Rc.UNSUPPORTED_FEATURE_SELECTION);
  assert.is(t.rc(GET, get(TELEMETRY, 0, 16, 1)), Rc.UNSUPPORTED_FEATURE_SELECTION, 'no default selection');
  assert.is(t.rc(GET, get(TELEMETRY, 0, 16, 2)), Rc.UNSUPPORTED_FEATURE_SELECTION, 'no saved selection');
  assert.is(t.rc(GET, get(PATROL, 4, 1)), Rc.INVALID_INPUT, 'offset at the end');
  assert.is(t.rc(GET, get(POWER, 0, 257)), Rc.INVALID_INPUT, 'count above the 256-byte response limit');
  assert.is(t.rc(GET, get(PATROL, 0, 4).slice(0, 40)), Rc.INVALID_PAYLOAD_LENGTH);
});

test('read-only telemetry reflects the device', () => {
  const t = new Harness();
  const h = t.state.health;
  t.ok(0x4301, '4000000000000000'); // inject poison: one record
  // version 1, life used, s16 temperature, le32 poison records, le32 scans completed, le32 dirty shutdowns
  assert.is(hex(t.ok(GET, get(TELEMETRY, 0, 16))),
    '01' + h.lifeUsed.toString(16).padStart(2, '0') + le16(h.temperature) + le32(1) + le32(0) + le32(h.dirtyShutdowns));
});

test('multi-part Set Feature: 256 bytes through a 256-byte mailbox with Initiate/Continue/Finish', () => {
  const t = new Harness();
  const table = Array.from({ length: 64 }, (_, i) => le32(i < 10 ? 20000 - 1000 * i : 0)).join('');
  assert.is(hex(t.ok(GET, get(POWER, 0, 16))), le32(25000) + le32(20000) + le32(15000) + le32(10000), 'defaults');
  t.ok(SET, set(POWER, INITIATE | SAVED, 0, table.slice(0, 200)));
  assert.is(t.rc(GET, get(POWER, 0, 16)), Rc.FEATURE_TRANSFER_IN_PROGRESS, 'Get on the feature being written');
  assert.is(hex(t.ok(GET, get(PATROL, 0, 4))), '010c0101', 'another feature reads fine');
  assert.is(t.rc(SET, set(PATROL, FULL, 0, '0c01')), Rc.FEATURE_TRANSFER_IN_PROGRESS, 'another feature cannot be set');
  assert.is(t.rc(SET, set(POWER, INITIATE, 0, table.slice(0, 200))), Rc.FEATURE_TRANSFER_IN_PROGRESS);
  assert.is(t.rc(SET, set(POWER, FULL, 0, table.slice(0, 200))), Rc.FEATURE_TRANSFER_IN_PROGRESS, 'Full while a transfer is open');
  t.ok(SET, set(POWER, CONTINUE | SAVED, 100, table.slice(200, 400)));
  t.ok(SET, set(POWER, FINISH | SAVED, 200, table.slice(400)));
  assert.is(hex(t.ok(GET, get(POWER, 0, 200))), table.slice(0, 400));
  assert.is(hex(t.ok(GET, get(POWER, 200, 56))), table.slice(400));
  assert.is(hex(t.ok(GET, get(POWER, 0, 8, 2))), table.slice(0, 16), 'saved');
  assert.is(hex(t.ok(GET, get(POWER, 0, 8, 1))), le32(25000) + le32(20000), 'default');
});

test('multi-part Set Feature: out of order (1Ch) drops the transfer; Finish short of the size -> 02h; Abort', () => {
  const t = new Harness();
  const table = le32(5000).repeat(64);
  assert.is(t.rc(SET, set(POWER, CONTINUE, 0, table.slice(0, 200))), Rc.FEATURE_TRANSFER_OUT_OF_ORDER, 'nothing open');
  assert.is(t.rc(SET, set(POWER, INITIATE, 4, table.slice(0, 200))), Rc.FEATURE_TRANSFER_OUT_OF_ORDER, 'Initiate past 0');
  t.ok(SET, set(POWER, INITIATE, 0, table.slice(0, 200)));
  assert.is(t.rc(SET, set(POWER, CONTINUE, 104, table.slice(0, 200))), Rc.FEATURE_TRANSFER_OUT_OF_ORDER, 'gap');
  assert.is(t.rc(SET, set(POWER, CONTINUE, 100, table.slice(0, 200))), Rc.FEATURE_TRANSFER_OUT_OF_ORDER, 'dropped');
  t.ok(SET, set(POWER, INITIATE, 0, table.slice(0, 200)));
  assert.is(t.rc(SET, set(POWER, FINISH, 100, table.slice(0, 200))), Rc.INVALID_INPUT, '200 of 256 bytes');
  assert.is(hex(t.ok(GET, get(POWER, 0, 4))), le32(25000), 'unchanged');
  t.ok(SET, set(POWER, INITIATE, 0, table.slice(0, 200)));
  assert.is(t.rc(SET, set(PATROL, ABORT, 0, '')), Rc.FEATURE_TRANSFER_IN_PROGRESS, 'Abort names another feature');
  t.ok(SET, set(POWER, ABORT, 0, ''));
  assert.is(hex(t.ok(GET, get(POWER, 0, 4))), le32(25000));
  t.ok(SET, set(POWER, ABORT, 0, ''), 0);
});

test('a complete transfer whose data fails the feature check is Invalid Input and changes nothing', () => {
  const t = new Harness();
  const bad = le32(500) + le32(5000).repeat(63); // 500 mW is below the 1000 mW floor
  t.ok(SET, set(POWER, INITIATE, 0, bad.slice(0, 400)));
  assert.is(t.rc(SET, set(POWER, FINISH, 200, bad.slice(400))), Rc.INVALID_INPUT);
  assert.is(hex(t.ok(GET, get(POWER, 0, 4))), le32(25000));
  const tooHigh = le32(30000) + le32(0).repeat(63);
  t.ok(SET, set(POWER, INITIATE, 0, tooHigh.slice(0, 400)));
  assert.is(t.rc(SET, set(POWER, FINISH, 200, tooHigh.slice(400))), Rc.INVALID_INPUT);
});

test('CEL: 0500h/0501h no effects; 0502h declares the union of the feature set effects (cold reset + immediate config)', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  const cel = new Map(t.cel());
  assert.is(cel.get(0x0500), 0);
  assert.is(cel.get(0x0501), 0);
  assert.is(cel.get(0x0502), 0x0003);
});

test.run();
