import { readFileSync } from 'node:fs';
import { FleetError } from '../errors.js';
import { mailboxBlockAlign, mailboxBlockBytes, MAX_MAILBOX_BYTES, MIN_MAILBOX_BYTES } from '../devices/cxl/mailbox-layout.js';
import { nvmeBlockLayout } from '../devices/nvme/layout.js';
import { pccBlockBytes } from '../transport/pcc-layout.js';
import { type ErrorOf, intValue, probabilityValue } from '../validate.js';
import { balanceGroups, checkSlice, groupSizes, sliceDevices } from './slice.js';
import type {
  DeviceDescriptor, DeviceKind, DeviceSpec, FaultSpec, Fleet, FleetCounts, FleetFile, FleetInput, FleetSlice, MldSpec,
  SwitchSpec, Type3Spec, VendorMode,
} from './types.js';

/** The default emulated fleet (`npm start`, `mbxmux load` without --fleet). */
export const DEFAULT_FLEET: Readonly<FleetCounts> = { 'cxl-type3': 1024, 'cxl-switch': 4, nvme: 256, 'mctp-pcc': 16 };

const COUNT_KINDS = ['cxl-type3', 'cxl-switch', 'nvme', 'mctp-pcc'] as const;
const MAX_DEVICES = 1_000_000;
const GIB = 1024 ** 3;
const MIB_256 = 256 * 1024 ** 2;

/** Parses the CLI form `cxl-type3=1024,cxl-switch=4,nvme=256,mctp-pcc=16` (also `seed=N`, `hosts=N`). */
export function parseFleetFlag(text: string): FleetCounts {
  const out: Record<string, number> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z0-9-]+)=(\d+)$/.exec(part);
    if (!m) throw new FleetError(`bad --fleet item "${part}": expected kind=count, e.g. cxl-type3=1024`);
    const key = m[1]!;
    if (![...COUNT_KINDS, 'seed', 'hosts'].includes(key)) {
      throw new FleetError(`unknown fleet kind "${key}": use ${COUNT_KINDS.join(', ')}, seed or hosts`);
    }
    out[key] = Number(m[2]);
  }
  return out as FleetCounts;
}

/** Reads and validates a JSON fleet file. */
export function loadFleetFile(path: string): FleetFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FleetError(`cannot read fleet file ${path}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new FleetError(`fleet file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (!isFleetFile(parsed)) throw new FleetError(`fleet file ${path} must be an object with a "devices" array`);
  return parsed;
}

function isFleetFile(x: unknown): x is FleetFile {
  return typeof x === 'object' && x !== null && Array.isArray((x as FleetFile).devices);
}

/** Every bad value in a fleet description is an EMBX_BAD_FLEET error. */
const fleetError: ErrorOf = (message) => new FleetError(message);

function intIn(v: unknown, lo: number, hi: number, what: string): number {
  return intValue(v, what, lo, hi, '', fleetError);
}

function mailboxBytesOf(v: unknown, what: string): number {
  if (v === undefined) return 4096;
  const n = intIn(v, MIN_MAILBOX_BYTES, MAX_MAILBOX_BYTES, `${what}.mailboxBytes`);
  if ((n & (n - 1)) !== 0) throw new FleetError(`${what}.mailboxBytes must be a power of two (got ${n})`);
  return n;
}

function vendorOf(v: unknown, what: string, dflt: VendorMode): VendorMode {
  if (v === undefined) return dflt;
  if (v === 'declared' || v === 'hidden' || v === 'none') return v;
  throw new FleetError(`${what}.vendorCommands must be "declared", "hidden" or "none" (got ${JSON.stringify(v)})`);
}

