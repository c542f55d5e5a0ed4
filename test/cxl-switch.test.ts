import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import type { ComponentState } from '../src/devices/cci/cci.js';
import { Rc } from '../src/devices/cci/return-codes.js';
import { CEL_UUID } from '../src/devices/cci/uuid.js';
import {
  LINK_TRAINING_NS, newSwitchState, PERST_HOLD_NS, portLink, VPPB_OP_NS,
} from '../src/devices/cxl/switch.js';
import { decodeTunnelResponse, encodeTunnelRequest, isTunnelDecodeError } from '../src/devices/cxl/tunnel.js';
import { bytes, fabric, hex, le64, run, T0 } from './cxl-fabric-fixture.js';

const MS = 1e6;

/** The CEL entries (opcode, effects) of a component, read with Get Supported Logs + Get Log. */
function cel(dev: ComponentState): string {
  const logs = run(dev, 0x0400);
  assert.is(logs.rc, 0);
  const size = new DataView(logs.out.buffer).getUint32(0x18, true);
  const input = new Uint8Array(0x18);
  input.set(CEL_UUID, 0);
  new DataView(input.buffer).setUint32(0x14, size, true);
  const r = run(dev, 0x0401, input);
  assert.is(r.rc, 0);
  return hex(r.out);
}

// ------------------------------------------------------------------ CEL and Identify

test('switch CEL: 51h/52h/53h entries with spec effects (5201/5202 Background 0040h; 5102, 5300 none)', () => {
  const { sw } = fabric();
  const all = cel(sw);
  const fm = all.match(/.{8}/g)!.filter((e) => parseInt(e.slice(2, 4) + e.slice(0, 2), 16) >= 0x5000).join('');
  assert.is(fm, '00510000' + '01510000' + '02510000' + '00520000' + '01524000' + '02524000' + '00530000');
  assert.ok(all.startsWith('01000000'), 'generic commands first (Identify 0001h)');
});

test('MLD FM-owned LD CEL: 5300h none, 5400h/5401h none, 5402h 0E07h (spec bit numbering)', () => {
  const { mld } = fabric();
  const fm = cel(mld).match(/.{8}/g)!.filter((e) => parseInt(e.slice(2, 4) + e.slice(0, 2), 16) >= 0x5000).join('');
  assert.is(fm, '00530000' + '00540000' + '01540000' + '0254070e');
});

test('Identify 0001h on the switch: component type 00h', () => {
  const { sw, swD } = fabric();
  const r = run(sw, 0x0001);
  assert.is(hex(r.out), '981e' + '940d' + '981e' + '0100' + le64(swD.serial) + '0c' + '00');
});

test('5100h Identify Switch Device: 49h bytes (Table 7-16)', () => {
  const { sw } = fabric();
  const r = run(sw, 0x5100);
  assert.is(r.rc, 0);
  const expected =
    '00' + '00' + '04' + '01' + // ingress port 0, rsvd, 4 physical ports, 1 VCS
    '0f' + '00'.repeat(31) + // ports 0-3 active
    '01' + '00'.repeat(31) + // VCS 0 active
    '0400' + // vPPBs: port 1, LD 0, LD 1, port 3
    '0300' + // bound: SLD, LD 0, LD 1
    '04'; // HDM decoders
  assert.is(hex(r.out), expected);
  assert.is(run(sw, 0x5100, '00').rc, Rc.INVALID_PAYLOAD_LENGTH);
});

// ------------------------------------------------------------------ 5101h

const USP = '00 04 00 00 00 06 10 10 3f 06 06 04 00 0000 00';
const SLD_UP = '01 03 03 00 04 06 08 08 3f 06 06 04 00 0400 00';
const MLD_UP = '02 03 03 00 05 06 08 08 3f 06 06 04 00 0400 01';
const EMPTY = '03 03 00 00 00 06 08 00 3f 06 00 00 00 0000 00';

test('5101h Get Physical Port State: USP, SLD, MLD (1 additional LD), empty DSP, invalid port', () => {
  const { sw } = fabric();
  const r = run(sw, 0x5101, '05 00 01 02 03 07');
  assert.is(r.rc, 0);
  assert.is(hex(r.out), hex(bytes('05 000000' + USP + SLD_UP + MLD_UP + EMPTY + '07 0f' + '00'.repeat(14))));
});

