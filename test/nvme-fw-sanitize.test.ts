import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCqe } from '../src/devices/nvme/cqe.js';
import { dv, getLog, hex, nvmeDevice, T0 } from './nvme-harness.js';

/** An emulated firmware image: "MBXF", 8-byte revision, activation requirement, then payload. */
function image(revision: string, activation = 0, bytes = 8192): Uint8Array {
  const b = new Uint8Array(bytes);
  b.set(Buffer.from('MBXF'), 0);
  b.set(Buffer.from(revision.padEnd(8, ' ')), 4);
  b[12] = activation;
  for (let i = 16; i < bytes; i++) b[i] = i & 0xff;
  return b;
}

type Dev = ReturnType<typeof nvmeDevice>;

/** Downloads `img` in `piece`-byte pieces; returns the statuses. */
function download(dev: Dev, img: Uint8Array, piece = 4096): number[] {
  const out: number[] = [];
  for (let off = 0; off < img.byteLength; off += piece) {
    const data = img.subarray(off, Math.min(img.byteLength, off + piece));
    out.push(dev.send({ opcode: 0x11, cdw10: data.byteLength / 4 - 1, cdw11: off / 4, data }).rc);
  }
  return out;
}

const commit = (dev: Dev, fs: number, ca: number) => dev.send({ opcode: 0x10, cdw10: fs | (ca << 3) }).rc;
const fr = (dev: Dev) => Buffer.from(dev.send({ opcode: 0x06, cdw10: 1 }).payload.subarray(64, 72)).toString('latin1');
const slots = (dev: Dev) => dev.send(getLog(0x03, 512)).payload;
const frs = (p: Uint8Array, slot: number) => Buffer.from(p.subarray(8 * slot, 8 * slot + 8)).toString('latin1');

// ------------------------------------------------------------------------------------------------ firmware

test('FW download + commit (CA 001b): staged into slot 2, activated at the next controller reset', () => {
  const dev = nvmeDevice();
  assert.equal(download(dev, image('2.0.0')), [0, 0]);
  assert.is(dev.ctrl.fw!.staged, 8192);
  assert.is(commit(dev, 2, 1), 0);
  const p = slots(dev);
  assert.is(p[0], 0x21, 'AFI: running slot 1, slot 2 next');
  assert.is(frs(p, 1), '1.0.0   ');
  assert.is(frs(p, 2), '2.0.0   ');
  assert.is(hex(p.subarray(24, 32)), '00'.repeat(8), 'slot 3 empty');
  assert.is(fr(dev), '1.0.0   ', 'FR: still running the old image');
  dev.ep.resetController('controller', T0);
  assert.is(fr(dev), '2.0.0   ');
  assert.is(slots(dev)[0], 0x02);
  assert.is(dev.ctrl.fw!.staged, 0, 'the commit consumed the image');
});

test('FW commit CA 000b with FS 0: the controller picks an empty writable slot', () => {
  const dev = nvmeDevice();
  download(dev, image('2.0.0'));
  assert.is(commit(dev, 0, 0), 0);
  download(dev, image('3.0.0'));
  assert.is(commit(dev, 0, 0), 0);
  const p = slots(dev);
  assert.equal([frs(p, 2), frs(p, 3), p[0]], ['2.0.0   ', '3.0.0   ', 0x01]);
  download(dev, image('4.0.0'));
  assert.is(commit(dev, 0, 0), 0, 'all full: the first writable slot that is not running');
  assert.is(frs(slots(dev), 2), '4.0.0   ');
  assert.is(commit(dev, 3, 2), 0, 'CA 010b: activate slot 3 at the next reset');
  assert.is(slots(dev)[0], 0x31);
});

test('FW commit statuses: slots, images, commit actions', () => {
  const dev = nvmeDevice();
  assert.is(commit(dev, 2, 0), 0x6107, 'nothing downloaded: Invalid Firmware Image');
  download(dev, image('2.0.0'));
  assert.is(commit(dev, 1, 0), 0x6106, 'slot 1 is read-only: Invalid Firmware Slot');
  assert.is(commit(dev, 1, 1), 0x6106);
  for (const fs of [4, 5, 6, 7]) assert.is(commit(dev, fs, 0), 0x6106, `slot ${fs} beyond FRMW's 3`);
  assert.is(commit(dev, 0, 2), 0x6106, 'CA 010b needs a slot');
  assert.is(commit(dev, 3, 2), 0x6107, 'CA 010b on an empty slot');
  for (const ca of [4, 5, 6, 7]) assert.is(commit(dev, 2, ca), 0x6002, `CA ${ca.toString(2)}b: reserved / boot partitions`);
  const bad = image('2.0.0');
  bad[0] = 0x58;
  download(dev, bad);
  assert.is(commit(dev, 2, 0), 0x6107, 'no magic');
  assert.is(dev.ctrl.fw!.staged, 0);
  assert.is(dev.send({ opcode: 0x11, cdw10: 1, cdw11: 0, data: image('2.0.0').subarray(0, 8) }).rc, 0);
  assert.is(commit(dev, 2, 0), 0x6107, 'shorter than the 16-byte header');
  assert.is(commit(dev, 1, 2), 0, 'CA 010b on slot 1 (the running image) is fine');
});

