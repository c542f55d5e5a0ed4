import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADMIN_COMMANDS, Effects, NvmeCommandSet, nvmeAdminCommandSet, nvmeEffectNames, type NvmeCommandDef } from '../src/devices/nvme/commands.js';
import { decodeCqe } from '../src/devices/nvme/cqe.js';
import { encodeNvmeRequest } from '../src/devices/nvme/wire.js';
import { ascii, dv, getLog, hex, nvmeDevice, T0 } from './nvme-harness.js';

const le16 = (n: number): string => Buffer.from([n & 0xff, (n >> 8) & 0xff]).toString('hex');
const le32 = (n: number): string => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b.toString('hex'); };
const pad = (s: string, n: number, c = ' '): string => Buffer.from(s.padEnd(n, c), 'latin1').toString('hex');
const zeros = (n: number): string => '00'.repeat(n);

test('the command table refuses inconsistent entries', () => {
  const base: NvmeCommandDef = { opcode: 0x02, name: 'x', effects: 0, duringSanitize: () => true, handler: () => 0 };
  const bad: [NvmeCommandDef[], RegExp][] = [
    [[base, base], /listed twice/],
    [[{ ...base, opcode: 0x100 }], /out of range/],
    [[{ ...base, effects: 1 << 5 }], /reserved effect bits/],
    [[{ ...base, effects: 3 << 16 }], /reserved CSE/],
    [[{ ...base, opcode: 0xc1 }], /C0h-FFh/],
    [[{ ...base, vendor: true }], /C0h-FFh/],
  ];
  for (const [cmds, msg] of bad) assert.throws(() => new NvmeCommandSet('declared', cmds), msg);
  // the I/O table: vendor-specific I/O opcodes are 80h-FFh
  assert.throws(() => new NvmeCommandSet('declared', [], [{ ...base, opcode: 0x80 }]), /80h-FFh/);
  assert.throws(() => new NvmeCommandSet('declared', [], [base, base]), /I\/O x \(0x2\): opcode listed twice/);
});

// ----------------------------------------------------------------------------------------------- Identify

test('Identify Controller (CNS 01h): all 4096 bytes against hand-written offsets', () => {
  const { send, d, ctrl } = nvmeDevice();
  const r = send({ opcode: 0x06, cdw10: 0x01 });
  assert.is(r.rc, 0);
  assert.is(r.payload.byteLength, 4096);
  const sn = 'MBX' + d.serial.toString(16).toUpperCase().padStart(16, '0');
  const want = Buffer.alloc(4096);
  const put = (at: number, h: string): void => void Buffer.from(h, 'hex').copy(want, at);
  put(0, '581c' + '581c'); // VID, SSVID
  put(4, pad(sn, 20)); // SN
  put(24, pad('mbxmux emulated NVMe controller', 40)); // MN
  put(64, pad('1.0.0', 8)); // FR
  put(72, '06' + 'ee1400' + '00' + '05' + '0100'); // RAB, IEEE OUI (LSB first), CMIC, MDTS 2^5 x 4 KiB = 128 KiB, CNTLID
  put(80, '00000200' + le32(500000) + le32(2000000) + '00020000'); // VER 2.0, RTD3R, RTD3E, OAES bit 9
  put(111, '01'); // CNTRLTYPE: I/O
  put(256, '0600' + '03' + '03' + '17' + '06' + '07' + '02' + '01' + '00'); // OACS, ACL, AERL, FRMW, LPA, ELPE, NPSS, AVSCC, APSTA
  put(266, '5701' + '7501' + '3200'); // WCTEMP 343 K, CCTEMP 373 K, MTFA 5 s
  const tnvmcap = Buffer.alloc(16);
  tnvmcap.writeBigUInt64LE(BigInt(ctrl.nsBytes));
  put(280, tnvmcap.toString('hex'));
  put(319, '01'); // FWUG 4 KiB
  // SANICAP (328, le32): CES 0, BES 1, OWS 2, NDI 29 = 0, NODMMAS 31:30 = 01b -> 40000007h
  put(328, '07000040');
  // VWC (525): present (0), Flush Behavior 2:1 = 11b (Flush takes NSID FFFFFFFFh) -> 07h
  put(512, '66' + '44' + '0000' + '20000000' + '1c00' + '0000' + '04' + '07'); // SQES CQES MAXCMD NN=32 ONCS FUSES FNA VWC
  put(768, Buffer.from('nqn.2024-01.dev.mbxmux:nvme:' + d.serial.toString(16).padStart(16, '0')).toString('hex'));
  put(2048, 'c409' + '0000' + zeros(4) + zeros(4) + '00000000');
  put(2080, 'b004' + '0000' + le32(50) + le32(50) + '01010101');
  put(2112, 'f401' + '0000' + le32(2000) + le32(2000) + '02020202');
  assert.is(hex(r.payload), want.toString('hex'));
  assert.ok([16, 32, 48, 64].includes(ctrl.nsBytes / 2 ** 30), 'namespace size 16..64 GiB from the serial');
});

