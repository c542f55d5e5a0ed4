import { AerType, INTERRUPT_VECTORS, MAX_IO_QUEUES, OAES_FW_ACTIVATION, POWER_STATES } from './constants.js';
import {
  defaultCd, defaultOf, FeatureValues, Slot, TEMP_SENSORS, type AdminContext, type ControllerState,
} from './controller-state.js';
import type { Sqe } from './sqe.js';
import { St } from './status.js';

/**
 * Set Features (09h) / Get Features (0Ah), NVMe Base 2.0 5.27 / 5.15. Every feature has a default, a
 * current and (if saveable) a saved value; Get Features SEL picks current (000b), default (001b), saved
 * (010b: the default when nothing was saved) or the capabilities (011b: bit 0 saveable, 1 namespace
 * specific, 2 changeable). Set Features SV = 1 also saves. Identify ONCS bit 4 advertises SEL/SV.
 * Every feature an I/O controller must support (Base 2.0 Figure 317, "M" for I/O controllers) is here.
 */
export const Fid = {
  ARBITRATION: 0x01,
  POWER_MANAGEMENT: 0x02,
  TEMPERATURE_THRESHOLD: 0x04,
  ERROR_RECOVERY: 0x05,
  VOLATILE_WRITE_CACHE: 0x06,
  NUMBER_OF_QUEUES: 0x07,
  INTERRUPT_COALESCING: 0x08,
  INTERRUPT_VECTOR_CONFIG: 0x09,
  WRITE_ATOMICITY_NORMAL: 0x0a,
  ASYNC_EVENT_CONFIG: 0x0b,
} as const;

export const Sel = { CURRENT: 0, DEFAULT: 1, SAVED: 2, SUPPORTED_CAPABILITIES: 3 } as const;

export interface FeatureDef {
  fid: number;
  name: string;
  saveable: boolean;
  changeable: boolean;
  /** the value is per namespace: the NSID names one (Set: FFFFFFFFh = every namespace) */
  nsSpecific: boolean;
  /** may be set while a sanitize operation is in progress */
  duringSanitize: boolean;
  /** Set Features of this feature: the value to store and its slots, or a status (refused, or done itself) */
  set: (c: ControllerState, x: AdminContext, sv: boolean) => SlotValue | number;
}

/** What a Set Features stores: `value` in each of `slots` (current, and saved with SV). */
interface SlotValue {
  value: number;
  slots: number[];
}

/** The features this controller implements. Anything else: Invalid Field. */
export const FEATURES: readonly FeatureDef[] = [
  { fid: Fid.ARBITRATION, name: 'Arbitration', saveable: true, changeable: true, nsSpecific: false, duringSanitize: false, set: setArbitration },
  { fid: Fid.POWER_MANAGEMENT, name: 'Power Management', saveable: true, changeable: true, nsSpecific: false, duringSanitize: false, set: setPowerManagement },
  {
    fid: Fid.TEMPERATURE_THRESHOLD, name: 'Temperature Threshold', saveable: true, changeable: true, nsSpecific: false, duringSanitize: true,
    set: setTemperatureThreshold,
  },
  // per namespace, as nvme-cli (--nsid required) and QEMU treat it
  { fid: Fid.ERROR_RECOVERY, name: 'Error Recovery', saveable: true, changeable: true, nsSpecific: true, duringSanitize: false, set: setErrorRecovery },
  { fid: Fid.VOLATILE_WRITE_CACHE, name: 'Volatile Write Cache', saveable: true, changeable: true, nsSpecific: false, duringSanitize: false, set: setWriteCache },
  // allocated once per controller reset: never saveable
  { fid: Fid.NUMBER_OF_QUEUES, name: 'Number of Queues', saveable: false, changeable: true, nsSpecific: false, duringSanitize: false, set: setNumberOfQueues },
  {
    fid: Fid.INTERRUPT_COALESCING, name: 'Interrupt Coalescing', saveable: true, changeable: true, nsSpecific: false, duringSanitize: true,
    set: setInterruptCoalescing,
  },
  // interrupt resources belong to one controller reset, like the queues: not saveable
  {
    fid: Fid.INTERRUPT_VECTOR_CONFIG, name: 'Interrupt Vector Configuration', saveable: false, changeable: true, nsSpecific: false, duringSanitize: true,
    set: setInterruptVector,
  },
  {
    fid: Fid.WRITE_ATOMICITY_NORMAL, name: 'Write Atomicity Normal', saveable: true, changeable: true, nsSpecific: false, duringSanitize: false,
    set: setWriteAtomicity,
  },
  {
    fid: Fid.ASYNC_EVENT_CONFIG, name: 'Asynchronous Event Configuration', saveable: true, changeable: true, nsSpecific: false, duringSanitize: true,
    set: setAsyncEventConfig,
  },
];

