import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { BackgroundOp } from '../src/devices/cci/background.js';
import type { ComponentState } from '../src/devices/cci/cci.js';
import { type CciRequest, CommandSet } from '../src/devices/cci/command-table.js';
import { Effect } from '../src/devices/cci/effects.js';
import { Rc } from '../src/devices/cci/return-codes.js';
import { encodeCciRequest } from '../src/devices/cxl/cci-message.js';
import { newMldState, type MldState } from '../src/devices/cxl/mld.js';
import { newSwitchState, type SwitchState } from '../src/devices/cxl/switch.js';
import {
  decodeTunnelRequest, decodeTunnelResponse, encodeTunnelRequest, isTunnelDecodeError, MAX_TUNNEL_DEPTH, tunnelDepth,
} from '../src/devices/cxl/tunnel.js';
import type { Type3State } from '../src/devices/cxl/type3.js';
import { buildFleet } from '../src/fleet/expand.js';
import type { DeviceDescriptor } from '../src/fleet/types.js';
import { bytes, fabric, hex, le64, run, T0 } from './cxl-fabric-fixture.js';

const le16 = (n: number): string => hex(new Uint8Array([n & 0xff, n >>> 8]));
const GIB = 2 ** 30;



function identifyBytes(d: DeviceDescriptor, subsystem: number, log2: number): string {
  return '981e' + '930d' + '981e' + le16(subsystem) + le64(d.serial) + log2.toString(16).padStart(2, '0') + '03';
}

function healthBytes(s: Type3State): string {
  const h = s.health;
  const b = Buffer.alloc(18);
  b.writeUInt8(h.status, 0);
  b.writeUInt8(h.media, 1);
  b.writeUInt8(h.additional, 2);
  b.writeUInt8(h.lifeUsed, 3);
  b.writeInt16LE(h.temperature, 4);
  b.writeUInt32LE(h.dirtyShutdowns, 6);
  b.writeUInt32LE(h.correctedVolatile, 10);
  b.writeUInt32LE(h.correctedPersistent, 14);
  return b.toString('hex');
}

// ------------------------------------------------------------------ the sheet's worked example B

const T1 = 0x11;
const T2 = 0x22;
const T3 = 0x33;
// FM -> switch port 2 -> MLD LD 0 -> Identify (0001h)
const EXAMPLE_B_PAYLOAD =
  '02 00 1c 00' + // port 2, target type 0, command size 28
  '00 22 00 00 53 10 00 00 00 00 00 00' + // request, tag T2, 5300h, 16-byte payload
  '00 00 0c 00' + // LD 0, target type 0, command size 12
  '00 33 00 01 00 00 00 00 00 00 00 00'; // request, tag T3, 0001h, no payload

test('encodeTunnelRequest builds the sheet example B bytes (outer-to-inner path, per-level tags)', () => {
  const p = encodeTunnelRequest([{ portOrLd: 2 }, { portOrLd: 0 }], 0x0001, new Uint8Array(0), [T2, T3]);
  assert.is(hex(p), hex(bytes(EXAMPLE_B_PAYLOAD)));
  // the outer message on MCTP: 00 T1 00 00 53 20 00 ... + 32 bytes = 44 bytes
  const outer = encodeCciRequest(0x5300, p, T1);
  assert.is(outer.byteLength, 44);
  assert.is(hex(outer.subarray(0, 12)), '001100005320000000000000');
});

test('decodeTunnelRequest walks example B: hops [port 2, LD 0], innermost Identify', () => {
  const d = decodeTunnelRequest(bytes(EXAMPLE_B_PAYLOAD));
  assert.not.ok(isTunnelDecodeError(d));
  if (isTunnelDecodeError(d)) return;
  assert.equal(d.hops, [{ portOrLd: 2, targetType: 0, tag: T2 }, { portOrLd: 0, targetType: 0, tag: T3 }]);
  assert.is(d.opcode, 0x0001);
  assert.is(d.payload.byteLength, 0);
});

