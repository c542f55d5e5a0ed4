import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FaultInjector } from '../src/devices/faults.js';
import { decodeCqe } from '../src/devices/nvme/cqe.js';
import { NvmeEndpoint } from '../src/devices/nvme/endpoint.js';
import { encodeNvmeRequest } from '../src/devices/nvme/wire.js';
import { buildFleet } from '../src/fleet/expand.js';
import { dv, getLog, hex, nvmeDevice, RecordingSink, T0 } from './nvme-harness.js';

const CANCELLED = 1;
const IDENTIFY = { opcode: 0x06, cdw10: 1 };
const GET_ARB = { opcode: 0x0a, cdw10: 1 };

// ----------------------------------------------------------------------------------------- vendor commands

test('vendor C6h diagnostics: drive log size, drive log, clear PCIe correctable errors (CDW12 = sub << 8 | cmd)', () => {
  const { send, d } = nvmeDevice({ vendorCommands: 'declared' });
  const size = send({ opcode: 0xc6, cdw10: 2, cdw12: 0x0120 });
  assert.is(size.rc, 0);
  assert.is(hex(size.payload), '00400000' + '00000000', 'le32 16384, NDT 2 dwords');
  const head = send({ opcode: 0xc6, cdw10: 4, cdw12: 0x0020 });
  const serial = Buffer.alloc(8);
  serial.writeBigUInt64LE(d.serial);
  assert.is(hex(head.payload.subarray(0, 16)), Buffer.from('MBXDRVLG').toString('hex') + serial.toString('hex'));
  const count = send({ opcode: 0xc6, cdw10: 1, cdw12: 0x0020, cdw13: 4 }).payload[0]!;
  assert.is(send({ opcode: 0xc6, cdw10: 0, cdw12: 0x0422 }).rc, 0, 'clear PCIe correctable error count');
  assert.is(send({ opcode: 0xc6, cdw10: 1, cdw12: 0x0020, cdw13: 4 }).payload[0], 0, `was ${count}`);
  assert.is(send({ opcode: 0xc6, cdw10: 1, cdw12: 0x0099 }).rc, 0x6002, 'unknown subcommand');
  assert.is(send({ opcode: 0xc6, cdw10: 1, cdw11: 1, cdw12: 0x0120 }).rc, 0x6002, 'NDM: no metadata');
  assert.is(send({ opcode: 0xc6, cdw10: 0, cdw12: 0x0120 }).rc, 0x6002, 'size needs a dword');
  assert.is(send({ opcode: 0xc6, cdw10: 1, cdw12: 0x0020, cdw13: 4096 }).rc, 0x6002, 'offset past the log');
  assert.is(send({ opcode: 0xc6, cdw10: 0x10000, cdw12: 0x0020 }).rc, 0x6002, 'NDT beyond MDTS');
});

test('vendor DDh Purge and DEh Purge Monitor: background erase with progress; second purge is a sequence error', () => {
  const { send } = nvmeDevice({ vendorCommands: 'declared' });
  const idle = send({ opcode: 0xde, cdw10: 12 });
  assert.is(decodeCqe(idle.cqe).dw0, 0, 'idle');
  assert.is(idle.payload.byteLength, 48);
  assert.is(send({ opcode: 0xdd }).rc, 0);
  assert.is(send({ opcode: 0xdd }).rc, 0x600c, 'Command Sequence Error while a purge runs');
  const mid = send({ opcode: 0xde, cdw10: 12 }, T0 + 1.5e9);
  assert.is(decodeCqe(mid.cqe).dw0, 2, 'busy');
  assert.is(hex(mid.payload.subarray(20, 28)), 'e8030000' + 'f4010000', 'progress 500 of 1000');
  assert.is(hex(mid.payload.subarray(0, 20)), '00'.repeat(20), 'no erase/program failures');
  const done = send({ opcode: 0xde, cdw10: 12 }, T0 + 3e9);
  assert.is(decodeCqe(done.cqe).dw0, 1, 'done');
  assert.is(dv(done.payload).getUint32(24, true), 1000);
  assert.is(dv(send({ opcode: 0x06, nsid: 1, cdw10: 0 }, T0 + 3e9).payload).getBigUint64(16, true), 0n, 'user data purged');
  assert.is(send({ opcode: 0xde, cdw10: 10 }).rc, 0x6002, 'buffer smaller than the 42-byte structure');
});

