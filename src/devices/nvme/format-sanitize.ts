import {
  NamespaceFormats, SanitizeState, SanStatus, type AdminContext, type ControllerState,
} from './controller-state.js';
import { NamespaceStore, type SanitizedMedia } from './namespace-store.js';
import { St } from './status.js';

/** LBA formats of every namespace (Identify Namespace LBAF0..3): metadata bytes, log2 LBA size, relative performance. */
export interface LbaFormat {
  ms: number;
  lbads: number;
  rp: number;
}

export const LBA_FORMATS: readonly LbaFormat[] = [
  { ms: 0, lbads: 9, rp: 2 },
  { ms: 0, lbads: 12, rp: 0 },
  { ms: 8, lbads: 9, rp: 3 },
  { ms: 8, lbads: 12, rp: 1 },
];

/**
 * Identify Controller SANICAP (offset 328): crypto erase (0), block erase (1), overwrite (2); NDI (29) 0, the
 * No-Deallocate After Sanitize bit is honoured; NODMMAS (31:30) 01b, the media is not additionally modified
 * after a sanitize operation completes successfully (00b is for controllers of revision 1.3 or earlier; this
 * one reports 2.0). So the Sanitize Status log says 001b (completed) the moment the operation ends, and blocks
 * a no-deallocate sanitize kept allocated read the same ever after.
 */
export const SANICAP = 0x7 | (0b01 << 30);

export const SanAct = { EXIT_FAILURE_MODE: 1, BLOCK_ERASE: 2, OVERWRITE: 3, CRYPTO_ERASE: 4 } as const;

/** How long each sanitize action runs (ns): the emulated media is small and fast, but not instant. */
export const SANITIZE_NS = {
  crypto: 500e6,
  block: 2e9,
  overwritePass: 1e9,
} as const;

export const SANITIZE_LOG_BYTES = 512;

/**
 * Blocks a namespace may hold allocated at once (NCAP, thin provisioning), as bytes of user data: what the
 * emulator is willing to keep in memory per namespace. NSZE stays the full size.
 */
export const NS_CAPACITY_BYTES = 64 * 1024 * 1024;

// ------------------------------------------------------------------------------------- namespace formats

export interface NsFormat {
  lbaf: number;
  mset: number;
  pi: number;
  pil: number;
}

export function nsFormatOf(c: ControllerState, nsid: number): NsFormat {
  const p = c.formats?.packed[nsid - 1] ?? 0;
  return { lbaf: p & 0xf, mset: (p >> 4) & 1, pi: (p >> 5) & 7, pil: (p >> 8) & 1 };
}

/** NSZE of an active namespace in its current LBA format. */
export function nsSize(c: ControllerState, nsid: number): number {
  return Math.floor(c.nsBytes / 2 ** LBA_FORMATS[nsFormatOf(c, nsid).lbaf]!.lbads);
}

/** NCAP: at most NS_CAPACITY_BYTES of blocks allocated at a time. */
export function nsCapacity(c: ControllerState, nsid: number): number {
  return Math.min(nsSize(c, nsid), Math.floor(NS_CAPACITY_BYTES / 2 ** LBA_FORMATS[nsFormatOf(c, nsid).lbaf]!.lbads));
}

/** NUSE: blocks allocated now. */
export function nsUsage(c: ControllerState, nsid: number): number {
  return c.formats?.stores[nsid - 1]?.used ?? 0;
}

function formats(c: ControllerState): NamespaceFormats {
  return (c.formats ??= new NamespaceFormats(c.namespaces));
}

/** The blocks of active namespace `nsid`, in its current format. */
export function nsStore(c: ControllerState, nsid: number): NamespaceStore {
  const f = formats(c);
  let s = f.stores[nsid - 1];
  if (s === undefined) {
    const lbaf = LBA_FORMATS[nsFormatOf(c, nsid).lbaf]!;
    s = new NamespaceStore(2 ** lbaf.lbads, lbaf.ms);
    f.stores[nsid - 1] = s;
  }
  return s;
}

/**
 * 80h Format NVM (NVMe NVM Command Set 1.0 4.1 / Base 2.0 5.14). CDW10: LBAF 3:0, MSET 4, PI 7:5, PIL 8,
 * SES 11:9 (LBAFU 13:12 is reserved: Host Behavior LBAFEE is not supported). NSID: one active namespace or
 * FFFFFFFFh for all. Completes when done; the namespaces' user data is gone (NUSE 0).
 */
