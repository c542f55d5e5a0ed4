import { BadRequestError } from '../errors.js';
import type { DeviceKind } from '../fleet/types.js';
import type { SendRequest } from '../mux/types.js';
import { CEL_UUID } from '../devices/cci/uuid.js';
import { MAX_IO_QUEUES } from '../devices/nvme/constants.js';

/** One concrete request the harness can send to a device (everything of SendRequest but the device and options). */
export type MixRequest = Omit<SendRequest, 'device' | 'signal' | 'timeoutMs' | 'noWait'>;

/** What a named command needs to know about one device of the fleet. */
export interface MixDevice {
  id: string;
  kind: DeviceKind;
  host: number;
  mailboxBytes: number;
  /** an MLD's FM-owned LD: reachable only through a tunnel, never addressed directly */
  tunnelOnly?: boolean;
  /** MCTP endpoint: the device it fronts (kind, physical ports if it is a switch) */
  fronts?: { id: string; kind: DeviceKind; host: number; portCount?: number; mailboxBytes: number };
  /** CXL switch: physical port count and the downstream ports that have a device */
  portCount?: number;
  ports?: { port: number; kind: DeviceKind; host: number; id: string }[];
  /** NVMe controller: active namespaces */
  namespaces?: number;
}

/** Who sends: a fabric-manager session reaches every device; a host session only its host's. */
export interface MixSession {
  host: number;
  fabricManager: boolean;
}

/** A named command ("health", "log", ...) and how to express it for each device kind that has it. */
export interface NamedCommand {
  name: string;
  /** one line for --help and error messages */
  summary: string;
  /** what it sends, per kind, for messages */
  byKindText: Partial<Record<DeviceKind, string>>;
  /** the request for this device, or undefined if the command does not apply to it (or the session cannot reach it) */
  requestFor(d: MixDevice, s: MixSession): MixRequest | undefined;
  /** runs on the run's NVMe I/O queue (Schedule.ioQueue), which the harness creates for the run (io-queues.ts) */
  ioQueue?: boolean;
}

const celChunk = (() => {
  const p = new Uint8Array(0x18);
  p.set(CEL_UUID, 0);
  new DataView(p.buffer).setUint32(0x14, 16, true); // the first four CEL entries: every CEL has them
  return p;
})();

/** Get Log Page (02h) cdw10: LID, RAE = 1 (reading the log must not clear asynchronous events), NUMDL. */
const nvmeLog = (lid: number, bytes: number): MixRequest => ({ opcode: 0x02, nsid: 0xffffffff, cdw10: lid | (1 << 15) | (((bytes >>> 2) - 1) << 16) });
const NVME_SMART = nvmeLog(0x02, 512);
const NVME_EFFECTS = { ...nvmeLog(0x05, 4096), nsid: 0 };
const NVME_FW_SLOT = nvmeLog(0x03, 512);
const NVME_IDENTIFY_CTRL: MixRequest = { opcode: 0x06, cdw10: 0x01 };

/** The NVMe I/O queue the read / write mixes use on every controller (created for the run); segment k of N uses this + k. */
export const MIX_IO_QUEUE = 1;
/**
 * 4 KiB at LBA 0 of namespace 1: NLB 7 (0's based) of the 512-byte blocks every namespace starts with. One
 * fixed extent, so a write load never grows the emulator's memory beyond it.
 */
const IO_BYTES = 4096;
const NVME_READ: MixRequest = { queue: MIX_IO_QUEUE, opcode: 0x02, nsid: 1, cdw10: 0, cdw12: IO_BYTES / 512 - 1 };
const NVME_WRITE: MixRequest = {
  queue: MIX_IO_QUEUE, opcode: 0x01, nsid: 1, cdw10: 0, cdw12: IO_BYTES / 512 - 1, data: Uint8Array.from({ length: IO_BYTES }, (_, i) => i & 0xff),
};

/** An NVMe I/O command of the mix, on controllers with a namespace the session reaches. */
function nvmeIo(name: string, summary: string, req: MixRequest, text: string): NamedCommand {
  return {
    name, summary, byKindText: { nvme: text }, ioQueue: true,
    requestFor(d, s) {
      return d.kind === 'nvme' && (d.namespaces ?? 1) > 0 && reach(s, d.host) ? req : undefined;
    },
  };
}