test('Identify Controller: MDTS follows the maximum transfer (4 KiB pages, power of two)', () => {
  for (const [bytes, mdts] of [[4096, 0], [8192, 1], [12288, 1], [1 << 20, 8]] as const) {
    const { send, ctrl } = nvmeDevice({ maxTransferBytes: bytes });
    assert.is(send({ opcode: 0x06, cdw10: 1 }).payload[77], mdts, `${bytes} bytes`);
    assert.is(ctrl.maxTransfer, 4096 * 2 ** mdts);
  }
});

test('Identify Namespace (CNS 00h): sizes, formats, identifiers; inactive NSID reads zeros', () => {
  const { send, d, ctrl } = nvmeDevice({ namespaces: 2 });
  const r = send({ opcode: 0x06, nsid: 1, cdw10: 0 });
  assert.is(r.rc, 0);
  const v = dv(r.payload);
  const nsze = BigInt(ctrl.nsBytes / 512);
  assert.is(v.getBigUint64(0, true), nsze, 'NSZE in 512-byte LBAs');
  assert.is(v.getBigUint64(8, true), 131072n, 'NCAP: thin provisioned, 64 MiB of 512-byte blocks allocated at most');
  assert.is(v.getBigUint64(16, true), 0n, 'NUSE: nothing written yet');
  assert.is(hex(r.payload.subarray(24, 32)), '01' + '03' + '00' + '03' + '1f' + '00' + '00' + '00', 'NSFEAT (THINP) NLBAF FLBAS MC DPC DPS NMIC RESCAP');
  assert.is(hex(r.payload.subarray(32, 34)), '00' + '09', 'FPI 0; DLFEAT: deallocated reads 00h (001b), Write Zeroes DEAC (bit 3)');
  assert.is(v.getBigUint64(48, true), BigInt(ctrl.nsBytes), 'NVMCAP');
  const serialBe = Buffer.alloc(8);
  serialBe.writeBigUInt64BE(d.serial);
  assert.is(hex(r.payload.subarray(104, 120)), serialBe.toString('hex') + '0014ee' + '00000001' + '00', 'NGUID');
  assert.is(hex(r.payload.subarray(120, 123)), '0014ee', 'EUI64 starts with the OUI');
  assert.is(hex(r.payload.subarray(128, 144)), '00000902' + '00000c00' + '08000903' + '08000c01', 'LBAF0-3: MS, LBADS, RP');
  assert.is(hex(r.payload.subarray(144)), zeros(4096 - 144));
  const two = send({ opcode: 0x06, nsid: 2, cdw10: 0 });
  assert.is(hex(two.payload.subarray(120, 128)) === hex(r.payload.subarray(120, 128)), false, 'EUI64 differs per namespace');
  const inactive = send({ opcode: 0x06, nsid: 3, cdw10: 0 });
  assert.is(inactive.rc, 0, 'valid but inactive NSID: success...');
  assert.is(hex(inactive.payload), zeros(4096), '...and all zeros');
  for (const nsid of [0, 33, 0xffffffff]) assert.is(send({ opcode: 0x06, nsid, cdw10: 0 }).rc, 0x600b, `NSID ${nsid.toString(16)}: Invalid Namespace or Format + DNR`);
});

test('Identify active NSID list (CNS 02h) and NS identification descriptors (CNS 03h); other CNS: Invalid Field', () => {
  const { send } = nvmeDevice({ namespaces: 3 });
  assert.is(hex(send({ opcode: 0x06, nsid: 0, cdw10: 2 }).payload.subarray(0, 16)), '01000000' + '02000000' + '03000000' + '00000000');
  const after1 = send({ opcode: 0x06, nsid: 1, cdw10: 2 });
  assert.is(hex(after1.payload), '02000000' + '03000000' + zeros(4088), 'NSIDs greater than CDW1.NSID');
  assert.is(hex(send({ opcode: 0x06, nsid: 3, cdw10: 2 }).payload), zeros(4096));
  assert.is(send({ opcode: 0x06, nsid: 0xfffffffe, cdw10: 2 }).rc, 0x600b);
  const ns = send({ opcode: 0x06, nsid: 2, cdw10: 0 }).payload;
  const desc = send({ opcode: 0x06, nsid: 2, cdw10: 3 });
  assert.is(hex(desc.payload),
    '01080000' + hex(ns.subarray(120, 128)) + '02100000' + hex(ns.subarray(104, 120)) + '04010000' + '00' + zeros(4096 - 37));
  assert.is(send({ opcode: 0x06, nsid: 4, cdw10: 3 }).rc, 0x600b);
  for (const cns of [0x04, 0x05, 0x06, 0x10, 0xff]) {
    const r = send({ opcode: 0x06, cdw10: cns });
    assert.is(r.rc, 0x6002, `CNS ${cns}`);
    assert.is(r.payload.byteLength, 0, 'no data on error');
  }
});

// -------------------------------------------------------------------------------------------- log pages

