import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rc } from '../src/devices/cci/return-codes.js';
import { GiB, Harness, hex, le32, le64, MiB, records, zeros } from './cxl-type3-harness.js';

const CONFIG = 0x4800;
const EXTENTS = 0x4801;
const ADD = 0x4802;
const RELEASE = 0x4803;

const R0 = GiB; // region 0 base: right after the 1 GiB static capacity
const R1 = GiB + 256 * MiB;
const BLK = 2 * MiB;
const OFFER = 128 * MiB; // the power-on offer: [R0, R0 + 128 MiB)

/** Add DC Response / Release DC input: le32 n, flags, 3 rsvd, n x { le64 start, le64 length, 8 rsvd }. */
const extentList = (list: [number, number][], flags = 0): string =>
  le32(list.length) + flags.toString(16).padStart(2, '0') + zeros(3) + list.map(([s, l]) => le64(s) + le64(l) + zeros(8)).join('');
/** DC extent in Get DC Extent List (8.2.9.9.9.2): start, length, 16-byte tag, le16 shared seq, 6 rsvd. */
const extent = (s: number, l: number): string => le64(s) + le64(l) + zeros(16) + '0000' + zeros(6);
const extentsHeader = (n: number, total: number, gen: number): string => le32(n) + le32(total) + le32(gen) + zeros(4);

const region = (base: number, handle: number): string =>
  le64(base) + le64(1) + le64(256 * MiB) + le64(BLK) + le32(handle) + '00' + zeros(3);

test('Get DC Configuration: two regions after the static capacity, then the extent/tag trailer', () => {
  const t = new Harness();
  assert.is(hex(t.ok(CONFIG, '0200')),
    '02' + '02' + zeros(6) + region(R0, 1) + region(R1, 2) + le32(32) + le32(32) + le32(0) + le32(0));
  assert.is(hex(t.ok(CONFIG, '0101')), '02' + '01' + zeros(6) + region(R1, 2) + le32(32) + le32(32) + le32(0) + le32(0));
  assert.is(hex(t.ok(CONFIG, '0000')), '02' + '00' + zeros(6) + le32(32) + le32(32) + le32(0) + le32(0));
  assert.is(t.rc(CONFIG, '0102'), Rc.INVALID_INPUT, 'start index past the regions');
  assert.is(t.rc(CONFIG, '01'), Rc.INVALID_PAYLOAD_LENGTH);
});

test('Add DC Response accepts part of the pending offer; the rest is dropped; extent list and generation follow', () => {
  const t = new Harness();
  assert.is(hex(t.ok(EXTENTS, le32(8) + le32(0))), extentsHeader(0, 0, 0));
  t.ok(ADD, extentList([[R0, 64 * MiB]]));
  assert.is(hex(t.ok(EXTENTS, le32(8) + le32(0))), extentsHeader(1, 1, 1) + extent(R0, 64 * MiB));
  assert.is(hex(t.ok(CONFIG, '0200').subarray(8 + 2 * 0x28)), le32(32) + le32(31) + le32(0) + le32(0), 'available extents');
  assert.is(t.rc(ADD, extentList([[R0 + 64 * MiB, 2 * MiB]])), Rc.INVALID_PHYSICAL_ADDRESS, 'the offer is gone');
  assert.is(t.rc(EXTENTS, le32(8) + le32(2)), Rc.INVALID_INPUT, 'start index past the list');
  assert.is(hex(t.ok(EXTENTS, le32(8) + le32(1))), extentsHeader(0, 1, 1), 'start index = total returns none');
});

test('Add DC Response with n = 0 rejects the offer', () => {
  const t = new Harness();
  t.ok(ADD, extentList([]));
  assert.is(t.rc(ADD, extentList([[R0, BLK]])), Rc.INVALID_PHYSICAL_ADDRESS);
  assert.is(hex(t.ok(EXTENTS, le32(8) + le32(0))), extentsHeader(0, 0, 0));
});