test('depth 2 switch -> MLD -> LD 0: Identify of that LD, response bytes as example B', () => {
  const f = fabric();
  const { rc, out } = run(f.sw, 0x5300, EXAMPLE_B_PAYLOAD);
  assert.is(rc, Rc.SUCCESS, 'outer rc');
  const expected =
    '2e00' + '0000' + // response length 46
    '01 22 00 00 53 22 00 00 0000 0000' + // response T2, 5300h, 34-byte payload, rc 0
    '1e00' + '0000' + // response length 30
    '01 33 00 01 00 12 00 00 0000 0000' + // response T3, Identify, 18 bytes, rc 0
    identifyBytes(f.ldDs[0]!, 0x0002, 12);
  assert.is(hex(out), hex(bytes(expected)));
  assert.is(out.byteLength, 50);
  const d = decodeTunnelResponse(out);
  assert.not.ok(isTunnelDecodeError(d));
  if (isTunnelDecodeError(d)) return;
  assert.equal(d.hops.map((h) => [h.tag, h.opcode, h.rc]), [[T2, 0x5300, 0], [T3, 0x0001, 0]]);
  assert.is(d.innerRc, 0);
  assert.is(new DataView(d.innerPayload.buffer, d.innerPayload.byteOffset).getBigUint64(8, true), f.ldDs[0]!.serial, 'the LD\'s serial');
  assert.is(tunnelDepth(), 0, 'depth counter unwound');
});

test('depth 2 to LD 1: Get Health Info returns that LD\'s real health bytes', () => {
  const f = fabric();
  f.lds[1]!.health = { ...f.lds[1]!.health, status: 0x02, lifeUsed: 77, temperature: -5, dirtyShutdowns: 0x0a0b0c0d, correctedVolatile: 3 };
  const { rc, out } = run(f.sw, 0x5300, encodeTunnelRequest([{ portOrLd: 2 }, { portOrLd: 1 }], 0x4200, undefined, [1, 2]));
  assert.is(rc, 0);
  assert.is(hex(out), hex(bytes('2e00 0000 01 01 00 00 53 22 00 00 0000 0000 1e00 0000 01 02 00 00 42 12 00 00 0000 0000')) + healthBytes(f.lds[1]!));
});

test('depth 1 switch -> SLD: Identify and Get Health Info of the SLD', () => {
  const f = fabric();
  f.sld.health.temperature = 41;
  let r = run(f.sw, 0x5300, '01 00 0c 00 | 00 07 00 01 00 00 00 00 00 00 00 00');
  assert.is(r.rc, 0);
  assert.is(hex(r.out), '1e000000' + '010700010012000000000000' + identifyBytes(f.sldD, 0x0001, 12));
  r = run(f.sw, 0x5300, '01 00 0c 00 | 00 08 00 00 42 00 00 00 00 00 00 00');
  assert.is(hex(r.out), '1e000000' + '010800004212000000000000' + healthBytes(f.sld));
});

test('depth 1 switch -> MLD FM-owned LD: Get LD Info (54h set lives on the FM-owned LD)', () => {
  const f = fabric();
  const r = run(f.sw, 0x5300, '02 00 0c 00 | 00 09 00 00 54 00 00 00 00 00 00 00');
  assert.is(r.rc, 0);
  // memory 1 GiB + 512 MiB, 2 LDs, no QoS telemetry
  assert.is(hex(r.out), '17000000' + '01090000540b000000000000' + le64(BigInt(GIB + GIB / 2)) + '0200' + '00');
});

test('depth 1 MLD -> LD (the MLD CCI itself): Identify serial and health of LD 1', () => {
  const f = fabric();
  let r = run(f.mld, 0x5300, '01 00 0c 00 | 00 00 00 01 00 00 00 00 00 00 00 00');
  assert.is(r.rc, 0);
  assert.is(hex(r.out), '1e000000' + '010000010012000000000000' + identifyBytes(f.ldDs[1]!, 0x0002, 12));
  r = run(f.mld, 0x5300, '01 00 0c 00 | 00 00 00 00 42 00 00 00 00 00 00 00');
  assert.is(hex(r.out.subarray(16)), healthBytes(f.lds[1]!));
});

