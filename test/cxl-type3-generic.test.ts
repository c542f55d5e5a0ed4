/**
 * The generic commands added for the type-3 work, on a bare CXL component (what a switch or an MLD's FM-owned
 * LD is): no type-3 state, no gate, generic state created only by commands that change something.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BackgroundOp } from '../src/devices/cci/background.js';
import { executeCci, type ComponentState } from '../src/devices/cci/cci.js';
import { type CciRequest, CommandSet, newCciRequest } from '../src/devices/cci/command-table.js';
import { Effect } from '../src/devices/cci/effects.js';
import { featureCommands } from '../src/devices/cci/features.js';
import { GENERIC_COMMANDS } from '../src/devices/cci/generic.js';
import { Rc } from '../src/devices/cci/return-codes.js';
import { hex, le16, le32, zeros } from './cxl-type3-harness.js';

/** A background command without Request Abort support (effects bit 6 only), as a switch might have. */
const slow = {
  opcode: 0x5999, name: 'Slow', input: 0, effects: Effect.BACKGROUND_OP,
  handler: (dev: ComponentState, req: CciRequest) => {
    dev.bg.start(req.opcode, req.nowNs, 1e9, () => Rc.SUCCESS);
    return Rc.BACKGROUND_STARTED;
  },
};

function component(): { dev: ComponentState; run: (op: number, input?: string, at?: number) => { rc: number; out: string } } {
  const dev: ComponentState = {
    commands: new CommandSet<ComponentState>('bare', [...GENERIC_COMMANDS, ...featureCommands([]), slow]),
    identity: { vendorId: 1, deviceId: 2, subsystemVendorId: 0, subsystemId: 0, serial: 7n, maxMessageSizeLog2: 10, componentType: 0 },
    bg: new BackgroundOp(),
    timestamp: null,
  };
  const req = newCciRequest(new Uint8Array(1024));
  const run = (op: number, input = '', at = 1e9) => {
    const b = Buffer.from(input, 'hex');
    req.payload.set(b, 0);
    req.opcode = op;
    req.inLen = b.byteLength;
    req.nowNs = at;
    const rc = executeCci(dev, req);
    return { rc, out: hex(req.payload.subarray(0, req.outLen)) };
  };
  return { dev, run };
}

test('read-only generic commands allocate no generic state', () => {
  const { dev, run } = component();
  assert.is(run(0x0003).out, '0a');
  assert.is(run(0x0100, '00').out, zeros(0x20));
  assert.is(run(0x0102).out, zeros(5));
  assert.is(run(0x0200).out, '02' + '01' + '01' + zeros(13) + zeros(64), 'no fwRevision: empty slot text');
  assert.is(run(0x0500, le32(8) + le16(0) + '0000').out, le16(0) + le16(0) + zeros(4), 'empty catalog');
  assert.is(dev.generic, undefined);
  assert.is(run(0x0004, '09').out, '09');
  assert.ok(dev.generic, 'created by the first change');
  assert.is(run(0x0003).out, '09');
});

test('Request Abort of a background command whose effects lack bit 8 -> Request Abort Not Supported (20h)', () => {
  const { dev, run } = component();
  assert.is(run(0x5999).rc, Rc.BACKGROUND_STARTED);
  assert.is(run(0x0005, '', 1e9 + 1e8).rc, Rc.REQUEST_ABORT_NOT_SUPPORTED);
  assert.ok(dev.bg.running, 'still running');
  assert.is(run(0x0002, '', 2e9 + 1).out, 'c8' + '00' + le16(0x5999) + '0000' + '0000', 'completed normally');
});

test('Transfer FW / Activate FW work on any component', () => {
  const { dev, run } = component();
  dev.fwRevision = 'sw-1';
  const img = Buffer.from('MBXFsw-2'.padEnd(128, '\0'), 'latin1').toString('hex');
  assert.is(run(0x0201, '0002' + '0000' + le32(0) + zeros(0x78) + img).rc, Rc.BACKGROUND_STARTED);
  assert.is(run(0x0202, '0002', 2e9).rc, Rc.SUCCESS);
  assert.is(dev.fwRevision, 'sw-2');
  assert.is(run(0x0200, '', 2e9).out.slice(0, 4), '0202');
});

test.run();