test('SMART / Health (LID 02h): 512 bytes, every field at its offset, temperatures in Kelvin, deterministic', () => {
  const a = nvmeDevice();
  a.send({ opcode: 0xf0 }); // one error for the error-entry count
  const r = a.send(getLog(0x02, 512));
  assert.is(r.rc, 0);
  const p = r.payload;
  const v = dv(p);
  assert.is(p.byteLength, 512);
  assert.is(p[0], 0, 'critical warning');
  const k = v.getUint16(1, true);
  assert.ok(k >= 303 && k <= 317, `composite ${k} K`);
  assert.ok(p[3]! >= 96 && p[3]! <= 100, 'available spare');
  assert.is(p[4], 10, 'spare threshold');
  assert.ok(p[5]! < 20, 'percentage used');
  assert.is(hex(p.subarray(6, 32)), zeros(26));
  for (const at of [32, 48, 64, 80, 96, 112, 128]) {
    assert.ok(v.getBigUint64(at, true) > 0n, `u128 at ${at}`);
    assert.is(v.getBigUint64(at + 8, true), 0n, `u128 at ${at}: upper half`);
  }
  assert.is(v.getBigUint64(64, true), v.getBigUint64(32, true) * 4n, 'host read commands follow data units read');
  assert.is(hex(p.subarray(160, 176)), zeros(16), 'media errors');
  assert.is(v.getBigUint64(176, true), 1n, 'number of error information log entries');
  assert.is(hex(p.subarray(192, 200)), zeros(8), 'warning/critical temperature time');
  assert.is(v.getUint16(200, true), k + 3, 'sensor 1');
  assert.is(v.getUint16(202, true), k - 2, 'sensor 2');
  assert.is(hex(p.subarray(204, 512)), zeros(308), 'sensors 3-8 not implemented; reserved');
  const b = nvmeDevice();
  b.send({ opcode: 0xf0 });
  assert.is(hex(b.send(getLog(0x02, 512)).payload), hex(p), 'same serial, same page');
  assert.is(a.send(getLog(0x02, 512, { nsid: 1 })).rc, 0x6002, 'no per-namespace SMART (LPA bit 0 = 0)');
  assert.is(a.send(getLog(0x02, 512, { nsid: 0 })).rc, 0);
});

test('Error Information (LID 01h): 64-byte entries, newest first, with CID, status and phase', () => {
  const { send, submit, ep } = nvmeDevice({ queueDepth: 4 });
  assert.is(hex(send(getLog(0x01, 512)).payload), zeros(512), 'empty before any error');
  send({ opcode: 0xe0 }); // CID 1: Invalid Opcode
  send({ opcode: 0x06, nsid: 7, cdw10: 0x55 }); // CID 2: Invalid Field (CNS)
  void submit;
  const p = send(getLog(0x01, 512)).payload;
  const v = dv(p);
  assert.is(v.getBigUint64(0, true), 2n, 'newest: error count 2');
  assert.is(hex(p.subarray(8, 16)), '0000' + '0200' + le16((0x4002 << 1) | 1) + '2800', 'SQID, CID, status with phase, parameter location byte 40');
  assert.is(v.getUint32(24, true), 7, 'NSID');
  assert.is(v.getBigUint64(64, true), 1n);
  assert.is(hex(p.subarray(72, 80)), '0000' + '0100' + le16((0x4001 << 1) | 1) + '0000', 'opcode at byte 0');
  assert.is(hex(p.subarray(128)), zeros(384));
  assert.is(ep.controller.errorCount, 2);
});

test('More (M): CQE status bit 13 (bit 14 of bytes 14-15) is set exactly when an Error Information entry is logged', () => {
  const { send, ep } = nvmeDevice({ queueDepth: 4 });
  const ok = send({ opcode: 0x06, cdw10: 1 });
  assert.is(hex(ok.cqe.subarray(14)), '0100', 'success: P 1, no M, no entry');
  assert.is(ep.controller.errorCount, 0);
  const bad = send({ opcode: 0x06, cdw10: 0x55 }); // CID 1: Invalid Field in Command (CNS)
  // bytes 14-15 little-endian: bit 0 P, 8:1 SC 02h, 11:9 SCT 0, 13:12 CRD 0, 14 M, 15 DNR -> C005h
  assert.is(hex(bad.cqe.subarray(14)), '05c0');
  assert.is(bad.rc, 0x6002, 'rc = the status field without P: M (2000h) and DNR (4000h) visible to the caller');
  assert.is(ep.controller.errorCount, 1);
  const log = send(getLog(0x01, 64)).payload;
  assert.is(dv(log).getUint16(10, true), 1, 'the entry names the failed CID');
  assert.is(dv(log).getUint16(12, true) >>> 1, 0x4002, 'the entry keeps the status without M');
  const after = send({ opcode: 0x0a, cdw10: 1 });
  assert.is(after.cqe[15]! & 0x40, 0, 'the next successful command has M clear');
});

