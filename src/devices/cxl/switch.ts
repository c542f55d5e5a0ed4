import { BackgroundOp } from '../cci/background.js';
import type { ComponentState } from '../cci/cci.js';
import { type CciRequest, type CommandDef, CommandSet } from '../cci/command-table.js';
import { Effect } from '../cci/effects.js';
import { GENERIC_COMMANDS } from '../cci/generic.js';
import { Rc } from '../cci/return-codes.js';
import type { DeviceDescriptor } from '../../fleet/types.js';
import { isMldState } from './mld.js';
import {
  ALL_SPEEDS_VECTOR, coldResetComponent, ConnectedDeviceMode, ConnectedDeviceType, LinkSpeed, LinkStateFlag,
  LinkWidth, Ltssm, PortConfigState, PortOpcode, SUPPORTED_CXL_MODES, VcsState, VppbStatus,
} from './switch-ports.js';
import { tunnelCommand } from './tunnel.js';
import { EMULATOR_VENDOR_ID } from './type3.js';

/**
 * A CXL HBR switch as its switch mailbox CCI sees it: one Virtual CXL Switch (VCS 0) whose USP is physical
 * port 0, downstream ports 1..n-1 with an SLD, an MLD or nothing behind them. Commands: the generic set,
 * Physical Switch 51h (Identify Switch Device, Get Physical Port State, Physical Port Control), Virtual
 * Switch 52h (Get VCS Info, Bind vPPB, Unbind vPPB) and Tunnel Management 5300h to a downstream port.
 *
 * State is a handful of small typed arrays (a 5-port switch is a few hundred bytes); all timing is lazy
 * (evaluated against the request's clock), so no timers exist per device.
 */

export const SWITCH_DEVICE_ID = 0x0d94;
/** PERST# must stay asserted this long before Deassert is accepted (QEMU's 100 ms hold). */
export const PERST_HOLD_NS = 100_000_000;
/** Link training after PERST# deassert or Reset PPB, before the port is back in L0. */
export const LINK_TRAINING_NS = 1_000_000;
/** Duration of a Bind / Unbind vPPB background operation. */
export const VPPB_OP_NS = 2_000_000;
/** HDM decoders per USP reported by Identify Switch Device. */
export const HDM_DECODERS_PER_USP = 4;

export const IDENTIFY_SWITCH_BYTES = 0x49;
export const PORT_INFO_BYTES = 0x10;

/** port flags (SwitchState.portState[PS * port]) */
const F_PERST = 1 << 0;
/** the current training window follows a Reset PPB (LTSSM reports Hot Reset), else a PERST deassert */
const F_HOT_RESET = 1 << 1;

const PENDING_NONE = 0;
const PENDING_BIND = 1;
const PENDING_UNBIND = 2;

const NO_LD = 0xff;
/** entries per port in SwitchState.portState */
const PS = 3;
/** entries per vPPB in SwitchState.vppbs */
const VS = 3;

export interface SwitchState extends ComponentState {
  /** physical ports, USP (port 0) included */
  readonly portCount: number;
  /** the component behind each port (index = port); null for the USP and empty DSPs */
  readonly targets: readonly (ComponentState | null)[];
  /**
   * per port p, PS entries from PS*p: flags (F_PERST | F_HOT_RESET), when PERST# was asserted (ns), when
   * the link is (was) back in L0 (ns). Plain arrays: smaller than typed arrays at these sizes.
   */
  readonly portState: number[];
  /** per vPPB of VCS 0: 3 entries {binding status, bound port, bound LD (FFh none)}, as in Table 7-32 */
  readonly vppbs: number[];
  /** the vPPB a running bind/unbind works on, and which of the two it is */
  pendingVppb: number;
  pendingKind: number;
}

/** Link condition of a downstream port at `nowNs`. */
export type PortLink = 'usp' | 'empty' | 'perst' | 'training' | 'up' | 'invalid';

