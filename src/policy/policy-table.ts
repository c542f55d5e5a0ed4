import { cxlLevel, nvmeLevel } from './rules.js';
import { REFUSED_LEVEL, TierLevel } from './tiers.js';

/**
 * The tier each opcode of one device needs, built from what the device itself reported (its CEL or NVMe
 * effects log). Devices reporting the same log share one table within a mux (see PolicyTables), so 100,000
 * devices of a handful of profiles cost a handful of tables.
 */
export class PolicyTable {
  /** required tier level per opcode; REFUSED_LEVEL where no session may send it */
  readonly level: Uint8Array;
  /** the effects the device reported per opcode (0 where absent) */
  readonly effects: Uint32Array;
  readonly declared: Uint8Array;

  constructor(readonly protocol: 'cxl' | 'nvme', readonly shared: boolean, size: number, readonly unknown = false) {
    this.level = new Uint8Array(size).fill(REFUSED_LEVEL);
    this.effects = new Uint32Array(size);
    this.declared = new Uint8Array(size);
  }

  reason(opcode: number): string {
    if (this.unknown) return 'the device\'s effects log could not be read at enumeration: unknown effects need debug-write-full';
    if (this.protocol === 'nvme') return nvmeLevel(opcode, this.effects[opcode] ?? 0).reason;
    return cxlLevel(opcode, this.effects[opcode] ?? 0, this.declared[opcode] === 1, this.shared).reason;
  }
}

/** Opcodes a device does not declare, opened at a tier level by the mux's `vendorRules`. */
export interface VendorRules {
  cxl: ReadonlyMap<number, number>;
  nvme: ReadonlyMap<number, number>;
}

/**
 * The tables of one mux. Devices reporting the same log share one table, keyed by the log's bytes (and, for
 * CXL, whether the component is shared by several hosts); everything else that decides a table, the vendor
 * rules, is fixed per instance. One instance per mux: no policy state is shared between muxes, so one mux's
 * rules can never open an opcode for another (the lesson of fwctl's per-context state).
 */
export class PolicyTables {
  private readonly cxlCache = new Map<string, PolicyTable>();
  private readonly nvmeCache = new Map<string, PolicyTable>();
  private unknownCxl: PolicyTable | null = null;
  private unknownNvme: PolicyTable | null = null;

  constructor(private readonly vendorRules: VendorRules) {}

  /** Distinct tables built so far. */
  get size(): number {
    return this.cxlCache.size + this.nvmeCache.size;
  }

  /** From CEL bytes ({le16 opcode, le16 effects}*). Vendor rules open opcodes the CEL does not list. */
  cxl(cel: Uint8Array, shared: boolean): PolicyTable {
    const key = `${shared ? 's' : 'd'}:${Buffer.from(cel.buffer, cel.byteOffset, cel.byteLength).toString('base64')}`;
    let t = this.cxlCache.get(key);
    if (t === undefined) {
      t = cxlPolicyFromCel(cel, shared, this.vendorRules.cxl);
      this.cxlCache.set(key, t);
    }
    return t;
  }

  /** From NVMe log page 05h: 512 little-endian dwords (admin, then I/O opcodes). */
  nvme(log: Uint8Array): PolicyTable {
    const key = Buffer.from(log.buffer, log.byteOffset, Math.min(2048, log.byteLength)).toString('base64');
    let t = this.nvmeCache.get(key);
    if (t === undefined) {
      t = nvmePolicyFromEffectsLog(log, this.vendorRules.nvme);
      this.nvmeCache.set(key, t);
    }
    return t;
  }

  /**
   * For a device whose effects log could not be read (it hung or failed at enumeration): every opcode needs
   * the highest fwctl scope, debug-write-full (pds's rule for unknown attributes), and commands known to hurt
   * other hosts stay fabric-destructive. An operator can still reach a broken device; nobody else can.
   */
  unknown(protocol: 'cxl' | 'nvme'): PolicyTable {
    if (protocol === 'nvme') {
      if (this.unknownNvme === null) {
        this.unknownNvme = new PolicyTable('nvme', false, 0x200, true);
        this.unknownNvme.level.fill(TierLevel['debug-write-full']);
      }
      return this.unknownNvme;
    }
    if (this.unknownCxl === null) {
      const t = new PolicyTable('cxl', true, 0x10000, true);
      for (let op = 0; op < 0x10000; op++) t.level[op] = Math.max(TierLevel['debug-write-full'], cxlLevel(op, 0, true, true).level);
      this.unknownCxl = t;
    }
    return this.unknownCxl;
  }
}

/** A new table from CEL bytes ({le16 opcode, le16 effects}*). `vendorRules` allow opcodes the CEL does not list. */
export function cxlPolicyFromCel(cel: Uint8Array, shared: boolean, vendorRules: ReadonlyMap<number, number>): PolicyTable {
  const t = new PolicyTable('cxl', shared, 0x10000);
  const v = new DataView(cel.buffer, cel.byteOffset, cel.byteLength);
  for (let i = 0; i + 4 <= cel.byteLength; i += 4) {
    const op = v.getUint16(i, true);
    t.effects[op] = v.getUint16(i + 2, true);
    t.declared[op] = 1;
  }
  for (let op = 0; op < 0x10000; op++) t.level[op] = cxlLevel(op, t.effects[op]!, t.declared[op] === 1, shared).level;
  // A vendor rule can only open an opcode the log is silent about; it never lowers a declared one.
  for (const [op, level] of vendorRules) if (t.declared[op] === 0 && t.level[op] === REFUSED_LEVEL) t.level[op] = level;
  return t;
}

/**
 * A new table from NVMe log page 05h: ACS (admin opcodes, entries 0-255) and IOCS (I/O opcodes, entries
 * 256-511), 512 little-endian dwords. A command on an I/O queue is checked at index 100h + opcode (its IOCS entry).
 */
export function nvmePolicyFromEffectsLog(log: Uint8Array, vendorRules: ReadonlyMap<number, number>): PolicyTable {
  const t = new PolicyTable('nvme', false, 0x200);
  const v = new DataView(log.buffer, log.byteOffset, log.byteLength);
  for (let op = 0; op < 0x200 && op * 4 + 4 <= log.byteLength; op++) {
    const e = v.getUint32(op * 4, true);
    t.effects[op] = e;
    t.declared[op] = e & 1;
    t.level[op] = nvmeLevel(op, e).level;
  }
  for (const [op, level] of vendorRules) if (op < 256 && t.level[op] === REFUSED_LEVEL) t.level[op] = level;
  return t;
}