test('a command tunnelled to an LD changes the state its own mailbox sees (Set Timestamp / Get Timestamp)', () => {
  const f = fabric();
  const ts = 0x1122334455667788n;
  const r = run(f.sw, 0x5300, encodeTunnelRequest([{ portOrLd: 2 }, { portOrLd: 0 }], 0x0301, bytes(le64(ts)), [5, 6]), T0);
  assert.is(r.rc, 0);
  const d = decodeTunnelResponse(r.out);
  assert.ok(!isTunnelDecodeError(d) && d.innerRc === 0 && d.innerOpcode === 0x0301 && d.innerPayload.byteLength === 0);
  // directly on LD 0, 500 ns later
  const g = run(f.lds[0]!, 0x0300, '', T0 + 500);
  assert.is(hex(g.out), le64(ts + 500n));
  // LD 1 untouched
  assert.is(hex(run(f.lds[1]!, 0x0300, '', T0 + 500).out), le64(0n));
});

test('a large inner request survives nesting (Set LSA through switch -> MLD -> LD, read back directly)', () => {
  const f = fabric();
  const data = new Uint8Array(600).map((_, i) => (i * 7 + 3) & 0xff);
  const input = new Uint8Array(8 + data.byteLength);
  new DataView(input.buffer).setUint32(0, 0x100, true);
  input.set(data, 8);
  const r = run(f.sw, 0x5300, encodeTunnelRequest([{ portOrLd: 2 }, { portOrLd: 1 }], 0x4103, input));
  assert.is(r.rc, 0);
  const d = decodeTunnelResponse(r.out);
  assert.ok(!isTunnelDecodeError(d) && d.innerRc === 0);
  const g = run(f.lds[1]!, 0x4102, le32hex(0x100) + le32hex(600));
  assert.is(g.rc, 0);
  assert.is(hex(g.out), hex(data));
  // and a depth-1 command right after sees fresh scratch, not the previous payload
  const h = run(f.sw, 0x5300, '01 00 0c 00 | 00 00 00 00 42 00 00 00 00 00 00 00');
  assert.is(h.out.byteLength, 16 + 18);
});

function le32hex(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b.toString('hex');
}

// ------------------------------------------------------------------ malformed tunnels (rc rules in order)

test('malformed tunnel requests answer the outer rc from the rule list, with no output', () => {
  const f = fabric();
  const cases: [string, string, number][] = [
    ['len < 16', '02 00 0b 00 | 00 00 00 01 00 00 00 00 00 00 00', 0x16],
    ['command size < 12', '02 00 0b 00 | 00 00 00 01 00 00 00 00 00 00 00 00', 0x16],
    ['command size != len - 4', '02 00 0d 00 | 00 00 00 01 00 00 00 00 00 00 00 00', 0x16],
    ['inner message is a response', '02 00 0c 00 | 01 00 00 01 00 00 00 00 00 00 00 00', 0x02],
    ['inner category reserved', '02 00 0c 00 | 05 00 00 01 00 00 00 00 00 00 00 00', 0x02],
    ['target type 1 (LD Pool)', '02 01 0c 00 | 00 00 00 01 00 00 00 00 00 00 00 00', 0x02],
    ['payload length field > size', '02 00 0c 00 | 00 00 00 01 00 01 00 00 00 00 00 00', 0x16],
    ['payload length field uses bits 20:16', '02 00 0d 00 | 00 00 00 01 00 01 00 01 00 00 00 00 ff', 0x16],
    ['port 0 is the USP', '00 00 0c 00 | 00 00 00 01 00 00 00 00 00 00 00 00', 0x02],
    ['empty port', '03 00 0c 00 | 00 00 00 01 00 00 00 00 00 00 00 00', 0x02],
    ['port past the last', '09 00 0c 00 | 00 00 00 01 00 00 00 00 00 00 00 00', 0x02],
    ['port ffh', 'ff 00 0c 00 | 00 00 00 01 00 00 00 00 00 00 00 00', 0x02],
  ];
  for (const [what, input, rc] of cases) {
    const r = run(f.sw, 0x5300, input);
    assert.is(r.rc, rc, what);
    assert.is(r.out.byteLength, 0, what);
  }
  // the BO bit and reserved bits of the inner header are tolerated in a request; rc/vendor too (libcxlmi ABCDh)
  const ok = run(f.sw, 0x5300, '01 f0 0c 00 | f0 00 ff 01 00 00 00 e0 00 00 cd ab');
  assert.is(ok.rc, 0);
});