export function portLink(sw: SwitchState, port: number, nowNs: number): PortLink {
  if (!Number.isInteger(port) || port < 0 || port >= sw.portCount) return 'invalid';
  if (port === 0) return 'usp';
  if (sw.targets[port] === null) return 'empty';
  if ((sw.portState[PS * port]! & F_PERST) !== 0) return 'perst';
  return nowNs < sw.portState[PS * port + 2]! ? 'training' : 'up';
}

function ldCountOf(c: ComponentState | null): number {
  return c !== null && isMldState(c) ? c.lds.length : 0;
}

function vppbCount(sw: SwitchState): number {
  return sw.vppbs.length / VS;
}

function boundVppbs(sw: SwitchState): number {
  let n = 0;
  for (let i = 0; i < vppbCount(sw); i++) {
    const s = sw.vppbs[VS * i]!;
    if (s === VppbStatus.BOUND_PORT || s === VppbStatus.BOUND_LD) n++;
  }
  return n;
}

/** Index of the vPPB bound (or being bound/unbound) to `port` (+ `ld`, or any LD when ld < 0), or -1. */
function vppbUsing(sw: SwitchState, port: number, ld: number): number {
  for (let i = 0; i < vppbCount(sw); i++) {
    const s = sw.vppbs[VS * i]!;
    if (s === VppbStatus.UNBOUND) continue;
    if (sw.vppbs[VS * i + 1] !== port) continue;
    if (ld < 0 || sw.vppbs[VS * i + 2] === ld) return i;
  }
  return -1;
}

// ------------------------------------------------------------------ 51h Physical Switch

/** 5100h Identify Switch Device (§7.6.7.1.1): 49h bytes. */
function identifySwitch(sw: SwitchState, req: CciRequest): number {
  const p = req.payload;
  p.fill(0, 0, IDENTIFY_SWITCH_BYTES);
  p[0x00] = 0; // ingress port: the switch CCI lives in the USP function (port 0); MCTP also reports 0
  p[0x02] = sw.portCount;
  p[0x03] = 1; // one VCS
  for (let port = 0; port < sw.portCount; port++) p[0x04 + (port >>> 3)]! |= 1 << (port & 7);
  p[0x24] = 0x01; // VCS 0 active
  req.view.setUint16(0x44, vppbCount(sw), true);
  req.view.setUint16(0x46, boundVppbs(sw), true);
  p[0x48] = HDM_DECODERS_PER_USP;
  req.outLen = IDENTIFY_SWITCH_BYTES;
  return Rc.SUCCESS;
}

function writePortInfo(sw: SwitchState, p: Uint8Array, at: number, port: number, nowNs: number): void {
  p.fill(0, at, at + PORT_INFO_BYTES);
  p[at] = port;
  const link = portLink(sw, port, nowNs);
  if (link === 'invalid') {
    p[at + 1] = PortConfigState.INVALID_PORT_ID;
    return;
  }
  const isUsp = link === 'usp';
  let config: number = isUsp ? PortConfigState.USP : PortConfigState.DSP;
  if (!isUsp && sw.pendingKind !== PENDING_NONE && sw.vppbs[VS * sw.pendingVppb + 1] === port) {
    config = sw.pendingKind === PENDING_BIND ? PortConfigState.BIND_IN_PROGRESS : PortConfigState.UNBIND_IN_PROGRESS;
  }
  const up = isUsp || link === 'up';
  const target = sw.targets[port] ?? null;
  const maxWidth = isUsp ? LinkWidth.X16 : LinkWidth.X8;
  p[at + 1] = config;
  p[at + 2] = !isUsp && up ? ConnectedDeviceMode.FLIT_256B : ConnectedDeviceMode.NOT_CXL_OR_DISCONNECTED;
  p[at + 4] = target === null ? ConnectedDeviceType.NONE : isMldState(target) ? ConnectedDeviceType.CXL_TYPE3_MLD : ConnectedDeviceType.CXL_TYPE3_SLD;
  p[at + 5] = SUPPORTED_CXL_MODES;
  p[at + 6] = maxWidth;
  p[at + 7] = up ? maxWidth : 0;
  p[at + 8] = ALL_SPEEDS_VECTOR;
  p[at + 9] = LinkSpeed.GT64;
  p[at + 0x0a] = up ? LinkSpeed.GT64 : 0;
  let ltssm: number = Ltssm.DETECT;
  if (up) ltssm = Ltssm.L0;
  else if (link === 'training') ltssm = (sw.portState[PS * port]! & F_HOT_RESET) !== 0 ? Ltssm.HOT_RESET : Ltssm.POLLING;
  p[at + 0x0b] = ltssm;
  p[at + 0x0c] = 0; // first negotiated lane
  let flags = 0;
  if ((sw.portState[PS * port]! & F_PERST) !== 0) flags |= LinkStateFlag.PERST_ASSERTED;
  if (target !== null) flags |= LinkStateFlag.PRSNT_PRESENT;
  p[at + 0x0d] = flags & 0xff;
  p[at + 0x0e] = flags >>> 8;
  // Supported LD Count: LDs beyond the first this port runs, i.e. those of the MLD it trained with.
  const lds = ldCountOf(target);
  p[at + 0x0f] = up && lds > 0 ? lds - 1 : 0;
}