function faultsOf(v: unknown, what: string, kind: DeviceKind): FaultSpec | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null) throw new FleetError(`${what}.faults must be an object`);
  const f = v as FaultSpec;
  const known = ['hang', 'slowMs', 'busy', 'error', 'errorRc', 'dropFragments', 'crashOn', 'exitOn', 'oomOn', 'lieEffects', 'malformed', 'testOnly'];
  for (const k of Object.keys(f)) if (!known.includes(k)) throw new FleetError(`${what}.faults.${k} is not a fault; use ${known.join(', ')}`);
  for (const p of ['busy', 'error', 'dropFragments'] as const) if (f[p] !== undefined) probabilityValue(f[p], `${what}.faults.${p}`, fleetError);
  if (f.slowMs !== undefined) intIn(f.slowMs, 0, 600_000, `${what}.faults.slowMs`);
  if (f.errorRc !== undefined) intIn(f.errorRc, 0, 0xffff, `${what}.faults.errorRc`);
  if (f.error !== undefined && f.errorRc === undefined) throw new FleetError(`${what}.faults.error needs errorRc`);
  for (const k of ['crashOn', 'exitOn', 'oomOn'] as const) if (f[k] !== undefined) intIn(f[k], 0, 0xffff, `${what}.faults.${k}`);
  if (f.lieEffects !== undefined && typeof f.lieEffects !== 'boolean') throw new FleetError(`${what}.faults.lieEffects must be true or false`);
  for (const k of ['hang', 'malformed'] as const) {
    const o = f[k];
    if (o !== undefined && typeof o !== 'boolean' && !(Array.isArray(o) && o.every((op) => Number.isInteger(op) && op >= 0 && op <= 0xffff))) {
      throw new FleetError(`${what}.faults.${k} must be true or a list of opcodes`);
    }
  }
  if (f.testOnly !== undefined) testOnlyOf(f.testOnly, `${what}.faults.testOnly`);
  if (f.malformed !== undefined && kind === 'nvme') throw new FleetError(`${what}.faults.malformed applies to CXL components and MCTP endpoints, not NVMe controllers`);
  return { ...f };
}

function testOnlyOf(v: unknown, what: string): void {
  if (typeof v !== 'object' || v === null) throw new FleetError(`${what} must be an object`);
  const known = ['dropCompletion', 'duplicateCompletion', 'misdeliverCompletion'];
  for (const [k, p] of Object.entries(v)) {
    if (!known.includes(k)) throw new FleetError(`${what}.${k} is not a test-only fault; use ${known.join(', ')}`);
    probabilityValue(p, `${what}.${k}`, fleetError);
  }
}

