/**
 * MCTP-over-PCC frames (DSP0292 as Linux mctp-pcc implements it) and the shared-memory handshake of one
 * ACPI PCC extended subspace (ACPI 6.2+ §14, layout in pcc-layout.ts).
 *
 * Frame in the shared memory region: le32 signature 50434300h | subspace id; le32 flags; le32 length =
 * MCTP packet length + 4; le32 command "MCTP"; then one MCTP packet. Bytes written = length + 12.
 *
 * Type 3 (outbox, OSPM -> platform):  OSPM: channel free <=> complete set; write region; clear complete;
 *   ring doorbell.  Platform: take frame (clear doorbell), process, set error on failure, set complete,
 *   raise the interrupt if flags b0.  OSPM: on complete, ack interrupt, read + clear error.
 * Type 4 (inbox, platform -> OSPM):  Platform: wait for complete set; write region; clear complete; raise
 *   interrupt.  OSPM: complete clear <=> frame pending; ack interrupt; read frame; set complete; ring the
 *   doorbell if flags b0.  No error register on type 4.
 * Register words are written with Atomics.store after the plain stores into the region, and read with
 * Atomics.load before the region is read.
 */
import {
  FRAME_COMMAND, FRAME_DATA, FRAME_FLAGS, FRAME_LENGTH, FRAME_SIGNATURE, MCTP_HEADER_BYTES, PCC_COMMAND_MCTP,
  PCC_COMPLETE, PCC_COMPLETE_BIT, PCC_DOORBELL, PCC_DOORBELL_BIT, PCC_ERROR, PCC_ERROR_BIT, PCC_FLAG_NOTIFY,
  PCC_FRAME_HEADER_BYTES, PCC_IRQ, PCC_IRQ_BIT, PCC_MCTP_MIN_LENGTH, PCC_SHMEM, PCC_SIGNATURE_BASE,
  PCC_SUBSPACE_INITIATOR, PCC_SUBSPACE_RESPONDER, type PccSubspaceType,
} from './pcc-layout.js';

/** Negative results of frame and channel operations. */
export const PccErr = {
  /** the other side still owns the channel */
  BUSY: -1,
  /** nothing to take: no doorbell (type 3) / no notification pending (type 4) */
  NO_FRAME: -2,
  /** the packet to send is shorter than an MCTP header */
  PACKET_TOO_SMALL: -3,
  /** the packet does not fit the region (region - 16 bytes) */
  PACKET_TOO_LARGE: -4,
  /** subspace id outside 0..255 */
  BAD_SUBSPACE_ID: -5,
  /** the region is shorter than the 16-byte frame header */
  SHORT_REGION: -10,
  BAD_SIGNATURE: -11,
  WRONG_SUBSPACE: -12,
  LENGTH_TOO_SMALL: -13,
  LENGTH_TOO_LARGE: -14,
  BAD_COMMAND: -15,
  /** type 3: the platform set the error status register */
  PLATFORM_ERROR: -16,
} as const;

export type PccFrameError =
  | 'busy' | 'no-frame' | 'packet-too-small' | 'packet-too-large' | 'bad-subspace-id' | 'short-region'
  | 'bad-signature' | 'wrong-subspace' | 'length-too-small' | 'length-too-large' | 'bad-command' | 'platform-error';

const ERR_NAME = new Map<number, PccFrameError>([
  [PccErr.BUSY, 'busy'], [PccErr.NO_FRAME, 'no-frame'], [PccErr.PACKET_TOO_SMALL, 'packet-too-small'],
  [PccErr.PACKET_TOO_LARGE, 'packet-too-large'], [PccErr.BAD_SUBSPACE_ID, 'bad-subspace-id'],
  [PccErr.SHORT_REGION, 'short-region'], [PccErr.BAD_SIGNATURE, 'bad-signature'], [PccErr.WRONG_SUBSPACE, 'wrong-subspace'],
  [PccErr.LENGTH_TOO_SMALL, 'length-too-small'], [PccErr.LENGTH_TOO_LARGE, 'length-too-large'],
  [PccErr.BAD_COMMAND, 'bad-command'], [PccErr.PLATFORM_ERROR, 'platform-error'],
]);

