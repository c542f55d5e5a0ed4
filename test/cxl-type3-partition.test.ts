import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rc } from '../src/devices/cci/return-codes.js';
import { GiB, Harness, hex, le16, le32, le64, records, zeros } from './cxl-type3-harness.js';

const GET = 0x4100;
const SET = 0x4101;

const ascii = (s: string, width: number): string => Buffer.from(s.padEnd(width, '\0'), 'latin1').toString('hex');

test('Identify Memory Device: 45h bytes consistent with the device (capacity, logs, LSA, poison limits, DC log)', () => {
  const t = new Harness({ capacityBytes: 2 * GiB, lsaBytes: 64 * 1024 });
  assert.is(hex(t.ok(0x4000)),
    ascii('mbxmux-fw-1.0', 16)
    + le64(8) // total capacity, 256 MiB units
    + le64(0) + le64(0) // volatile-only, persistent-only
    + le64(1) // partition alignment 256 MiB
    + le16(8) + le16(8) + le16(8) + le16(8) // info, warning, failure, fatal event log sizes
    + le32(64 * 1024) // LSA size
    + '000100' // poison list maximum media error records: 256 (3 bytes)
    + le16(32) // inject poison limit
    + '00' + '00' // poison handling, QoS telemetry capabilities
    + le16(8)); // dynamic capacity event log size
});

test('Get Partition Info at power-on: half volatile, half persistent, nothing pending', () => {
  const t = new Harness();
  assert.is(hex(t.ok(GET)), le64(2) + le64(2) + le64(0) + le64(0));
});

test('Set Partition Info without Immediate stages the change for the next cold reset', () => {
  const t = new Harness();
  t.ok(SET, le64(3) + '00');
  assert.is(hex(t.ok(GET)), le64(2) + le64(2) + le64(3) + le64(1));
  t.ok(SET, le64(0) + '00');
  assert.is(hex(t.ok(GET)), le64(2) + le64(2) + le64(0) + le64(4), 'all persistent next');
});

test('Set Partition Info with Immediate applies at once; 10-byte input (Linux UAPI) is accepted', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  t.ok(SET, le64(3) + '00');
  t.ok(SET, le64(1) + '01' + '00');
  assert.is(hex(t.ok(GET)), le64(1) + le64(3) + le64(0) + le64(0), 'active changed, pending cleared');
  // General Media records mark the volatile bit from the active partition: DPA 3000_0000h is persistent now
  t.ok(0x4301, le64(0x30000000));
  t.ok(0x4301, le64(0x40));
  const recs = records(t.ok(0x0100, '00'));
  assert.is(recs[0]![0x30]! & 1, 0);
  assert.is(recs[1]![0x30]! & 1, 1);
});

test('Set Partition Info: above the total capacity -> Invalid Input; 8 or 11 bytes -> Invalid Payload Length', () => {
  const t = new Harness();
  assert.is(t.rc(SET, le64(5) + '01'), Rc.INVALID_INPUT);
  assert.is(t.rc(SET, 'ffffffffffffffff' + '01'), Rc.INVALID_INPUT);
  assert.is(t.rc(SET, le64(1)), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(SET, le64(1) + '000000'), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(GET, '00'), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(hex(t.ok(GET)), le64(2) + le64(2) + zeros(16));
});

test.run();