const portIds = new Uint8Array(256);

/**
 * 5101h Get Physical Port State (§7.6.7.1.2): { N, N port IDs } -> { N, 3 rsvd, N 16-byte blocks }.
 * An unknown port gets a block whose state is Fh "Invalid Port_ID" (the spec's encoding for it); a reply
 * larger than the payload answers Invalid Input (QEMU's rule).
 */
function getPhysicalPortState(sw: SwitchState, req: CciRequest): number {
  const p = req.payload;
  const n = p[0]!;
  if (4 + PORT_INFO_BYTES * n > p.byteLength) return Rc.INVALID_INPUT;
  portIds.set(p.subarray(1, 1 + n), 0);
  p[0] = n;
  p[1] = 0;
  p[2] = 0;
  p[3] = 0;
  for (let i = 0; i < n; i++) writePortInfo(sw, p, 4 + PORT_INFO_BYTES * i, portIds[i]!, req.nowNs);
  req.outLen = 4 + PORT_INFO_BYTES * n;
  return Rc.SUCCESS;
}

/**
 * 5102h Physical Port Control (§7.6.7.1.3): { PPB ID, Port Opcode }. Applies to unbound ports and MLD ports.
 *   PPB ID not a DSP (USP or past the last port) -> Invalid Input; opcode > 2 -> Invalid Input;
 *   a port bound to a vPPB as a whole (not an MLD port) -> Invalid Input;
 *   a bind/unbind running on the port -> Retry Required.
 *   Assert PERST#: already asserted -> Internal Error (QEMU); else the link drops and the component below
 *     is cold reset and held in reset.
 *   Deassert PERST#: not asserted -> Internal Error (QEMU); before the 100 ms hold has elapsed -> Retry
 *     Required (retrying after the hold succeeds); else the link trains for LINK_TRAINING_NS, then L0.
 *   Reset PPB: PERST# asserted -> Internal Error (no reset can run while PERST# holds the port); else a
 *     cold reset of the component below and a hot reset / retrain of the link.
 */