const byFid = new Map(FEATURES.map((f) => [f.fid, f]));

/** AEC bits this controller honours: SMART critical warnings 5:0 and firmware activation notices. */
export const AEC_SUPPORTED = 0x3f | OAES_FW_ACTIVATION;

/** Error Recovery (05h) CDW11: TLER 15:0 (100 ms units, 0 = no limit), DULBE 16. */
const ERR_TLER_MASK = 0xffff;
const ERR_DULBE = 1 << 16;
/** Interrupt Vector Configuration (09h) CDW11 / DW0: IV 15:0, CD 16 (coalescing disable). */
const IVC_CD = 1 << 16;
/** Write Atomicity Normal (0Ah) CDW11: DN 0 (AWUN/NAWUN not required, only AWUPF honoured). */
const WAN_DN = 1;

function values(c: ControllerState): FeatureValues {
  return (c.feat ??= new FeatureValues(c.namespaces));
}

/** Current value of a slot without allocating state. */
function current(c: ControllerState, slot: number): number {
  return c.feat === null ? defaultOf(slot) : c.feat.cur[slot]!;
}

// ------------------------------------------------------------------------------------ temperature model

/** Composite temperature (K), deterministic from the serial: 30..44 degrees C. */
export function compositeTemperatureK(c: ControllerState): number {
  return 303 + (c.seed % 15);
}

/** Temperature Sensor n (1-based) in K. */
export function sensorTemperatureK(c: ControllerState, n: number): number {
  return compositeTemperatureK(c) + (n === 1 ? 3 : -2);
}

/** SMART Critical Warning bit 1: a temperature at or over its over threshold, or at or under its under threshold. */
export function temperatureWarning(c: ControllerState): boolean {
  for (let s = 0; s <= TEMP_SENSORS; s++) {
    const t = s === 0 ? compositeTemperatureK(c) : sensorTemperatureK(c, s);
    const over = current(c, Slot.TEMP + 2 * s);
    const under = current(c, Slot.TEMP + 2 * s + 1);
    if (t >= over || t <= under) return true;
  }
  return false;
}

/** Asynchronous Event Configuration value in effect. */
export const asyncEventConfig = (c: ControllerState): number => current(c, Slot.AEC);

/** Volatile Write Cache enabled (feature 06h WCE)? */
export const writeCacheEnabled = (c: ControllerState): boolean => (current(c, Slot.VWC) & 1) === 1;

/** Number of Queues in effect: NSQA 15:0, NCQA 31:16 (0's based). */
export const queuesAllocated = (c: ControllerState): number => current(c, Slot.NQ);

// -------------------------------------------------------------------------------------------- commands

/**
 * Common checks; returns the feature or a status. NSID rules: a controller-wide feature takes 0 or
 * FFFFFFFFh (any other valid NSID: Feature Not Namespace Specific); a namespace-specific one takes an active
 * namespace, or FFFFFFFFh in a Set (every namespace). 0, FFFFFFFFh in a Get, or an NSID above NN is Invalid
 * Namespace or Format; a valid but inactive NSID is Invalid Field (as QEMU answers both).
 */
