import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resetBackgroundTiming } from '../src/devices/cci/generic.js';
import { Rc } from '../src/devices/cci/return-codes.js';
import { latentDpa } from '../src/devices/cxl/type3-poison.js';
import { GiB, Harness, hex, le16, le32, le64, MiB, MS, records, zeros } from './cxl-type3-harness.js';

const GET_LIST = 0x4300;
const INJECT = 0x4301;
const CLEAR = 0x4302;
const SCAN_CAPS = 0x4303;
const SCAN = 0x4304;
const SCAN_RESULTS = 0x4305;

/** DPA space of the default device: 1 GiB static + two 256 MiB DC regions. */
const MEDIA_END = GiB + 512 * MiB;
const ALL = le64(0) + le64(MEDIA_END / 64);
const range = (dpa: number, lines: number): string => le64(dpa) + le64(lines);
/** Media error record (8.2.9.9.4.1): le64 DPA | source, le32 length in lines, 4 rsvd. */
const rec = (dpa: number, lines: number, source: number): string => le64(dpa + source) + le32(lines) + zeros(4);
/** Get Poison List header: flags, rsvd, le64 overflow timestamp, le16 count, 20 rsvd. */
const listHeader = (flags: number, count: number, overflowTs = 0): string =>
  flags.toString(16).padStart(2, '0') + '00' + le64(overflowTs) + le16(count) + zeros(20);

test.before.each(() => resetBackgroundTiming());

test('Get Poison List on a clean device: header only', () => {
  const t = new Harness();
  assert.is(hex(t.ok(GET_LIST, ALL)), listHeader(0, 0));
});

test('Inject Poison adds a 1-line record with source Injected (3); again on the same line is Success, no change', () => {
  const t = new Harness();
  t.ok(INJECT, le64(0x2000));
  t.ok(INJECT, le64(0x1000));
  t.ok(INJECT, le64(0x1000));
  assert.is(hex(t.ok(GET_LIST, ALL)), listHeader(0, 2) + rec(0x1000, 1, 3) + rec(0x2000, 1, 3), 'DPA order');
  assert.is(hex(t.ok(GET_LIST, range(0x1040, 0x40))), listHeader(0, 1) + rec(0x2000, 1, 3), 'only records in range');
});

test('Inject/Clear/Get Poison List address checks: bits 5:0 -> 02h, past the DPA space -> 0Fh, length 0 -> 02h', () => {
  const t = new Harness();
  assert.is(t.rc(INJECT, le64(0x1001)), Rc.INVALID_INPUT);
  assert.is(t.rc(INJECT, le64(MEDIA_END)), Rc.INVALID_PHYSICAL_ADDRESS);
  assert.is(t.rc(INJECT, le64(MEDIA_END - 64)), Rc.SUCCESS, 'the last line of DC region 1');
  assert.is(t.rc(INJECT, le64(0xffffffffffffffc0n)), Rc.INVALID_PHYSICAL_ADDRESS);
  assert.is(t.rc(INJECT, le64(0).slice(0, 14)), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(CLEAR, le64(0x20) + zeros(64)), Rc.INVALID_INPUT);
  assert.is(t.rc(CLEAR, le64(MEDIA_END) + zeros(64)), Rc.INVALID_PHYSICAL_ADDRESS);
  assert.is(t.rc(CLEAR, le64(0) + zeros(63)), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(GET_LIST, range(0x10, 1)), Rc.INVALID_INPUT);
  assert.is(t.rc(GET_LIST, range(0, 0)), Rc.INVALID_INPUT);
  assert.is(t.rc(GET_LIST, range(0, MEDIA_END / 64 + 1)), Rc.INVALID_PHYSICAL_ADDRESS);
  assert.is(t.rc(GET_LIST, ALL.slice(0, 30)), Rc.INVALID_PAYLOAD_LENGTH);
});

test('Inject Poison Limit Reached (10h) after 32 injected records', () => {
  const t = new Harness();
  for (let i = 0; i < 32; i++) t.ok(INJECT, le64(0x40 * (i + 1)));
  assert.is(t.rc(INJECT, le64(0x40 * 40)), Rc.INJECT_POISON_LIMIT);
  assert.is(t.rc(INJECT, le64(0x40 * 5)), Rc.SUCCESS, 'an already-poisoned line still succeeds');
  t.ok(CLEAR, le64(0x40) + zeros(64));
  assert.is(t.rc(INJECT, le64(0x40 * 40)), Rc.SUCCESS, 'room again');
});

