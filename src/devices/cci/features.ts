import type { CciRequest, CommandDef } from './command-table.js';
import type { ComponentState, FeatureState } from './component-state.js';
import { genericState, outputLimit } from './generic.js';
import { Rc } from './return-codes.js';
import { uuidEquals } from './uuid.js';

/**
 * Features (CXL r3.1 8.2.9.6): Get Supported Features, Get Feature and Set Feature over a catalog of
 * features a component kind offers (type3-features.ts for memory devices). Values the host sets live in
 * `ComponentState.generic.features`, created by the first Set Feature.
 */

/** Get Supported Features entry attribute flags (8.2.9.6.1). */
export const FeatureAttr = {
  CHANGEABLE: 1 << 0,
  /** bits 3:1 deepest reset the value persists across: 0 none, 1 CXL reset, 2 hot, 3 warm, 4 cold */
  PERSIST_CXL_RESET: 1 << 1,
  PERSIST_HOT_RESET: 2 << 1,
  PERSIST_WARM_RESET: 3 << 1,
  PERSIST_COLD_RESET: 4 << 1,
  PERSIST_ACROSS_FW_UPDATE: 1 << 4,
  DEFAULT_SELECTION: 1 << 5,
  SAVED_SELECTION: 1 << 6,
} as const;

/** One feature a component offers through 0500h-0502h. Definitions are shared by every component of a kind. */
export interface FeatureDef {
  uuid: Uint8Array;
  name: string;
  /** bytes Get Feature returns */
  getSize: number;
  /** bytes Set Feature takes (0 = read-only) */
  setSize: number;
  /** FeatureAttr bits */
  attributes: number;
  getVersion: number;
  setVersion: number;
  /** what a Set does, CEL encoding, spec bit numbering */
  setEffects: number;
  /** power-on value of the writable data (setSize bytes), null for read-only features */
  defaults: Uint8Array | null;
  /** fills `out` (getSize bytes) from the writable data (null for read-only features) and the device */
  read(dev: ComponentState, data: Uint8Array | null, out: Uint8Array): void;
  /** validates writable data before it is applied; returns an rc (Success to accept) */
  check?(dev: ComponentState, data: Uint8Array): number;
}

/** A catalog with what its commands share: a Get Feature scratch as large as its largest feature. */
interface Catalog {
  features: readonly FeatureDef[];
  scratch: Uint8Array;
}

const FeatureAction = { FULL: 0, INITIATE: 1, CONTINUE: 2, FINISH: 3, ABORT: 4 } as const;
const FEATURE_ENTRY_BYTES = 0x30;

/**
 * 0500h-0502h for a feature catalog. The Set Feature CEL entry declares the union of the catalog's set effects,
 * so the CEL stays true to what the command can do on this component.
 */
export function featureCommands(features: readonly FeatureDef[]): CommandDef<ComponentState>[] {
  const cat: Catalog = { features, scratch: new Uint8Array(Math.max(0, ...features.map((f) => f.getSize))) };
  let setEffects = 0;
  for (const f of features) setEffects |= f.setEffects;
  return [
    { opcode: 0x0500, name: 'Get Supported Features', input: 8, effects: 0, handler: (dev, req) => getSupportedFeatures(cat, dev, req) },
    { opcode: 0x0501, name: 'Get Feature', input: 0x15, effects: 0, handler: (dev, req) => getFeature(cat, dev, req) },
    { opcode: 0x0502, name: 'Set Feature', input: { min: 0x20 }, effects: setEffects, handler: (dev, req) => setFeature(cat, dev, req) },
  ];
}

function featureState(dev: ComponentState): FeatureState {
  const g = genericState(dev);
  if (g.features === null) g.features = { current: [], saved: [], xfer: null };
  return g.features;
}

/** Index of the feature whose UUID starts `p`, or -1. */
function findFeature(cat: Catalog, p: Uint8Array): number {
  for (let i = 0; i < cat.features.length; i++) if (uuidEquals(p, 0, cat.features[i]!.uuid)) return i;
  return -1;
}

