import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { executeCci } from '../src/devices/cci/cci.js';
import { newCciRequest } from '../src/devices/cci/command-table.js';
import { Rc } from '../src/devices/cci/return-codes.js';
import { MailboxRegisters } from '../src/devices/cxl/mailbox.js';
import { newType3State } from '../src/devices/cxl/type3.js';
import { buildFleet } from '../src/fleet/expand.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function device() {
  const fleet = buildFleet({ devices: [{ kind: 'cxl-type3', count: 2, mailboxBytes: 256, vendorCommands: 'none' }] }, 1);
  const d = fleet.devices[0]!;
  const arena = new SharedArrayBuffer(fleet.arenaBytes[0]!);
  const regs = new MailboxRegisters(arena, d.memOffset, d.mailboxBytes);
  regs.reset();
  return { d, arena, regs, state: newType3State(d) };
}

/** Runs the whole register handshake: host writes, device services, host reads. */
function roundTrip(regs: MailboxRegisters, state: ReturnType<typeof newType3State>, opcode: number, input: Uint8Array | null, nowNs = 1e9) {
  assert.is(regs.hostSubmit(opcode, input), -1, 'submitted');
  assert.ok(regs.doorbell(), 'doorbell set by the host');
  const req = regs.req;
  req.opcode = regs.commandOpcode();
  req.inLen = regs.commandLength();
  req.nowNs = nowNs;
  const rc = executeCci(state, req);
  regs.deviceComplete(rc, req.vendorStatus, req.outLen, state.bg.running);
  assert.not.ok(regs.doorbell(), 'doorbell cleared by the device');
  return { rc: regs.statusRc(), out: regs.payload.slice(0, regs.commandLength()) };
}

test('capabilities register advertises the payload size as 2^n (CXL 8.2.8.4.3)', () => {
  const { regs, arena, d } = device();
  const caps = new DataView(arena).getUint32(d.memOffset, true);
  assert.is(caps & 0x1f, 8, '256-byte payload -> n = 8');
  assert.is(regs.capabilityPayloadBytes(), 256);
});

test('command register packs opcode [15:0] and payload length [36:16] (21-bit length)', () => {
  const { regs, arena, d } = device();
  regs.hostSubmit(0x4103, new Uint8Array(200));
  const v = new DataView(arena, d.memOffset);
  const cmd = v.getBigUint64(0x08, true);
  assert.is(Number(cmd & 0xffffn), 0x4103);
  assert.is(Number((cmd >> 16n) & 0x1fffffn), 200);
  assert.is(v.getUint32(0x04, true) & 1, 1, 'Control.Doorbell');
});

test('a second command while the doorbell is set gets Busy and changes nothing', () => {
  const { regs } = device();
  assert.is(regs.hostSubmit(0x0001, null), -1);
  const before = regs.commandOpcode();
  assert.is(regs.hostSubmit(0x4200, null), Rc.BUSY);
  assert.is(regs.commandOpcode(), before, 'registers untouched');
});

test('Identify 0001h: 18 bytes laid out as CXL r3.1 8.2.9.1.1', () => {
  const { regs, state, d } = device();
  const { rc, out } = roundTrip(regs, state, 0x0001, null);
  assert.is(rc, Rc.SUCCESS);
  const serial = Buffer.alloc(8);
  serial.writeBigUInt64LE(d.serial);
  // vendor 1e98, device 0d93, subsystem vendor 1e98, subsystem 0001, serial, max msg 2^8, type-3 (03h)
  assert.is(hex(out), '981e' + '930d' + '981e' + '0100' + serial.toString('hex') + '08' + '03');
});

test('Get Health Info 4200h: 18 bytes at their spec offsets', () => {
  const { regs, state } = device();
  state.health = { status: 0x05, media: 0x00, additional: 0x01, lifeUsed: 42, temperature: -3, dirtyShutdowns: 0x01020304, correctedVolatile: 7, correctedPersistent: 0x10000 };
  const { rc, out } = roundTrip(regs, state, 0x4200, null);
  assert.is(rc, Rc.SUCCESS);
  assert.is(hex(out), '05' + '00' + '01' + '2a' + 'fdff' + '04030201' + '07000000' + '00000100');
});

test('Identify Memory Device 4000h: 45h bytes, capacity in 256 MiB units', () => {
  const { regs, state } = device();
  const { rc, out } = roundTrip(regs, state, 0x4000, null);
  assert.is(rc, Rc.SUCCESS);
  assert.is(out.byteLength, 0x45);
  assert.is(Buffer.from(out.subarray(0, 13)).toString('ascii'), 'mbxmux-fw-1.0');
  const v = new DataView(out.buffer, out.byteOffset);
  assert.is(v.getBigUint64(0x10, true), 4n, '1 GiB = 4 x 256 MiB');
  assert.is(v.getUint32(0x38, true), 128 * 1024, 'LSA size');
});