test('FW activation that needs a reset: 0Bh conventional, 10h NVM subsystem; success statuses without DNR', () => {
  const dev = nvmeDevice();
  download(dev, image('2.0.0', 1));
  const r = dev.send({ opcode: 0x10, cdw10: 2 | (1 << 3) });
  assert.is(r.rc, 0x010b);
  assert.is(hex(r.cqe.subarray(14)), '1702', 'SCT 1h SC 0Bh, DNR 0, P 1');
  dev.ep.resetController('controller', T0);
  assert.is(fr(dev), '1.0.0   ', 'a controller reset is not enough');
  dev.ep.resetController('conventional', T0);
  assert.is(fr(dev), '2.0.0   ');
  download(dev, image('3.0.0', 2));
  assert.is(commit(dev, 3, 0), 0);
  assert.is(commit(dev, 3, 2), 0x0110, 'CA 010b: needs an NVM subsystem reset');
  dev.ep.resetController('conventional', T0);
  assert.is(fr(dev), '2.0.0   ');
  dev.ep.resetController('subsystem', T0);
  assert.is(fr(dev), '3.0.0   ');
});

test('FW commit CA 011b: immediate activation, or 11h / 12h / 13h', () => {
  const dev = nvmeDevice();
  download(dev, image('2.0.0'));
  assert.is(commit(dev, 2, 3), 0, 'replace and activate now');
  assert.is(fr(dev), '2.0.0   ');
  assert.is(slots(dev)[0], 0x02);
  download(dev, image('2.5.0', 1));
  assert.is(commit(dev, 3, 3), 0x0111, 'cannot activate without a reset: activates at the next Controller Level Reset');
  assert.is(slots(dev)[0], 0x32);
  dev.ep.resetController('controller', T0);
  assert.is(fr(dev), '2.5.0   ');
  download(dev, image('3.0.0', 3));
  assert.is(commit(dev, 2, 3), 0x6112, 'would exceed MTFA');
  assert.is(fr(dev), '2.5.0   ');
  download(dev, image('0.9.0'));
  assert.is(commit(dev, 2, 3), 0x6113, 'downgrade prohibited');
  download(dev, image('2.6.0'));
  assert.is(commit(dev, 2, 0), 0);
  assert.is(commit(dev, 2, 3), 0, 'CA 011b without a new image activates the slot as it is');
  assert.is(fr(dev), '2.6.0   ');
  assert.is(commit(dev, 1, 3), 0x6113, 'back to 1.0.0 is a downgrade too');
});

test('FW download: FWUG alignment, order, overlap, size limits', () => {
  const dev = nvmeDevice();
  const img = image('2.0.0', 0, 12288);
  const piece = (off: number, len: number) => dev.send({ opcode: 0x11, cdw10: len / 4 - 1, cdw11: off / 4, data: img.subarray(off, off + len) }).rc;
  assert.is(piece(0, 4096), 0);
  assert.is(piece(8192, 4096), 0x6002, 'a gap: out of order');
  assert.is(piece(2048, 4096), 0x6002, 'OFST not a multiple of FWUG (4 KiB)');
  assert.is(piece(4096, 4096), 0);
  assert.is(piece(4096, 4096), 0x6114, 'again: Overlapping Range');
  assert.is(piece(8192, 100), 0, 'a short final piece');
  assert.is(dev.send({ opcode: 0x11, cdw10: 1023, cdw11: (8192 + 100) / 4, data: new Uint8Array(4096) }).rc, 0x6002, 'not final after all');
  assert.is(piece(0, 4096), 0, 'OFST 0 starts a new image');
  assert.is(dev.ctrl.fw!.staged, 4096);
  assert.is(dev.send({ opcode: 0x11, cdw10: (256 * 1024) / 4 - 1, cdw11: 1024, data: new Uint8Array(128 * 1024) }).rc, 0x6002, 'NUMD beyond MDTS');
  assert.is(dev.send({ opcode: 0x11, cdw10: 1023, cdw11: (64 * 1024 * 1024) / 4, data: new Uint8Array(4096) }).rc, 0x6002, 'beyond the largest image');
});