test('Firmware Slot Information (LID 03h) and Supported Log Pages (LID 00h)', () => {
  const { send } = nvmeDevice();
  assert.is(hex(send(getLog(0x03, 512)).payload), '01' + zeros(7) + pad('1.0.0', 8) + zeros(512 - 16));
  const s = send(getLog(0x00, 1024)).payload;
  const on = [...Array(256).keys()].filter((i) => dv(s).getUint32(4 * i, true) !== 0);
  assert.equal(on, [0x00, 0x01, 0x02, 0x03, 0x05, 0x81]);
  assert.is(dv(s).getUint32(4 * 0x05, true), 1, 'LSUPP');
});

test('Commands Supported and Effects (LID 05h): 4096 bytes generated from the command table', () => {
  const { send } = nvmeDevice({ vendorCommands: 'declared' });
  const p = send(getLog(0x05, 4096)).payload;
  const v = dv(p);
  const acs = (op: number): number => v.getUint32(4 * op, true);
  const iocs = (op: number): number => v.getUint32(1024 + 4 * op, true);
  // hand-written: bit 0 CSUPP, 1 LBCC, 2 NCC, 4 CCC, 18:16 CSE (010b = 20000h), 20 NS scope, 21 controller, 25 subsystem
  const want: Record<number, number> = {
    0x00: 0x00200001, 0x01: 0x00200001, 0x04: 0x00200001, 0x05: 0x00200001, 0x08: 0x00200001, // queues, Abort
    0x02: 0x00000001, 0x06: 0x00000001, 0x09: 0x00200001, 0x0a: 0x00000001, 0x0c: 0x00000001,
    0x10: 0x02000011, 0x11: 0x02000001, 0x80: 0x00120007, 0x84: 0x02020003,
    0xc6: 0x00200001, 0xdd: 0x02020003, 0xde: 0x00000001,
  };
  for (let op = 0; op < 256; op++) assert.is(acs(op), want[op] ?? 0, `ACS ${op.toString(16)}h`);
  assert.equal([iocs(0), iocs(1), iocs(2), iocs(8), iocs(9)], [0x00100001, 0x00100003, 0x00100001, 0x00100003, 0x00100003]);
  assert.is(p.subarray(1024).filter((b) => b !== 0).length, 5 * 2, 'nothing else in IOCS; reserved half zero');
  assert.is(hex(p.subarray(2048)), zeros(2048));
  // every entry is the table's effects | CSUPP
  for (const c of ADMIN_COMMANDS) assert.is(acs(c.opcode), (c.effects | Effects.CSUPP) >>> 0, c.name);
  assert.equal(nvmeEffectNames(acs(0x80)), ['CSUPP', 'LBCC', 'NCC', 'SCOPE_NS', 'CSE=010b']);
  assert.equal(nvmeEffectNames(acs(0x84)), ['CSUPP', 'LBCC', 'SCOPE_SUBSYSTEM', 'CSE=010b']);
  assert.equal(nvmeEffectNames((1 << 14) | (1 << 5)), ['CSER=01b', 'RESERVED']);
  // The permission rule Linux uses for unprivileged passthrough: effects within CSUPP|LBCC|UUID_SEL|SCOPE, not vendor.
  const readOnly = [...Array(0xc0).keys()].filter((op) => acs(op) === Effects.CSUPP);
  assert.equal(readOnly, [0x02, 0x06, 0x0a, 0x0c], 'reads report CSUPP alone; everything that changes state says so');
});

test('effects log per VendorMode: declared lists vendor commands, hidden and none do not', () => {
  assert.is(nvmeAdminCommandSet('declared').effectsOf(0xdd), 0x02020003);
  assert.is(nvmeAdminCommandSet('hidden').effectsOf(0xdd), 0);
  assert.ok(nvmeAdminCommandSet('hidden').get(0xdd) !== undefined, 'hidden: still executed');
  assert.is(nvmeAdminCommandSet('none').get(0xdd), undefined);
  assert.is(nvmeAdminCommandSet('none').effectsOf(0xc6), 0);
  assert.is(nvmeAdminCommandSet('declared'), nvmeAdminCommandSet('declared'), 'one shared table per mode');
  assert.equal(nvmeAdminCommandSet('none').commands().map((c) => c.opcode), [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0a, 0x0c, 0x10, 0x11, 0x80, 0x84]);
  assert.equal(nvmeAdminCommandSet('hidden').commands().map((c) => c.opcode).slice(-3), [0xc6, 0xdd, 0xde]);
  const hidden = nvmeDevice({ vendorCommands: 'hidden' }).send(getLog(0x05, 4096)).payload;
  assert.equal([0xc6, 0xdd, 0xde].map((op) => dv(hidden).getUint32(4 * op, true)), [0, 0, 0]);
  assert.is(dv(hidden).getUint32(4 * 0x80, true), 0x00120007);
});