test('5101h input rules: size must be 1 + N; N = 0 is an empty list; too many blocks for the payload -> 02h', () => {
  const { sw } = fabric();
  assert.is(run(sw, 0x5101, '02 01').rc, Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(run(sw, 0x5101, '01 01 02').rc, Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(run(sw, 0x5101, '').rc, Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(hex(run(sw, 0x5101, '00').out), '00000000');
  const n = 16; // 4 + 16*16 = 260 > 256
  const input = new Uint8Array(1 + n);
  input[0] = n;
  assert.is(run(sw, 0x5101, input, T0, 256).rc, Rc.INVALID_INPUT);
  input[0] = 15;
  assert.is(run(sw, 0x5101, input.subarray(0, 16), T0, 256).rc, 0);
});

// ------------------------------------------------------------------ 5102h state machine

test('5102h rc rules: USP, past the last port, reserved opcode, bound SLD port, size', () => {
  const { sw } = fabric();
  assert.is(run(sw, 0x5102, '00 00').rc, Rc.INVALID_INPUT, 'USP');
  assert.is(run(sw, 0x5102, '04 00').rc, Rc.INVALID_INPUT, 'no port 4');
  assert.is(run(sw, 0x5102, '02 03').rc, Rc.INVALID_INPUT, 'opcode 3 reserved');
  assert.is(run(sw, 0x5102, '01 00').rc, Rc.INVALID_INPUT, 'port 1 is bound to vPPB 0 (SLD): not an unbound or MLD port');
  assert.is(run(sw, 0x5102, '02').rc, Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(run(sw, 0x5102, '02 00 00').rc, Rc.INVALID_PAYLOAD_LENGTH);
});

test('5102h PERST# on the MLD port: assert, hold 100 ms, deassert, train, L0; tunnels wait with Retry Required', () => {
  const f = fabric();
  const { sw } = f;
  const tunnel = (now: number) => run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 2 }, { portOrLd: 1 }], 0x0001), now);
  f.lds[0]!.timestamp = { value: 123n, atNs: T0 };
  assert.is(run(sw, 0x5102, '02 00', T0).rc, 0, 'assert');
  assert.is(portLink(sw, 2, T0), 'perst');
  assert.is(f.lds[0]!.timestamp, null, 'PERST# cold-resets the MLD and its LDs');
  assert.is(hex(run(sw, 0x5101, '01 02', T0).out.subarray(4)), hex(bytes('02 03 00 00 05 06 08 00 3f 06 00 00 00 0600 00')), 'link down, PERST + PRSNT flags');
  assert.is(run(sw, 0x5102, '02 00', T0 + MS).rc, Rc.INTERNAL_ERROR, 'assert twice');
  assert.is(run(sw, 0x5102, '02 02', T0 + MS).rc, Rc.INTERNAL_ERROR, 'reset while PERST# holds the port');
  let t = tunnel(T0 + MS);
  assert.is(t.rc, Rc.RETRY_REQUIRED);
  assert.is(t.out.byteLength, 0);
  assert.is(run(sw, 0x5102, '02 01', T0 + PERST_HOLD_NS - 1).rc, Rc.RETRY_REQUIRED, 'deassert before the hold time');
  assert.is(run(sw, 0x5102, '02 01', T0 + PERST_HOLD_NS).rc, 0, 'deassert');
  const t1 = T0 + PERST_HOLD_NS;
  assert.is(portLink(sw, 2, t1), 'training');
  assert.is(hex(run(sw, 0x5101, '01 02', t1).out.subarray(4)), hex(bytes('02 03 00 00 05 06 08 00 3f 06 00 01 00 0400 00')), 'Polling');
  assert.is(tunnel(t1 + LINK_TRAINING_NS - 1).rc, Rc.RETRY_REQUIRED, 'still training');
  t = tunnel(t1 + LINK_TRAINING_NS);
  assert.is(t.rc, 0);
  const d = decodeTunnelResponse(t.out);
  assert.ok(!isTunnelDecodeError(d) && d.innerRc === 0 && d.innerOpcode === 0x0001);
  assert.is(hex(run(sw, 0x5101, '01 02', t1 + LINK_TRAINING_NS).out.subarray(4)), hex(bytes(MLD_UP)));
  assert.is(run(sw, 0x5102, '02 01', t1 + LINK_TRAINING_NS).rc, Rc.INTERNAL_ERROR, 'deassert when not asserted');
});