function lookup(c: ControllerState, x: AdminContext, forSet: boolean): FeatureDef | number {
  const fid = x.sqe.cdw10 & 0xff;
  const f = byFid.get(fid);
  if (f === undefined) {
    x.errLoc = 40;
    return St.INVALID_FIELD;
  }
  const nsid = x.sqe.nsid;
  if (!f.nsSpecific) {
    if (nsid !== 0 && nsid !== 0xffffffff) {
      x.errLoc = 4;
      return c.nsValid(nsid) ? St.FEATURE_NOT_NS_SPECIFIC : St.INVALID_NAMESPACE;
    }
    return f;
  }
  if (nsid === 0xffffffff && forSet) return f;
  if (!c.nsValid(nsid)) {
    x.errLoc = 4;
    return St.INVALID_NAMESPACE;
  }
  if (!c.nsActive(nsid)) {
    x.errLoc = 4;
    return St.INVALID_FIELD;
  }
  return f;
}

/** Temperature Threshold CDW11: TMPTH 15:0, TMPSEL 19:16, THSEL 21:20 -> slots, or -1 if not implemented. */
function tempSlots(cdw11: number, forSet: boolean): number[] | -1 {
  const tmpsel = (cdw11 >>> 16) & 0xf;
  const thsel = (cdw11 >>> 20) & 3;
  if (thsel > 1) return -1;
  if (tmpsel === 0xf && forSet) {
    const all: number[] = [];
    for (let s = 0; s <= TEMP_SENSORS; s++) all.push(Slot.TEMP + 2 * s + thsel);
    return all;
  }
  if (tmpsel > TEMP_SENSORS) return -1;
  return [Slot.TEMP + 2 * tmpsel + thsel];
}

function slotOf(fid: number): number {
  switch (fid) {
    case Fid.ARBITRATION: return Slot.ARB;
    case Fid.POWER_MANAGEMENT: return Slot.PM;
    case Fid.VOLATILE_WRITE_CACHE: return Slot.VWC;
    case Fid.NUMBER_OF_QUEUES: return Slot.NQ;
    case Fid.INTERRUPT_COALESCING: return Slot.IC;
    case Fid.WRITE_ATOMICITY_NORMAL: return Slot.WAN;
    default: return Slot.AEC;
  }
}

/** Error Recovery of namespace `nsid` for a SEL (current, default 0, saved). */
function errorRecovery(c: ControllerState, nsid: number, sel: number): number {
  const fv = c.feat;
  if (sel === Sel.DEFAULT || fv === null) return 0;
  if (sel === Sel.SAVED) return fv.errSavedSet[nsid - 1] === 1 ? fv.errSaved[nsid - 1]! : 0;
  return fv.errCur[nsid - 1]!;
}

/** Interrupt Vector Configuration: IV must name one of the controller's vectors. */
function vectorOf(x: AdminContext): number {
  const iv = x.sqe.cdw11 & 0xffff;
  if (iv >= INTERRUPT_VECTORS) {
    x.errLoc = 44;
    return -1;
  }
  return iv;
}