test('timestamps: Get answers 0 until Set, then the set value plus elapsed time', () => {
  const { regs, state } = device();
  assert.is(hex(roundTrip(regs, state, 0x0300, null, 5e9).out), '0000000000000000');
  const set = Buffer.alloc(8);
  set.writeBigUInt64LE(1_700_000_000_000_000_000n);
  assert.is(roundTrip(regs, state, 0x0301, set, 5e9).rc, Rc.SUCCESS);
  const got = Buffer.from(roundTrip(regs, state, 0x0300, null, 5e9 + 1234).out).readBigUInt64LE();
  assert.is(got, 1_700_000_000_000_001_234n);
});

test('wrong payload length -> Invalid Payload Length (16h); unknown opcode -> Unsupported (03h)', () => {
  const { regs, state } = device();
  assert.is(roundTrip(regs, state, 0x0301, new Uint8Array(7)).rc, Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(roundTrip(regs, state, 0x0001, new Uint8Array(1)).rc, Rc.INVALID_PAYLOAD_LENGTH);
  const r = roundTrip(regs, state, 0xbeef, null);
  assert.is(r.rc, Rc.UNSUPPORTED);
  assert.is(r.out.byteLength, 0, 'no output on error');
});

test('Get Supported Logs + Get Log return the CEL, generated from the command table', () => {
  const { regs, state } = device();
  const logs = roundTrip(regs, state, 0x0400, null);
  assert.is(logs.rc, Rc.SUCCESS);
  assert.is(hex(logs.out.subarray(0, 8)), '0100000000000000', 'one entry');
  assert.is(hex(logs.out.subarray(8, 24)), '0da9c0b5bf414b788f7996b1623b3f17', 'CEL UUID, RFC 4122 byte order');
  const size = new DataView(logs.out.buffer, logs.out.byteOffset).getUint32(24, true);
  const req = new Uint8Array(0x18);
  req.set(logs.out.subarray(8, 24), 0);
  new DataView(req.buffer).setUint32(0x14, size, true);
  const cel = roundTrip(regs, state, 0x0401, req);
  assert.is(cel.rc, Rc.SUCCESS);
  assert.is(cel.out.byteLength, size);
  const entries = new Map<number, number>();
  for (let i = 0; i < size; i += 4) entries.set(cel.out[i]! | (cel.out[i + 1]! << 8), cel.out[i + 2]! | (cel.out[i + 3]! << 8));
  assert.is(entries.get(0x4200), 0, 'Get Health Info has no effects');
  assert.is(entries.get(0x0301), 1 << 3, 'Set Timestamp: immediate policy change');
  assert.is(entries.get(0x4103), (1 << 1) | (1 << 2), 'Set LSA: immediate config + data change');
  const opcodes = [...entries.keys()];
  assert.equal(opcodes, [...opcodes].sort((a, b) => a - b), 'ascending opcode order');
  // a wrong UUID is Invalid Log
  req[0] ^= 0xff;
  assert.is(roundTrip(regs, state, 0x0401, req).rc, Rc.INVALID_LOG);
});

test('LSA: Set then Get returns the bytes; out of range is Invalid Input', () => {
  const { regs, state } = device();
  const set = new Uint8Array(8 + 16);
  new DataView(set.buffer).setUint32(0, 4090, true);
  for (let i = 0; i < 16; i++) set[8 + i] = i + 1;
  assert.is(roundTrip(regs, state, 0x4103, set).rc, Rc.SUCCESS, 'write straddles a 4 KiB page');
  const get = new Uint8Array(8);
  new DataView(get.buffer).setUint32(0, 4088, true);
  new DataView(get.buffer).setUint32(4, 20, true);
  const r = roundTrip(regs, state, 0x4102, get);
  assert.is(hex(r.out), '0000' + '0102030405060708090a0b0c0d0e0f10' + '0000');
  new DataView(get.buffer).setUint32(0, 128 * 1024 - 4, true);
  assert.is(roundTrip(regs, state, 0x4102, get).rc, Rc.INVALID_INPUT);
});

test('CCI requests on a plain buffer behave like the mailbox (tunnel/MCTP paths)', () => {
  const { state } = device();
  const req = newCciRequest(new Uint8Array(64));
  req.opcode = 0x4200;
  req.inLen = 0;
  assert.is(executeCci(state, req), Rc.SUCCESS);
  assert.is(req.outLen, 0x12);
});

test.run();