test('5102h Reset PPB: cold reset below (timestamps of the LDs lost), Hot Reset while retraining, then L0', () => {
  const f = fabric();
  const { sw } = f;
  run(f.lds[1]!, 0x0301, le64(5000n), T0);
  run(f.mld, 0x0301, le64(7000n), T0);
  assert.is(hex(run(f.lds[1]!, 0x0300, '', T0 + 10).out), le64(5010n));
  assert.is(run(sw, 0x5102, '02 02', T0 + 20).rc, 0);
  assert.is(hex(run(f.lds[1]!, 0x0300, '', T0 + 30).out), le64(0n), 'LD 1 lost its timestamp');
  assert.is(hex(run(f.mld, 0x0300, '', T0 + 30).out), le64(0n), 'FM-owned LD too');
  assert.is(run(sw, 0x5101, '01 02', T0 + 30).out[4 + 0x0b], 0x0a, 'LTSSM Hot Reset');
  assert.is(run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 2 }], 0x0001), T0 + 30).rc, Rc.RETRY_REQUIRED);
  assert.is(run(sw, 0x5101, '01 02', T0 + 20 + LINK_TRAINING_NS).out[4 + 0x0b], 0x04, 'L0');
  assert.is(run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 2 }], 0x0001), T0 + 20 + LINK_TRAINING_NS).rc, 0);
});

test('5102h on the empty port 3: allowed (unbound); PERST flag without PRSNT', () => {
  const { sw } = fabric();
  assert.is(run(sw, 0x5102, '03 00').rc, 0);
  assert.is(hex(run(sw, 0x5101, '01 03').out.subarray(4)), hex(bytes('03 03 00 00 00 06 08 00 3f 06 00 00 00 0200 00')));
  assert.is(run(sw, 0x5300, '03 00 0c 00 | 00 00 00 01 00 00 00 00 00 00 00 00').rc, Rc.INVALID_INPUT, 'still nothing there');
});

test('5102h on the SLD port once unbound: PERST aborts the SLD\'s background op and clears its timestamp', () => {
  const f = fabric();
  const { sw, sld } = f;
  assert.is(run(sw, 0x5202, '00 00 00', T0).rc, Rc.BACKGROUND_STARTED);
  assert.is(run(sw, 0x5102, '01 00', T0 + 1).rc, Rc.RETRY_REQUIRED, 'unbind in progress on this port');
  const done = T0 + VPPB_OP_NS;
  sld.timestamp = { value: 1n, atNs: done };
  sld.bg.start(0x4400, done, 10 * MS, () => 0);
  assert.is(run(sw, 0x5102, '01 00', done).rc, 0);
  assert.is(sld.timestamp, null);
  assert.not.ok(sld.bg.running);
  assert.is(sld.bg.rc, Rc.ABORTED);
  assert.is(portLink(sw, 1, done), 'perst');
});

test('cold reset calls a component\'s own coldReset(nowNs) hook when it has one (PERST# on an MLD reaches every LD)', () => {
  const f = fabric();
  const calls: string[] = [];
  (f.lds[0] as unknown as { coldReset: (n: number) => void }).coldReset = (n) => calls.push(`ld0@${n}`);
  (f.lds[1] as unknown as { coldReset: (n: number) => void }).coldReset = (n) => calls.push(`ld1@${n}`);
  assert.is(run(f.sw, 0x5102, '02 00', T0 + 5).rc, 0);
  assert.equal(calls, [`ld0@${T0 + 5}`, `ld1@${T0 + 5}`]);
});

// ------------------------------------------------------------------ 52h

const VCS0 = '00 01 00 04';
const V0 = '02 01 ff 00'; // vPPB 0: bound port 1
const V1 = '03 02 00 00'; // vPPB 1: bound port 2 LD 0
const V2 = '03 02 01 00'; // vPPB 2: bound port 2 LD 1
const V3 = '00 00 ff 00'; // vPPB 3: unbound