const CXL_HEALTH: MixRequest = { opcode: 0x4200 };
const CXL_LOG: MixRequest = { opcode: 0x0401, payload: celChunk };
const CXL_FW: MixRequest = { opcode: 0x0200 };
const CXL_IDENTIFY: MixRequest = { opcode: 0x0001 };
const CXL_TIMESTAMP: MixRequest = { opcode: 0x0300 };

/** 5101h Get Physical Port State for every port that fits the mailbox's answer (4 + 16 bytes per port). */
const portStateCache = new Map<number, MixRequest>();
function portState(portCount: number, mailboxBytes: number): MixRequest {
  const n = Math.max(1, Math.min(portCount, 255, Math.floor((mailboxBytes - 4) / 0x10)));
  let r = portStateCache.get(n);
  if (r === undefined) {
    const p = new Uint8Array(1 + n);
    p[0] = n;
    for (let i = 0; i < n; i++) p[1 + i] = i;
    r = { opcode: 0x5101, payload: p };
    portStateCache.set(n, r);
  }
  return r;
}

const reach = (s: MixSession, host: number): boolean => s.fabricManager || s.host === host;
const isCxlCci = (k: DeviceKind): boolean => k === 'cxl-type3' || k === 'cxl-switch' || k === 'mctp-pcc';

/** A command every CXL CCI has (type-3 mailbox, switch CCI, MCTP endpoint in front of either), plus its NVMe form. */
function generic(name: string, summary: string, cxl: MixRequest, cxlText: string, nvme?: MixRequest, nvmeText?: string): NamedCommand {
  const byKindText: Partial<Record<DeviceKind, string>> = { 'cxl-type3': cxlText, 'cxl-switch': cxlText, 'mctp-pcc': `${cxlText} over MCTP` };
  if (nvme) byKindText.nvme = nvmeText!;
  return {
    name, summary, byKindText,
    requestFor(d, s) {
      if (d.tunnelOnly || !reach(s, d.host)) return undefined;
      if (isCxlCci(d.kind)) return cxl;
      if (d.kind === 'nvme') return nvme;
      return undefined;
    },
  };
}

/**
 * Commands a mix may name. Each is read-only (no effects in the CEL / NVMe effects log, so `debug-read` and
 * even `configuration` may send it), so load runs never change device state - except `write`, which writes
 * the same 4 KiB extent of each NVMe namespace 1 over and over (it needs debug-write-full). `read` and `write`
 * run on an I/O queue pair the harness creates before the run and deletes after it (debug-write).
 */
export const NAMED_COMMANDS: Record<string, NamedCommand> = {
  health: {
    name: 'health',
    summary: 'device health: type-3 Get Health Info, NVMe SMART log, switch port states',
    byKindText: {
      'cxl-type3': '4200h Get Health Info', nvme: 'Get Log Page 02h SMART / Health (512 bytes)',
      'cxl-switch': '5101h Get Physical Port State (every port)', 'mctp-pcc': "the fronted device's health (4200h or 5101h) over MCTP",
    },
    requestFor(d, s) {
      if (d.tunnelOnly || !reach(s, d.host)) return undefined;
      switch (d.kind) {
        case 'cxl-type3': return CXL_HEALTH;
        case 'nvme': return NVME_SMART;
        case 'cxl-switch': return portState(d.portCount ?? 1, d.mailboxBytes);
        case 'mctp-pcc':
          if (d.fronts?.kind === 'cxl-type3') return CXL_HEALTH;
          if (d.fronts?.kind === 'cxl-switch') return portState(d.fronts.portCount ?? 1, Math.min(d.mailboxBytes, d.fronts.mailboxBytes));
          return undefined;
        default: return undefined;
      }
    },
  },
  log: generic('log', 'read a log: the first CEL entries (0401h), NVMe Commands Supported and Effects', CXL_LOG, '0401h Get Log (CEL, 16 bytes)',
    NVME_EFFECTS, 'Get Log Page 05h Commands Supported and Effects (4096 bytes)'),
  fw: generic('fw', 'firmware info: Get FW Info, NVMe Firmware Slot log', CXL_FW, '0200h Get FW Info', NVME_FW_SLOT, 'Get Log Page 03h Firmware Slot (512 bytes)'),
  identify: generic('identify', 'Identify (0001h), NVMe Identify Controller', CXL_IDENTIFY, '0001h Identify', NVME_IDENTIFY_CTRL, 'Identify CNS 01h (controller, 4096 bytes)'),
  timestamp: generic('timestamp', 'Get Timestamp (CXL only)', CXL_TIMESTAMP, '0300h Get Timestamp'),
  ports: {
    name: 'ports',
    summary: 'switch Get Physical Port State (directly or over MCTP)',
    byKindText: { 'cxl-switch': '5101h Get Physical Port State (every port)', 'mctp-pcc': '5101h over MCTP, for endpoints fronting a switch' },
    requestFor(d, s) {
      if (!reach(s, d.host)) return undefined;
      if (d.kind === 'cxl-switch') return portState(d.portCount ?? 1, d.mailboxBytes);
      if (d.kind === 'mctp-pcc' && d.fronts?.kind === 'cxl-switch') return portState(d.fronts.portCount ?? 1, Math.min(d.mailboxBytes, d.fronts.mailboxBytes));
      return undefined;
    },
  },
  tunnel: {
    name: 'tunnel',
    summary: 'Get Health Info of an SLD behind a switch, through Tunnel Management (5300h)',
    byKindText: { 'cxl-switch': '5300h tunnel to the SLD on a downstream port, 4200h Get Health Info inside' },
    requestFor(d, s) {
      if (d.kind !== 'cxl-switch' || !reach(s, d.host)) return undefined;
      const sld = d.ports?.find((p) => p.kind === 'cxl-type3' && reach(s, p.host));
      return sld === undefined ? undefined : { opcode: 0x4200, tunnel: [sld.port] };
    },
  },
  read: nvmeIo('read', 'NVMe Read of 4 KiB on an I/O queue (NVMe only)', NVME_READ, `Read (02h) 4 KiB at LBA 0 of namespace 1 on the run's I/O queue`),
  write: nvmeIo('write', 'NVMe Write of 4 KiB on an I/O queue (NVMe only; changes data: needs --tier debug-write-full)', NVME_WRITE,
    `Write (01h) 4 KiB at LBA 0 of namespace 1 on the run's I/O queue`),
};

