import { postEvent } from '../cci/generic.js';
import { uuidBytes } from '../cci/uuid.js';
import { newEventRecord } from './event-log.js';
import { ensureDc } from './type3-dcd.js';
import { CAPACITY_UNIT, type Type3State } from './type3-state.js';

/**
 * Event records a type-3 device produces (CXL r3.1 8.2.9.2.1). Records are posted through postType3Event so the
 * power-on Dynamic Capacity record always exists first (see type3-dcd.ts).
 */

export const GENERAL_MEDIA_UUID = uuidBytes('fbcd0a77-c260-417f-85a9-088b1621eba6');
export const MEMORY_MODULE_UUID = uuidBytes('fe927475-dd59-4339-a586-79bab113b774');

/** General Media event: memory event type (39h). */
export const MediaEventType = { MEDIA_ECC_ERROR: 0x00, INVALID_ADDRESS: 0x01, DATA_PATH_ERROR: 0x02 } as const;
/** General Media event: transaction type (3Ah). */
export const TransactionType = {
  UNKNOWN: 0x00,
  HOST_READ: 0x01,
  HOST_WRITE: 0x02,
  HOST_SCAN_MEDIA: 0x03,
  HOST_INJECT_POISON: 0x04,
  INTERNAL_MEDIA_SCRUB: 0x05,
  INTERNAL_MEDIA_MANAGEMENT: 0x06,
} as const;
/** General Media event: descriptor (38h). */
export const MediaDescriptor = { UNCORRECTABLE: 1 << 0, THRESHOLD: 1 << 1, POISON_LIST_OVERFLOW: 1 << 2 } as const;

/** Posts a type-3 record to `log`; returns its handle (0 if the log was full). */
export function postType3Event(dev: Type3State, log: number, record: Uint8Array, nowNs: number): number {
  ensureDc(dev);
  return postEvent(dev, log, record, nowNs);
}

/**
 * General Media event record (8.2.9.2.1.1): 30h physical address ([63:6] DPA, [0] volatile), 38h descriptor,
 * 39h memory event type, 3Ah transaction type; validity flags (3Bh) 0: no channel/rank/device/component data.
 */
export function generalMediaRecord(dev: Type3State, severity: number, dpa: number, descriptor: number, eventType: number, transaction: number): Uint8Array {
  const r = newEventRecord(GENERAL_MEDIA_UUID, severity);
  const v = new DataView(r.buffer);
  const volatile = dpa < dev.volatileUnits * CAPACITY_UNIT ? 1 : 0;
  v.setBigUint64(0x30, (BigInt(dpa) & ~0x3fn) | BigInt(volatile), true);
  r[0x38] = descriptor;
  r[0x39] = eventType;
  r[0x3a] = transaction;
  return r;
}