test('5200h Get Virtual CXL Switch Info: power-on bindings, start/limit, unknown VCS ID', () => {
  const { sw } = fabric();
  assert.is(hex(run(sw, 0x5200, '00 ff 01 00').out), hex(bytes('01 000000' + VCS0 + V0 + V1 + V2 + V3)));
  assert.is(hex(run(sw, 0x5200, '02 01 01 00').out), hex(bytes('01 000000' + VCS0 + V2)));
  assert.is(hex(run(sw, 0x5200, '09 04 01 00').out), hex(bytes('01 000000' + VCS0)), 'start past the end: no entries');
  assert.is(hex(run(sw, 0x5200, '00 02 02 05 00').out), hex(bytes('02 000000' + '05 ff 00 00' + VCS0 + V0 + V1)));
});

test('5200h rc rules: limit 0, no VCS, size != 3 + N', () => {
  const { sw } = fabric();
  assert.is(run(sw, 0x5200, '00 00 01 00').rc, Rc.INVALID_INPUT);
  assert.is(run(sw, 0x5200, '00 01 00').rc, Rc.INVALID_INPUT);
  assert.is(run(sw, 0x5200, '00 01 02 00').rc, Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(run(sw, 0x5200, '00 01').rc, Rc.INVALID_PAYLOAD_LENGTH);
});

test('5202h Unbind / 5201h Bind vPPB run in the background; progress and result via 0002h; state via 5200h/5100h/5101h', () => {
  const { sw } = fabric();
  assert.is(run(sw, 0x5202, '00 00 01', T0).rc, Rc.BACKGROUND_STARTED);
  assert.is(hex(run(sw, 0x5200, '00 01 01 00', T0 + 1).out), hex(bytes('01 000000' + VCS0 + '01 01 ff 00')), 'in progress');
  assert.is(run(sw, 0x5101, '01 01', T0 + 1).out[5], 0x02, 'port 1: Unbind in progress');
  assert.is(run(sw, 0x5202, '00 01 00', T0 + 2).rc, Rc.BUSY);
  assert.is(run(sw, 0x5201, '00 03 03 00 ff ff', T0 + 2).rc, Rc.BUSY);
  // 0002h: byte 0 = running | percent << 1; 02h le16 opcode; 04h rc; 06h vendor
  assert.is(hex(run(sw, 0x0002, '', T0 + VPPB_OP_NS / 2).out), hex(bytes('65 00 0252 0000 0000')));
  assert.is(run(sw, 0x0005, '', T0 + VPPB_OP_NS / 2).rc, Rc.REQUEST_ABORT_NOT_SUPPORTED);
  const t1 = T0 + VPPB_OP_NS;
  assert.is(hex(run(sw, 0x0002, '', t1).out), hex(bytes('c8 00 0252 0000 0000')));
  assert.is(hex(run(sw, 0x5200, '00 01 01 00', t1).out), hex(bytes('01 000000' + VCS0 + V3)));
  assert.is(run(sw, 0x5101, '01 01', t1).out[5], 0x03, 'port 1: DSP again');
  assert.is(hex(run(sw, 0x5100, '', t1).out.subarray(0x44)), '0400' + '0200' + '04');
  // bind the empty port 3 to vPPB 3, then port 1 back to vPPB 0
  assert.is(run(sw, 0x5201, '00 03 03 00 ff ff', t1).rc, Rc.BACKGROUND_STARTED);
  assert.is(run(sw, 0x5101, '01 03', t1 + 1).out[5], 0x01, 'port 3: Bind in progress');
  const t2 = t1 + VPPB_OP_NS;
  assert.is(run(sw, 0x5201, '00 00 01 00 ff ff', t2).rc, Rc.BACKGROUND_STARTED);
  const t3 = t2 + VPPB_OP_NS;
  assert.is(hex(run(sw, 0x5200, '00 ff 01 00', t3).out), hex(bytes('01 000000' + VCS0 + V0 + V1 + V2 + '02 03 ff 00')));
  assert.is(hex(run(sw, 0x5100, '', t3).out.subarray(0x44)), '0400' + '0400' + '04');
  assert.is(run(sw, 0x5102, '03 00', t3).rc, Rc.INVALID_INPUT, 'port 3 is bound now');
});

test('5201h rc rules', () => {
  const { sw } = fabric();
  const bind = (h: string) => run(sw, 0x5201, h).rc;
  assert.is(bind('01 03 03 00 ff ff'), Rc.INVALID_INPUT, 'VCS 1');
  assert.is(bind('00 04 03 00 ff ff'), Rc.INVALID_INPUT, 'vPPB 4');
  assert.is(bind('00 00 03 00 ff ff'), Rc.INVALID_INPUT, 'vPPB 0 already bound');
  assert.is(bind('00 03 00 00 ff ff'), Rc.INVALID_INPUT, 'port 0 (USP)');
  assert.is(bind('00 03 04 00 ff ff'), Rc.INVALID_INPUT, 'no port 4');
  assert.is(bind('00 03 01 00 ff ff'), Rc.INVALID_INPUT, 'port 1 bound to vPPB 0');
  assert.is(bind('00 03 03 00 00 00'), Rc.INVALID_INPUT, 'LD 0 on a port without an MLD');
  assert.is(bind('00 03 02 00 ff ff'), Rc.INVALID_INPUT, 'MLD port needs an LD');
  assert.is(bind('00 03 02 00 02 00'), Rc.INVALID_INPUT, 'MLD has LDs 0 and 1');
  assert.is(bind('00 03 02 00 01 00'), Rc.INVALID_INPUT, 'LD 1 bound to vPPB 2');
  assert.is(bind('00 03 03 00 ff'), Rc.INVALID_PAYLOAD_LENGTH);
  assert.not.ok(sw.bg.running, 'none of them started anything');
});

test('5202h rc rules; unbinding an LD then rebinding it to another vPPB', () => {
  const { sw } = fabric();
  assert.is(run(sw, 0x5202, '01 00 00').rc, Rc.INVALID_INPUT, 'VCS 1');
  assert.is(run(sw, 0x5202, '00 04 00').rc, Rc.INVALID_INPUT, 'vPPB 4');
  assert.is(run(sw, 0x5202, '00 03 00').rc, Rc.INVALID_INPUT, 'vPPB 3 not bound');
  assert.is(run(sw, 0x5202, '00 00 03').rc, Rc.INVALID_INPUT, 'option 3');
  assert.is(run(sw, 0x5202, '00 00').rc, Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(run(sw, 0x5202, '00 02 f2', T0).rc, Rc.BACKGROUND_STARTED, 'reserved bits 7:4 ignored; LD 1 unbinding');
  const t1 = T0 + VPPB_OP_NS;
  assert.is(run(sw, 0x5201, '00 03 02 00 01 00', t1).rc, Rc.BACKGROUND_STARTED, 'LD 1 -> vPPB 3');
  const t2 = t1 + VPPB_OP_NS;
  assert.is(hex(run(sw, 0x5200, '00 ff 01 00', t2).out), hex(bytes('01 000000' + VCS0 + V0 + V1 + V3 + '03 02 01 00')));
});

// ------------------------------------------------------------------ MLD 54h

test('5400h Get LD Info: memory size = LD capacities, LD count 2', () => {
  const { mld } = fabric();
  assert.is(hex(run(mld, 0x5400).out), le64(0x60000000n) + '0200' + '00');
  assert.is(run(mld, 0x5400, '00').rc, Rc.INVALID_PAYLOAD_LENGTH);
});

test('5401h Get LD Allocations: 256 MB granularity, power-on allocations, start / limit', () => {
  const { mld } = fabric();
  assert.is(hex(run(mld, 0x5401, '00 ff').out), '02' + '00' + '00' + '02' + le64(4n) + le64(0n) + le64(2n) + le64(0n));
  assert.is(hex(run(mld, 0x5401, '01 01').out), '02000101' + le64(2n) + le64(0n));
  assert.is(hex(run(mld, 0x5401, '00 01').out), '02000001' + le64(4n) + le64(0n));
  assert.is(hex(run(mld, 0x5401, '05 01').out), '02000500');
  assert.is(hex(run(mld, 0x5401, '00 00').out), '02000000');
  assert.is(run(mld, 0x5401, '00').rc, Rc.INVALID_PAYLOAD_LENGTH);
});

test('5402h Set LD Allocations: all or nothing within the memory size; the LD\'s capacity follows', () => {
  const { mld, lds } = fabric();
  // move 512 MiB from LD 0 to LD 1 (range 2): LD0 = 2, LD1 = 2 + 2
  let r = run(mld, 0x5402, '02 00 0000' + le64(2n) + le64(0n) + le64(2n) + le64(2n));
  assert.is(r.rc, 0);
  assert.is(hex(r.out), '02000000' + le64(2n) + le64(0n) + le64(2n) + le64(2n));
  assert.is(lds[0]!.capacityBytes, 512 * 2 ** 20);
  assert.is(lds[1]!.capacityBytes, 2 ** 30);
  assert.is(hex(run(mld, 0x5401, '00 ff').out), '02000002' + le64(2n) + le64(0n) + le64(2n) + le64(2n));
  // LD 1 alone asking for 5 units with LD 0 holding 2: 7 > 6 -> Invalid Input, nothing changes
  r = run(mld, 0x5402, '01 01 0000' + le64(5n) + le64(0n));
  assert.is(r.rc, Rc.INVALID_INPUT);
  assert.is(r.out.byteLength, 0);
  assert.is(hex(run(mld, 0x5401, '00 ff').out), '02000002' + le64(2n) + le64(0n) + le64(2n) + le64(2n));
  // a huge multiplier must not wrap
  assert.is(run(mld, 0x5402, '01 01 0000' + le64(0xffffffffffffffffn) + le64(2n)).rc, Rc.INVALID_INPUT);
  // exactly the memory size is fine
  assert.is(run(mld, 0x5402, '01 01 0000' + le64(4n) + le64(0n)).rc, 0);
  assert.is(lds[1]!.capacityBytes, 2 ** 30);
  // rc rules
  assert.is(run(mld, 0x5402, '00 00 0000').rc, Rc.INVALID_INPUT, 'N = 0');
  assert.is(run(mld, 0x5402, '01 02 0000' + le64(0n) + le64(0n)).rc, Rc.INVALID_INPUT, 'LD 2 does not exist');
  assert.is(run(mld, 0x5402, '02 01 0000' + le64(0n) + le64(0n) + le64(0n) + le64(0n)).rc, Rc.INVALID_INPUT, 'LDs 1-2');
  assert.is(run(mld, 0x5402, '01 00 0000' + le64(0n)).rc, Rc.INVALID_PAYLOAD_LENGTH, 'size != 4 + 16N');
  // the LD's Identify Memory Device reports the new capacity (256 MiB units at 10h)
  const idm = run(lds[0]!, 0x4000);
  assert.is(new DataView(idm.out.buffer).getBigUint64(0x10, true), 2n);
});

test('5402h through the switch tunnel reaches the FM-owned LD', () => {
  const { sw, lds } = fabric();
  const r = run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 2 }], 0x5402, bytes('01 00 0000' + le64(1n) + le64(0n))));
  const d = decodeTunnelResponse(r.out);
  assert.ok(!isTunnelDecodeError(d) && d.innerRc === 0 && d.innerPayload.byteLength === 20);
  assert.is(lds[0]!.capacityBytes, 256 * 2 ** 20);
});

// ------------------------------------------------------------------ footprint

test('a 4-port switch state is a few hundred bytes (tables shared)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { swD } = fabric();
  const N = 20000;
  const keep: unknown[] = new Array(N);
  gc();
  const before = process.memoryUsage().heapUsed;
  const empty = new Map<number, ComponentState>();
  for (let i = 0; i < N; i++) keep[i] = newSwitchState(swD, empty);
  gc();
  const per = (process.memoryUsage().heapUsed - before) / N;
  assert.ok(per < 1200, `${per.toFixed(0)} bytes per switch`);
  console.log(`  (switch state: ~${per.toFixed(0)} bytes)`);
  assert.is(keep.length, N);
});

test.run();