/** Device kinds by the names a mix may use after `@`. */
const KIND_ALIASES: Record<string, DeviceKind> = {
  'cxl-type3': 'cxl-type3', type3: 'cxl-type3', mem: 'cxl-type3',
  'cxl-switch': 'cxl-switch', switch: 'cxl-switch', sw: 'cxl-switch',
  nvme: 'nvme', 'mctp-pcc': 'mctp-pcc', mctp: 'mctp-pcc',
};

export interface MixEntry {
  command: NamedCommand;
  weight: number;
  /** only devices of these kinds (`health@nvme`); undefined = every kind the command applies to */
  kinds?: DeviceKind[];
  /** the name results are reported under: `health`, or `health@nvme` when restricted */
  label: string;
}

export const DEFAULT_MIX = 'health=80,log=15,identify=5';

/**
 * Parses `health=80,log=15,identify=5` (weights are relative; a missing weight is 1). A name may be limited
 * to device kinds: `health@nvme=10`, `identify@mem+sw=5` (kinds: cxl-type3|type3|mem, cxl-switch|switch|sw,
 * nvme, mctp-pcc|mctp). Throws BadRequestError on anything else.
 */
export function parseMix(text: string): MixEntry[] {
  const out: MixEntry[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z]+)(?:@([a-z0-9+-]+))?(?:=(\d+(?:\.\d+)?))?$/.exec(part);
    const cmd = m ? NAMED_COMMANDS[m[1]!] : undefined;
    if (!m || !cmd) {
      throw new BadRequestError(`bad --mix item "${part}": use name=weight (or name@kind=weight) with names ${Object.keys(NAMED_COMMANDS).join(', ')}`);
    }
    let kinds: DeviceKind[] | undefined;
    if (m[2] !== undefined) {
      kinds = [];
      for (const k of m[2].split('+')) {
        const kind = KIND_ALIASES[k];
        if (kind === undefined) throw new BadRequestError(`bad --mix item "${part}": unknown device kind "${k}"; use ${Object.keys(KIND_ALIASES).join(', ')}`);
        if (!(kind in cmd.byKindText)) throw new BadRequestError(`bad --mix item "${part}": "${cmd.name}" has no form for ${kind} (it has ${Object.keys(cmd.byKindText).join(', ')})`);
        if (!kinds.includes(kind)) kinds.push(kind);
      }
    }
    const weight = m[3] === undefined ? 1 : Number(m[3]);
    if (!(weight > 0)) throw new BadRequestError(`--mix weight for ${part} must be > 0`);
    const label = m[2] === undefined ? cmd.name : `${cmd.name}@${m[2]}`;
    if (out.some((e) => e.label === label)) throw new BadRequestError(`--mix names "${label}" twice`);
    out.push(kinds === undefined ? { command: cmd, weight, label } : { command: cmd, weight, kinds, label });
  }
  if (out.length === 0) throw new BadRequestError('--mix is empty');
  return out;
}