test('VendorMode: declared (executed, in log 05h), hidden (executed, not in the log), none (Invalid Opcode)', () => {
  for (const mode of ['declared', 'hidden', 'none'] as const) {
    const { send } = nvmeDevice({ vendorCommands: mode });
    const effects = dv(send(getLog(0x05, 4096)).payload);
    const rcs = [send({ opcode: 0xc6, cdw10: 2, cdw12: 0x0120 }).rc, send({ opcode: 0xde, cdw10: 12 }).rc, send({ opcode: 0xdd }).rc];
    const listed = [0xc6, 0xdd, 0xde].map((op) => effects.getUint32(4 * op, true));
    if (mode === 'declared') {
      assert.equal(rcs, [0, 0, 0]);
      assert.equal(listed, [0x00200001, 0x02020003, 0x00000001]);
    } else if (mode === 'hidden') {
      assert.equal(rcs, [0, 0, 0]);
      assert.equal(listed, [0, 0, 0]);
    } else {
      assert.equal(rcs, [0x6001, 0x6001, 0x6001]);
      assert.equal(listed, [0, 0, 0]);
    }
  }
});

// ------------------------------------------------------------------------------------------------- faults

test('hang: the command never completes; only cancel ends it (Abort Requested in its CQE); later commands then run', () => {
  const { ep, submit, sink, ctrl, done } = nvmeDevice({ queueDepth: 4, faults: { hang: [0x06] } });
  const hung = submit(IDENTIFY);
  const behind = submit(GET_ARB);
  assert.is(ep.deadline(), Infinity);
  assert.is(ep.poll(T0 + 3600e9), Infinity);
  assert.not.ok(done(hung) || done(behind));
  assert.ok(ctrl.busy);
  ep.cancel(hung, T0 + 3600e9);
  assert.is(sink.byTag.get(hung)!.flags, CANCELLED);
  assert.is(sink.byTag.get(hung)!.payload.byteLength, 0);
  assert.is(sink.byTag.get(behind)!.a0, 0, 'the next command ran');
  const own = dv(ctrl.errorLog()!);
  assert.is(own.getUint16(10, true), 0, 'CID 0 (the hung Identify)');
  assert.is(own.getUint16(12, true) >>> 1, 0x0007, 'Command Abort Requested');
  assert.is(ep.host.adminCq.head, 2, 'both CQEs consumed');
  assert.is(ep.pending, 0);
});

test('cancel: a command still in the SQ, one in the FIFO, an unknown tag, a finished tag', () => {
  const { ep, submit, sink, ctrl } = nvmeDevice({ queueDepth: 4, faults: { hang: [0x06] } });
  const hung = submit(IDENTIFY);
  const inSq = submit(GET_ARB);
  const inSq2 = submit({ opcode: 0x0a, cdw10: 7 });
  const inFifo = submit({ opcode: 0x0a, cdw10: 6 });
  assert.is(ep.host.admin.used(), 3, 'the hung command (fetched, no CQE yet) and two more');
  ep.cancel(inFifo, T0);
  assert.is(sink.byTag.get(inFifo)!.flags, CANCELLED, 'removed from the FIFO');
  ep.cancel(inSq, T0);
  assert.is(sink.byTag.get(inSq)!.flags, CANCELLED, 'answered at once; the controller will abort it when fetched');
  assert.not.ok(sink.byTag.has(inSq2));
  ep.cancel(hung, T0);
  assert.is(sink.byTag.get(hung)!.flags, CANCELLED);
  assert.is(sink.byTag.get(inSq2)!.a0, 0, 'the command after them ran');
  assert.is(ctrl.executed, 1, 'only that one executed');
  const entries = dv(ctrl.errorLog()!);
  assert.equal([entries.getUint16(10, true), entries.getUint16(12, true) >>> 1], [1, 0x0007], 'newest error: CID 1, Abort Requested');
  assert.equal([entries.getUint16(64 + 10, true), entries.getUint16(64 + 12, true) >>> 1], [0, 0x0007], 'then the hung CID 0');
  assert.is(ep.pending, 0);
  ep.cancel(9999, T0);
  ep.cancel(hung, T0);
  ep.cancel(inSq2, T0);
  assert.is(sink.all.length, 4, 'no second answers');
  const t = submit(GET_ARB);
  assert.is(sink.byTag.get(t)!.a0, 0, 'the queue works afterwards');
  assert.is(ctrl.abort(0, 0x7777, T0), false, 'the controller does not hold that CID');
});