test('Add DC Response return codes: 0Fh outside a region or the offer, 1Eh malformed list, 16h length, 1Dh too many', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  assert.is(t.rc(ADD, extentList([[GiB - BLK, BLK]])), Rc.INVALID_PHYSICAL_ADDRESS, 'static capacity, not DC');
  assert.is(t.rc(ADD, extentList([[R1 - BLK, 2 * BLK]])), Rc.INVALID_PHYSICAL_ADDRESS, 'crosses from region 0 into 1');
  assert.is(t.rc(ADD, extentList([[R1, BLK]])), Rc.INVALID_PHYSICAL_ADDRESS, 'in region 1, not offered');
  assert.is(t.rc(ADD, extentList([[R0, OFFER + BLK]])), Rc.INVALID_PHYSICAL_ADDRESS, 'larger than the offer');
  assert.is(t.rc(ADD, extentList([[R0 + MiB, BLK]])), Rc.INVALID_EXTENT_LIST, 'start not block-aligned');
  assert.is(t.rc(ADD, extentList([[R0, MiB]])), Rc.INVALID_EXTENT_LIST, 'length not block-aligned');
  assert.is(t.rc(ADD, extentList([[R0, 0]])), Rc.INVALID_EXTENT_LIST, 'zero length');
  assert.is(t.rc(ADD, extentList([[R0, 2 * BLK], [R0 + BLK, BLK]])), Rc.INVALID_EXTENT_LIST, 'overlap within the list');
  assert.is(t.rc(ADD, extentList([[R0, BLK]]).slice(0, 60)), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(ADD, extentList([[R0, BLK]]) + '00'), Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(t.rc(ADD, '000000'), Rc.INVALID_PAYLOAD_LENGTH);
  const many: [number, number][] = Array.from({ length: 33 }, (_, i) => [R0 + 2 * i * BLK, BLK]);
  assert.is(t.rc(ADD, extentList(many)), Rc.RESOURCES_EXHAUSTED);
  assert.is(hex(t.ok(EXTENTS, le32(8) + le32(0))), extentsHeader(0, 0, 0), 'nothing accepted');
});

test('More flag: several responses for one offer; an extent already accepted -> 0Fh', () => {
  const t = new Harness();
  t.ok(ADD, extentList([[R0 + 4 * BLK, BLK]], 1));
  assert.is(t.rc(ADD, extentList([[R0 + 4 * BLK, 2 * BLK]], 1)), Rc.INVALID_PHYSICAL_ADDRESS, 'overlaps an accepted extent');
  t.ok(ADD, extentList([[R0, BLK]], 0));
  assert.is(hex(t.ok(EXTENTS, le32(8) + le32(0))), extentsHeader(2, 2, 2) + extent(R0, BLK) + extent(R0 + 4 * BLK, BLK), 'sorted by DPA');
  assert.is(t.rc(ADD, extentList([[R0 + 8 * BLK, BLK]])), Rc.INVALID_PHYSICAL_ADDRESS, 'offer consumed');
});