test('MLD tunnel: LD past the last, LD ffh -> Invalid Input', () => {
  const f = fabric();
  assert.is(run(f.mld, 0x5300, '02 00 0c 00 | 00 00 00 01 00 00 00 00 00 00 00 00').rc, 0x02);
  assert.is(run(f.mld, 0x5300, 'ff 00 0c 00 | 00 00 00 01 00 00 00 00 00 00 00 00').rc, 0x02);
});

test('an error at the inner tunnel layer travels inside a successful outer response', () => {
  const f = fabric();
  // outer ok (port 2), inner tunnel at the MLD names LD 7
  const r = run(f.sw, 0x5300, '02 00 1c 00 | 00 44 00 00 53 10 00 00 00 00 00 00 | 07 00 0c 00 | 00 55 00 01 00 00 00 00 00 00 00 00');
  assert.is(r.rc, 0);
  assert.is(hex(r.out), hex(bytes('0c00 0000 01 44 00 00 53 00 00 00 0200 0000')));
  const d = decodeTunnelResponse(r.out);
  assert.ok(!isTunnelDecodeError(d) && d.innerOpcode === 0x5300 && d.innerRc === 2 && d.hops.length === 1);
  // inner tunnel too short: 16h inside
  const s = run(f.sw, 0x5300, '02 00 18 00 | 00 44 00 00 53 0c 00 00 00 00 00 00 | 00 00 08 00 00 00 00 00 00 00 00 00');
  assert.is(hex(s.out), hex(bytes('0c00 0000 01 44 00 00 53 00 00 00 1600 0000')));
});

test('an opcode the target lacks answers Unsupported inside (5100h to an LD; 5400h to an SLD)', () => {
  const f = fabric();
  let r = run(f.sw, 0x5300, encodeTunnelRequest([{ portOrLd: 2 }, { portOrLd: 0 }], 0x5100, undefined, [1, 2]));
  let d = decodeTunnelResponse(r.out);
  assert.ok(!isTunnelDecodeError(d) && d.innerRc === Rc.UNSUPPORTED && d.innerOpcode === 0x5100);
  r = run(f.sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0x5400));
  d = decodeTunnelResponse(r.out);
  assert.ok(!isTunnelDecodeError(d) && d.innerRc === Rc.UNSUPPORTED);
  // wrong inner input size: Identify with a payload -> 16h inside
  r = run(f.sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0x0001, new Uint8Array(1), [9]));
  assert.is(hex(r.out), hex(bytes('0c00 0000 01 09 00 01 00 00 00 00 1600 0000')));
});

// ------------------------------------------------------------------ capacity, depth cap, BG, vendor, via

/** A test component: records what it saw, answers per `behave`. */
function probe(log2 = 12) {
  const seen: { via: number; inLen: number; cap: number }[] = [];
  const state: ComponentState & { seen: typeof seen } = {
    seen,
    commands: new CommandSet<ComponentState>('probe', [
      { opcode: 0xc000, name: 'blind 300-byte write', input: 0, effects: 0, handler: (_d, req) => { req.view.setUint32(296, 1, true); req.outLen = 300; return 0; } },
      { opcode: 0xc001, name: 'claims more than written', input: 0, effects: 0, handler: (_d, req) => { req.outLen = req.payload.byteLength + 1; return 0; } },
      { opcode: 0xc002, name: 'vendor status', input: 0, effects: 0, handler: (_d, req) => { req.vendorStatus = 0xbeef; req.payload[0] = 0x5a; req.outLen = 1; return Rc.INTERNAL_ERROR; } },
      { opcode: 0xc003, name: 'record', input: { min: 0 }, effects: 0, handler: (_d, req: CciRequest) => { seen.push({ via: req.via, inLen: req.inLen, cap: req.payload.byteLength }); return 0; } },
      {
        opcode: 0xc004, name: 'background', input: 0, effects: Effect.BACKGROUND_OP,
        handler: (d, req) => { d.bg.start(0xc004, req.nowNs, 1000, () => 0); return Rc.BACKGROUND_STARTED; },
      },
      { opcode: 0x0002, name: 'Background Operation Status', input: 0, effects: 0, handler: (d, req) => { d.bg.update(req.nowNs); req.payload[0] = (d.bg.running ? 1 : 0) | (d.bg.percent << 1); req.outLen = 1; return 0; } },
    ]),
    identity: { vendorId: 1, deviceId: 2, subsystemVendorId: 3, subsystemId: 4, serial: 5n, maxMessageSizeLog2: log2, componentType: 3 },
    bg: new BackgroundOp(),
    timestamp: null,
  };
  return state;
}