const ERR_TEXT = new Map<number, string>([
  [PccErr.BUSY, 'PCC channel busy: the other side has not completed the previous frame'],
  [PccErr.NO_FRAME, 'no PCC frame pending'],
  [PccErr.PACKET_TOO_SMALL, 'MCTP packet shorter than its 4-byte header'],
  [PccErr.PACKET_TOO_LARGE, 'MCTP packet larger than the PCC region can carry (region - 16 bytes)'],
  [PccErr.BAD_SUBSPACE_ID, 'PCC subspace id must be 0..255'],
  [PccErr.SHORT_REGION, 'PCC region shorter than the 16-byte frame header'],
  [PccErr.BAD_SIGNATURE, 'PCC signature is not 50434300h | subspace id'],
  [PccErr.WRONG_SUBSPACE, 'PCC signature names another subspace'],
  [PccErr.LENGTH_TOO_SMALL, 'PCC length below 8 (4-byte command + 4-byte MCTP header)'],
  [PccErr.LENGTH_TOO_LARGE, 'PCC length exceeds the region (length must be <= region - 12)'],
  [PccErr.BAD_COMMAND, 'PCC command is not "MCTP"'],
  [PccErr.PLATFORM_ERROR, 'PCC platform reported an error (error status register)'],
]);

export function pccErrorName(code: number): PccFrameError | 'ok' {
  return ERR_NAME.get(code) ?? 'ok';
}

export function pccErrorText(code: number): string {
  return ERR_TEXT.get(code) ?? (code >= 0 ? 'ok' : `PCC error ${code}`);
}

function u32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

function put32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/**
 * Writes signature, flags, length and command for a packet of `packetLen` bytes already at
 * region[16..]. Returns the bytes of the frame (16 + packetLen) or a negative PccErr.
 */
export function writePccFrameHeader(region: Uint8Array, subspaceId: number, flags: number, packetLen: number): number {
  if (!Number.isInteger(subspaceId) || subspaceId < 0 || subspaceId > 255) return PccErr.BAD_SUBSPACE_ID;
  if (region.byteLength < PCC_FRAME_HEADER_BYTES) return PccErr.SHORT_REGION;
  if (!Number.isInteger(packetLen) || packetLen < MCTP_HEADER_BYTES) return PccErr.PACKET_TOO_SMALL;
  if (packetLen > region.byteLength - PCC_FRAME_HEADER_BYTES) return PccErr.PACKET_TOO_LARGE;
  put32(region, FRAME_SIGNATURE, (PCC_SIGNATURE_BASE | subspaceId) >>> 0);
  put32(region, FRAME_FLAGS, flags >>> 0);
  put32(region, FRAME_LENGTH, packetLen + 4);
  put32(region, FRAME_COMMAND, PCC_COMMAND_MCTP);
  return PCC_FRAME_HEADER_BYTES + packetLen;
}

/** Copies `packet` into the region and writes the frame header. Returns frame bytes or a negative PccErr. */
export function writePccFrame(region: Uint8Array, subspaceId: number, flags: number, packet: Uint8Array): number {
  if (region.byteLength < PCC_FRAME_HEADER_BYTES) return PccErr.SHORT_REGION;
  if (packet.byteLength > region.byteLength - PCC_FRAME_HEADER_BYTES) return PccErr.PACKET_TOO_LARGE;
  if (packet.byteLength < MCTP_HEADER_BYTES) return PccErr.PACKET_TOO_SMALL;
  if (!Number.isInteger(subspaceId) || subspaceId < 0 || subspaceId > 255) return PccErr.BAD_SUBSPACE_ID;
  region.set(packet, FRAME_DATA);
  return writePccFrameHeader(region, subspaceId, flags, packet.byteLength);
}

/**
 * Validates the frame in `region` (the whole shared memory region: its size bounds the length field).
 * Returns the MCTP packet length (the packet is at region[16..16+len)) or a negative PccErr. Checks, in
 * order: region holds a header; signature 504343xxh (and the subspace id when expectedId >= 0);
 * length >= 8; length <= region - 12; command "MCTP". Never throws.
 */
