import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Effect } from '../src/devices/cci/effects.js';
import { cxlPolicyFromCel, nvmePolicyFromEffectsLog, PolicyTables } from '../src/policy/policy-table.js';
import { cxlLevel, FABRIC_DESTRUCTIVE, nvmeLevel } from '../src/policy/rules.js';
import { REFUSED_LEVEL, TierLevel, tierName } from '../src/policy/tiers.js';

const T = TierLevel;

test('CXL effects -> tier, table-driven (spec bit numbering)', () => {
  const cases: [string, number, number, boolean, boolean, number][] = [
    ['no effects', 0x4200, 0, true, false, T.configuration],
    ['mailbox-only bits (secondary mailbox, abort supported, 11:10 valid) are not effects', 0x4200, Effect.SECONDARY_MAILBOX_SUPPORTED | Effect.REQUEST_ABORT_SUPPORTED | Effect.CONVENTIONAL_CXL_RESET_VALID, true, false, T.configuration],
    ['vendor command without effects reads debug data', 0xc000, 0, true, false, T['debug-read']],
    ['config change after cold reset only', 0x4101, Effect.CONFIG_CHANGE_COLD_RESET, true, false, T['debug-write']],
    ['config change after conventional/CXL reset only', 0x4101, Effect.CONFIG_CHANGE_CONVENTIONAL_RESET | Effect.CONFIG_CHANGE_CXL_RESET | Effect.CONVENTIONAL_CXL_RESET_VALID, true, false, T['debug-write']],
    ['background op alone', 0x4304, Effect.BACKGROUND_OP | Effect.REQUEST_ABORT_SUPPORTED, true, false, T['debug-write']],
    ['immediate config', 0x0502, Effect.IMMEDIATE_CONFIG_CHANGE, true, false, T['debug-write-full']],
    ['immediate data', 0x4103, Effect.IMMEDIATE_DATA_CHANGE, true, false, T['debug-write-full']],
    ['immediate policy', 0x0301, Effect.IMMEDIATE_POLICY_CHANGE, true, false, T['debug-write-full']],
    ['immediate log', 0x0101, Effect.IMMEDIATE_LOG_CHANGE, true, false, T['debug-write-full']],
    ['security state', 0x4401, Effect.SECURITY_STATE_CHANGE, true, false, T['debug-write-full']],
    ['reset + immediate: immediate wins', 0x4101, Effect.CONFIG_CHANGE_COLD_RESET | Effect.IMMEDIATE_CONFIG_CHANGE, true, false, T['debug-write-full']],
    ['reserved bits: unknown attributes need the highest fwctl scope', 0x4200, 0x1000, true, false, T['debug-write-full']],
    ['absent from the CEL', 0xc001, 0, false, false, REFUSED_LEVEL],
    ['Physical Port Control even when the device reports 0', 0x5102, 0, true, false, T['fabric-destructive']],
    ['Unbind vPPB', 0x5202, Effect.BACKGROUND_OP, true, false, T['fabric-destructive']],
    ['Set LD Allocations', 0x5402, 0x0e07, true, false, T['fabric-destructive']],
    ['Sanitize of a single-host device', 0x4400, Effect.BACKGROUND_OP | Effect.IMMEDIATE_DATA_CHANGE, true, false, T['debug-write-full']],
    ['Sanitize of a shared device', 0x4400, Effect.BACKGROUND_OP | Effect.IMMEDIATE_DATA_CHANGE, true, true, T['fabric-destructive']],
    ['a destructive opcode is destructive even if the device hides it', 0x5102, 0, false, false, T['fabric-destructive']],
  ];
  for (const [what, op, eff, declared, shared, want] of cases) {
    assert.is(tierName(cxlLevel(op, eff, declared, shared).level), tierName(want), what);
  }
  for (const op of FABRIC_DESTRUCTIVE.keys()) assert.is(cxlLevel(op, 0, true, false).level, T['fabric-destructive']);
});