/** 0500h Get Supported Features (8.2.9.6.1): { le32 count (bytes), le16 start index, 2 rsvd }. */
function getSupportedFeatures(cat: Catalog, dev: ComponentState, req: CciRequest): number {
  const features = cat.features;
  const count = req.view.getUint32(0, true);
  const start = req.view.getUint16(4, true);
  if (count < 8 || start > features.length || (start === features.length && features.length > 0)) return Rc.INVALID_INPUT;
  const room = Math.min(count, outputLimit(dev, req));
  const n = Math.min(Math.floor((room - 8) / FEATURE_ENTRY_BYTES), features.length - start);
  const len = 8 + n * FEATURE_ENTRY_BYTES;
  req.payload.fill(0, 0, len);
  const v = req.view;
  v.setUint16(0, n, true);
  v.setUint16(2, features.length, true);
  for (let i = 0; i < n; i++) {
    const f = features[start + i]!;
    const at = 8 + i * FEATURE_ENTRY_BYTES;
    req.payload.set(f.uuid, at);
    v.setUint16(at + 0x10, start + i, true);
    v.setUint16(at + 0x12, f.getSize, true);
    v.setUint16(at + 0x14, f.setSize, true);
    v.setUint32(at + 0x16, f.attributes, true);
    v.setUint8(at + 0x1a, f.getVersion);
    v.setUint8(at + 0x1b, f.setVersion);
    v.setUint16(at + 0x1c, f.setEffects, true);
  }
  req.outLen = len;
  return Rc.SUCCESS;
}

/** 0501h Get Feature (8.2.9.6.2): { uuid, le16 offset, le16 count, u8 selection 0 current / 1 default / 2 saved }. */
function getFeature(cat: Catalog, dev: ComponentState, req: CciRequest): number {
  const idx = findFeature(cat, req.payload);
  if (idx < 0) return Rc.UNSUPPORTED;
  const f = cat.features[idx]!;
  const offset = req.view.getUint16(0x10, true);
  const count = req.view.getUint16(0x12, true);
  const sel = req.payload[0x14]!;
  const fs = dev.generic?.features ?? null;
  if (fs?.xfer != null && fs.xfer.index === idx) return Rc.FEATURE_TRANSFER_IN_PROGRESS;
  if (sel > 2 || (sel === 1 && (f.attributes & FeatureAttr.DEFAULT_SELECTION) === 0)
    || (sel === 2 && (f.attributes & FeatureAttr.SAVED_SELECTION) === 0)) return Rc.UNSUPPORTED_FEATURE_SELECTION;
  if (offset >= f.getSize || count > outputLimit(dev, req)) return Rc.INVALID_INPUT;
  const data = sel === 1 ? f.defaults : sel === 2 ? fs?.saved[idx] ?? f.defaults : fs?.current[idx] ?? f.defaults;
  const out = cat.scratch.subarray(0, f.getSize);
  out.fill(0);
  f.read(dev, data, out);
  const n = Math.min(count, f.getSize - offset);
  req.payload.set(out.subarray(offset, offset + n), 0);
  req.outLen = n;
  return Rc.SUCCESS;
}

/** A Set Feature request, decoded: which feature, the action and its piece of data. */
interface SetRequest {
  idx: number;
  f: FeatureDef;
  action: number;
  /** flags bit 3: keep the value across resets (saved) */
  keep: boolean;
  offset: number;
  data: Uint8Array;
}

/**
 * 0502h Set Feature (8.2.9.6.3): { uuid, le32 flags ([2:0] action, [3] saved across reset), le16 offset,
 * u8 version, 9 rsvd, data }. Full carries the whole writable data; Initiate/Continue/Finish carry it in
 * order; Abort drops an open transfer. The data is checked and applied only when complete.
 */