test('Release DC: n = 0 -> 02h; not accepted -> 0Fh; a partial release splits; a release may span adjacent extents', () => {
  const t = new Harness();
  t.ok(ADD, extentList([[R0, 8 * BLK], [R0 + 8 * BLK, 4 * BLK]]));
  assert.is(t.rc(RELEASE, extentList([])), Rc.INVALID_INPUT);
  assert.is(t.rc(RELEASE, extentList([[R0 + 12 * BLK, BLK]])), Rc.INVALID_PHYSICAL_ADDRESS, 'never accepted');
  assert.is(t.rc(RELEASE, extentList([[R0 + 10 * BLK, 4 * BLK]])), Rc.INVALID_PHYSICAL_ADDRESS, 'partly accepted');
  assert.is(t.rc(RELEASE, extentList([[R0 + MiB, BLK]])), Rc.INVALID_EXTENT_LIST);
  assert.is(t.rc(RELEASE, extentList([[GiB - BLK, BLK]])), Rc.INVALID_PHYSICAL_ADDRESS);
  t.ok(RELEASE, extentList([[R0 + 2 * BLK, 2 * BLK]]));
  assert.is(hex(t.ok(EXTENTS, le32(8) + le32(0))),
    extentsHeader(3, 3, 2) + extent(R0, 2 * BLK) + extent(R0 + 4 * BLK, 4 * BLK) + extent(R0 + 8 * BLK, 4 * BLK));
  t.ok(RELEASE, extentList([[R0 + 6 * BLK, 4 * BLK]]));
  assert.is(hex(t.ok(EXTENTS, le32(8) + le32(0))),
    extentsHeader(3, 3, 3) + extent(R0, 2 * BLK) + extent(R0 + 4 * BLK, 2 * BLK) + extent(R0 + 10 * BLK, 2 * BLK));
  assert.is(t.rc(RELEASE, extentList([[R0, 2 * BLK]]).slice(0, 40)), Rc.INVALID_PAYLOAD_LENGTH);
});

test('Release DC that would split beyond the 32 trackable extents -> Resources Exhausted (1Dh)', () => {
  const t = new Harness({ mailboxBytes: 4096 });
  const list: [number, number][] = Array.from({ length: 31 }, (_, i) => [R0 + 2 * i * BLK, BLK]);
  list.push([R0 + 61 * BLK, 3 * BLK]); // 32 extents, the last one blocks 61..63 (the end of the offer)
  t.ok(ADD, extentList(list));
  assert.is(hex(t.ok(CONFIG, '0200').subarray(8 + 2 * 0x28, 8 + 2 * 0x28 + 8)), le32(32) + le32(0));
  assert.is(t.rc(RELEASE, extentList([[R0 + 62 * BLK, BLK]])), Rc.RESOURCES_EXHAUSTED, 'cutting block 62 out needs 33');
  t.ok(RELEASE, extentList([[R0 + 61 * BLK, BLK]]), 0);
  const out = t.ok(EXTENTS, le32(64) + le32(30));
  assert.is(hex(out), extentsHeader(2, 32, 2) + extent(R0 + 60 * BLK, BLK) + extent(R0 + 62 * BLK, 2 * BLK));
});

test('Get DC Extent List pages by count and start index, bounded by the payload', () => {
  const t = new Harness({ mailboxBytes: 256 });
  const list: [number, number][] = Array.from({ length: 8 }, (_, i) => [R0 + 2 * i * BLK, BLK]);
  t.ok(ADD, extentList(list));
  let out = t.ok(EXTENTS, le32(100) + le32(0));
  assert.is(hex(out.subarray(0, 0x10)), extentsHeader(6, 8, 1), '(256 - 16) / 40 = 6 fit');
  out = t.ok(EXTENTS, le32(100) + le32(6));
  assert.is(hex(out), extentsHeader(2, 8, 1) + extent(R0 + 12 * BLK, BLK) + extent(R0 + 14 * BLK, BLK));
  out = t.ok(EXTENTS, le32(1) + le32(3));
  assert.is(hex(out), extentsHeader(1, 8, 1) + extent(R0 + 6 * BLK, BLK));
});

test('the offer record is in the DC log before any other event, and clears by handle', () => {
  const t = new Harness();
  t.ok(0x4301, le64(0x40));
  const [dc] = records(t.ok(0x0100, '04'));
  assert.is(hex(dc!.subarray(0x14, 0x16)), '0100', 'handle 1');
  const [gm] = records(t.ok(0x0100, '00'));
  assert.is(hex(gm!.subarray(0x14, 0x16)), '0200');
  t.ok(0x0101, '04' + '00' + '01' + '000000' + '0100');
  assert.is(records(t.ok(0x0100, '04')).length, 0);
});

test.run();