function physicalPortControl(sw: SwitchState, req: CciRequest): number {
  const port = req.payload[0]!;
  const op = req.payload[1]!;
  const now = req.nowNs;
  if (port === 0 || port >= sw.portCount) return Rc.INVALID_INPUT;
  if (op > PortOpcode.RESET_PPB) return Rc.INVALID_INPUT;
  const target = sw.targets[port] ?? null;
  if (sw.pendingKind !== PENDING_NONE && sw.vppbs[VS * sw.pendingVppb + 1] === port) return Rc.RETRY_REQUIRED;
  if (!(target !== null && isMldState(target)) && vppbUsing(sw, port, -1) >= 0) return Rc.INVALID_INPUT;
  const flags = sw.portState[PS * port]!;
  switch (op) {
    case PortOpcode.ASSERT_PERST:
      if ((flags & F_PERST) !== 0) return Rc.INTERNAL_ERROR;
      sw.portState[PS * port] = flags | F_PERST;
      sw.portState[PS * port + 1] = now;
      if (target !== null) coldResetComponent(target, now);
      return Rc.SUCCESS;
    case PortOpcode.DEASSERT_PERST:
      if ((flags & F_PERST) === 0) return Rc.INTERNAL_ERROR;
      if (now - sw.portState[PS * port + 1]! < PERST_HOLD_NS) return Rc.RETRY_REQUIRED;
      sw.portState[PS * port] = flags & ~(F_PERST | F_HOT_RESET);
      sw.portState[PS * port + 2] = now + LINK_TRAINING_NS;
      return Rc.SUCCESS;
    default: // RESET_PPB
      if ((flags & F_PERST) !== 0) return Rc.INTERNAL_ERROR;
      sw.portState[PS * port] = flags | F_HOT_RESET;
      sw.portState[PS * port + 2] = now + LINK_TRAINING_NS;
      if (target !== null) coldResetComponent(target, now);
      return Rc.SUCCESS;
  }
}

// ------------------------------------------------------------------ 52h Virtual Switch

const vcsIds = new Uint8Array(256);

/**
 * 5200h Get Virtual CXL Switch Info (§7.6.7.2.1): { Start vPPB, vPPB List Limit, N VCSs, N VCS IDs } ->
 * { N, 3 rsvd, N blocks of 4 + 4E bytes }, E = min(limit, vPPBs from Start on). Limit 0 or N = 0 ->
 * Invalid Input; an unknown VCS ID gets a block with state FFh and no entries; a reply larger than the
 * payload -> Invalid Input.
 */
function getVcsInfo(sw: SwitchState, req: CciRequest): number {
  const p = req.payload;
  const start = p[0]!;
  const limit = p[1]!;
  const n = p[2]!;
  if (limit === 0 || n === 0) return Rc.INVALID_INPUT;
  vcsIds.set(p.subarray(3, 3 + n), 0);
  const total = vppbCount(sw);
  const entries = Math.max(0, Math.min(limit, total - start));
  let size = 4;
  for (let i = 0; i < n; i++) size += 4 + (vcsIds[i] === 0 ? 4 * entries : 0);
  if (size > p.byteLength) return Rc.INVALID_INPUT;
  p[0] = n;
  p[1] = 0;
  p[2] = 0;
  p[3] = 0;
  let at = 4;
  for (let i = 0; i < n; i++) {
    const id = vcsIds[i]!;
    p[at] = id;
    if (id !== 0) {
      p[at + 1] = VcsState.INVALID_VCS_ID;
      p[at + 2] = 0;
      p[at + 3] = 0;
      at += 4;
      continue;
    }
    p[at + 1] = VcsState.ENABLED;
    p[at + 2] = 0; // USP is physical port 0
    p[at + 3] = total;
    at += 4;
    for (let k = 0; k < entries; k++) {
      const e = VS * (start + k);
      const status = sw.vppbs[e]!;
      p[at] = status;
      p[at + 1] = status === VppbStatus.UNBOUND ? 0 : sw.vppbs[e + 1]!;
      p[at + 2] = status === VppbStatus.BOUND_LD || status === VppbStatus.IN_PROGRESS ? sw.vppbs[e + 2]! : NO_LD;
      p[at + 3] = 0;
      at += 4;
    }
  }
  req.outLen = at;
  return Rc.SUCCESS;
}

function startVppbOp(sw: SwitchState, req: CciRequest, vppb: number, kind: number, opcode: number): number {
  sw.pendingVppb = vppb;
  sw.pendingKind = kind;
  sw.vppbs[VS * vppb] = VppbStatus.IN_PROGRESS;
  sw.bg.start(opcode, req.nowNs, VPPB_OP_NS, () => {
    const e = VS * sw.pendingVppb;
    if (sw.pendingKind === PENDING_BIND) {
      sw.vppbs[e] = sw.vppbs[e + 2] === NO_LD ? VppbStatus.BOUND_PORT : VppbStatus.BOUND_LD;
    } else {
      sw.vppbs[e] = VppbStatus.UNBOUND;
      sw.vppbs[e + 1] = 0;
      sw.vppbs[e + 2] = NO_LD;
    }
    sw.pendingKind = PENDING_NONE;
    sw.pendingVppb = -1;
    return Rc.SUCCESS;
  });
  return Rc.BACKGROUND_STARTED;
}