test('More flag: 14 records per 256-byte payload; the next call continues, then the list starts over', () => {
  const t = new Harness({ mailboxBytes: 256 });
  for (let i = 0; i < 20; i++) t.ok(INJECT, le64(0x1000 * (i + 1)));
  const expectRecs = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => rec(0x1000 * (from + i + 1), 1, 3)).join('');
  assert.is(hex(t.ok(GET_LIST, ALL)), listHeader(1, 14) + expectRecs(0, 14));
  assert.is(hex(t.ok(GET_LIST, ALL)), listHeader(0, 6) + expectRecs(14, 6));
  assert.is(hex(t.ok(GET_LIST, ALL)), listHeader(1, 14) + expectRecs(0, 14), 'a new walk');
  assert.is(hex(t.ok(GET_LIST, range(0x1000, 3 * 0x1000 / 64))), listHeader(0, 3) + expectRecs(0, 3), 'another range restarts');
  assert.is(hex(t.ok(GET_LIST, ALL)), listHeader(1, 14) + expectRecs(0, 14));
});

test('Clear Poison writes the 64 data bytes, removes the line, posts a General Media record; a clean line is Success', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  t.ok(INJECT, le64(0x3000));
  const data = Array.from({ length: 64 }, (_, i) => (i + 1).toString(16).padStart(2, '0')).join('');
  t.ok(CLEAR, le64(0x3000) + data);
  assert.is(hex(t.ok(GET_LIST, ALL)), listHeader(0, 0));
  const line = new Uint8Array(64);
  t.state.media!.read(0x3000, line);
  assert.is(hex(line), data, 'the line holds the write data');
  const [inj, clr] = records(t.ok(0x0100, '00'));
  assert.ok(inj && clr);
  assert.is(hex(clr!.subarray(0x30, 0x3d)), le64(0x3000 | 1) + '00' + '00' + '02' + '0000', 'not uncorrectable, ECC, host write');
  t.ok(CLEAR, le64(0x4000) + data);
  assert.is(records(t.ok(0x0100, '00')).length, 2, 'no record for a clean line');
});

test('Get Scan Media Capabilities: estimated ms; range checks', () => {
  const t = new Harness();
  assert.is(hex(t.ok(SCAN_CAPS, range(0, GiB / 64))), le32(200), '200 ms per GiB');
  assert.is(hex(t.ok(SCAN_CAPS, range(0, 1))), le32(1), 'at least 1 ms');
  assert.is(t.rc(SCAN_CAPS, range(8, 1)), Rc.INVALID_INPUT);
  assert.is(t.rc(SCAN_CAPS, range(0, 0)), Rc.INVALID_INPUT);
  assert.is(t.rc(SCAN_CAPS, range(MEDIA_END - 64, 2)), Rc.INVALID_PHYSICAL_ADDRESS);
});

test('Scan Media: background; finds the latent errors; results, poison list and warning records', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  const T = 1e9;
  const [l0, l1] = [latentDpa(t.state, 0), latentDpa(t.state, 1)].sort((a, b) => a - b) as [number, number];
  assert.is(t.rc(SCAN_RESULTS, null, T), Rc.INVALID_INPUT, 'no scan since power-on');
  t.ok(INJECT, le64(0x1000), 0, T);
  assert.is(hex(t.ok(GET_LIST, ALL, 0, T)), listHeader(0, 1) + rec(0x1000, 1, 3), 'latent errors are not listed yet');
  const r = t.run(SCAN, range(0, GiB / 64) + '00', T);
  assert.is(r.rc, Rc.BACKGROUND_STARTED);
  assert.ok(r.background);
  assert.equal(t.bgStatus(T + 100 * MS), { opcode: 0x4304, percent: 50, rc: 0, running: true });
  assert.is(t.rc(SCAN_RESULTS, null, T + 100 * MS), Rc.BUSY, 'still scanning');
  assert.is(t.rc(INJECT, le64(0x2000), T + 100 * MS), Rc.BUSY, 'poison list frozen');
  assert.is(t.rc(CLEAR, le64(0x1000) + zeros(64), T + 100 * MS), Rc.BUSY);
  assert.is(t.rc(SCAN, range(0, 1) + '00', T + 100 * MS), Rc.BUSY, 'second background command');
  assert.is(t.ok(GET_LIST, ALL, 0, T + 100 * MS)[0], 0x04, 'Scan Media in progress flag');
  assert.equal(t.bgStatus(T + 200 * MS), { opcode: 0x4304, percent: 100, rc: 0, running: false });
  const res = t.ok(SCAN_RESULTS, null, 0, T + 300 * MS);
  // restart DPA/length 0 (not stopped), flags 0, count 3
  assert.is(hex(res.subarray(0, 0x20)), le64(0) + le64(0) + '00' + '00' + le16(3) + zeros(12));
  assert.is(hex(res.subarray(0x20)), [rec(0x1000, 1, 3), rec(l0, 1, 2), rec(l1, 1, 2)].join(''));
  assert.is(hex(t.ok(GET_LIST, ALL, 0, T + 300 * MS).subarray(0x20)), [rec(0x1000, 1, 3), rec(l0, 1, 2), rec(l1, 1, 2)].join(''));
  assert.is(hex(t.ok(SCAN_RESULTS, null, 0, T + 300 * MS)), le64(0) + le64(0) + '0000' + le16(0) + zeros(12), 'consumed');
  const warn = records(t.ok(0x0100, '01', 0, T + 300 * MS));
  assert.is(warn.length, 2, 'one warning record per error found');
  // severity warning (flags 01), DPA | volatile, uncorrectable, ECC, host scan media
  assert.is(hex(warn[0]!.subarray(0x11, 0x14)), '010000');
  assert.is(hex(warn[0]!.subarray(0x30, 0x3b)), le64(latentDpa(t.state, 0) | 1) + '01' + '00' + '03');
  // a second scan finds nothing new
  t.ok(SCAN, range(0, GiB / 64) + '00', 1, 2 * T);
  t.poll(2 * T + 200 * MS);
  assert.is(records(t.ok(0x0100, '01', 0, 3 * T)).length, 2);
});