/** 0Ah Get Features. CDW10: FID 7:0, SEL 10:8. CQE DW0: the value (or capabilities for SEL 011b). */
export function getFeatures(c: ControllerState, x: AdminContext): number {
  const f = lookup(c, x, false);
  if (typeof f === 'number') return f;
  const sel = (x.sqe.cdw10 >>> 8) & 7;
  if (sel > Sel.SUPPORTED_CAPABILITIES) {
    x.errLoc = 41;
    return St.INVALID_FIELD;
  }
  if (sel === Sel.SUPPORTED_CAPABILITIES) {
    x.dw0 = (f.saveable ? 1 : 0) | (f.nsSpecific ? 2 : 0) | (f.changeable ? 4 : 0);
    return St.SUCCESS;
  }
  const cdw11 = x.sqe.cdw11;
  if (f.fid === Fid.ERROR_RECOVERY) {
    x.dw0 = errorRecovery(c, x.sqe.nsid, sel);
    return St.SUCCESS;
  }
  if (f.fid === Fid.INTERRUPT_VECTOR_CONFIG) {
    // not saveable: SEL saved answers the default (5.15.1)
    const iv = vectorOf(x);
    if (iv < 0) return St.INVALID_FIELD;
    const cd = sel === Sel.CURRENT && c.feat !== null ? c.feat.ivCd[iv]! : defaultCd(iv);
    x.dw0 = iv | (cd === 1 ? IVC_CD : 0);
    return St.SUCCESS;
  }
  let slot: number;
  if (f.fid === Fid.TEMPERATURE_THRESHOLD) {
    const s = tempSlots(cdw11, false);
    if (s === -1) {
      x.errLoc = 46; // CDW11 byte 2: TMPSEL / THSEL
      return St.INVALID_FIELD;
    }
    slot = s[0]!;
  } else {
    slot = slotOf(f.fid);
  }
  const fv = c.feat;
  let value: number;
  if (sel === Sel.DEFAULT) value = defaultOf(slot);
  else if (sel === Sel.SAVED) value = fv !== null && (fv.savedMask & (1 << slot)) !== 0 ? fv.saved[slot]! : defaultOf(slot);
  else value = current(c, slot);
  x.dw0 = f.fid === Fid.TEMPERATURE_THRESHOLD ? (value & 0xffff) | (cdw11 & 0x3f0000) : value;
  return St.SUCCESS;
}

/**
 * 09h Set Features. CDW10: FID 7:0, SV 31. CDW11: the value. The common checks, then the feature's own
 * setter (its `set` column), then the value is stored in its slots (and saved with SV).
 */
export function setFeatures(c: ControllerState, x: AdminContext): number {
  const f = lookup(c, x, true);
  if (typeof f === 'number') return f;
  const sv = (x.sqe.cdw10 >>> 31) !== 0;
  if (sv && !f.saveable) {
    x.errLoc = 43 | (7 << 8);
    return St.FEATURE_NOT_SAVEABLE;
  }
  if (!f.changeable) return St.FEATURE_NOT_CHANGEABLE;
  const warned = f.fid === Fid.TEMPERATURE_THRESHOLD && temperatureWarning(c);
  const r = f.set(c, x, sv);
  if (typeof r === 'number') return r;
  const fv = values(c);
  for (const s of r.slots) {
    fv.cur[s] = r.value;
    if (sv) {
      fv.saved[s] = r.value;
      fv.savedMask |= 1 << s;
    }
  }
  // A threshold that the temperature now crosses raises a SMART / Health event (if AEC enables bit 1).
  if (f.fid === Fid.TEMPERATURE_THRESHOLD && !warned && temperatureWarning(c) && (asyncEventConfig(c) & 0x02) !== 0) {
    c.raiseEvent(AerType.SMART, 0x01, 0x02);
  }
  return St.SUCCESS;
}

// Set Features, one setter per feature (Base 2.0 5.27.1): CDW11 holds the value.

/** 01h: AB 2:0, LPW 15:8, MPW 23:16, HPW 31:24. */
function setArbitration(_c: ControllerState, x: AdminContext): SlotValue {
  return { value: x.sqe.cdw11 & 0xffffff07, slots: [Slot.ARB] };
}

/** 02h: PS 4:0 (one of POWER_STATES), WH 7:5 (workload hint, 0-2). */
function setPowerManagement(_c: ControllerState, x: AdminContext): SlotValue | number {
  const cdw11 = x.sqe.cdw11;
  const ps = cdw11 & 0x1f;
  const wh = (cdw11 >>> 5) & 7;
  if (ps >= POWER_STATES || wh > 2) {
    x.errLoc = 44;
    return St.INVALID_FIELD;
  }
  return { value: ps | (wh << 5), slots: [Slot.PM] };
}

/** 04h: TMPTH 15:0 for the sensor(s) TMPSEL and threshold THSEL name. */
function setTemperatureThreshold(_c: ControllerState, x: AdminContext): SlotValue | number {
  const s = tempSlots(x.sqe.cdw11, true);
  if (s === -1) {
    x.errLoc = 46;
    return St.INVALID_FIELD;
  }
  return { value: x.sqe.cdw11 & 0xffff, slots: s };
}