function switchWith(port1: ComponentState, mailboxBytes = 256): SwitchState {
  const fleet = buildFleet({ devices: [{ kind: 'cxl-switch', ports: 2, mailboxBytes, downstream: [] }] }, 1);
  return newSwitchState(fleet.devices[0]!, new Map([[1, port1]]));
}

test('inner output must fit the outer payload: blind overflow -> outer Internal Error; lying outLen -> Internal Error', () => {
  const p = probe();
  const sw = switchWith(p, 256);
  assert.is(run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0xc000), T0, 256).rc, Rc.INTERNAL_ERROR);
  assert.is(run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0xc001), T0, 256).rc, Rc.INTERNAL_ERROR);
  assert.is(tunnelDepth(), 0);
  // with a 4 KiB switch mailbox the same 300-byte answer fits
  const big = switchWith(p, 4096);
  const r = run(big, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0xc000), T0, 4096);
  assert.is(r.rc, 0);
  assert.is(r.out.byteLength, 316);
});

test('inner capacity = min(outer payload - 16, target message size); a bigger inner request -> 16h inside', () => {
  const p = probe(8); // target takes 256-byte messages
  const sw = switchWith(p, 4096);
  let r = run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0xc003, new Uint8Array(200)), T0, 4096);
  assert.equal(p.seen.at(-1), { via: 1, inLen: 200, cap: 256 }, 'via TUNNEL, capacity = the target\'s 256');
  r = run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0xc003, new Uint8Array(300)), T0, 4096);
  const d = decodeTunnelResponse(r.out);
  assert.ok(!isTunnelDecodeError(d) && d.innerRc === Rc.INVALID_PAYLOAD_LENGTH);
  assert.is(p.seen.length, 1, 'the target never ran it');
  const small = switchWith(probe(12), 256);
  run(small, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0xc003), T0, 256);
  assert.is((small.targets[1] as ReturnType<typeof probe>).seen[0]!.cap, 240, '256-byte switch mailbox leaves 240');
});

test('SLD with a 256-byte mailbox behind a 4 KiB switch: Get LSA of 256 bytes fits, 257 -> Invalid Input inside', () => {
  const f = fabric({ sldMailbox: 256 });
  let r = run(f.sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0x4102, bytes(le32hex(0) + le32hex(256))));
  let d = decodeTunnelResponse(r.out);
  assert.ok(!isTunnelDecodeError(d) && d.innerRc === 0 && d.innerPayload.byteLength === 256);
  r = run(f.sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0x4102, bytes(le32hex(0) + le32hex(257))));
  d = decodeTunnelResponse(r.out);
  assert.ok(!isTunnelDecodeError(d) && d.innerRc === Rc.INVALID_INPUT);
});

test('vendor status and return code of the inner command are carried in the inner header', () => {
  const sw = switchWith(probe(), 4096);
  const r = run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0xc002, undefined, [0x77]));
  assert.is(r.rc, 0);
  assert.is(hex(r.out), hex(bytes('0d00 0000 01 77 00 02 c0 01 00 00 0400 efbe 5a')));
});

test('a tunnelled background command: rc 01 and the BO bit (07h bit 7); progress via tunnelled 0002h', () => {
  const p = probe();
  const sw = switchWith(p, 4096);
  let r = run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0xc004), T0);
  assert.is(hex(r.out), hex(bytes('0c00 0000 01 00 00 04 c0 00 00 80 0100 0000')));
  r = run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0xc004), T0 + 10);
  assert.is(hex(r.out.subarray(4 + 8, 4 + 10)), '0600', 'Busy while it runs');
  r = run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0x0002), T0 + 500);
  assert.is(r.out[16], 1 | (50 << 1), 'running, 50%');
  r = run(sw, 0x5300, encodeTunnelRequest([{ portOrLd: 1 }], 0x0002), T0 + 1000);
  assert.is(r.out[16], 100 << 1, 'done');
});