test('Scan Media with No Event Log posts no records; Clear Poison repairs a latent error', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  const l0 = latentDpa(t.state, 0);
  t.ok(CLEAR, le64(l0) + zeros(64)); // repaired before any scan found it
  t.ok(SCAN, range(0, GiB / 64) + '01', 1);
  t.poll(t.now + GiB);
  assert.is(records(t.ok(0x0100, '01', 0, 3e9)).length, 0);
  const res = t.ok(SCAN_RESULTS, null, 0, 3e9);
  assert.is(hex(res.subarray(0x12, 0x14)), le16(1), 'only the other latent error');
  assert.is(hex(res.subarray(0x20)), rec(latentDpa(t.state, 1), 1, 2));
});

test('Scan Media range checks, Invalid Payload Length', () => {
  const t = new Harness();
  assert.is(t.rc(SCAN, range(0x30, 1) + '00'), Rc.INVALID_INPUT);
  assert.is(t.rc(SCAN, range(0, 0) + '00'), Rc.INVALID_INPUT);
  assert.is(t.rc(SCAN, range(MEDIA_END, 1) + '00'), Rc.INVALID_PHYSICAL_ADDRESS);
  assert.is(t.rc(SCAN, range(0, 1)), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(SCAN_RESULTS, '00'), Rc.INVALID_PAYLOAD_LENGTH);
});

test('Request Abort stops Scan Media: BG rc Aborted; results say stopped, with the restart DPA and length', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  const T = 1e9;
  const lines = GiB / 64;
  t.ok(INJECT, le64(0x1000), 0, T);
  t.ok(INJECT, le64(0x3ff00000), 0, T); // near the end: not reached
  t.ok(SCAN, range(0, lines) + '01', 1, T);
  assert.is(t.rc(0x0005, null, T + 50 * MS), Rc.SUCCESS); // 25 %
  assert.equal(t.bgStatus(T + 60 * MS), { opcode: 0x4304, percent: 25, rc: Rc.ABORTED, running: false });
  const res = t.ok(SCAN_RESULTS, null, 0, T + 60 * MS);
  const scanned = lines / 4;
  const found = [rec(0x1000, 1, 3)];
  for (const l of [latentDpa(t.state, 0), latentDpa(t.state, 1)].sort((a, b) => a - b)) if (l < scanned * 64) found.push(rec(l, 1, 2));
  assert.is(hex(res), le64(scanned * 64) + le64(lines - scanned) + '02' + '00' + le16(found.length) + zeros(12) + found.join(''));
  assert.is(t.rc(INJECT, le64(0x2000), T + 60 * MS), Rc.SUCCESS, 'the poison list is no longer frozen');
});

test('Get Scan Media Results pages with More on a 256-byte mailbox and consumes what it returned', () => {
  const t = new Harness({ mailboxBytes: 256 });
  for (let i = 0; i < 20; i++) t.ok(INJECT, le64(0x40 * (i + 1)));
  t.ok(SCAN, range(0, 0x40 * 32 / 64) + '00', 1); // lines 0..31: the injected ones, no latent error there
  t.poll(t.now + GiB);
  let res = t.ok(SCAN_RESULTS, null, 0, 3e9);
  assert.is(res[0x10], 0x01, 'More');
  assert.is(hex(res.subarray(0x12, 0x14)), le16(14));
  assert.is(hex(res.subarray(0x20, 0x30)), rec(0x40, 1, 3));
  res = t.ok(SCAN_RESULTS, null, 0, 3e9);
  assert.is(res[0x10], 0x00);
  assert.is(hex(res.subarray(0x12, 0x14)), le16(6));
  assert.is(hex(res.subarray(0x20, 0x30)), rec(0x40 * 15, 1, 3));
});

test.run();
