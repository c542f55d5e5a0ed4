/**
 * Test harness for the type-3 command set: one device behind real mailbox registers, driven through the whole
 * register handshake (host writes command + payload and rings the doorbell, the device runs executeCci and
 * mirrors its background operation into the Background Command Status register, the host reads status and
 * output), with a test-controlled clock.
 *
 * Expected bytes in the tests are written by hand from the spec layouts; the helpers below only spell numbers
 * in little-endian hex.
 */
import * as assert from 'uvu/assert';
import { executeCci } from '../src/devices/cci/cci.js';
import { MailboxRegisters } from '../src/devices/cxl/mailbox.js';
import { MBOX_REGS_BYTES } from '../src/devices/cxl/mailbox-layout.js';
import { newType3State, type Type3State } from '../src/devices/cxl/type3.js';
import type { DeviceDescriptor, VendorMode } from '../src/fleet/types.js';

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Bytes from hex text; spaces, newlines and `|` separators are ignored. */
export function h(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/[\s|]/g, ''), 'hex'));
}

/** Little-endian hex of an unsigned integer of `bytes` bytes. */
export function le(value: number | bigint, bytes: number): string {
  let v = BigInt(value);
  if (v < 0n) v += 1n << BigInt(bytes * 8);
  let s = '';
  for (let i = 0; i < bytes; i++) {
    s += Number(v & 0xffn).toString(16).padStart(2, '0');
    v >>= 8n;
  }
  return s;
}
export const le16 = (v: number): string => le(v, 2);
export const le32 = (v: number): string => le(v, 4);
export const le64 = (v: number | bigint): string => le(v, 8);
export const zeros = (n: number): string => '00'.repeat(n);

export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;
export const MS = 1e6;
export const SERIAL = 0x123456789abcdef0n;

export interface Options {
  mailboxBytes?: number;
  vendor?: VendorMode;
  capacityBytes?: number;
  lsaBytes?: number;
  serial?: bigint;
}

export interface Result {
  rc: number;
  out: Uint8Array;
  /** Status register bit 0 after the command */
  background: boolean;
}

export class Harness {
  readonly regs: MailboxRegisters;
  readonly state: Type3State;
  readonly d: DeviceDescriptor;
  /** the clock commands run at unless told otherwise (ns) */
  now = 1e9;

  constructor(o: Options = {}) {
    const mailboxBytes = o.mailboxBytes ?? 256;
    this.d = {
      id: 'mem0', kind: 'cxl-type3', index: 0, fleetIndex: 0, group: 0, shard: 0, local: 0, host: 0, mailboxBytes,
      serial: o.serial ?? SERIAL, vendorCommands: o.vendor ?? 'none', faults: undefined, memOffset: 0,
      memBytes: MBOX_REGS_BYTES + mailboxBytes,
      type3: { capacityBytes: o.capacityBytes ?? GiB, lsaBytes: o.lsaBytes ?? 128 * 1024 },
    };
    this.regs = new MailboxRegisters(new SharedArrayBuffer(MBOX_REGS_BYTES + mailboxBytes), 0, mailboxBytes);
    this.regs.reset();
    this.state = newType3State(this.d);
  }

  /** One command through the registers at time `at` (default: this.now). */
  run(opcode: number, input: Uint8Array | string | null = null, at = this.now): Result {
    const bytes = typeof input === 'string' ? h(input) : input;
    const regs = this.regs;
    assert.is(regs.hostSubmit(opcode, bytes === null || bytes.byteLength === 0 ? null : bytes), -1, 'submitted');
    const req = regs.req;
    req.opcode = regs.commandOpcode();
    req.inLen = regs.commandLength();
    req.nowNs = at;
    const rc = executeCci(this.state, req);
    regs.deviceComplete(rc, req.vendorStatus, req.outLen, this.state.bg.running);
    this.mirror();
    assert.not.ok(regs.doorbell(), 'doorbell cleared by the device');
    return { rc: regs.statusRc(), out: regs.payload.slice(0, regs.commandLength()), background: regs.statusBackground() };
  }

  /** Runs `opcode` and asserts its return code; returns the output. */
  ok(opcode: number, input: Uint8Array | string | null = null, rc = 0, at = this.now): Uint8Array {
    const r = this.run(opcode, input, at);
    assert.is(r.rc, rc, `opcode ${opcode.toString(16)}: rc ${r.rc.toString(16)} (want ${rc.toString(16)})`);
    return r.out;
  }

  rc(opcode: number, input: Uint8Array | string | null = null, at = this.now): number {
    return this.run(opcode, input, at).rc;
  }

  /** What the shard worker does between commands: advance the background operation and mirror it. */
  poll(at: number): void {
    this.state.bg.update(at);
    this.mirror();
  }

  private mirror(): void {
    const bg = this.state.bg;
    if (bg.opcode !== 0) this.regs.deviceBackground(bg.opcode, bg.percent, bg.rc, bg.vendorStatus, bg.running);
  }

  /** Background Command Status register after polling at `at`. */
  bgStatus(at: number): { opcode: number; percent: number; rc: number; running: boolean } {
    this.poll(at);
    const { opcode, percent, rc } = this.regs.backgroundStatus();
    return { opcode, percent, rc, running: this.regs.statusBackground() };
  }

  /** The CEL as [opcode, effects] pairs, read with Get Supported Logs + Get Log in payload-sized chunks. */
  cel(): [number, number][] {
    const logs = this.ok(0x0400);
    const size = new DataView(logs.buffer).getUint32(0x18, true);
    const chunk = this.regs.payloadBytes;
    const all = new Uint8Array(size);
    for (let off = 0; off < size; off += chunk) {
      const len = Math.min(chunk, size - off);
      const out = this.ok(0x0401, '0da9c0b5bf414b788f7996b1623b3f17' + le32(off) + le32(len));
      all.set(out, off);
    }
    const v = new DataView(all.buffer);
    const entries: [number, number][] = [];
    for (let i = 0; i < size; i += 4) entries.push([v.getUint16(i, true), v.getUint16(i + 2, true)]);
    return entries;
  }
}

/** The 128-byte records of a Get Event Records output. */
export function records(out: Uint8Array): Uint8Array[] {
  const n = out[0x14]! | (out[0x15]! << 8);
  const r: Uint8Array[] = [];
  for (let i = 0; i < n; i++) r.push(out.slice(0x20 + i * 0x80, 0x20 + (i + 1) * 0x80));
  return r;
}

/** Handle of an event record (header 14h). */
export const handleOf = (rec: Uint8Array): number => rec[0x14]! | (rec[0x15]! << 8);