/**
 * 5201h Bind vPPB (§7.6.7.2.2): { VCS ID, vPPB ID, Physical Port ID, rsvd, le16 LD ID }. Background: answers
 * Background Command Started; the binding holds once Background Operation Status reports 100%.
 * Invalid Input: VCS not 0; vPPB past the last; vPPB not unbound; port not a DSP; LD ID not FFFFh on a port
 * without an MLD, or not an LD of the MLD; port (or port + LD) already bound to another vPPB. Another
 * background operation running -> Busy (the dispatcher's rule).
 */
function bindVppb(sw: SwitchState, req: CciRequest): number {
  const p = req.payload;
  const vcs = p[0]!;
  const vppb = p[1]!;
  const port = p[2]!;
  const ld = req.view.getUint16(4, true);
  if (vcs !== 0 || vppb >= vppbCount(sw)) return Rc.INVALID_INPUT;
  if (sw.vppbs[VS * vppb] !== VppbStatus.UNBOUND) return Rc.INVALID_INPUT;
  if (port === 0 || port >= sw.portCount) return Rc.INVALID_INPUT;
  const lds = ldCountOf(sw.targets[port] ?? null);
  if (lds === 0) {
    if (ld !== 0xffff) return Rc.INVALID_INPUT;
    if (vppbUsing(sw, port, -1) >= 0) return Rc.INVALID_INPUT;
  } else {
    if (ld >= lds) return Rc.INVALID_INPUT;
    if (vppbUsing(sw, port, ld) >= 0) return Rc.INVALID_INPUT;
  }
  sw.vppbs[VS * vppb + 1] = port;
  sw.vppbs[VS * vppb + 2] = lds === 0 ? NO_LD : ld;
  return startVppbOp(sw, req, vppb, PENDING_BIND, 0x5201);
}

/**
 * 5202h Unbind vPPB (§7.6.7.2.3): { VCS ID, vPPB ID, [3:0] Unbind Option (0 wait for link down, 1 managed
 * hot-remove, 2 surprise hot-remove) }. Background, like Bind. Invalid Input: VCS not 0, vPPB past the last
 * or not bound, option > 2.
 */
function unbindVppb(sw: SwitchState, req: CciRequest): number {
  const p = req.payload;
  const vcs = p[0]!;
  const vppb = p[1]!;
  const option = p[2]! & 0x0f;
  if (vcs !== 0 || vppb >= vppbCount(sw) || option > 2) return Rc.INVALID_INPUT;
  const s = sw.vppbs[VS * vppb]!;
  if (s !== VppbStatus.BOUND_PORT && s !== VppbStatus.BOUND_LD) return Rc.INVALID_INPUT;
  return startVppbOp(sw, req, vppb, PENDING_UNBIND, 0x5202);
}

// ------------------------------------------------------------------ 53h MLD Port

/**
 * Tunnel target at a switch: the component on downstream port `port` (an SLD, or an MLD's FM-owned LD).
 * USP, unknown or empty port -> Invalid Input; PERST# asserted or link training -> Retry Required (the
 * condition is transient: the FM deasserts / the link retrains, then the same request succeeds).
 */
function resolvePort(sw: SwitchState, port: number, _targetType: number, nowNs: number): ComponentState | number {
  switch (portLink(sw, port, nowNs)) {
    case 'up':
      return sw.targets[port]!;
    case 'perst':
    case 'training':
      return Rc.RETRY_REQUIRED;
    default:
      return Rc.INVALID_INPUT;
  }
}