test(`nesting is capped at ${MAX_TUNNEL_DEPTH} layers; a deeper 5300h answers Unsupported`, () => {
  const f = fabric();
  // chain of FM-owned LDs: A -> B -> C -> D -> LD (a test topology; real MLDs hold type-3 LDs)
  const ld = f.lds[0]!;
  const d = newMldState(f.mldD, [ld]);
  const c = newMldState(f.mldD, [d]);
  const b = newMldState(f.mldD, [c]);
  const a = newMldState(f.mldD, [b]);
  // 3 layers: A's tunnel (1) -> B's (2) -> C's (3) -> Identify at D
  let r = run(a, 0x5300, encodeTunnelRequest([{ portOrLd: 0 }, { portOrLd: 0 }, { portOrLd: 0 }], 0x0001));
  let dec = decodeTunnelResponse(r.out);
  assert.ok(!isTunnelDecodeError(dec));
  if (isTunnelDecodeError(dec)) return;
  assert.is(dec.hops.length, 3);
  assert.is(dec.innerRc, 0);
  assert.is(dec.innerOpcode, 0x0001);
  // 4 layers: A -> B -> C -> D's 5300h is the fourth layer
  r = run(a, 0x5300, encodeTunnelRequest([{ portOrLd: 0 }, { portOrLd: 0 }, { portOrLd: 0 }, { portOrLd: 0 }], 0x0001));
  dec = decodeTunnelResponse(r.out);
  assert.ok(!isTunnelDecodeError(dec));
  if (isTunnelDecodeError(dec)) return;
  assert.equal(dec.hops.map((h) => [h.opcode, h.rc]), [[0x5300, 0], [0x5300, 0], [0x5300, Rc.UNSUPPORTED]]);
  assert.is(tunnelDepth(), 0);
  // and a normal depth-2 tunnel still works afterwards
  const again = decodeTunnelResponse(run(f.sw, 0x5300, EXAMPLE_B_PAYLOAD).out);
  assert.ok(!isTunnelDecodeError(again) && again.innerRc === 0 && again.hops.length === 2);
});

test('property: random bytes as a 5300h payload never throw; the answer is one of the rule-list codes', () => {
  const f = fabric();
  const allowed = new Set([0x00, 0x02, 0x03, 0x05, 0x16]);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (b, fixSize) => {
      const input = b.slice();
      if (fixSize && input.byteLength >= 4) {
        input[2] = (input.byteLength - 4) & 0xff;
        input[3] = (input.byteLength - 4) >>> 8;
        input[0] = input[0]! % 4;
      }
      const r = run(f.sw, 0x5300, input);
      assert.ok(allowed.has(r.rc), `rc ${r.rc}`);
      if (r.rc === 0) assert.not.ok(isTunnelDecodeError(decodeTunnelResponse(r.out)));
      else assert.is(r.out.byteLength, 0);
    }),
    { numRuns: 3000 },
  );
  assert.is(tunnelDepth(), 0);
});

test('encodeTunnelRequest rejects arguments it cannot encode', () => {
  assert.throws(() => encodeTunnelRequest([], 1), RangeError);
  assert.throws(() => encodeTunnelRequest([{ portOrLd: 256 }], 1), RangeError);
  assert.throws(() => encodeTunnelRequest([{ portOrLd: 1, targetType: 16 }], 1), RangeError);
  assert.throws(() => encodeTunnelRequest([{ portOrLd: 1 }], 1, new Uint8Array(0x10000)), RangeError);
});

test('MldState type guard and LD list are the given objects (shared with the LD mailboxes)', () => {
  const f = fabric();
  const m: MldState = f.mld;
  assert.ok(m.lds[0] === f.lds[0] && m.lds[1] === f.lds[1]);
});

test.run();