export function checkPccFrame(region: Uint8Array, expectedId = -1): number {
  if (!(region instanceof Uint8Array) || region.byteLength < PCC_FRAME_HEADER_BYTES) return PccErr.SHORT_REGION;
  const sig = u32(region, FRAME_SIGNATURE);
  if ((sig & 0xffffff00) >>> 0 !== PCC_SIGNATURE_BASE) return PccErr.BAD_SIGNATURE;
  if (expectedId >= 0 && (sig & 0xff) !== expectedId) return PccErr.WRONG_SUBSPACE;
  const length = u32(region, FRAME_LENGTH);
  if (length < PCC_MCTP_MIN_LENGTH) return PccErr.LENGTH_TOO_SMALL;
  if (length > region.byteLength - 12) return PccErr.LENGTH_TOO_LARGE;
  if (u32(region, FRAME_COMMAND) !== PCC_COMMAND_MCTP) return PccErr.BAD_COMMAND;
  return length - 4;
}

export type PccFrameDecode =
  | { ok: true; subspaceId: number; flags: number; length: number; packet: Uint8Array }
  | { ok: false; error: PccFrameError; code: number; message: string };

/** checkPccFrame() with a typed result; `packet` is a copy. Never throws. */
export function decodePccFrame(region: Uint8Array, expectedId = -1): PccFrameDecode {
  const n = checkPccFrame(region, expectedId);
  if (n < 0) return { ok: false, error: pccErrorName(n) as PccFrameError, code: n, message: pccErrorText(n) };
  return {
    ok: true,
    subspaceId: region[FRAME_SIGNATURE]!,
    flags: u32(region, FRAME_FLAGS),
    length: n + 4,
    packet: region.slice(FRAME_DATA, FRAME_DATA + n),
  };
}

export type PccFrameEncode =
  | { ok: true; frame: Uint8Array }
  | { ok: false; error: PccFrameError; code: number; message: string };

/**
 * The exact bytes an OSPM writes for one packet: 16 + packet length. When `regionBytes` is given the packet
 * must fit that region. Never throws.
 */
export function encodePccFrame(subspaceId: number, packet: Uint8Array, flags = PCC_FLAG_NOTIFY, regionBytes?: number): PccFrameEncode {
  const size = PCC_FRAME_HEADER_BYTES + (packet instanceof Uint8Array ? packet.byteLength : 0);
  if (!(packet instanceof Uint8Array)) return fail(PccErr.PACKET_TOO_SMALL);
  if (regionBytes !== undefined && size > regionBytes) return fail(PccErr.PACKET_TOO_LARGE);
  const frame = new Uint8Array(size);
  const n = writePccFrame(frame, subspaceId, flags, packet);
  return n < 0 ? fail(n) : { ok: true, frame };
}

function fail(code: number): { ok: false; error: PccFrameError; code: number; message: string } {
  return { ok: false, error: pccErrorName(code) as PccFrameError, code, message: pccErrorText(code) };
}

/**
 * One PCC extended subspace in shared memory, with both sides of its handshake. Methods are named by who
 * calls them (OSPM = host driver, platform = device firmware); each checks the subspace type.
 */
export class PccChannel {
  /** the register words: doorbell, complete, error, interrupt */
  private readonly words: Int32Array;
  /** the shared memory region (signature .. data) */
  readonly region: Uint8Array;
  readonly maxPacketBytes: number;

  constructor(arena: SharedArrayBuffer, readonly offset: number, readonly blockBytes: number, readonly subspaceId: number,
    readonly type: PccSubspaceType) {
    if (type !== PCC_SUBSPACE_INITIATOR && type !== PCC_SUBSPACE_RESPONDER) throw new RangeError(`PCC subspace type must be 3 or 4 (got ${type})`);
    if (!Number.isInteger(subspaceId) || subspaceId < 0 || subspaceId > 255) throw new RangeError(`PCC subspace id must be 0..255 (got ${subspaceId})`);
    if (offset % 4 !== 0 || blockBytes < PCC_SHMEM + PCC_FRAME_HEADER_BYTES + MCTP_HEADER_BYTES) {
      throw new RangeError(`PCC block at ${offset} of ${blockBytes} bytes is misaligned or too small`);
    }
    this.words = new Int32Array(arena, offset, PCC_SHMEM / 4);
    this.region = new Uint8Array(arena, offset + PCC_SHMEM, blockBytes - PCC_SHMEM);
    this.maxPacketBytes = this.region.byteLength - PCC_FRAME_HEADER_BYTES;
  }