function setFeature(cat: Catalog, dev: ComponentState, req: CciRequest): number {
  const r = decodeSet(cat, req);
  if (typeof r === 'number') return r;
  const open = dev.generic?.features?.xfer ?? null;
  if (open !== null && open.index !== r.idx) return Rc.FEATURE_TRANSFER_IN_PROGRESS;
  if (r.action === FeatureAction.ABORT) {
    if (open !== null) dev.generic!.features!.xfer = null;
    return Rc.SUCCESS;
  }
  if (req.payload[0x16] !== r.f.setVersion) return Rc.UNSUPPORTED_FEATURE_VERSION;
  if (r.data.byteLength === 0 || r.offset + r.data.byteLength > r.f.setSize) return Rc.INVALID_PAYLOAD_LENGTH;
  const fs = featureState(dev);
  if (r.action === FeatureAction.FULL) return setWhole(dev, fs, r, open !== null);
  if (r.action === FeatureAction.INITIATE) return initiateTransfer(fs, r, open !== null);
  return continueTransfer(dev, fs, r);
}

/** The request's feature and fields, or an rc: an unknown action, feature, or a feature that cannot be set. */
function decodeSet(cat: Catalog, req: CciRequest): SetRequest | number {
  const flags = req.view.getUint32(0x10, true);
  const action = flags & 7;
  if (action > FeatureAction.ABORT) return Rc.INVALID_INPUT;
  const idx = findFeature(cat, req.payload);
  if (idx < 0) return Rc.UNSUPPORTED;
  const f = cat.features[idx]!;
  if ((f.attributes & FeatureAttr.CHANGEABLE) === 0 || f.setSize === 0) return Rc.UNSUPPORTED;
  return { idx, f, action, keep: (flags & 8) !== 0, offset: req.view.getUint16(0x14, true), data: req.payload.subarray(0x20, req.inLen) };
}

/** Full: the whole writable data in one request, while no transfer is open. */
function setWhole(dev: ComponentState, fs: FeatureState, r: SetRequest, transferOpen: boolean): number {
  if (transferOpen) return Rc.FEATURE_TRANSFER_IN_PROGRESS;
  if (r.offset !== 0 || r.data.byteLength !== r.f.setSize) return Rc.INVALID_INPUT;
  return applyFeature(dev, fs, r.f, r.idx, r.data, r.keep);
}

/** Initiate: opens a transfer with the first piece, at offset 0. */
function initiateTransfer(fs: FeatureState, r: SetRequest, transferOpen: boolean): number {
  if (transferOpen) return Rc.FEATURE_TRANSFER_IN_PROGRESS;
  if (r.offset !== 0) return Rc.FEATURE_TRANSFER_OUT_OF_ORDER;
  const buf = new Uint8Array(r.f.setSize);
  buf.set(r.data, 0);
  fs.xfer = { index: r.idx, data: buf, next: r.data.byteLength };
  return Rc.SUCCESS;
}

/** Continue or Finish: the next piece, where the last one ended; Finish applies the whole value. */
function continueTransfer(dev: ComponentState, fs: FeatureState, r: SetRequest): number {
  const open = fs.xfer;
  if (open === null) return Rc.FEATURE_TRANSFER_OUT_OF_ORDER;
  if (r.offset !== open.next) {
    fs.xfer = null;
    return Rc.FEATURE_TRANSFER_OUT_OF_ORDER;
  }
  open.data.set(r.data, r.offset);
  open.next = r.offset + r.data.byteLength;
  if (r.action === FeatureAction.CONTINUE) return Rc.SUCCESS;
  fs.xfer = null;
  if (open.next !== r.f.setSize) return Rc.INVALID_INPUT;
  return applyFeature(dev, fs, r.f, r.idx, open.data, r.keep);
}

/** Checks and applies a complete value; saves it too if asked and the feature keeps saved values. */
function applyFeature(dev: ComponentState, fs: FeatureState, f: FeatureDef, idx: number, data: Uint8Array, keep: boolean): number {
  const rc = f.check ? f.check(dev, data) : Rc.SUCCESS;
  if (rc !== Rc.SUCCESS) return rc;
  fs.current[idx] = data.slice();
  if (keep && (f.attributes & FeatureAttr.SAVED_SELECTION) !== 0) fs.saved[idx] = data.slice();
  return Rc.SUCCESS;
}