/** 05h, per namespace (FFFFFFFFh: every one): TLER; DULBE needs Identify Namespace NSFEAT bit 2, which is 0 here. */
function setErrorRecovery(c: ControllerState, x: AdminContext, sv: boolean): number {
  const cdw11 = x.sqe.cdw11;
  if ((cdw11 & ERR_DULBE) !== 0) {
    x.errLoc = 46; // CDW11 byte 2, bit 0
    return St.INVALID_FIELD;
  }
  const fv = values(c);
  const nsid = x.sqe.nsid;
  for (let n = nsid === 0xffffffff ? 1 : nsid; n <= (nsid === 0xffffffff ? c.namespaces : nsid); n++) {
    fv.errCur[n - 1] = cdw11 & ERR_TLER_MASK;
    if (sv) {
      fv.errSaved[n - 1] = cdw11 & ERR_TLER_MASK;
      fv.errSavedSet[n - 1] = 1;
    }
  }
  return St.SUCCESS;
}

/** 06h: WCE 0. */
function setWriteCache(_c: ControllerState, x: AdminContext): SlotValue {
  return { value: x.sqe.cdw11 & 1, slots: [Slot.VWC] };
}

/**
 * 07h: NSQR 15:0, NCQR 31:16 (0's based; FFFFh is invalid). Allocated once per reset: later Sets answer the
 * same allocation. CQE DW0: NSQA 15:0, NCQA 31:16.
 */
function setNumberOfQueues(c: ControllerState, x: AdminContext): number {
  const nsqr = x.sqe.cdw11 & 0xffff;
  const ncqr = x.sqe.cdw11 >>> 16;
  if (nsqr === 0xffff || ncqr === 0xffff) {
    x.errLoc = 44;
    return St.INVALID_FIELD;
  }
  const fv = values(c);
  if (!fv.queuesAllocated) {
    fv.cur[Slot.NQ] = Math.min(nsqr, MAX_IO_QUEUES - 1) | (Math.min(ncqr, MAX_IO_QUEUES - 1) << 16);
    fv.queuesAllocated = true;
  }
  x.dw0 = fv.cur[Slot.NQ]!;
  return St.SUCCESS;
}

/** 08h: THR 7:0, TIME 15:8. */
function setInterruptCoalescing(_c: ControllerState, x: AdminContext): SlotValue {
  return { value: x.sqe.cdw11 & 0xffff, slots: [Slot.IC] };
}

/** 09h: IV 15:0, CD 16; coalescing cannot be enabled on the admin CQ's vector (0). */
function setInterruptVector(c: ControllerState, x: AdminContext): number {
  const iv = vectorOf(x);
  if (iv < 0) return St.INVALID_FIELD;
  const cd = (x.sqe.cdw11 & IVC_CD) !== 0 ? 1 : 0;
  if (iv === 0 && cd === 0) {
    x.errLoc = 46;
    return St.INVALID_FIELD;
  }
  values(c).ivCd[iv] = cd;
  return St.SUCCESS;
}

/** 0Ah: DN 0. */
function setWriteAtomicity(_c: ControllerState, x: AdminContext): SlotValue {
  return { value: x.sqe.cdw11 & WAN_DN, slots: [Slot.WAN] };
}

/** 0Bh: only the AEC bits this controller honours (AEC_SUPPORTED). */
function setAsyncEventConfig(_c: ControllerState, x: AdminContext): SlotValue | number {
  const cdw11 = x.sqe.cdw11;
  if ((cdw11 & ~AEC_SUPPORTED) !== 0) {
    x.errLoc = 44;
    return St.INVALID_FIELD;
  }
  return { value: cdw11 >>> 0, slots: [Slot.AEC] };
}

/** Set Features while a sanitize operation is in progress: only the features marked so. */
export function setFeaturesAllowedDuringSanitize(sqe: Sqe): boolean {
  return byFid.get(sqe.cdw10 & 0xff)?.duringSanitize ?? true; // an unknown FID gets its Invalid Field
}