export function formatNvm(c: ControllerState, x: AdminContext): number {
  const { cdw10, nsid } = x.sqe;
  const lbaf = cdw10 & 0xf;
  const mset = (cdw10 >>> 4) & 1;
  const pi = (cdw10 >>> 5) & 7;
  const pil = (cdw10 >>> 8) & 1;
  const ses = (cdw10 >>> 9) & 7;
  if (nsid !== 0xffffffff && !c.nsActive(nsid)) {
    x.errLoc = 4;
    return St.INVALID_NAMESPACE;
  }
  if (ses > 2) {
    x.errLoc = 41 | (1 << 8); // CDW10 byte 1, bit 1
    return St.INVALID_FIELD;
  }
  if (pi > 3) {
    x.errLoc = 40 | (5 << 8);
    return St.INVALID_FIELD;
  }
  const f = LBA_FORMATS[lbaf];
  if (f === undefined || (pi !== 0 && f.ms < 8)) {
    x.errLoc = 40;
    return St.INVALID_FORMAT;
  }
  // every block of a formatted namespace is deallocated (its store starts over in the new format)
  const packed = lbaf | (mset << 4) | (pi << 5) | (pil << 8);
  const t = formats(c);
  if (nsid === 0xffffffff) {
    t.packed.fill(packed);
    t.stores.fill(undefined);
  } else {
    t.packed[nsid - 1] = packed;
    t.stores[nsid - 1] = undefined;
  }
  return St.SUCCESS;
}

// -------------------------------------------------------------------------------------------- sanitize

/** Duration of a sanitize action (ns). */
export function sanitizeDurationNs(action: number, passes: number): number {
  if (action === SanAct.CRYPTO_ERASE) return SANITIZE_NS.crypto;
  if (action === SanAct.BLOCK_ERASE) return SANITIZE_NS.block;
  return SANITIZE_NS.overwritePass * passes;
}

/**
 * 84h Sanitize (NVMe Base 2.0 5.24). CDW10: SANACT 2:0, AUSE 3, OWPASS 7:4 (0 = 16), OIPBP 8, NDAS 9,
 * EMVS 10; CDW11 OVRPAT. The command completes once the operation has started; it runs in the background
 * and log 81h reports its progress. While it runs, only the commands the table allows execute (others get
 * Sanitize In Progress). A sanitize never fails here, so Exit Failure Mode (001b) is a successful no-op.
 * With NDAS = 1 the blocks that are allocated stay so, holding: the overwrite pattern of the last pass
 * (OVRPAT, inverted when OIPBP is set and the pass count is even), all ones after a block erase (erased
 * flash), or unreadable bytes after a crypto erase.
 */
export function sanitize(c: ControllerState, x: AdminContext): number {
  const cdw10 = x.sqe.cdw10;
  const action = cdw10 & 7;
  const emvs = (cdw10 >>> 10) & 1;
  if (emvs !== 0) {
    x.errLoc = 41 | (2 << 8);
    return St.INVALID_FIELD;
  }
  if (action === SanAct.EXIT_FAILURE_MODE) return St.SUCCESS;
  const capBit = action === SanAct.CRYPTO_ERASE ? 1 : action === SanAct.BLOCK_ERASE ? 2 : action === SanAct.OVERWRITE ? 4 : 0;
  if ((SANICAP & capBit) === 0) {
    x.errLoc = 40;
    return St.INVALID_FIELD;
  }
  const owpass = (cdw10 >>> 4) & 0xf;
  const passes = action === SanAct.OVERWRITE ? (owpass === 0 ? 16 : owpass) : 0;
  const ndas = (cdw10 >>> 9) & 1;
  const oipbp = (cdw10 >>> 8) & 1;
  let media: SanitizedMedia | null = null;
  if (ndas === 1) {
    if (action === SanAct.OVERWRITE) media = { kind: 'pattern', value: oipbp === 1 && passes % 2 === 0 ? ~x.sqe.cdw11 >>> 0 : x.sqe.cdw11 >>> 0 };
    else if (action === SanAct.BLOCK_ERASE) media = { kind: 'pattern', value: 0xffffffff };
    else media = { kind: 'noise', seed: (c.seed ^ Math.floor(x.nowNs)) >>> 0 };
  }
  const s = (c.san ??= new SanitizeState());
  s.start(cdw10, x.nowNs, sanitizeDurationNs(action, passes), passes, media);
  return St.SUCCESS;
}

/** Log 81h Sanitize Status (512 bytes), NVMe Base 2.0 5.16.1.25. */
export function sanitizeStatusLog(c: ControllerState, v: DataView, nowNs: number): void {
  const s = c.san;
  // GDE (bit 8): no user data written since manufacture or since the last successful sanitize
  const sstat = (s === null ? SanStatus.NEVER : (s.status & 7) | ((s.passesAt(nowNs) & 0x1f) << 3)) | (c.gde ? 1 << 8 : 0);
  v.setUint16(0, s === null ? 0xffff : s.progress(nowNs), true); // SPROG
  v.setUint16(2, sstat, true); // SSTAT
  v.setUint32(4, s === null ? 0 : s.scdw10, true); // SCDW10
  v.setUint32(8, Math.ceil((SANITIZE_NS.overwritePass * 16) / 1e9), true); // ETO: overwrite, 16 passes (s)
  v.setUint32(12, Math.ceil(SANITIZE_NS.block / 1e9), true); // ETBE
  v.setUint32(16, Math.ceil(SANITIZE_NS.crypto / 1e9), true); // ETCE
  v.setUint32(20, 0xffffffff, true); // ETOND: no-deallocate times not reported
  v.setUint32(24, 0xffffffff, true); // ETBEND
  v.setUint32(28, 0xffffffff, true); // ETCEND
}
