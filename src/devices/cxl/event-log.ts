/**
 * CXL event logs (CXL r3.1 8.2.9.2): five logs (informational, warning, failure, fatal, dynamic capacity), each a
 * small FIFO of 128-byte event records with device-assigned handles and overflow accounting.
 *
 * Everything here is created on first use: a component that never produced an event carries no log at all, and
 * a log that never received a record holds no ring.
 */

export const EventLogType = {
  INFORMATIONAL: 0,
  WARNING: 1,
  FAILURE: 2,
  FATAL: 3,
  DYNAMIC_CAPACITY: 4,
} as const;

export const EVENT_LOG_COUNT = 5;
/** Records each log holds before it overflows (reported by Identify Memory Device 30h-36h and 43h). */
export const EVENT_LOG_DEPTH = 8;
export const EVENT_RECORD_BYTES = 0x80;
/** Common event record header length (8.2.9.2.1 Table 8-42); record-specific data starts here. */
export const EVENT_RECORD_BODY = 0x30;

/** Event Record Flags (header bytes 11h-13h) above the 2-bit severity. */
export const EventFlag = {
  PERMANENT_CONDITION: 1 << 2,
  MAINTENANCE_NEEDED: 1 << 3,
  PERFORMANCE_DEGRADED: 1 << 4,
  HARDWARE_REPLACEMENT_NEEDED: 1 << 5,
} as const;

/**
 * A new 128-byte record with the common header filled in (8.2.9.2.1): record-type UUID at 00h, length 80h at 10h,
 * flags at 11h-13h (bits 1:0 severity). The handle (14h) and timestamp (18h) are set when the record is posted;
 * related handle, maintenance class/subclass, LD-ID and head ID stay 0.
 */
export function newEventRecord(uuid: Uint8Array, severity: number, flags = 0): Uint8Array {
  const r = new Uint8Array(EVENT_RECORD_BYTES);
  r.set(uuid, 0x00);
  r[0x10] = EVENT_RECORD_BYTES;
  const f = (severity & 3) | flags;
  r[0x11] = f & 0xff;
  r[0x12] = (f >>> 8) & 0xff;
  r[0x13] = (f >>> 16) & 0xff;
  return r;
}

/** One event log: records oldest first, and what was lost since the host last cleared records. */
export class EventRing {
  readonly records: Uint8Array[] = [];
  /** records that could not be stored (saturates at FFFFh) */
  overflowCount = 0;
  firstOverflowTs = 0n;
  lastOverflowTs = 0n;

  handleAt(i: number): number {
    const r = this.records[i]!;
    return r[0x14]! | (r[0x15]! << 8);
  }

  resetOverflow(): void {
    this.overflowCount = 0;
    this.firstOverflowTs = 0n;
    this.lastOverflowTs = 0n;
  }
}

export class EventLogs {
  private readonly rings: (EventRing | null)[] = [null, null, null, null, null];
  private nextHandle = 1;

  /** The log, or null if it never held a record (reads as empty, no overflow). */
  ring(log: number): EventRing | null {
    return this.rings[log] ?? null;
  }

  /**
   * Appends `record` to `log` with a fresh handle and timestamp `ts` (device time, ns). A full log keeps its
   * records and counts the new one as lost (Overflow, 8.2.9.2.2). Returns the handle, or 0 if lost.
   */
  post(log: number, record: Uint8Array, ts: bigint): number {
    let ring = this.rings[log];
    if (ring == null) ring = this.rings[log] = new EventRing();
    if (ring.records.length >= EVENT_LOG_DEPTH) {
      if (ring.overflowCount === 0) ring.firstOverflowTs = ts;
      ring.lastOverflowTs = ts;
      if (ring.overflowCount < 0xffff) ring.overflowCount++;
      return 0;
    }
    const handle = this.allocHandle(ring);
    record[0x14] = handle & 0xff;
    record[0x15] = handle >>> 8;
    new DataView(record.buffer, record.byteOffset, record.byteLength).setBigUint64(0x18, ts, true);
    ring.records.push(record);
    return handle;
  }

  /** Handles are 1..FFFFh, never 0, and unique within a log even after the counter wraps. */
  private allocHandle(ring: EventRing): number {
    for (;;) {
      const h = this.nextHandle;
      this.nextHandle = h === 0xffff ? 1 : h + 1;
      let used = false;
      for (let i = 0; i < ring.records.length && !used; i++) used = ring.handleAt(i) === h;
      if (!used) return h;
    }
  }

  /** Drops the `n` oldest records of `log` and the overflow state (the host has consumed the log). */
  clearOldest(log: number, n: number): void {
    const ring = this.rings[log];
    if (ring == null) return;
    ring.records.splice(0, n);
    ring.resetOverflow();
  }

  /** Empties `log` entirely. */
  clearLog(log: number): void {
    const ring = this.rings[log];
    if (ring == null) return;
    ring.records.length = 0;
    ring.resetOverflow();
  }

  /** Event Status register bits (8.2.8.3.1): bit n set while log n holds a record. */
  status(): number {
    let s = 0;
    for (let i = 0; i < EVENT_LOG_COUNT; i++) if ((this.rings[i]?.records.length ?? 0) > 0) s |= 1 << i;
    return s;
  }
}