test('a two-entry queue: the command behind a hung one waits in the FIFO', () => {
  const { ep, submit, sink } = nvmeDevice({ queueDepth: 2, faults: { hang: [0x06] } });
  const hung = submit(IDENTIFY);
  const next = submit(GET_ARB);
  assert.ok(ep.host.admin.full(), 'one command fills a 2-entry SQ');
  assert.is(ep.pending, 2);
  ep.cancel(hung, T0);
  assert.is(sink.byTag.get(next)!.a0, 0);
});

test('slowMs: completes at submit + delay; poll/deadline drive it', () => {
  const { ep, submit, sink, done } = nvmeDevice({ faults: { slowMs: 5 } });
  const t = submit(IDENTIFY);
  assert.is(ep.deadline(), T0 + 5e6);
  assert.is(ep.poll(T0 + 4e6), T0 + 5e6);
  assert.not.ok(done(t));
  assert.is(ep.poll(T0 + 5e6), Infinity);
  const c = sink.byTag.get(t)!;
  assert.is(c.a0, 0);
  assert.is(c.payload.byteLength, 16 + 4096);
  assert.is(dv(c.payload).getUint16(16, true), 0x1c58);
});

test('busy: Command Interrupted (SCT 0h SC 21h, retryable), the command not run; deterministic per serial', () => {
  const all = nvmeDevice({ faults: { busy: 1 } });
  const r = all.send({ opcode: 0x09, cdw10: 0x06, cdw11: 0 });
  assert.is(r.rc, 0x2021, 'SC 21h, M: logged');
  assert.is(hex(r.cqe.subarray(14)), '4340', 'P 1, SC 21h, M, DNR 0');
  assert.is(all.ctrl.feat, null, 'Set Features did not run');
  const seq = () => {
    const dev = nvmeDevice({ faults: { busy: 0.5 } });
    return Array.from({ length: 64 }, () => dev.send(GET_ARB).rc);
  };
  const a = seq();
  assert.equal(a, seq(), 'same serial, same storm');
  assert.ok(a.includes(0) && a.includes(0x2021));
});

test('error: errorRc is the status field of every affected command (plus M: the error is logged)', () => {
  const dev = nvmeDevice({ faults: { error: 1, errorRc: 0x4106 } });
  const r = dev.send(IDENTIFY);
  assert.is(r.rc, 0x6106);
  assert.is(r.payload.byteLength, 0);
  assert.is(hex(r.cqe.subarray(14)), '0dc2');
  // An injector with no usable errorRc answers Internal Error.
  const fleet = buildFleet({ devices: [{ kind: 'nvme', count: 1 }] }, 1);
  const d = fleet.devices[0]!;
  const sink = new RecordingSink();
  const ep = new NvmeEndpoint(d, new SharedArrayBuffer(fleet.arenaBytes[0]!), sink, new FaultInjector({ error: 1 }, d.serial));
  ep.submit(1, 0x06, 0, encodeNvmeRequest(IDENTIFY, d.mailboxBytes), 0, 0, 0, T0);
  assert.is(sink.byTag.get(1)!.a0, 0x2006, 'Internal Error, M');
});