test('Get Log Page: offsets (LPOL/LPOU) and NUMD honoured; partial pages; the error paths', () => {
  const { send } = nvmeDevice();
  const full = send(getLog(0x05, 4096)).payload;
  const part = send(getLog(0x05, 8, { cdw12: 0x28 }));
  assert.is(hex(part.payload), hex(full.subarray(0x28, 0x30)), 'ACS 0Ah, 0Bh');
  const tail = send(getLog(0x05, 512, { cdw12: 4096 - 64 }));
  assert.is(tail.rc, 0);
  assert.is(tail.payload.byteLength, 512, 'the host buffer');
  assert.is(hex(tail.payload), hex(full.subarray(4032)) + zeros(448), 'the controller transferred the last 64 bytes only');
  const numdu = send({ opcode: 0x02, nsid: 0xffffffff, cdw10: (0x05 | (0xffff << 16)) >>> 0, cdw11: 0 }); // 256 KiB
  assert.is(numdu.rc, 0x6002, 'longer than MDTS: Invalid Field');
  assert.is(send(getLog(0x05, 4, { cdw12: 2 })).rc, 0x6002, 'offset not dword aligned');
  assert.is(send(getLog(0x05, 4, { cdw12: 4096 })).rc, 0x6002, 'offset at the end');
  assert.is(send(getLog(0x02, 4, { cdw13: 1 })).rc, 0x6002, 'LPOU: beyond the page');
  assert.is(send(getLog(0x02, 4, { cdw14: 1 << 23 })).rc, 0x6002, 'OT: no indexed logs');
  assert.is(send(getLog(0x05, 4096, { cdw14: 1 << 24 })).rc, 0x6002, 'CSI other than NVM');
  assert.is(send(getLog(0x02, 512, { cdw10: 0x007f0002 | (0x7f << 8) })).rc, 0, 'LSP ignored');
  for (const lid of [0x04, 0x06, 0x0c, 0x12, 0x7f, 0x80, 0xc0, 0xff]) {
    const r = send(getLog(lid, 512));
    assert.is(r.rc, 0x6109, `LID ${lid.toString(16)}h: Invalid Log Page (SCT 1h, SC 09h, DNR), per the spec`);
    assert.is(hex(r.cqe.subarray(14)), '13c2', 'P 1, SC 09h, SCT 1h, M, DNR');
  }
});

test('Sanitize Status (LID 81h) before any sanitize', () => {
  const { send } = nvmeDevice();
  assert.is(hex(send(getLog(0x81, 512)).payload.subarray(0, 32)),
    'ffff' + '0001' + '00000000' + le32(16) + le32(2) + le32(1) + 'ffffffff'.repeat(3)); // SSTAT: never sanitized, GDE
});

// --------------------------------------------------------------------------------------------- features

const getF = (fid: number, sel = 0, cdw11 = 0, nsid = 0) => ({ opcode: 0x0a, nsid, cdw10: fid | (sel << 8), cdw11 });
const setF = (fid: number, cdw11: number, sv = false, nsid = 0) => ({ opcode: 0x09, nsid, cdw10: (fid | (sv ? 0x80000000 : 0)) >>> 0, cdw11 });
const dw0 = (r: { cqe: Uint8Array }): number => decodeCqe(r.cqe).dw0;

test('Get Features SEL: current, default, saved (default when nothing saved), supported capabilities', () => {
  const { send } = nvmeDevice();
  // capabilities (SEL 011b) DW0: bit 0 saveable, bit 1 namespace specific, bit 2 changeable
  const caps: Record<number, number> = { 0x01: 5, 0x02: 5, 0x04: 5, 0x05: 7, 0x06: 5, 0x07: 4, 0x08: 5, 0x09: 4, 0x0a: 5, 0x0b: 5 };
  const defaults: Record<number, number> = { 0x01: 7, 0x02: 0, 0x04: 343, 0x05: 0, 0x06: 1, 0x07: 0x003f003f, 0x08: 0, 0x09: 0x10000, 0x0a: 0, 0x0b: 0 };
  for (const fid of [0x01, 0x02, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b]) {
    const nsid = fid === 0x05 ? 1 : 0; // Error Recovery is per namespace
    for (const sel of [0, 1, 2]) {
      const r = send(getF(fid, sel, 0, nsid));
      assert.is(r.rc, 0);
      assert.is(dw0(r), defaults[fid], `FID ${fid} SEL ${sel}`);
      assert.is(r.payload.byteLength, 0, 'no data buffer');
    }
    assert.is(dw0(send(getF(fid, 3, 0, nsid))), caps[fid], `FID ${fid}: capabilities`);
  }
  assert.is(send(getF(0x01, 4)).rc, 0x6002, 'SEL 100b reserved');
  assert.is(send(getF(0x01, 7)).rc, 0x6002);
});

test('Set/Get Features: values, SV saves, reset restores saved else default', () => {
  const { send, ep } = nvmeDevice();
  assert.is(send(setF(0x01, 0x030201fb)).rc, 0);
  assert.is(dw0(send(getF(0x01))), 0x03020103, 'Arbitration: AB 2:0, weights; reserved 7:3 dropped');
  assert.is(dw0(send(getF(0x01, 2))), 7, 'not saved: saved = default');
  assert.is(send(setF(0x02, 0x22, true)).rc, 0, 'PS 2, WH 1, saved');
  assert.is(dw0(send(getF(0x02, 2))), 0x22);
  assert.is(send(setF(0x06, 0)).rc, 0);
  assert.is(dw0(send(getF(0x06))), 0);
  assert.is(send(setF(0x08, 0x0a05)).rc, 0);
  assert.is(dw0(send(getF(0x08))), 0x0a05);
  assert.is(send(setF(0x0b, 0x202)).rc, 0);
  assert.is(dw0(send(getF(0x0b))), 0x202);
  ep.resetController('controller', T0);
  assert.is(dw0(send(getF(0x01))), 7, 'unsaved value gone after reset');
  assert.is(dw0(send(getF(0x02))), 0x22, 'saved value in effect after reset');
  assert.is(dw0(send(getF(0x06))), 1);
});