const SWITCH_COMMANDS: readonly CommandDef<SwitchState>[] = [
  ...(GENERIC_COMMANDS as readonly CommandDef<SwitchState>[]),
  { opcode: 0x5100, name: 'Identify Switch Device', input: 0, effects: 0, handler: identifySwitch },
  { opcode: 0x5101, name: 'Get Physical Port State', input: { min: 1, exact: (p) => 1 + p[0]! }, effects: 0, handler: getPhysicalPortState },
  // Spec and QEMU report no effects for Physical Port Control; the policy layer treats it as destructive.
  { opcode: 0x5102, name: 'Physical Port Control', input: 2, effects: 0, handler: physicalPortControl },
  { opcode: 0x5200, name: 'Get Virtual CXL Switch Info', input: { min: 3, exact: (p) => 3 + p[2]! }, effects: 0, handler: getVcsInfo },
  { opcode: 0x5201, name: 'Bind vPPB', input: 6, effects: Effect.BACKGROUND_OP, handler: bindVppb },
  { opcode: 0x5202, name: 'Unbind vPPB', input: 3, effects: Effect.BACKGROUND_OP, handler: unbindVppb },
  tunnelCommand<SwitchState>(resolvePort),
];

/** The switch CCI command set (one instance for every switch). */
export const SWITCH_COMMAND_SET = new CommandSet<SwitchState>('cxl-switch', SWITCH_COMMANDS);

/**
 * Power-on state of a switch. `ports` maps a downstream port (1..ports-1) to the component behind it: a
 * type-3 SLD's state or an MLD's FM-owned LD state (newMldState). Ports not in the map are empty DSPs.
 * VCS 0 has one vPPB per downstream port, plus one more per extra LD of an MLD; at power-on vPPBs are bound
 * in port order: an SLD port as a physical port, each LD of an MLD as port + LD; empty ports stay unbound.
 */
export function newSwitchState(d: DeviceDescriptor, ports: Map<number, ComponentState>): SwitchState {
  const portCount = d.switchInfo?.ports ?? 1 + Math.max(0, ...ports.keys());
  if (portCount < 2 || portCount > 256) throw new RangeError(`${d.id}: a switch has 2 to 256 ports, got ${portCount}`);
  const targets: (ComponentState | null)[] = new Array<ComponentState | null>(portCount).fill(null);
  for (const [port, c] of ports) {
    if (!Number.isInteger(port) || port < 1 || port >= portCount) throw new RangeError(`${d.id}: port ${port} is not a downstream port (1..${portCount - 1})`);
    targets[port] = c;
  }
  let nVppb = 0;
  for (let port = 1; port < portCount; port++) nVppb += Math.max(1, ldCountOf(targets[port] ?? null));
  if (nVppb > 255) throw new RangeError(`${d.id}: ${nVppb} vPPBs do not fit VCS 0 (at most 255)`);
  const vppbs: number[] = [];
  for (let port = 1; port < portCount; port++) {
    const t = targets[port] ?? null;
    const lds = ldCountOf(t);
    if (lds > 0) for (let ld = 0; ld < lds; ld++) vppbs.push(VppbStatus.BOUND_LD, port, ld);
    else if (t === null) vppbs.push(VppbStatus.UNBOUND, 0, NO_LD);
    else vppbs.push(VppbStatus.BOUND_PORT, port, NO_LD);
  }
  return {
    commands: SWITCH_COMMAND_SET,
    identity: {
      vendorId: EMULATOR_VENDOR_ID,
      deviceId: SWITCH_DEVICE_ID,
      subsystemVendorId: EMULATOR_VENDOR_ID,
      subsystemId: 0x0001,
      serial: d.serial,
      maxMessageSizeLog2: Math.log2(d.mailboxBytes),
      componentType: 0x00,
    },
    bg: new BackgroundOp(),
    timestamp: null,
    portCount,
    targets,
    portState: new Array<number>(PS * portCount).fill(0),
    vppbs,
    pendingVppb: -1,
    pendingKind: PENDING_NONE,
  };
}
