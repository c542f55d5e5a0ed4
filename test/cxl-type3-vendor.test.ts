import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rc } from '../src/devices/cci/return-codes.js';
import { Harness, hex, le16, le32, le64, records } from './cxl-type3-harness.js';

const COUNTERS = 0xc000;
const OVERRIDE = 0xc001;

/** The CEL a type-3 device declares, spec effect bit numbering (CXL r3.1 Table 8-75). */
const BASE_CEL: [number, number][] = [
  [0x0001, 0x0000], // Identify
  [0x0002, 0x0000], // Background Operation Status
  [0x0003, 0x0000], // Get Response Message Limit
  [0x0004, 0x0002], // Set Response Message Limit: immediate config
  [0x0005, 0x0000], // Request Abort Background Operation
  [0x0100, 0x0000], // Get Event Records
  [0x0101, 0x0010], // Clear Event Records: immediate log
  [0x0102, 0x0000], // Get Event Interrupt Policy
  [0x0103, 0x0002], // Set Event Interrupt Policy: immediate config
  [0x0200, 0x0000], // Get FW Info
  [0x0201, 0x0140], // Transfer FW: background (6) + request abort supported (8)
  [0x0202, 0x0003], // Activate FW: cold reset (0) + immediate config (1)
  [0x0300, 0x0000], // Get Timestamp
  [0x0301, 0x0008], // Set Timestamp: immediate policy
  [0x0400, 0x0000], // Get Supported Logs
  [0x0401, 0x0000], // Get Log
  [0x0500, 0x0000], // Get Supported Features
  [0x0501, 0x0000], // Get Feature
  [0x0502, 0x0003], // Set Feature: union of feature effects (cold reset + immediate config)
  [0x4000, 0x0000], // Identify Memory Device
  [0x4100, 0x0000], // Get Partition Info
  [0x4101, 0x0007], // Set Partition Info: cold reset + immediate config + immediate data
  [0x4102, 0x0000], // Get LSA
  [0x4103, 0x0006], // Set LSA: immediate config + data
  [0x4200, 0x0000], // Get Health Info
  [0x4201, 0x0000], // Get Alert Configuration
  [0x4202, 0x0008], // Set Alert Configuration: immediate policy
  [0x4300, 0x0000], // Get Poison List
  [0x4301, 0x0014], // Inject Poison: immediate data + log
  [0x4302, 0x0014], // Clear Poison: immediate data + log
  [0x4303, 0x0000], // Get Scan Media Capabilities
  [0x4304, 0x0150], // Scan Media: immediate log + background + request abort supported
  [0x4305, 0x0000], // Get Scan Media Results
  [0x4400, 0x0074], // Sanitize: data + log + security state + background (not abortable)
  [0x4401, 0x0024], // Secure Erase: data + security state
  [0x4800, 0x0000], // Get DC Configuration
  [0x4801, 0x0000], // Get DC Extent List
  [0x4802, 0x0004], // Add DC Response: immediate data
  [0x4803, 0x0004], // Release DC: immediate data
];
const VENDOR_CEL: [number, number][] = [
  [0xc000, 0x0000], // Get Vendor Debug Counters
  [0xc001, 0x0012], // Set Vendor Health Override: immediate config + log
];

test('declared: the CEL lists exactly the table, ascending, with spec-numbered effects, vendor commands included', () => {
  const t = new Harness({ vendor: 'declared' });
  assert.equal(t.cel(), [...BASE_CEL, ...VENDOR_CEL]);
  assert.is(t.rc(COUNTERS), Rc.SUCCESS);
});

test('hidden: vendor commands run but the CEL omits them', () => {
  const t = new Harness({ vendor: 'hidden' });
  assert.equal(t.cel(), BASE_CEL);
  assert.is(t.rc(COUNTERS), Rc.SUCCESS);
  assert.is(t.rc(OVERRIDE, '01' + '05' + le16(40) + le32(0) + le32(0)), Rc.SUCCESS);
});