test('Set Features value checks: Invalid Field for out-of-range values', () => {
  const { send } = nvmeDevice();
  assert.is(send(setF(0x02, 3)).rc, 0x6002, 'PS beyond NPSS');
  assert.is(send(setF(0x02, 3 << 5)).rc, 0x6002, 'WH reserved');
  assert.is(send(setF(0x0b, 1 << 10)).rc, 0x6002, 'AEC reserved bit');
  assert.is(send(setF(0x07, 0xffff0000)).rc, 0x6002, 'NCQR FFFFh');
  assert.is(send(setF(0x07, 0x0000ffff)).rc, 0x6002, 'NSQR FFFFh');
  assert.is(send(setF(0x04, 300 | (3 << 16))).rc, 0x6002, 'TMPSEL 3: not implemented');
  assert.is(send(setF(0x04, 300 | (2 << 20))).rc, 0x6002, 'THSEL 10b reserved');
});

test('Number of Queues: allocated once per reset, answered in DW0 (NSQA 15:0, NCQA 31:16); not saveable', () => {
  const { send, ep } = nvmeDevice();
  assert.is(send(setF(0x07, 0x00030007, true)).rc, 0x610d, 'SV on a feature that cannot be saved: SCT 1h SC 0Dh');
  const r = send(setF(0x07, 0x00030007));
  assert.is(dw0(r), 0x00030007);
  assert.is(dw0(send(setF(0x07, 0x00100010))), 0x00030007, 'a second request gets the same allocation');
  assert.is(dw0(send(getF(0x07))), 0x00030007);
  ep.resetController('controller', T0);
  assert.is(dw0(send(setF(0x07, 0x01000100))), 0x003f003f, 'at most 64 queues each');
});

test('Temperature Threshold: per sensor and over/under; TMPSEL Fh sets all; crossing sets SMART critical warning', () => {
  const { send } = nvmeDevice();
  assert.is(dw0(send(getF(0x04, 0, 0))), 343, 'composite over = WCTEMP');
  assert.is(dw0(send(getF(0x04, 0, 1 << 16))), 0x1ffff, 'sensor 1 over: FFFFh, TMPSEL echoed');
  assert.is(dw0(send(getF(0x04, 0, 1 << 20))), 0x100000, 'composite under: 0, THSEL echoed');
  assert.is(send(getF(0x04, 0, 0xf << 16)).rc, 0x6002, 'Get with TMPSEL Fh');
  assert.is(send(setF(0x04, 400 | (0xf << 16))).rc, 0);
  for (const s of [0, 1, 2]) assert.is(dw0(send(getF(0x04, 0, s << 16))) & 0xffff, 400);
  assert.is(send(getLog(0x02, 512)).payload[0], 0);
  assert.is(send(setF(0x04, 250)).rc, 0, 'composite over below the temperature');
  assert.is(send(getLog(0x02, 512)).payload[0], 0x02, 'critical warning bit 1');
  assert.is(send(setF(0x04, 400)).rc, 0);
  assert.is(send(setF(0x04, 350 | (1 << 20) | (2 << 16))).rc, 0, 'sensor 2 under threshold above its temperature');
  assert.is(send(getLog(0x02, 512)).payload[0], 0x02);
});

test('Error Recovery (05h): CDW11 / DW0 TLER 15:0, DULBE 16; per namespace; SEL; saved across reset', () => {
  const { send, ep } = nvmeDevice({ namespaces: 2 });
  assert.is(send(setF(0x05, 0x00011234, false, 1)).rc, 0x6002, 'DULBE (bit 16) set: NSFEAT bit 2 is 0, so Invalid Field');
  assert.is(send(setF(0x05, 0xfffc1234, false, 1)).rc, 0, 'TLER 1234h; reserved bits 31:18 ignored');
  assert.is(dw0(send(getF(0x05, 0, 0, 1))), 0x00001234, 'DW0: TLER in 15:0, DULBE 0, reserved 0');
  assert.is(dw0(send(getF(0x05, 0, 0, 2))), 0, 'namespace 2 untouched');
  assert.is(dw0(send(getF(0x05, 2, 0, 1))), 0, 'saved: nothing saved yet, so the default');
  assert.is(send(setF(0x05, 0x0000abcd, true, 0xffffffff)).rc, 0, 'FFFFFFFFh in a Set: every namespace, saved');
  for (const nsid of [1, 2]) {
    assert.is(dw0(send(getF(0x05, 0, 0, nsid))), 0xabcd);
    assert.is(dw0(send(getF(0x05, 1, 0, nsid))), 0, 'default');
    assert.is(dw0(send(getF(0x05, 2, 0, nsid))), 0xabcd, 'saved');
  }
  assert.is(send(setF(0x05, 7, false, 2)).rc, 0);
  ep.resetController('controller', T0);
  assert.is(dw0(send(getF(0x05, 0, 0, 2))), 0xabcd, 'after a reset: the saved value, not the unsaved 7');
  for (const [nsid, st] of [[0, 0x600b], [0xffffffff, 0x600b], [33, 0x600b], [3, 0x6002]] as const) {
    assert.is(send(getF(0x05, 0, 0, nsid)).rc, st, `Get NSID ${nsid.toString(16)}h`);
  }
  assert.is(send(setF(0x05, 1, false, 0)).rc, 0x600b, 'Set NSID 0: Invalid Namespace or Format');
  assert.is(send(setF(0x05, 1, false, 3)).rc, 0x6002, 'Set of a valid but inactive NSID: Invalid Field');
});