/**
 * What the mix reads of a device: a mux's DeviceDescriptor, or one a remote client built from a server's
 * device list. Topology refers to other devices by their index in the same list.
 */
export interface MixDescriptor {
  id: string;
  kind: DeviceKind;
  host: number;
  mailboxBytes: number;
  /** set for a device reached only through a switch tunnel (an MLD's FM-owned LD) */
  tunnelOnly?: unknown;
  switchInfo?: { ports: number; downstream: readonly { port: number; target: number }[] };
  mctp?: { fronts: number };
  nvme?: { namespaces: number };
}

/** The fleet as the mix sees it, from the mux's expanded descriptors (mux.fleet.devices) or a remote fleet's. */
export function mixDevices(descriptors: readonly MixDescriptor[]): MixDevice[] {
  return descriptors.map((d) => {
    const m: MixDevice = { id: d.id, kind: d.kind, host: d.host, mailboxBytes: d.mailboxBytes };
    if (d.tunnelOnly || d.kind === 'cxl-mld') m.tunnelOnly = true;
    if (d.nvme) m.namespaces = d.nvme.namespaces;
    if (d.switchInfo) {
      m.portCount = d.switchInfo.ports;
      m.ports = d.switchInfo.downstream.map((p) => {
        const t = descriptors[p.target]!;
        return { port: p.port, kind: t.kind, host: t.host, id: t.id };
      });
    }
    if (d.mctp) {
      const f = descriptors[d.mctp.fronts]!;
      m.fronts = { id: f.id, kind: f.kind, host: f.host, mailboxBytes: f.mailboxBytes };
      if (f.switchInfo) m.fronts.portCount = f.switchInfo.ports;
    }
    return m;
  });
}

/** One slot of the schedule the harness cycles through. */
export interface ScheduleItem {
  /** a ready request object (device included), reused for every send of this slot */
  req: SendRequest;
  /** mix label: `health`, `health@nvme` */
  name: string;
  kind: DeviceKind;
  /** indexes into Schedule.names / Schedule.kinds */
  cmd: number;
  kindIndex: number;
}

export interface Schedule {
  items: ScheduleItem[];
  /** mix labels, in mix order */
  names: string[];
  /** device kinds that take part */
  kinds: DeviceKind[];
  /** devices that take part, per mix label */
  devices: Record<string, number>;
  /** distinct devices that take part, per kind */
  kindDevices: Partial<Record<DeviceKind, number>>;
  /** NVMe controllers that need I/O queue `ioQueue` for the run */
  ioQueueDevices: string[];
  /** the NVMe I/O queue the read / write items run on */
  ioQueue: number;
}

export interface ScheduleOptions {
  session?: MixSession;
  /** slots in the schedule (default: 4 per eligible device, 4096 .. 262144) */
  size?: number;
  /** shuffle seed (default 1): the same seed and fleet give the same order */
  seed?: number;
  /** per-request timeout put into every request, ms */
  timeoutMs?: number;
  /** the NVMe I/O queue read / write items run on (default MIX_IO_QUEUE; the harness gives segment k MIX_IO_QUEUE + k) */
  ioQueue?: number;
}

/**
 * A request object built as a literal, `device` and `opcode` first and only the fields it uses: the mux's
 * hot path then sees the same few object shapes it sees from ordinary callers. (Objects cloned with spread
 * made its property reads megamorphic: measured 3x slower admission.)
 */
function sendRequest(device: string, r: MixRequest, timeoutMs: number | undefined, queue: number | undefined): SendRequest {
  const out: SendRequest = { device, opcode: r.opcode };
  if (r.payload !== undefined) out.payload = r.payload;
  if (r.queue !== undefined) out.queue = queue ?? r.queue;
  if (r.nsid !== undefined) out.nsid = r.nsid;
  if (r.cdw10 !== undefined) out.cdw10 = r.cdw10;
  if (r.cdw11 !== undefined) out.cdw11 = r.cdw11;
  if (r.cdw12 !== undefined) out.cdw12 = r.cdw12;
  if (r.cdw13 !== undefined) out.cdw13 = r.cdw13;
  if (r.cdw14 !== undefined) out.cdw14 = r.cdw14;
  if (r.cdw15 !== undefined) out.cdw15 = r.cdw15;
  if (r.data !== undefined) out.data = r.data;
  if (r.tunnel !== undefined) out.tunnel = r.tunnel;
  if (r.mctpType !== undefined) out.mctpType = r.mctpType;
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
  return out;
}