test('none: vendor commands are Unsupported and absent from the CEL', () => {
  const t = new Harness({ vendor: 'none' });
  assert.equal(t.cel(), BASE_CEL);
  assert.is(t.rc(COUNTERS), Rc.UNSUPPORTED);
  assert.is(t.rc(OVERRIDE, '01' + '05' + le16(40) + le32(0) + le32(0)), Rc.UNSUPPORTED);
  assert.is(t.rc(0xc002), Rc.UNSUPPORTED);
});

test('Get Vendor Debug Counters: version, count, then eight le32 counters that follow the device', () => {
  const t = new Harness({ vendor: 'declared', mailboxBytes: 4096 });
  assert.is(hex(t.ok(COUNTERS)), le16(1) + le16(8) + '00000000' + le32(0).repeat(8));
  t.ok(0x4301, le64(0x40));
  t.ok(0x4301, le64(0x80));
  t.ok(0x4302, le64(0x40) + '00'.repeat(64));
  t.ok(0x4802, le32(1) + '00000000' + le64(2 ** 30) + le64(2 * 2 ** 20) + le64(0));
  t.ok(0x4401);
  assert.is(hex(t.ok(COUNTERS)), le16(1) + le16(8) + '00000000'
    + le32(2) + le32(1) + le32(0) + le32(0) + le32(0) + le32(1) + le32(1) + le32(0));
  assert.is(t.rc(COUNTERS, '00'), Rc.INVALID_PAYLOAD_LENGTH);
});

/** Set Vendor Health Override input: fields, life used, s16 temperature, le32 corrected volatile, le32 persistent. */
const override = (fields: number, life: number, temp: number, cv = 0, cp = 0): string =>
  fields.toString(16).padStart(2, '0') + life.toString(16).padStart(2, '0') + le16(temp) + le32(cv) + le32(cp);

test('Set Vendor Health Override: input checks', () => {
  const t = new Harness({ vendor: 'declared' });
  assert.is(t.rc(OVERRIDE, override(0, 0, 0)), Rc.INVALID_INPUT, 'no field');
  assert.is(t.rc(OVERRIDE, override(0x11, 0, 0)), Rc.INVALID_INPUT, 'reserved field bit');
  assert.is(t.rc(OVERRIDE, override(1, 101, 0)), Rc.INVALID_INPUT, 'life used > 100');
  assert.is(t.rc(OVERRIDE, override(2, 0, 201)), Rc.INVALID_INPUT, 'temperature > 200');
  assert.is(t.rc(OVERRIDE, override(2, 0, -101)), Rc.INVALID_INPUT, 'temperature < -100');
  assert.is(t.rc(OVERRIDE, override(1, 0, 0).slice(0, 22)), Rc.INVALID_PAYLOAD_LENGTH);
});

test('threshold crossings post Memory Module records to the log of the new level, with the health block', () => {
  const t = new Harness({ vendor: 'declared', mailboxBytes: 4096 });
  // power-on health of this serial: life 12 %, 42 C, no dirty shutdowns
  assert.is(hex(t.ok(0x4200)), '00' + '00' + '00' + '0c' + le16(42) + le32(0) + le32(0) + le32(0));
  t.ok(OVERRIDE, override(1, 95, 0));
  assert.is(hex(t.ok(0x4200)), '01' + '00' + '02' + '5f' + le16(42) + le32(0) + le32(0) + le32(0), 'maintenance needed, life critical');
  const [fail] = records(t.ok(0x0100, '02'));
  assert.is(hex(fail!.subarray(0, 0x14)), 'fe927475dd594339a58679bab113b774' + '80' + '0a0000', 'failure severity + maintenance needed');
  assert.is(hex(fail!.subarray(0x30, 0x43)), '02' + hex(t.ok(0x4200)), 'life used change + health block');
  t.ok(OVERRIDE, override(3, 10, 90));
  const fails = records(t.ok(0x0100, '02'));
  assert.is(fails.length, 2);
  assert.is(hex(fails[1]!.subarray(0x11, 0x14)), '120000', 'failure + performance degraded');
  assert.is(fails[1]![0x30], 0x03, 'temperature change');
  const [info] = records(t.ok(0x0100, '00'));
  assert.is(info![0x30], 0x02, 'life used back to normal');
  assert.is(hex(info!.subarray(0x11, 0x14)), '000000');
  assert.is(hex(t.ok(0x4200).subarray(0, 3)), '02' + '00' + '08', 'performance degraded, temperature critical');
  t.ok(OVERRIDE, override(2, 0, 42));
  t.ok(OVERRIDE, override(2, 0, 43));
  assert.is(records(t.ok(0x0100, '00')).length, 2, 'no record when the status does not change');
});