test('Interrupt Vector Configuration (09h): CDW11 / DW0 IV 15:0, CD 16; per vector; not saveable', () => {
  const { send, ep } = nvmeDevice();
  assert.is(dw0(send(getF(0x09, 0, 0))), 0x00010000, 'vector 0 (admin CQ): CD 1, no coalescing');
  assert.is(dw0(send(getF(0x09, 0, 5))), 0x00000005, 'vector 5: IV echoed, CD 0');
  assert.is(dw0(send(getF(0x09, 0, 64))), 64, 'the last of 65 vectors');
  assert.is(send(getF(0x09, 0, 65)).rc, 0x6002, 'IV beyond the vectors: Invalid Field');
  assert.is(send(setF(0x09, 0x00010005)).rc, 0, 'CD 1 on vector 5');
  assert.is(dw0(send(getF(0x09, 0, 5))), 0x00010005);
  assert.is(dw0(send(getF(0x09, 0, 6))), 0x00000006, 'other vectors unchanged');
  assert.is(dw0(send(getF(0x09, 1, 5))), 0x00000005, 'SEL default');
  assert.is(dw0(send(getF(0x09, 2, 5))), 0x00000005, 'SEL saved: not saveable, so the default');
  assert.is(send(setF(0x09, 0x00010005, true)).rc, 0x610d, 'SV: Feature Identifier Not Saveable');
  assert.is(send(setF(0x09, 0x00000000)).rc, 0x6002, 'CD 0 on the admin vector: Invalid Field');
  assert.is(send(setF(0x09, 0x00010041)).rc, 0x6002, 'IV 65: Invalid Field');
  ep.resetController('controller', T0);
  assert.is(dw0(send(getF(0x09, 0, 5))), 5, 'reset: back to the default');
});

test('Write Atomicity Normal (0Ah): CDW11 / DW0 DN bit 0; saveable; SEL', () => {
  const { send, ep } = nvmeDevice();
  assert.is(send(setF(0x0a, 0xffffffff)).rc, 0);
  assert.is(dw0(send(getF(0x0a))), 1, 'DN only: reserved 31:1 dropped');
  assert.is(dw0(send(getF(0x0a, 1))), 0, 'default DN 0 (AWUN/NAWUN honoured)');
  assert.is(dw0(send(getF(0x0a, 2))), 0, 'not saved');
  ep.resetController('controller', T0);
  assert.is(dw0(send(getF(0x0a))), 0);
  assert.is(send(setF(0x0a, 1, true)).rc, 0);
  ep.resetController('controller', T0);
  assert.is(dw0(send(getF(0x0a))), 1, 'saved DN survives a reset');
  assert.is(dw0(send(getF(0x0a, 2))), 1);
  assert.is(send(getF(0x0a, 0, 0, 1)).rc, 0x610f, 'controller-wide: Feature Not Namespace Specific');
});

test('Features: unknown FID, namespace rules', () => {
  const { send } = nvmeDevice();
  for (const fid of [0x00, 0x03, 0x0c, 0x0e, 0x16, 0x80, 0xc0, 0xff]) {
    assert.is(send(getF(fid)).rc, 0x6002, `Get FID ${fid.toString(16)}`);
    assert.is(send(setF(fid, 0)).rc, 0x6002, `Set FID ${fid.toString(16)}`);
    assert.is(send(setF(fid, 0, true)).rc, 0x6002, 'unknown FID before the SV check');
  }
  assert.is(send(getF(0x01, 0, 0, 1)).rc, 0x610f, 'Feature Not Namespace Specific');
  assert.is(send(setF(0x06, 1, false, 1)).rc, 0x610f);
  assert.is(send(setF(0x06, 1, false, 33)).rc, 0x600b, 'an invalid NSID');
  assert.is(send(setF(0x06, 1, false, 0xffffffff)).rc, 0);
});

// ------------------------------------------------------------------------------------------- Format NVM