test('NVMe effects -> tier, table-driven', () => {
  // Commands Supported and Effects bits, NVMe Base 2.0 Figure 210: CSUPP 0, LBCC 1, NCC 2, NIC 3, CCC 4
  const [CSUPP, LBCC, NCC, NIC, CCC] = [1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4];
  const cases: [string, number, number, number][] = [
    ['not supported', 0x06, 0, REFUSED_LEVEL],
    ['Identify: CSUPP only', 0x06, CSUPP, T.configuration],
    ['Set Features: CSUPP only, but host-to-controller direction', 0x09, CSUPP, T['debug-write']],
    ['FW Image Download: host-to-controller data', 0x11, CSUPP | (1 << 25), T['debug-write']],
    ['Get Features: CSUPP only, controller-to-host', 0x0a, CSUPP, T.configuration],
    ['UUID selection / scope bits do not raise the tier', 0x02, CSUPP | (1 << 19) | (1 << 20), T.configuration],
    ['Format NVM: LBCC|NCC|NIC|CSE', 0x80, CSUPP | LBCC | NCC | NIC | (1 << 16), T['debug-write-full']],
    ['Sanitize: LBCC|CSE', 0x84, CSUPP | LBCC | (2 << 16), T['debug-write-full']],
    ['FW Commit: CCC', 0x10, CSUPP | CCC, T['debug-write-full']],
    ['vendor command with no effects still needs the top fwctl scope', 0xc0, CSUPP, T['debug-write-full']],
    ['vendor command the log does not support', 0xc1, 0, REFUSED_LEVEL],
    // queue management and Abort act on queues every session of the controller shares
    ['Delete I/O SQ: CSUPP | controller scope', 0x00, CSUPP | (1 << 21), T['debug-write']],
    ['Create I/O SQ', 0x01, CSUPP | (1 << 21), T['debug-write']],
    ['Delete I/O CQ', 0x04, CSUPP | (1 << 21), T['debug-write']],
    ['Create I/O CQ', 0x05, CSUPP | (1 << 21), T['debug-write']],
    ['Abort', 0x08, CSUPP | (1 << 21), T['debug-write']],
    // the I/O half: index 100h + opcode
    ['I/O Flush: CSUPP | namespace scope', 0x100, CSUPP | (1 << 20), T.configuration],
    ['I/O Read returns user data', 0x102, CSUPP | (1 << 20), T['debug-read']],
    ['I/O Write: LBCC', 0x101, CSUPP | LBCC | (1 << 20), T['debug-write-full']],
    ['I/O Write Zeroes: LBCC', 0x108, CSUPP | LBCC, T['debug-write-full']],
    ['I/O opcode 01h without LBCC: still host-to-controller data', 0x101, CSUPP, T['debug-write']],
    ['vendor-specific I/O command (80h-FFh)', 0x180, CSUPP, T['debug-write-full']],
    ['I/O command the log does not support', 0x105, 0, REFUSED_LEVEL],
  ];
  for (const [what, op, eff, want] of cases) assert.is(tierName(nvmeLevel(op, eff).level), tierName(want), what);
});

function cel(entries: [number, number][]): Uint8Array {
  const b = new Uint8Array(entries.length * 4);
  const v = new DataView(b.buffer);
  entries.forEach(([op, eff], i) => {
    v.setUint16(i * 4, op, true);
    v.setUint16(i * 4 + 2, eff, true);
  });
  return b;
}

test('tables are built from the log bytes, shared between identical logs of one mux, and vendor rules only open silent opcodes', () => {
  const log = cel([[0x0001, 0], [0x4200, 0], [0x4103, 0x0006], [0xc000, 0]]);
  const tables = new PolicyTables({ cxl: new Map(), nvme: new Map() });
  const a = tables.cxl(log, false);
  const b = tables.cxl(Uint8Array.from(log), false);
  assert.ok(a === b, 'same CEL bytes -> same table object within one PolicyTables');
  assert.ok(tables.cxl(log, true) !== a, 'a shared component gets its own table');
  assert.ok(new PolicyTables({ cxl: new Map(), nvme: new Map() }).cxl(log, false) !== a, 'another mux builds its own');
  assert.equal(cxlPolicyFromCel(log, false, new Map()).level, a.level);
  assert.is(a.level[0x4200], T.configuration);
  assert.is(a.level[0x4103], T['debug-write-full']);
  assert.is(a.level[0xc000], T['debug-read']);
  assert.is(a.level[0xc001], REFUSED_LEVEL);
  assert.match(a.reason(0xc001), /not declared/);
  const withRule = cxlPolicyFromCel(cel([[0x0001, 0], [0x4103, 0x0006]]), false, new Map([[0xc001, T['debug-write-full']], [0x4103, T.configuration]]));
  assert.is(withRule.level[0xc001], T['debug-write-full'], 'vendor rule opens an undeclared opcode');
  assert.is(withRule.level[0x4103], T['debug-write-full'], 'a vendor rule never lowers a declared command');
  const nv = new Uint8Array(4096);
  const v = new DataView(nv.buffer);
  v.setUint32(0x06 * 4, 1, true);
  v.setUint32(0x80 * 4, 1 | 2 | 4 | 8 | (1 << 16), true);
  // the IOCS half (bytes 1024-2047) decides commands on I/O queues, at index 100h + opcode
  v.setUint32(0x02 * 4, 1, true); // ACS 02h Get Log Page: CSUPP
  v.setUint32(1024 + 0x02 * 4, 1 | 2, true); // IOCS 02h: a (lying) Read with LBCC
  v.setUint32(1024 + 0x00 * 4, 1, true); // IOCS 00h Flush
  const nt = nvmePolicyFromEffectsLog(nv, new Map());
  assert.is(nt.level.length, 0x200, 'ACS 0-255, IOCS 256-511');
  assert.is(nt.level[0x06], T.configuration);
  assert.is(nt.level[0x80], T['debug-write-full']);
  assert.is(nt.level[0x11], REFUSED_LEVEL);
  assert.is(nt.level[0x02], T.configuration, 'admin 02h from ACS');
  assert.is(nt.level[0x102], T['debug-write-full'], 'I/O 02h from IOCS: its LBCC counts');
  assert.is(nt.level[0x100], T.configuration);
  assert.is(nt.level[0x101], REFUSED_LEVEL, 'I/O 01h not in IOCS');
  assert.match(nt.reason(0x101), /I\/O command not supported/);
  assert.is(nt.effects[0x102], 3);
  const sameAcsOtherIocs = new Uint8Array(nv);
  sameAcsOtherIocs[1024 + 0x02 * 4] = 1;
  assert.is(nvmePolicyFromEffectsLog(sameAcsOtherIocs, new Map()).level[0x102], T['debug-read'], 'logs differing only in IOCS get their own tables');
});

test.run();