  /** Power-on: no doorbell, complete set (type 3: channel free; type 4: nothing pending), no error/irq. */
  reset(): void {
    this.region.fill(0, 0, PCC_FRAME_HEADER_BYTES);
    Atomics.store(this.words, PCC_ERROR / 4, 0);
    Atomics.store(this.words, PCC_IRQ / 4, 0);
    Atomics.store(this.words, PCC_DOORBELL / 4, 0);
    Atomics.store(this.words, PCC_COMPLETE / 4, PCC_COMPLETE_BIT);
  }

  doorbellRung(): boolean {
    return (Atomics.load(this.words, PCC_DOORBELL / 4) & PCC_DOORBELL_BIT) !== 0;
  }

  commandComplete(): boolean {
    return (Atomics.load(this.words, PCC_COMPLETE / 4) & PCC_COMPLETE_BIT) !== 0;
  }

  errorStatus(): boolean {
    return (Atomics.load(this.words, PCC_ERROR / 4) & PCC_ERROR_BIT) !== 0;
  }

  interruptRaised(): boolean {
    return (Atomics.load(this.words, PCC_IRQ / 4) & PCC_IRQ_BIT) !== 0;
  }

  /** The frame's flags word as last written. */
  frameFlags(): number {
    return u32(this.region, FRAME_FLAGS);
  }

  private need(type: PccSubspaceType, what: string): void {
    if (this.type !== type) throw new Error(`PCC subspace ${this.subspaceId} is type ${this.type}; ${what} needs type ${type}`);
  }

  /** Writer side (type 3 OSPM, type 4 platform): the region if the writer may fill it now, else null. */
  txRegion(): Uint8Array | null {
    return this.commandComplete() ? this.region : null;
  }

  // ------------------------------------------------------------------ type 3 (outbox)

  /**
   * OSPM: the packet is at region[16..16+packetLen); write the header, clear command complete, ring the
   * doorbell. Returns 0 or a negative PccErr (BUSY while the platform owns the channel).
   */
  ospmRing(packetLen: number, flags = PCC_FLAG_NOTIFY): number {
    this.need(PCC_SUBSPACE_INITIATOR, 'ospmRing');
    if (!this.commandComplete()) return PccErr.BUSY;
    const n = writePccFrameHeader(this.region, this.subspaceId, flags, packetLen);
    if (n < 0) return n;
    Atomics.store(this.words, PCC_COMPLETE / 4, 0);
    Atomics.store(this.words, PCC_DOORBELL / 4, PCC_DOORBELL_BIT);
    return 0;
  }

  /** OSPM: copies `packet` into the region and rings (see ospmRing). */
  ospmSend(packet: Uint8Array, flags = PCC_FLAG_NOTIFY): number {
    this.need(PCC_SUBSPACE_INITIATOR, 'ospmSend');
    if (!this.commandComplete()) return PccErr.BUSY;
    if (packet.byteLength > this.maxPacketBytes) return PccErr.PACKET_TOO_LARGE;
    if (packet.byteLength < MCTP_HEADER_BYTES) return PccErr.PACKET_TOO_SMALL;
    this.region.set(packet, FRAME_DATA);
    return this.ospmRing(packet.byteLength, flags);
  }

  /**
   * Platform: takes the frame the doorbell announced (clears the doorbell). Returns the packet length (the
   * packet is at region[16..]) or a negative PccErr (NO_FRAME, or a validation error; the caller then
   * completes with error).
   */
  platformTake(): number {
    this.need(PCC_SUBSPACE_INITIATOR, 'platformTake');
    if (!this.doorbellRung()) return PccErr.NO_FRAME;
    Atomics.store(this.words, PCC_DOORBELL / 4, 0);
    return checkPccFrame(this.region, this.subspaceId);
  }

  /** Platform: done with the frame; sets error status if `error`, sets complete, interrupts if flags b0. */
  platformComplete(error: boolean): void {
    this.need(PCC_SUBSPACE_INITIATOR, 'platformComplete');
    if (error) Atomics.store(this.words, PCC_ERROR / 4, PCC_ERROR_BIT);
    Atomics.store(this.words, PCC_COMPLETE / 4, PCC_COMPLETE_BIT);
    if ((this.frameFlags() & PCC_FLAG_NOTIFY) !== 0) Atomics.store(this.words, PCC_IRQ / 4, PCC_IRQ_BIT);
  }