test('a controller with no namespaces; constructor and reset guards', () => {
  const dev = nvmeDevice({ namespaces: 0 });
  assert.is(dv(dev.send(IDENTIFY).payload).getUint32(516, true), 32, 'NN');
  assert.is(dev.send({ opcode: 0x06, nsid: 1, cdw10: 0 }).rc, 0, 'inactive');
  assert.is(hex(dev.send({ opcode: 0x06, cdw10: 2 }).payload.subarray(0, 4)), '00000000', 'no active namespaces');
  assert.is(dev.send({ opcode: 0x80, nsid: 0xffffffff, cdw10: 0 }).rc, 0);
  assert.is(hex(dev.send(getLog(0x81, 512)).payload.subarray(0, 4)), 'ffff0001', 'Global Data Erased: never written');
  assert.is(dev.send({ opcode: 0x84, cdw10: 2 }).rc, 0);
  dev.ep.poll(T0 + 2e9);
  assert.is(hex(dev.send(getLog(0x81, 512), T0 + 2e9).payload.subarray(0, 4)), 'ffff0101');
  const slow = nvmeDevice({ faults: { slowMs: 1 } });
  slow.submit(IDENTIFY);
  assert.throws(() => slow.ep.resetController('controller', T0), /outstanding/);
  slow.submit(GET_ARB);
  slow.submit(GET_ARB);
  assert.throws(() => slow.ep.resetController('controller', T0), /outstanding/);
  const fleet = buildFleet({ devices: [{ kind: 'nvme', count: 1 }] }, 1);
  const d = fleet.devices[0]!;
  assert.throws(() => new NvmeEndpoint({ ...d, memBytes: 4096 }, new SharedArrayBuffer(fleet.arenaBytes[0]!), new RecordingSink(), FaultInjector.NONE),
    /smaller than the NVMe block/);
});

test('crashOn: submit throws for that opcode only', () => {
  const dev = nvmeDevice({ faults: { crashOn: 0x06 } });
  assert.throws(() => dev.submit(IDENTIFY), /injected crash: device nvme0 received opcode 0x6/);
  assert.is(dev.send(GET_ARB).rc, 0);
});

// ------------------------------------------------------------------------------------------------- scale

test('small state: 2000 controllers in one arena; reads allocate nothing per controller', () => {
  const fleet = buildFleet({ devices: [{ kind: 'nvme', count: 2000, queueDepth: 2, maxTransferBytes: 4096, vendorCommands: 'declared' }] }, 1);
  const arena = new SharedArrayBuffer(fleet.arenaBytes[0]!);
  const sink = new RecordingSink();
  const eps = fleet.perShard[0]!.map((i) => new NvmeEndpoint(fleet.devices[i]!, arena, sink, FaultInjector.NONE));
  assert.is(eps.length, 2000);
  let tag = 0;
  for (const ep of eps) {
    ep.submit(tag++, 0x06, 0, encodeNvmeRequest(IDENTIFY, 4096), 0, 0, 0, T0);
    ep.submit(tag++, 0x02, 0, encodeNvmeRequest(getLog(0x02, 512), 4096), 0, 0, 0, T0);
    ep.submit(tag++, 0x0a, 0, encodeNvmeRequest(GET_ARB, 4096), 0, 0, 0, T0);
  }
  assert.is(sink.all.length, 6000);
  assert.ok(sink.all.every((c) => c.a0 === 0));
  const serials = new Set(sink.all.filter((c) => c.opcode === 0x06).map((c) => Buffer.from(c.payload.subarray(16 + 4, 16 + 24)).toString()));
  assert.is(serials.size, 2000, 'distinct serial numbers');
  for (const ep of eps) {
    const c = ep.controller;
    assert.ok(c.feat === null && c.fw === null && c.formats === null && c.san === null && c.vendor === null && c.errorLog() === null);
  }
  assert.ok(eps[1]!.controller.commands === eps[3]!.controller.commands, 'one command table per VendorMode');
});

test.run();
