import type { CciRequest } from '../cci/command-table.js';
import { newCciRequest } from '../cci/command-table.js';
import { Rc } from '../cci/return-codes.js';
import {
  CTRL_DOORBELL, MBOX_BG_STATUS, MBOX_CAPS, MBOX_CMD, MBOX_CTRL, MBOX_PAYLOAD, MBOX_REGS_BYTES, MBOX_STATUS,
} from './mailbox-layout.js';

/** Payload length field of the Command register: bits 36:16, 21 bits (Linux's width; QEMU uses 20). */
const LEN_MASK = 0x1fffff;

/**
 * One CXL mailbox register block in shared memory, with both sides of the handshake (CXL r3.1 8.2.8.4):
 * the host side (write command + payload, set the doorbell, read the status) and the device side (see the
 * doorbell, run the command, write status and output length, clear the doorbell).
 *
 * The doorbell bit is written with Atomics.store after the plain stores of command and payload (release),
 * and read with Atomics.load before reading them (acquire), so the block is coherent even when a debugger on
 * another thread reads it.
 */
interface Views {
  view: DataView;
  payload: Uint8Array;
  words: Int32Array;
  req: CciRequest;
}

/**
 * Typed-array views cost ~100 bytes of heap each; with 100,000 mailboxes per process that is most of the
 * memory budget. Views are therefore built on first use and kept for the most recent VIEW_CACHE mailboxes
 * of the thread only (FIFO eviction: no bookkeeping per command).
 */
const VIEW_CACHE = 4096;
const cached: (MailboxRegisters | undefined)[] = new Array<MailboxRegisters | undefined>(VIEW_CACHE);
let cacheNext = 0;

export class MailboxRegisters {
  private v: Views | null = null;
  private initialized = false;
  private readonly ctrlWord = MBOX_CTRL / 4;

  constructor(private readonly arena: SharedArrayBuffer, readonly offset: number, readonly payloadBytes: number) {}

  private views(): Views {
    if (this.v !== null) return this.v;
    const old = cached[cacheNext];
    if (old !== undefined) old.v = null;
    cached[cacheNext] = this;
    cacheNext = (cacheNext + 1) % VIEW_CACHE;
    const payload = new Uint8Array(this.arena, this.offset + MBOX_PAYLOAD, this.payloadBytes);
    this.v = {
      view: new DataView(this.arena, this.offset, MBOX_REGS_BYTES + this.payloadBytes),
      payload,
      words: new Int32Array(this.arena, this.offset, MBOX_REGS_BYTES / 4),
      req: newCciRequest(payload),
    };
    // Blocks are not touched until their device's first command (untouched pages cost no memory): the
    // power-on register values are written then, once per worker instance (a restarted worker starts clean).
    if (!this.initialized) {
      this.initialized = true;
      this.reset();
    }
    return this.v;
  }

  get view(): DataView {
    return this.views().view;
  }

  get payload(): Uint8Array {
    return this.views().payload;
  }

  private get words(): Int32Array {
    return this.views().words;
  }

  /** reused request object for the device side: its payload IS the payload registers */
  get req(): CciRequest {
    return this.views().req;
  }

  /** Power-on values: capabilities advertise the payload size; no doorbell, no status. */
  reset(): void {
    const n = Math.log2(this.payloadBytes);
    const v = this.views();
    v.view.setUint32(MBOX_CAPS, n & 0x1f, true);
    const view = v.view;
    Atomics.store(v.words, this.ctrlWord, 0);
    view.setBigUint64(MBOX_CMD, 0n, true);
    view.setBigUint64(MBOX_STATUS, 0n, true);
    view.setBigUint64(MBOX_BG_STATUS, 0n, true);
  }


  /** Payload size from the Capabilities register (what a host driver would read). */
  capabilityPayloadBytes(): number {
    return 1 << (this.view.getUint32(MBOX_CAPS, true) & 0x1f);
  }

  doorbell(): boolean {
    return (Atomics.load(this.words, this.ctrlWord) & CTRL_DOORBELL) !== 0;
  }

  // ------------------------------------------------------------------ host side

  /**
   * Host: submits a command. Returns Busy without touching anything if the doorbell is still set (the
   * device owns the registers), Invalid Payload Length if the input does not fit, else -1 (submitted).
   */
  hostSubmit(opcode: number, input: Uint8Array | null): number {
    if (this.doorbell()) return Rc.BUSY;
    const len = input === null ? 0 : input.byteLength;
    if (len > this.payloadBytes) return Rc.INVALID_PAYLOAD_LENGTH;
    if (len > 0) this.payload.set(input!, 0);
    this.writeCommand(opcode, len);
    Atomics.or(this.words, this.ctrlWord, CTRL_DOORBELL);
    return -1;
  }

  private writeCommand(opcode: number, len: number): void {
    // [15:0] opcode, [36:16] length: low word carries opcode + length bits 15:0, high word length bits 20:16.
    this.view.setUint32(MBOX_CMD, (opcode & 0xffff) | ((len & 0xffff) << 16), true);
    this.view.setUint32(MBOX_CMD + 4, (len >>> 16) & 0x1f, true);
  }

  commandOpcode(): number {
    return this.view.getUint32(MBOX_CMD, true) & 0xffff;
  }

  commandLength(): number {
    const lo = this.view.getUint32(MBOX_CMD, true) >>> 16;
    const hi = this.view.getUint32(MBOX_CMD + 4, true) & 0x1f;
    return (lo | (hi << 16)) & LEN_MASK;
  }

  /** Status register fields (valid once the doorbell is clear). */
  statusRc(): number {
    return this.view.getUint16(MBOX_STATUS + 4, true);
  }

  statusVendor(): number {
    return this.view.getUint16(MBOX_STATUS + 6, true);
  }

  statusBackground(): boolean {
    return (this.view.getUint8(MBOX_STATUS) & 1) !== 0;
  }

  // ------------------------------------------------------------------ device side

  /** Device: completes the command in the registers with `rc` and `outLen` output bytes, clears the doorbell. */
  deviceComplete(rc: number, vendor: number, outLen: number, backgroundRunning: boolean): void {
    this.view.setUint32(MBOX_STATUS, backgroundRunning ? 1 : 0, true);
    this.view.setUint16(MBOX_STATUS + 4, rc, true);
    this.view.setUint16(MBOX_STATUS + 6, vendor, true);
    this.writeCommand(this.commandOpcode(), outLen);
    Atomics.and(this.words, this.ctrlWord, ~CTRL_DOORBELL);
  }

  /** Device: mirrors the background operation into Status[0] and the Background Command Status register. */
  deviceBackground(opcode: number, percent: number, rc: number, vendor: number, running: boolean): void {
    const s = this.view.getUint32(MBOX_STATUS, true);
    this.view.setUint32(MBOX_STATUS, running ? s | 1 : s & ~1, true);
    this.view.setUint32(MBOX_BG_STATUS, (opcode & 0xffff) | ((percent & 0x7f) << 16), true);
    this.view.setUint16(MBOX_BG_STATUS + 4, running ? 0 : rc, true);
    this.view.setUint16(MBOX_BG_STATUS + 6, vendor, true);
  }

  /** Host-side view of the Background Command Status register. */
  backgroundStatus(): { opcode: number; percent: number; rc: number; vendor: number } {
    const w = this.view.getUint32(MBOX_BG_STATUS, true);
    return {
      opcode: w & 0xffff,
      percent: (w >>> 16) & 0x7f,
      rc: this.view.getUint16(MBOX_BG_STATUS + 4, true),
      vendor: this.view.getUint16(MBOX_BG_STATUS + 6, true),
    };
  }
}
