import {
  ConnectedDeviceMode, ConnectedDeviceType, LinkStateFlag, Ltssm, PortConfigState,
} from '../../devices/cxl/switch-ports.js';
import { hex, need, view } from './bytes.js';

/** Decoders of the CXL switch (FM API physical switch) commands' output (CXL r3.1 7.6.7.1). */

const reverse = (o: Record<string, number>): Map<number, string> => new Map(Object.entries(o).map(([k, v]) => [v, k]));
const PORT_CONFIG = reverse(PortConfigState);
const DEVICE_MODE = reverse(ConnectedDeviceMode);
const DEVICE_TYPE = reverse(ConnectedDeviceType);
const LTSSM = reverse(Ltssm);

/** Numbers of the set bits of a little-endian bitmask of `bytes` bytes at `at`. */
function bitList(p: Uint8Array, at: number, bytes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes * 8; i++) if ((p[at + (i >>> 3)]! >>> (i & 7)) & 1) out.push(i);
  return out;
}

/** 5100h Identify Switch Device (7.6.7.1.1): 49h bytes. */
export function decodeIdentifySwitch(p: Uint8Array) {
  need(p, 0x49, 'Identify Switch Device output');
  const v = view(p);
  return {
    ingressPortId: p[0x00]!,
    physicalPorts: p[0x02]!,
    virtualCxlSwitches: p[0x03]!,
    activePorts: bitList(p, 0x04, 32),
    activeVcss: bitList(p, 0x24, 32),
    totalVppbs: v.getUint16(0x44, true),
    boundVppbs: v.getUint16(0x46, true),
    hdmDecodersPerUsp: p[0x48]!,
  };
}

export interface PortState {
  port: number;
  configState: string;
  connectedDeviceMode: string;
  connectedDeviceType: string;
  maxLinkWidth: number;
  negotiatedLinkWidth: number;
  maxLinkSpeedGTs: number | null;
  currentLinkSpeedGTs: number | null;
  ltssm: string;
  perstAsserted: boolean;
  presenceDetected: boolean;
  laneReversed: boolean;
  poweredOff: boolean;
  supportedLdCount: number;
  linkUp: boolean;
}

const SPEED_GTS = [0, 2.5, 5, 8, 16, 32, 64];

/** 5101h Get Physical Port State output: { n, 3 rsvd, n x 16-byte port info } (CXL r3.2 Table 7-19). */
export function decodePortStates(p: Uint8Array): PortState[] {
  const n = p[0] ?? 0;
  const out: PortState[] = [];
  for (let i = 0; i < n && 4 + 16 * (i + 1) <= p.byteLength; i++) {
    const at = 4 + 16 * i;
    const flags = p[at + 0x0d]! | (p[at + 0x0e]! << 8);
    const ltssm = p[at + 0x0b]!;
    out.push({
      port: p[at]!,
      configState: PORT_CONFIG.get(p[at + 1]! & 0xf) ?? hex(p[at + 1]! & 0xf, 1),
      connectedDeviceMode: DEVICE_MODE.get(p[at + 2]! & 0xf) ?? hex(p[at + 2]! & 0xf, 1),
      connectedDeviceType: DEVICE_TYPE.get(p[at + 4]!) ?? hex(p[at + 4]!, 2),
      maxLinkWidth: p[at + 6]!,
      negotiatedLinkWidth: p[at + 7]!,
      maxLinkSpeedGTs: SPEED_GTS[p[at + 9]!] || null,
      currentLinkSpeedGTs: SPEED_GTS[p[at + 0x0a]!] || null,
      ltssm: LTSSM.get(ltssm) ?? hex(ltssm, 2),
      perstAsserted: (flags & LinkStateFlag.PERST_ASSERTED) !== 0,
      presenceDetected: (flags & LinkStateFlag.PRSNT_PRESENT) !== 0,
      laneReversed: (flags & LinkStateFlag.LANE_REVERSAL) !== 0,
      poweredOff: (flags & LinkStateFlag.POWER_OFF) !== 0,
      supportedLdCount: p[at + 0x0f]!,
      linkUp: ltssm === Ltssm.L0,
    });
  }
  return out;
}