/** xorshift32 in [0, 1) */
function rng(seed: number): () => number {
  let x = (seed | 0) || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/**
 * Expands a mix over a fleet into a flat, shuffled schedule of (device, request) slots that the harness cycles
 * through. Every device a command applies to gets an equal share of that command's slots. A command no device
 * of the fleet can take (for this session) is a BadRequestError.
 */
export function buildSchedule(mix: MixEntry[], devices: readonly MixDevice[], opts: ScheduleOptions = {}): Schedule {
  const session = opts.session ?? { host: 0, fabricManager: true };
  const random = rng(opts.seed ?? 1);
  const ioQueue = opts.ioQueue ?? MIX_IO_QUEUE;
  if (!Number.isInteger(ioQueue) || ioQueue < 1 || ioQueue > MAX_IO_QUEUES) {
    throw new BadRequestError(`ioQueue ${ioQueue}: an NVMe I/O queue id is an integer from 1 to ${MAX_IO_QUEUES} (the I/O queues a controller has)`);
  }
  const total = mix.reduce((n, e) => n + e.weight, 0);
  const perEntry = mix.map((e) => {
    const eligible: { d: MixDevice; req: MixRequest }[] = [];
    for (const d of devices) {
      if (e.kinds !== undefined && !e.kinds.includes(d.kind)) continue;
      const req = e.command.requestFor(d, session);
      if (req !== undefined) eligible.push({ d, req });
    }
    if (eligible.length === 0) {
      const inFleet = [...new Set(devices.filter((d) => !d.tunnelOnly).map((d) => d.kind))].join(', ') || 'nothing';
      const who = session.fabricManager ? '' : ` that host ${session.host} may reach`;
      const kinds = e.kinds ?? (Object.keys(e.command.byKindText) as DeviceKind[]);
      throw new BadRequestError(`no device in the fleet${who} supports "${e.label}" (it needs ${kinds.map((k) => `${k}: ${e.command.byKindText[k]}`).join('; ')}); the fleet has ${inFleet}`);
    }
    return eligible;
  });
  const size = opts.size ?? Math.min(1 << 18, Math.max(4096, 4 * perEntry.reduce((n, l) => n + l.length, 0)));
  const names = mix.map((e) => e.label);
  const kinds: DeviceKind[] = [];
  const items: ScheduleItem[] = [];
  const participating: Record<string, number> = {};
  const perKind = new Map<DeviceKind, Set<string>>();
  const ioQueueDevices = new Set<string>();
  mix.forEach((e, ci) => {
    const eligible = perEntry[ci]!;
    participating[e.label] = eligible.length;
    if (e.command.ioQueue) for (const { d } of eligible) ioQueueDevices.add(d.id);
    // shuffle the eligible devices, then deal slots round-robin so each device gets n/len of them
    for (let i = eligible.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [eligible[i], eligible[j]] = [eligible[j]!, eligible[i]!];
    }
    const n = Math.max(1, Math.round((e.weight / total) * size));
    for (let i = 0; i < n; i++) {
      const { d, req } = eligible[i % eligible.length]!;
      let ki = kinds.indexOf(d.kind);
      if (ki < 0) ki = kinds.push(d.kind) - 1;
      if (i < eligible.length) {
        let set = perKind.get(d.kind);
        if (set === undefined) perKind.set(d.kind, (set = new Set()));
        set.add(d.id);
      }
      items.push({ req: sendRequest(d.id, req, opts.timeoutMs, e.command.ioQueue ? ioQueue : undefined), name: e.label, kind: d.kind, cmd: ci, kindIndex: ki });
    }
  });
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  const kindDevices: Partial<Record<DeviceKind, number>> = {};
  for (const [k, set] of perKind) kindDevices[k] = set.size;
  return { items, names, kinds, devices: participating, kindDevices, ioQueueDevices: [...ioQueueDevices], ioQueue };
}

/** `mbxmux load --help` text for the named commands. */
export function describeCommands(): string {
  return Object.values(NAMED_COMMANDS).map((c) => Object.entries(c.byKindText)
    .map(([k, t], i) => `  ${(i === 0 ? c.name : '').padEnd(10)} ${k.padEnd(11)} ${t}`).join('\n')).join('\n');
}
