// NVMe I/O queues through the public API: a session creates queues with the admin commands (its tier
// applies), sends I/O with send({ device, queue, opcode, ... }), and the policy decides I/O commands from the
// I/O half (IOCS) of the controller's own effects log.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMux, type Mux } from '../src/index.js';

let mux: Mux;
let hung: Mux;

test.before(async () => {
  mux = await createMux({ workers: 1, fleet: { devices: [{ kind: 'nvme', count: 1, namespaces: 2 }] } });
  // Reads hang on this one (fault opcodes name I/O commands as 100h + opcode)
  // the hung Read waits without a timeout until it is aborted: this mux lets a debug-write session do that
  hung = await createMux({ workers: 1, fleet: { devices: [{ kind: 'nvme', count: 1, faults: { hang: [0x102] } }] }, noTimeoutTier: 'debug-write' });
});
test.after(async () => {
  await mux.close();
  await hung.close();
});

const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'resolved', (e: { code?: string }) => String(e.code));
const block = (seed: number): Uint8Array => Uint8Array.from({ length: 512 }, (_, i) => (i + seed) & 0xff);

async function createPair(m: Mux, qid: number): Promise<void> {
  const admin = m.openSession({ tier: 'debug-write', name: 'admin' });
  assert.is((await admin.send({ device: 'nvme0', opcode: 0x05, cdw10: qid | (31 << 16), cdw11: 1 })).rc, 0, `Create I/O CQ ${qid}`);
  assert.is((await admin.send({ device: 'nvme0', opcode: 0x01, cdw10: qid | (31 << 16), cdw11: 1 | (qid << 16) })).rc, 0, `Create I/O SQ ${qid}`);
}

test('queues created by a debug-write session carry every session\'s I/O; read after write; tiers from the IOCS half', async () => {
  const reader = mux.openSession({ tier: 'debug-read', name: 'reader' });
  assert.is(await codeOf(reader.send({ device: 'nvme0', opcode: 0x05, cdw10: 1 | (31 << 16), cdw11: 1 })), 'EMBX_PERMISSION', 'creating a queue needs debug-write');
  assert.is(await codeOf(reader.send({ device: 'nvme0', queue: 1, opcode: 0x02, nsid: 1 })), 'EMBX_BAD_REQUEST', 'no queue 1 yet');
  await createPair(mux, 1);
  const writer = mux.openSession({ tier: 'debug-write-full', name: 'writer' });
  const w = await writer.send({ device: 'nvme0', queue: 1, opcode: 0x01, nsid: 2, cdw10: 42, cdw12: 1, data: Buffer.concat([block(1), block(2)]) });
  assert.is(w.rc, 0);
  assert.is(Buffer.from(w.cqe!.subarray(10, 12)).readUInt16LE(), 1, 'the CQE came from SQ 1');
  const r = await reader.send({ device: 'nvme0', queue: 1, opcode: 0x02, nsid: 2, cdw10: 42, cdw12: 1 });
  assert.is(r.rc, 0);
  assert.is(Buffer.from(r.payload).toString('hex'), Buffer.concat([block(1), block(2)]).toString('hex'));
  const denied = await reader.send({ device: 'nvme0', queue: 1, opcode: 0x01, nsid: 2, cdw10: 42, data: block(3) }).catch((e) => e);
  assert.is(denied.code, 'EMBX_PERMISSION');
  assert.is(denied.context.neededTier, 'debug-write-full');
  assert.is(denied.context.opcode, 0x101, 'I/O commands are 100h + opcode: their IOCS index');
  assert.equal(denied.context.effects, ['CSUPP', 'LBCC']);
  assert.match(denied.message, /I\/O command that changes logical blocks/);
  const cfg = mux.openSession({ tier: 'configuration' });
  assert.is(await codeOf(cfg.send({ device: 'nvme0', queue: 1, opcode: 0x02, nsid: 2 })), 'EMBX_PERMISSION', 'reading user data needs debug-read');
  assert.is((await cfg.send({ device: 'nvme0', queue: 1, opcode: 0x00, nsid: 0xffffffff })).rc, 0, 'Flush: configuration');
  assert.is((await cfg.send({ device: 'nvme0', opcode: 0x02, nsid: 0xffffffff, cdw10: 0x02 | (127 << 16) })).rc, 0, 'admin 02h on queue 0 is still Get Log Page');
  const eff = new Map(mux.effects('nvme0').map((e) => [e.opcode, e]));
  assert.equal([0x00, 0x01, 0x04, 0x05, 0x08].map((op) => eff.get(op)!.tier), Array(5).fill('debug-write'), 'queue management and Abort');
  assert.equal([0x100, 0x101, 0x102, 0x108, 0x109].map((op) => eff.get(op)!.tier), ['configuration', 'debug-write-full', 'debug-read', 'debug-write-full', 'debug-write-full']);
  assert.is(eff.get(0x102)!.effects, 0x00100001, 'IOCS Read: CSUPP | namespace scope');
});

test('device answers keep M: an I/O error is rc 6080h (LBA Out of Range, M, DNR); bad queue / cid values are BAD_REQUEST', async () => {
  const s = mux.openSession({ tier: 'debug-read' });
  const r = await s.send({ device: 'nvme0', queue: 1, opcode: 0x02, nsid: 1, cdw10: 0xffffffff, cdw11: 0xffffffff });
  assert.is(r.rc, 0x6080);
  assert.is(Buffer.from(r.cqe!.subarray(14)).toString('hex'), '01c1');
  const e = await s.send({ device: 'nvme0', queue: 7, opcode: 0x02, nsid: 1 }).catch((x) => x);
  assert.is(e.code, 'EMBX_BAD_REQUEST');
  assert.match(e.message, /nvme0 has no I\/O submission queue 7: create it first/);
  assert.is(await codeOf(s.send({ device: 'nvme0', queue: 70000, opcode: 0x02 })), 'EMBX_BAD_REQUEST');
  assert.is(await codeOf(s.send({ device: 'nvme0', queue: 1, opcode: 0x02, cid: -1 })), 'EMBX_BAD_REQUEST');
  assert.is(await codeOf(s.send({ device: 'nvme0', opcode: 0x102 })), 'EMBX_BAD_REQUEST', 'opcodes are 00h-FFh; the queue says which set');
});

test('Abort through the API: a caller-chosen CID, a hung Read aborted (its rc 2007h), Abort DW0 bit 0 = 0', async () => {
  await createPair(hung, 1);
  const s = hung.openSession({ tier: 'debug-write' });
  const read = s.send({ device: 'nvme0', queue: 1, opcode: 0x02, nsid: 1, cid: 7, timeoutMs: 0 });
  assert.is(await codeOf(s.send({ device: 'nvme0', queue: 1, opcode: 0x00, nsid: 1, cid: 7, timeoutMs: 2000 })), 'EMBX_BAD_REQUEST', 'CID 7 is in use on queue 1');
  const ab = await s.send({ device: 'nvme0', opcode: 0x08, cdw10: (7 << 16) | 1 });
  assert.is(ab.rc, 0);
  assert.is(Buffer.from(ab.cqe!).readUInt32LE(0), 0, 'DW0 bit 0 = 0: aborted');
  const r = await read;
  assert.is(r.rc, 0x2007, 'Command Abort Requested, M');
  assert.is(Buffer.from(r.cqe!.subarray(12, 14)).readUInt16LE(), 7, 'its CID');
});

test.run();
