import type { AdminContext } from './commands.js';
import type { NvmeController } from './controller.js';
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

/** Identify Controller SANICAP: crypto erase (0), block erase (1), overwrite (2). */
export const SANICAP = 0x7;

export const SanAct = { EXIT_FAILURE_MODE: 1, BLOCK_ERASE: 2, OVERWRITE: 3, CRYPTO_ERASE: 4 } as const;

/** Sanitize Status SSTAT bits 2:0. */
export const SanStatus = { NEVER: 0, COMPLETED: 1, IN_PROGRESS: 2, FAILED: 3 } as const;

/** How long each sanitize action runs (ns): the emulated media is small and fast, but not instant. */
export const SANITIZE_NS = {
  crypto: 500e6,
  block: 2e9,
  overwritePass: 1e9,
} as const;

export const SANITIZE_LOG_BYTES = 512;

// ------------------------------------------------------------------------------------- namespace formats

const ERASED = 1 << 9;

/**
 * Per-namespace format, allocated on the first Format NVM or sanitize (until then every namespace has
 * format 0 and its factory data). Packed per namespace: LBAF 3:0, MSET 4, PI 7:5, PIL 8, user data erased 9.
 */
export class NamespaceFormats {
  readonly packed: Uint16Array;
  constructor(namespaces: number) {
    this.packed = new Uint16Array(namespaces);
  }
}

export interface NsFormat {
  lbaf: number;
  mset: number;
  pi: number;
  pil: number;
  erased: boolean;
}

export function nsFormatOf(c: NvmeController, nsid: number): NsFormat {
  const p = c.formats?.packed[nsid - 1] ?? 0;
  return { lbaf: p & 0xf, mset: (p >> 4) & 1, pi: (p >> 5) & 7, pil: (p >> 8) & 1, erased: (p & ERASED) !== 0 };
}

/** NUSE: a deterministic share of the namespace holds factory data until a format or sanitize erases it. */
export function nsUsage(c: NvmeController, nsid: number, nsze: bigint): bigint {
  if (nsFormatOf(c, nsid).erased) return 0n;
  const pct = 10 + ((c.seed + nsid * 7) % 60);
  return (nsze * BigInt(pct)) / 100n;
}

function formats(c: NvmeController): NamespaceFormats {
  return (c.formats ??= new NamespaceFormats(c.namespaces));
}

/** Sanitize or purge: every namespace loses its user data (formats unchanged). */
export function eraseAllNamespaces(c: NvmeController): void {
  if (c.namespaces === 0) return;
  const t = formats(c).packed;
  for (let i = 0; i < t.length; i++) t[i]! |= ERASED;
}

/**
 * 80h Format NVM (NVMe NVM Command Set 1.0 4.1 / Base 2.0 5.14). CDW10: LBAF 3:0, MSET 4, PI 7:5, PIL 8,
 * SES 11:9 (LBAFU 13:12 is reserved: Host Behavior LBAFEE is not supported). NSID: one active namespace or
 * FFFFFFFFh for all. Completes when done; the namespaces' user data is gone (NUSE 0).
 */
export function formatNvm(c: NvmeController, x: AdminContext): number {
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
  const packed = lbaf | (mset << 4) | (pi << 5) | (pil << 8) | ERASED;
  const table = formats(c).packed;
  if (nsid === 0xffffffff) table.fill(packed);
  else table[nsid - 1] = packed;
  return St.SUCCESS;
}

// -------------------------------------------------------------------------------------------- sanitize

/** Sanitize status (log 81h), allocated on the first Sanitize command. Progress is a function of time. */
export class SanitizeState {
  status: number = SanStatus.NEVER;
  /** Global Data Erased */
  gde = false;
  passesDone = 0;
  scdw10 = 0;
  running = false;
  startNs = 0;
  endNs = 0;
  private passes = 0;
  private deallocate = true;

  constructor(namespaces: number) {
    this.gde = namespaces === 0;
  }

  start(cdw10: number, nowNs: number, durationNs: number, passes: number, deallocate: boolean): void {
    this.scdw10 = cdw10 >>> 0;
    this.status = SanStatus.IN_PROGRESS;
    this.running = true;
    this.startNs = nowNs;
    this.endNs = nowNs + durationNs;
    this.passes = passes;
    this.passesDone = 0;
    this.deallocate = deallocate;
  }

  /** SPROG: fraction done, numerator over 65536; FFFFh when no sanitize is in progress. */
  progress(nowNs: number): number {
    if (!this.running) return 0xffff;
    const f = (nowNs - this.startNs) / (this.endNs - this.startNs);
    return Math.max(0, Math.min(0xfffe, Math.floor(f * 65536)));
  }

  /** Overwrite passes completed by `nowNs` (SSTAT 7:3). */
  passesAt(nowNs: number): number {
    if (!this.running || this.passes === 0) return this.passesDone;
    return Math.min(this.passes, Math.floor(((nowNs - this.startNs) / (this.endNs - this.startNs)) * this.passes));
  }

  /** The operation ends: every namespace's user data is gone. */
  finish(c: NvmeController): void {
    this.running = false;
    this.status = SanStatus.COMPLETED;
    this.passesDone = this.passes;
    this.gde = true;
    if (this.deallocate) eraseAllNamespaces(c);
  }
}

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
 */
export function sanitize(c: NvmeController, x: AdminContext): number {
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
  const s = (c.san ??= new SanitizeState(c.namespaces));
  s.start(cdw10, x.nowNs, sanitizeDurationNs(action, passes), passes, ndas === 0);
  return St.SUCCESS;
}

/** Log 81h Sanitize Status (512 bytes), NVMe Base 2.0 5.16.1.25. */
export function sanitizeStatusLog(c: NvmeController, v: DataView, nowNs: number): void {
  const s = c.san;
  const sstat = s === null
    ? (c.namespaces === 0 ? 1 << 8 : 0)
    : (s.status & 7) | ((s.passesAt(nowNs) & 0x1f) << 3) | (s.gde ? 1 << 8 : 0);
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