  /**
   * OSPM: reaps a completion: BUSY while not complete; else acks the interrupt, and returns PLATFORM_ERROR
   * (clearing the error status) if the platform flagged one, or 0.
   */
  ospmReap(): number {
    this.need(PCC_SUBSPACE_INITIATOR, 'ospmReap');
    if (!this.commandComplete()) return PccErr.BUSY;
    Atomics.store(this.words, PCC_IRQ / 4, 0);
    if (this.errorStatus()) {
      Atomics.and(this.words, PCC_ERROR / 4, ~PCC_ERROR_BIT);
      return PccErr.PLATFORM_ERROR;
    }
    return 0;
  }

  // ------------------------------------------------------------------ type 4 (inbox)

  /**
   * Platform: the packet is at region[16..16+packetLen); write the header, clear complete (notification
   * pending), raise the interrupt. BUSY while OSPM has not consumed the previous one. A doorbell OSPM rang
   * for the previous frame is taken (cleared) here.
   */
  platformPost(packetLen: number, flags = PCC_FLAG_NOTIFY): number {
    this.need(PCC_SUBSPACE_RESPONDER, 'platformPost');
    if (!this.commandComplete()) return PccErr.BUSY;
    this.platformSawDoorbell();
    const n = writePccFrameHeader(this.region, this.subspaceId, flags, packetLen);
    if (n < 0) return n;
    Atomics.store(this.words, PCC_COMPLETE / 4, 0);
    Atomics.store(this.words, PCC_IRQ / 4, PCC_IRQ_BIT);
    return 0;
  }

  /** Platform: copies `packet` into the region and posts it (see platformPost). */
  platformSend(packet: Uint8Array, flags = PCC_FLAG_NOTIFY): number {
    this.need(PCC_SUBSPACE_RESPONDER, 'platformSend');
    if (!this.commandComplete()) return PccErr.BUSY;
    if (packet.byteLength > this.maxPacketBytes) return PccErr.PACKET_TOO_LARGE;
    if (packet.byteLength < MCTP_HEADER_BYTES) return PccErr.PACKET_TOO_SMALL;
    this.region.set(packet, FRAME_DATA);
    return this.platformPost(packet.byteLength, flags);
  }

  /** Platform: clears the doorbell OSPM rang after consuming; true if it was rung. */
  platformSawDoorbell(): boolean {
    this.need(PCC_SUBSPACE_RESPONDER, 'platformSawDoorbell');
    if (!this.doorbellRung()) return false;
    Atomics.store(this.words, PCC_DOORBELL / 4, 0);
    return true;
  }

  /**
   * OSPM: a notification is pending when complete is clear. Acks the interrupt and validates the frame;
   * returns the packet length (packet at region[16..]) or a negative PccErr (NO_FRAME or a validation
   * error: a bad frame is dropped, OSPM still calls ospmConsumed()).
   */
  ospmReceive(): number {
    this.need(PCC_SUBSPACE_RESPONDER, 'ospmReceive');
    if (this.commandComplete()) return PccErr.NO_FRAME;
    Atomics.store(this.words, PCC_IRQ / 4, 0);
    return checkPccFrame(this.region, this.subspaceId);
  }

  /** OSPM: marks the frame consumed (sets complete) and rings the doorbell if the frame asked for it. */
  ospmConsumed(): void {
    this.need(PCC_SUBSPACE_RESPONDER, 'ospmConsumed');
    const notify = (this.frameFlags() & PCC_FLAG_NOTIFY) !== 0;
    Atomics.store(this.words, PCC_COMPLETE / 4, PCC_COMPLETE_BIT);
    if (notify) Atomics.store(this.words, PCC_DOORBELL / 4, PCC_DOORBELL_BIT);
  }

  /** A view of the packet of `len` bytes in the region. */
  packet(len: number): Uint8Array {
    return this.region.subarray(FRAME_DATA, FRAME_DATA + len);
  }
}