test('Format NVM: LBA format, metadata, PI; user data cleared; the status of every bad field', () => {
  const { send } = nvmeDevice({ namespaces: 3 });
  const idns = (nsid: number) => send({ opcode: 0x06, nsid, cdw10: 0 }).payload;
  const before = idns(2);
  assert.is(send({ opcode: 0x80, nsid: 1, cdw10: 0x201 }).rc, 0, 'LBAF 1 (4 KiB), SES user data erase');
  const a = dv(idns(1));
  assert.is(a.getUint8(26), 1, 'FLBAS');
  assert.is(a.getBigUint64(0, true) * 4096n, a.getBigUint64(48, true), 'NSZE in 4 KiB LBAs');
  assert.is(a.getBigUint64(16, true), 0n, 'NUSE 0: data gone');
  assert.is(hex(idns(2)), hex(before), 'other namespaces untouched');
  assert.is(send({ opcode: 0x80, nsid: 2, cdw10: 3 | (1 << 4) | (1 << 5) | (1 << 8) | (2 << 9) }).rc, 0, 'LBAF 3 (4K+8), extended, PI type 1 first, crypto erase');
  const b = idns(2);
  assert.is(b[26], 0x13, 'FLBAS: format 3, MSET');
  assert.is(b[29], 0x09, 'DPS: type 1, first 8 bytes');
  assert.is(send({ opcode: 0x80, nsid: 0xffffffff, cdw10: 0 }).rc, 0, 'all namespaces');
  for (const n of [1, 2, 3]) assert.is(dv(idns(n)).getBigUint64(16, true), 0n);
  const bad: [number, number, number][] = [
    [1, 4, 0x610a], // LBAF beyond NLBAF: Invalid Format
    [1, 1 | (1 << 5), 0x610a], // PI on a format without metadata
    [1, 2 | (4 << 5), 0x6002], // PI 100b reserved
    [1, 0 | (3 << 9), 0x6002], // SES 011b reserved
    [0, 0, 0x600b],
    [4, 0, 0x600b], // valid NSID, not active
    [40, 0, 0x600b],
  ];
  for (const [nsid, cdw10, st] of bad) assert.is(send({ opcode: 0x80, nsid, cdw10 }).rc, st, `NSID ${nsid} CDW10 ${cdw10.toString(16)}`);
});

// ------------------------------------------------------------------------------------ opcodes and fields

test('opcodes not in the table: Invalid Command Opcode (SCT 0h, SC 01h) with DNR', () => {
  const { send } = nvmeDevice({ vendorCommands: 'declared' });
  for (const op of [0x0d, 0x14, 0x15, 0x18, 0x19, 0x7c, 0x81, 0x82, 0x86, 0xc0, 0xc5, 0xff]) {
    const r = send({ opcode: op });
    assert.is(r.rc, 0x6001, `opcode ${op.toString(16)}h`);
    assert.is(hex(r.cqe.subarray(14)), '03c0', 'P 1, SC 01h, M (bit 14 of the halfword), DNR');
    assert.is(r.payload.byteLength, 0);
  }
});

test('FUSE or PSDT set on an admin command: Invalid Field', () => {
  const { ep, sink, d } = nvmeDevice();
  const p = encodeNvmeRequest({ opcode: 0x06, cdw10: 1 }, d.mailboxBytes);
  p[1] = 0x01; // FUSE first of a fused pair
  ep.submit(1, 0x06, 0, p, 0, 0, 0, T0);
  p[1] = 0x40; // PSDT SGL
  ep.submit(2, 0x06, 0, p, 0, 0, 0, T0);
  assert.is(sink.byTag.get(1)!.a0, 0x6002);
  assert.is(sink.byTag.get(2)!.a0, 0x6002);
});

test('malformed ring payloads are answered FAILED (BAD_REQUEST) by the worker, never reaching the controller', () => {
  const { ep, sink, ctrl } = nvmeDevice({ maxTransferBytes: 4096 });
  ep.submit(1, 0x06, 0, new Uint8Array(10), 0, 0, 0, T0);
  ep.submit(2, 0x02, 0, encodeNvmeRequest({ opcode: 0x06 }, 4096), 0, 0, 0, T0);
  const withData = new Uint8Array(68);
  withData[0] = 0x06;
  ep.submit(3, 0x06, 0, withData, 0, 0, 0, T0);
  const big = new Uint8Array(64 + 8192);
  big[0] = 0x11;
  ep.submit(4, 0x11, 0, big, 0, 0, 0, T0);
  for (const t of [1, 2, 3, 4]) {
    const c = sink.byTag.get(t)!;
    assert.is(c.flags, 2, 'CqFlag.FAILED');
    assert.is(c.a1, 2, 'WorkerFailure.BAD_REQUEST');
  }
  assert.match(ascii(sink.byTag.get(1)!.payload), /64-byte SQE/);
  assert.match(ascii(sink.byTag.get(2)!.payload), /does not match the SQE opcode/);
  assert.match(ascii(sink.byTag.get(3)!.payload), /takes no data/);
  assert.match(ascii(sink.byTag.get(4)!.payload), /exceed/);
  assert.is(ctrl.executed, 0);
});

test.run();