// ------------------------------------------------------------------------------------------------ sanitize

const san = (dev: Dev, cdw10: number, now = T0) => dev.send({ opcode: 0x84, cdw10 }, now).rc;
const sanLog = (dev: Dev, now: number) => dev.send(getLog(0x81, 512), now).payload;

test('Sanitize block erase: starts, runs in the background, log 81h shows progress, then completion', () => {
  const dev = nvmeDevice({ namespaces: 2 });
  assert.is(san(dev, 0x0a), 0, 'block erase, AUSE');
  assert.is(dev.ep.deadline(), T0 + 2e9);
  let p = sanLog(dev, T0);
  assert.is(hex(p.subarray(0, 8)), '0000' + '0201' + '0a000000', 'SPROG 0, SSTAT in progress + GDE (nothing was ever written), SCDW10');
  p = sanLog(dev, T0 + 1e9);
  assert.is(dv(p).getUint16(0, true), 32768, 'half done');
  assert.is(dv(p).getUint16(2, true), 0x102);
  dev.ep.poll(T0 + 2e9);
  assert.is(dev.ep.deadline(), Infinity);
  p = sanLog(dev, T0 + 2e9);
  assert.is(hex(p.subarray(0, 8)), 'ffff' + '0101' + '0a000000', 'SPROG FFFFh, completed + Global Data Erased');
  for (const nsid of [1, 2]) assert.is(dv(dev.send({ opcode: 0x06, nsid, cdw10: 0 }, T0 + 2e9).payload).getBigUint64(16, true), 0n, `NUSE ns ${nsid}`);
});

test('Sanitize in progress: only the allowed commands run; the rest get Sanitize In Progress (1Dh, no DNR)', () => {
  const dev = nvmeDevice();
  assert.is(san(dev, 0x04), 0, 'crypto erase: 500 ms');
  const t = T0 + 100e6;
  const denied = [
    { opcode: 0x80, nsid: 1, cdw10: 0 },
    { opcode: 0x84, cdw10: 0x02 },
    { opcode: 0x11, cdw10: 1023, cdw11: 0, data: new Uint8Array(4096) },
    { opcode: 0x10, cdw10: 2 | (1 << 3) },
    { opcode: 0x09, cdw10: 0x06, cdw11: 0 },
    { opcode: 0xc6, cdw10: 2, cdw12: 0x0120 },
    { opcode: 0xdd },
    getLog(0x02, 512, { nsid: 1 }),
  ];
  for (const req of denied) {
    const r = dev.send(req, t);
    assert.is(r.rc, 0x201d, `opcode ${req.opcode.toString(16)}h`);
    assert.is(hex(r.cqe.subarray(14)), '3b40');
  }
  const allowed = [
    { opcode: 0x06, cdw10: 1 },
    { opcode: 0x06, nsid: 1, cdw10: 0 },
    { opcode: 0x0a, cdw10: 0x06 },
    { opcode: 0x09, cdw10: 0x04, cdw11: 350 },
    { opcode: 0x09, cdw10: 0x0b, cdw11: 0 },
    getLog(0x01, 512), getLog(0x02, 512), getLog(0x03, 512), getLog(0x05, 4096), getLog(0x81, 512), getLog(0x00, 1024),
  ];
  for (const req of allowed) assert.is(dev.send(req, t).rc, 0, `opcode ${req.opcode.toString(16)}h cdw10 ${req.cdw10?.toString(16)}`);
  assert.is(dev.send({ opcode: 0xe1 }, t).rc, 0x6001, 'unknown opcodes are still Invalid Opcode');
  assert.is(dev.send(getLog(0x7e, 512), t).rc, 0x6109);
  assert.is(dev.send({ opcode: 0x80, nsid: 1, cdw10: 0 }, T0 + 500e6).rc, 0, 'after completion everything runs again');
});