/** splitmix64: a deterministic 64-bit serial number per (seed, device index). */
export function serialFor(seed: number, index: number): bigint {
  let z = (BigInt(seed) * 0x9e3779b97f4a7c15n + BigInt(index + 1) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
  return z ^ (z >> 31n);
}

function countsToFile(c: FleetCounts): FleetFile {
  for (const k of Object.keys(c)) {
    if (![...COUNT_KINDS, 'seed', 'hosts'].includes(k)) throw new FleetError(`unknown fleet kind "${k}": use ${COUNT_KINDS.join(', ')}`);
  }
  const devices: DeviceSpec[] = [];
  for (const kind of COUNT_KINDS) {
    const n = c[kind];
    if (n === undefined || n === 0) continue;
    intIn(n, 0, MAX_DEVICES, `fleet ${kind} count`);
    devices.push({ kind, count: n } as DeviceSpec);
  }
  const out: FleetFile = { devices };
  if (c.seed !== undefined) out.seed = c.seed;
  if (c.hosts !== undefined) out.hosts = c.hosts;
  return out;
}

/** Default switch topology: port 1 an SLD, port 2 an MLD with 4 LDs over the hosts, port 3 an SLD, 4 empty. */
function defaultDownstream(hosts: number): NonNullable<SwitchSpec['downstream']> {
  return [
    { port: 1, device: { kind: 'cxl-type3', host: 0 } },
    { port: 2, device: { kind: 'cxl-mld', lds: [0, 1, 2, 3].map((i) => ({ host: i % hosts })) } },
    { port: 3, device: { kind: 'cxl-type3', host: 1 % hosts } },
  ];
}

type DraftFields = Omit<DeviceDescriptor, 'shard' | 'local' | 'memOffset' | 'fleetIndex'> & { align: number };

/**
 * One expanded device. A class with every field set in the constructor keeps all descriptors on one V8 hidden
 * class (~2x smaller than objects built by spreading), which matters at 100,000 devices in every thread.
 */
class Device implements DeviceDescriptor {
  id: string;
  kind: DeviceKind;
  index: number;
  fleetIndex: number;
  group: number;
  shard = -1;
  local = -1;
  host: number;
  mailboxBytes: number;
  serial: bigint;
  vendorCommands: VendorMode;
  faults: FaultSpec | undefined;
  memOffset = -1;
  memBytes: number;
  /** arena alignment of this device's block */
  align: number;
  type3: DeviceDescriptor['type3'];
  switchInfo: DeviceDescriptor['switchInfo'];
  mld: DeviceDescriptor['mld'];
  nvme: DeviceDescriptor['nvme'];
  mctp: DeviceDescriptor['mctp'];
  tunnelOnly: DeviceDescriptor['tunnelOnly'];

  constructor(f: DraftFields) {
    this.id = f.id;
    this.kind = f.kind;
    this.index = f.index;
    this.fleetIndex = f.index;
    this.group = f.group;
    this.host = f.host;
    this.mailboxBytes = f.mailboxBytes;
    this.serial = f.serial;
    this.vendorCommands = f.vendorCommands;
    this.faults = f.faults;
    this.memBytes = f.memBytes;
    this.align = f.align;
    this.type3 = f.type3;
    this.switchInfo = f.switchInfo;
    this.mld = f.mld;
    this.nvme = f.nvme;
    this.mctp = f.mctp;
    this.tunnelOnly = f.tunnelOnly;
  }
}
type Draft = Device;

/**
 * Expands a fleet (counts or file) into device descriptors and assigns them to `shards` workers; with `slice`,
 * only the devices of that slice (slice.ts), with the ids and serial numbers they have in the whole fleet.
 * Deterministic: the main thread and every worker compute the same result from the same input.
 */
export function buildFleet(input: FleetInput | undefined, shards: number, slice?: FleetSlice): Fleet {
  intIn(shards, 1, 1024, 'shards');
  if (slice !== undefined) checkSlice(slice);
  const file: FleetFile = input === undefined ? countsToFile(DEFAULT_FLEET) : 'devices' in input ? input : countsToFile(input);
  if (!Array.isArray(file.devices)) throw new FleetError('fleet.devices must be an array');
  const seed = file.seed === undefined ? 1 : intIn(file.seed, 0, 2 ** 31 - 1, 'fleet.seed');
  const hosts = file.hosts === undefined ? 2 : intIn(file.hosts, 1, 65535, 'fleet.hosts');
  const drafts = expandDevices(file.devices, seed, hosts);
  if (drafts.length > MAX_DEVICES) throw new FleetError(`a fleet holds at most ${MAX_DEVICES} devices (this one has ${drafts.length})`);

  const fleetDevices = drafts.length;
  const mine = slice === undefined ? drafts : sliceDevices(drafts, slice);

  // Groups go to the least-loaded shard (by device count), in group order: deterministic and balanced.
  const groupShard = balanceGroups(groupSizes(mine), shards);
  const perShard: number[][] = Array.from({ length: shards }, () => []);
  const arenaBytes = new Array<number>(shards).fill(0);
  for (const d of mine) {
    const shard = groupShard.get(d.group)!;
    d.shard = shard;
    d.local = perShard[shard]!.length;
    perShard[shard]!.push(d.index);
    d.memOffset = Math.ceil(arenaBytes[shard]! / d.align) * d.align;
    arenaBytes[shard] = d.memOffset + d.memBytes;
  }
  const devices: DeviceDescriptor[] = mine;
  const fleet: Fleet = { fleetDevices, seed, hosts, shards, devices, byId: new Map(devices.map((d) => [d.id, d])), arenaBytes, perShard };
  if (slice !== undefined) fleet.slice = { index: slice.index, count: slice.count };
  return fleet;
}

/** Kinds a session may address directly (an MLD's FM-owned LD answers only through a switch tunnel). */
export function directlyAddressable(kind: DeviceKind): boolean {
  return kind !== 'cxl-mld';
}

/** The device specs of a fleet file, expanded in order: every device, then the MCTP endpoints that front them. */
function expandDevices(specs: readonly DeviceSpec[], seed: number, hosts: number): Draft[] {
  const x = new DeviceExpansion(seed, hosts);
  specs.forEach((spec, n) => x.add(spec, `fleet.devices[${n}]`));
  x.frontMctpEndpoints();
  return x.drafts;
}

/**
 * One fleet file's expansion, step by step: each spec adds its devices (a switch its downstream devices, an
 * MLD its LDs) with ids counted per prefix and one group per top-level device; MCTP endpoints are placed last,
 * when the devices they front exist.
 */
class DeviceExpansion {
  readonly drafts: Draft[] = [];
  private readonly counters: Record<string, number> = {};
  private groups = 0;
  private readonly mctpSpecs: { spec: Extract<DeviceSpec, { kind: 'mctp-pcc' }>; what: string }[] = [];

  constructor(private readonly seed: number, private readonly hosts: number) {}

  add(spec: DeviceSpec, what: string): void {
    if (typeof spec !== 'object' || spec === null) throw new FleetError(`${what} must be an object`);
    const count = spec.count === undefined ? 1 : intIn(spec.count, 0, MAX_DEVICES, `${what}.count`);
    switch (spec.kind) {
      case 'cxl-type3':
        for (let i = 0; i < count; i++) this.addType3(spec, what, this.groups++);
        break;
      case 'cxl-switch':
        this.addSwitches(spec, what, count);
        break;
      case 'nvme':
        this.addNvme(spec, what, count);
        break;
      case 'mctp-pcc':
        for (let i = 0; i < count; i++) this.mctpSpecs.push({ spec, what });
        break;
      default:
        throw new FleetError(`${what}.kind must be one of ${COUNT_KINDS.join(', ')} (got ${JSON.stringify((spec as { kind: unknown }).kind)})`);
    }
  }

  private nextId(prefix: string): string {
    return `${prefix}${(this.counters[prefix] = (this.counters[prefix] ?? -1) + 1)}`;
  }

  private hostOf(v: unknown, what: string): number {
    return v === undefined ? 0 : intIn(v, 0, this.hosts - 1, `${what}.host`);
  }

  private addType3(s: Omit<Type3Spec, 'count'>, what: string, group: number, mld?: { parent: number; ld: number }): number {
    const mailboxBytes = mailboxBytesOf(s.mailboxBytes, what);
    const capacityBytes = s.capacityBytes === undefined ? GIB : intIn(s.capacityBytes, MIB_256, 2 ** 50, `${what}.capacityBytes`);
    if (capacityBytes % MIB_256 !== 0) throw new FleetError(`${what}.capacityBytes must be a multiple of 256 MiB`);
    const lsaBytes = s.lsaBytes === undefined ? 128 * 1024 : intIn(s.lsaBytes, 0, 16 * 1024 * 1024, `${what}.lsaBytes`);
    const index = this.drafts.length;
    this.drafts.push(new Device({
      id: this.nextId('mem'), kind: 'cxl-type3', index, group, host: this.hostOf(s.host, what), mailboxBytes,
      serial: serialFor(this.seed, index), vendorCommands: vendorOf(s.vendorCommands, what, index % 2 === 0 ? 'declared' : 'hidden'),
      faults: faultsOf(s.faults, what, 'cxl-type3'), memBytes: mailboxBlockBytes(mailboxBytes), align: mailboxBlockAlign(mailboxBytes),
      type3: mld ? { capacityBytes, lsaBytes, mld } : { capacityBytes, lsaBytes },
    }));
    return index;
  }

  /** An MLD behind switch `via`'s `port`: its FM-owned LD, then one type-3 state per LD. */
  private addMld(s: MldSpec, what: string, group: number, via: number, port: number): number {
    if (!Array.isArray(s.lds) || s.lds.length < 1 || s.lds.length > 16) throw new FleetError(`${what}.lds must list 1 to 16 logical devices`);
    const mailboxBytes = mailboxBytesOf(s.mailboxBytes, what);
    const index = this.drafts.length;
    const d = new Device({
      id: this.nextId('mld'), kind: 'cxl-mld', index, group, host: 0, mailboxBytes, serial: serialFor(this.seed, index),
      vendorCommands: vendorOf(s.vendorCommands, what, 'none'), faults: faultsOf(s.faults, what, 'cxl-mld'),
      memBytes: mailboxBlockBytes(mailboxBytes), align: mailboxBlockAlign(mailboxBytes), mld: { lds: [] }, tunnelOnly: { via, port },
    });
    this.drafts.push(d);
    s.lds.forEach((ld, i) => {
      const t: Omit<Type3Spec, 'count'> = { kind: 'cxl-type3', host: ld.host, mailboxBytes, vendorCommands: 'none' };
      if (ld.capacityBytes !== undefined) t.capacityBytes = ld.capacityBytes;
      d.mld!.lds.push(this.addType3(t, `${what}.lds[${i}]`, group, { parent: index, ld: i }));
    });
    return index;
  }

  /** `count` switches, each with its downstream devices in its own group. */
  private addSwitches(spec: SwitchSpec, what: string, count: number): void {
    const ports = spec.ports === undefined ? 5 : intIn(spec.ports, 2, 256, `${what}.ports`);
    const downstream = spec.downstream ?? defaultDownstream(this.hosts);
    if (!Array.isArray(downstream)) throw new FleetError(`${what}.downstream must be an array`);
    for (let i = 0; i < count; i++) {
      const group = this.groups++;
      const mailboxBytes = mailboxBytesOf(spec.mailboxBytes, what);
      const index = this.drafts.length;
      const sw = new Device({
        id: this.nextId('sw'), kind: 'cxl-switch', index, group, host: this.hostOf(spec.host, what), mailboxBytes,
        serial: serialFor(this.seed, index), vendorCommands: vendorOf(spec.vendorCommands, what, 'none'),
        faults: faultsOf(spec.faults, what, 'cxl-switch'), memBytes: mailboxBlockBytes(mailboxBytes), align: mailboxBlockAlign(mailboxBytes),
        switchInfo: { ports, downstream: [] },
      });
      this.drafts.push(sw);
      const seen = new Set<number>();
      downstream.forEach((p, k) => {
        const pw = `${what}.downstream[${k}]`;
        const port = intIn(p?.port, 1, ports - 1, `${pw}.port`);
        if (seen.has(port)) throw new FleetError(`${pw}.port ${port} is used twice`);
        seen.add(port);
        const dev = p.device;
        let target: number;
        if (dev?.kind === 'cxl-type3') target = this.addType3(dev, `${pw}.device`, group);
        else if (dev?.kind === 'cxl-mld') target = this.addMld(dev, `${pw}.device`, group, index, port);
        else throw new FleetError(`${pw}.device.kind must be "cxl-type3" or "cxl-mld"`);
        sw.switchInfo!.downstream.push({ port, target });
      });
    }
  }

  private addNvme(spec: Extract<DeviceSpec, { kind: 'nvme' }>, what: string, count: number): void {
    const namespaces = spec.namespaces === undefined ? 1 : intIn(spec.namespaces, 0, 1024, `${what}.namespaces`);
    const queueDepth = spec.queueDepth === undefined ? 32 : intIn(spec.queueDepth, 2, 4096, `${what}.queueDepth`);
    const maxTransfer = spec.maxTransferBytes === undefined ? 128 * 1024 : intIn(spec.maxTransferBytes, 4096, 1 << 20, `${what}.maxTransferBytes`);
    if (maxTransfer % 4096 !== 0) throw new FleetError(`${what}.maxTransferBytes must be a multiple of 4096`);
    for (let i = 0; i < count; i++) {
      const index = this.drafts.length;
      this.drafts.push(new Device({
        id: this.nextId('nvme'), kind: 'nvme', index, group: this.groups++, host: this.hostOf(spec.host, what), mailboxBytes: maxTransfer,
        serial: serialFor(this.seed, index), vendorCommands: vendorOf(spec.vendorCommands, what, index % 2 === 0 ? 'declared' : 'hidden'),
        faults: faultsOf(spec.faults, what, 'nvme'), memBytes: nvmeBlockLayout(queueDepth, maxTransfer).bytes, align: 4096,
        nvme: { namespaces, queueDepth },
      }));
    }
  }

  /**
   * MCTP endpoints, once every device exists: each fronts the next of its spec's `fronts`, or by default the
   * switches first, then the memory devices (not an MLD's LDs), round robin. It joins its target's group.
   */
  frontMctpEndpoints(): void {
    const defaultFronts = [
      ...this.drafts.filter((d) => d.kind === 'cxl-switch'),
      ...this.drafts.filter((d) => d.kind === 'cxl-type3' && !d.type3?.mld),
    ];
    const byIdDraft = new Map(this.drafts.map((d) => [d.id, d]));
    let fronted = 0;
    const perSpecCursor = new Map<object, number>();
    for (const { spec, what } of this.mctpSpecs) {
      const mtu = spec.mtu === undefined ? 64 : intIn(spec.mtu, 64, 4096, `${what}.mtu`);
      let target: Draft | undefined;
      if (spec.fronts !== undefined) {
        if (!Array.isArray(spec.fronts) || spec.fronts.length === 0) throw new FleetError(`${what}.fronts must be a non-empty list of device ids`);
        const k = perSpecCursor.get(spec) ?? 0;
        perSpecCursor.set(spec, k + 1);
        const id = spec.fronts[k % spec.fronts.length]!;
        target = byIdDraft.get(id);
        if (!target || target.kind === 'mctp-pcc' || target.kind === 'nvme') {
          throw new FleetError(`${what}.fronts: "${id}" is not a CXL device of this fleet (an MCTP endpoint fronts a CXL CCI)`);
        }
      } else {
        target = defaultFronts[fronted++ % Math.max(1, defaultFronts.length)];
        if (!target) throw new FleetError(`${what}: an MCTP endpoint needs a CXL device to front; add one or set "fronts"`);
      }
      const index = this.drafts.length;
      const k = this.counters['mctp'] === undefined ? 0 : this.counters['mctp'] + 1;
      this.drafts.push(new Device({
        id: this.nextId('mctp'), kind: 'mctp-pcc', index, group: target.group, host: target.host, mailboxBytes: target.mailboxBytes,
        serial: serialFor(this.seed, index), vendorCommands: 'none', faults: faultsOf(spec.faults, what, 'mctp-pcc'),
        memBytes: pccBlockBytes(mtu), align: 64, mctp: { fronts: target.index, mtu, eid: 9 + (k % 245) },
      }));
    }
  }
}