test('programmable warnings: Set Alert Configuration enables them; crossing one posts a warning record', () => {
  const t = new Harness({ vendor: 'declared', mailboxBytes: 4096 });
  // valid 0, programmable 1Fh, life crit 90 / warn 75, over-temp crit 85, under-temp crit -10, warns 75 / 0, counts 100
  assert.is(hex(t.ok(0x4201)), '00' + '1f' + '5a' + '4b' + le16(85) + le16(-10) + le16(75) + le16(0) + le16(100) + le16(100));
  // enable the corrected volatile error warning at 5 and the over-temperature warning at 60
  t.ok(0x4202, '0a' + '0a' + '00' + '00' + le16(60) + le16(0) + le16(5) + le16(0));
  assert.is(hex(t.ok(0x4201)), '0a' + '1f' + '5a' + '4b' + le16(85) + le16(-10) + le16(60) + le16(0) + le16(5) + le16(100));
  t.ok(OVERRIDE, override(4, 0, 0, 7));
  const [warn] = records(t.ok(0x0100, '01'));
  assert.is(hex(warn!.subarray(0x11, 0x14)), '010000');
  assert.is(warn![0x30], 0x00, 'health status change');
  assert.is(t.ok(0x4200)[2], 0x10, 'corrected volatile count warning');
  t.ok(OVERRIDE, override(2, 0, 61));
  assert.is(t.ok(0x4200)[2], 0x14, 'temperature warning');
  // disable the temperature warning: status follows without a record (a policy change, not a measurement)
  t.ok(0x4202, '02' + '00' + '00' + '00' + le16(0) + le16(0) + le16(0) + le16(0));
  assert.is(t.ok(0x4200)[2], 0x10);
  assert.is(records(t.ok(0x0100, '01')).length, 2);
});

test('Set Alert Configuration rejects thresholds at or past the critical ones, and reserved alert bits', () => {
  const t = new Harness();
  const set = (valid: number, enable: number, life: number, over: number, under: number) =>
    t.rc(0x4202, valid.toString(16).padStart(2, '0') + enable.toString(16).padStart(2, '0')
      + life.toString(16).padStart(2, '0') + '00' + le16(over) + le16(under) + le16(0) + le16(0));
  assert.is(set(1, 1, 90, 0, 0), Rc.INVALID_INPUT);
  assert.is(set(2, 2, 0, 85, 0), Rc.INVALID_INPUT);
  assert.is(set(2, 2, 0, -10, 0), Rc.INVALID_INPUT);
  assert.is(set(4, 4, 0, 0, -10), Rc.INVALID_INPUT);
  assert.is(set(4, 4, 0, 0, 85), Rc.INVALID_INPUT);
  assert.is(set(0x20, 0x20, 0, 0, 0), Rc.INVALID_INPUT);
  assert.is(set(1, 0, 95, 0, 0), Rc.SUCCESS, 'disabling ignores the threshold');
  assert.is(set(7, 7, 80, 70, -5), Rc.SUCCESS);
  assert.is(hex(t.ok(0x4201).subarray(0, 4)), '07' + '1f' + '5a' + '50');
  assert.is(t.rc(0x4202, '00'.repeat(11)), Rc.INVALID_PAYLOAD_LENGTH);
});

test.run();