test('Sanitize overwrite: passes counted in SSTAT 7:3; NDAS keeps allocation; crypto erase; bad actions', () => {
  const dev = nvmeDevice();
  assert.is(san(dev, 0x03 | (2 << 4)), 0, 'overwrite, 2 passes: 2 s');
  assert.is(dv(sanLog(dev, T0 + 1.5e9)).getUint16(2, true), 0x02 | (1 << 3) | 0x100, 'in progress, 1 pass done; GDE: never written');
  assert.is(dv(sanLog(dev, T0 + 2e9)).getUint16(2, true), 0x01 | (2 << 3) | 0x100);
  const ndas = nvmeDevice();
  const before = dv(ndas.send({ opcode: 0x06, nsid: 1, cdw10: 0 }).payload).getBigUint64(16, true);
  assert.is(san(ndas, 0x04 | (1 << 9)), 0, 'crypto erase, no-deallocate');
  assert.is(dv(sanLog(ndas, T0 + 600e6)).getUint16(2, true), 0x101);
  assert.is(dv(ndas.send({ opcode: 0x06, nsid: 1, cdw10: 0 }, T0 + 600e6).payload).getBigUint64(16, true), before);
  const bad = nvmeDevice();
  for (const cdw10 of [0, 5, 6, 7, 0x02 | (1 << 10)]) assert.is(san(bad, cdw10), 0x6002, `CDW10 ${cdw10.toString(16)}`);
  assert.is(san(bad, 0x01), 0, 'Exit Failure Mode with no failure: nothing to do');
  assert.is(hex(sanLog(bad, T0).subarray(0, 4)), 'ffff0001', 'never sanitized; GDE: no user data written since manufacture');
});

// -------------------------------------------------------------------------------------- asynchronous events

test('AER: sanitize completion (type 6, info 01h, log 81h); masked until log 81h is read with RAE = 0', () => {
  const dev = nvmeDevice();
  const aer1 = dev.submit({ opcode: 0x0c });
  assert.not.ok(dev.done(aer1), 'parked');
  assert.is(san(dev, 0x04), 0, 'other commands run while an AER is outstanding');
  dev.ep.poll(T0 + 500e6);
  const r = dev.result(aer1);
  assert.is(r.rc, 0);
  assert.is(decodeCqe(r.cqe).dw0, 0x810106);
  const aer2 = dev.submit({ opcode: 0x0c }, T0 + 500e6);
  assert.is(san(dev, 0x04, T0 + 500e6), 0);
  dev.ep.poll(T0 + 1e9);
  assert.not.ok(dev.done(aer2), 'masked: log 81h not read yet');
  dev.send(getLog(0x81, 512, { cdw10: 0x007f0081 | (1 << 15) }), T0 + 1e9);
  assert.not.ok(dev.done(aer2), 'RAE = 1 keeps the mask');
  dev.send(getLog(0x81, 512), T0 + 1e9);
  assert.is(decodeCqe(dev.result(aer2).cqe).dw0, 0x810106, 'delivered after the log was read');
});

test('AER: firmware activation notice (AEC bit 9) and temperature threshold (AEC bit 1); limit and cancel', () => {
  const dev = nvmeDevice();
  const a = dev.submit({ opcode: 0x0c });
  download(dev, image('2.0.0'));
  assert.is(commit(dev, 2, 3), 0);
  assert.not.ok(dev.done(a), 'AEC bit 9 clear: no notice');
  assert.is(dev.send({ opcode: 0x09, cdw10: 0x0b, cdw11: 0x202 }).rc, 0);
  download(dev, image('3.0.0'));
  assert.is(commit(dev, 3, 3), 0);
  assert.is(decodeCqe(dev.result(a).cqe).dw0, 0x030102, 'Notice, Firmware Activation Starting, log 03h');
  const b = dev.submit({ opcode: 0x0c });
  assert.is(dev.send({ opcode: 0x09, cdw10: 0x04, cdw11: 250 }).rc, 0);
  assert.is(decodeCqe(dev.result(b).cqe).dw0, 0x020101, 'SMART, temperature threshold, log 02h');
  const parked = [0, 1, 2, 3].map(() => dev.submit({ opcode: 0x0c }));
  const extra = dev.send({ opcode: 0x0c });
  assert.is(extra.rc, 0x6105, 'AERL + 1 outstanding: Asynchronous Event Request Limit Exceeded');
  assert.is(dev.ctrl.parkedEvents, 4);
  dev.ep.cancel(parked[2]!, T0);
  assert.is(dev.sink.byTag.get(parked[2]!)!.flags, 1, 'CANCELLED');
  assert.is(dev.ctrl.parkedEvents, 3);
  assert.is(dev.ep.pending, 3);
  dev.ep.resetController('controller', T0);
  for (const t of [parked[0]!, parked[1]!, parked[3]!]) assert.is(dev.sink.byTag.get(t)!.flags, 1, 'a reset drops parked AERs');
});

test.run();
