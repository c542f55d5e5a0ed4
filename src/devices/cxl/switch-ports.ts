import type { ComponentState } from '../cci/cci.js';
import { isMldState } from './mld.js';

/**
 * Encodings of the Physical Switch / Virtual Switch command sets (CXL r3.2 §7.6.7.1-2) and the cold reset
 * a port applies to what is below it. Shared by switch.ts and tests.
 */

/** Get Physical Port State, Current Port Configuration State (Table 7-19 byte 01h bits 3:0). */
export const PortConfigState = {
  DISABLED: 0x0,
  BIND_IN_PROGRESS: 0x1,
  UNBIND_IN_PROGRESS: 0x2,
  DSP: 0x3,
  USP: 0x4,
  FABRIC_PORT: 0x5,
  INVALID_PORT_ID: 0xf,
} as const;

/** Connected Device Mode (byte 02h bits 3:0). */
export const ConnectedDeviceMode = {
  NOT_CXL_OR_DISCONNECTED: 0,
  RCD: 1,
  FLIT_68B_VH: 2,
  FLIT_256B: 3,
  FLIT_256B_LATENCY_OPTIMIZED: 4,
  PBR: 5,
} as const;

/** Connected Device Type (byte 04h). */
export const ConnectedDeviceType = {
  NONE: 0x00,
  PCIE: 0x01,
  CXL_TYPE1: 0x02,
  CXL_TYPE2_OR_HBR_SWITCH: 0x03,
  CXL_TYPE3_SLD: 0x04,
  CXL_TYPE3_MLD: 0x05,
  PBR_COMPONENT: 0x06,
} as const;

/** LTSSM State (byte 0Bh). */
export const Ltssm = {
  DETECT: 0x00,
  POLLING: 0x01,
  CONFIGURATION: 0x02,
  RECOVERY: 0x03,
  L0: 0x04,
  L0S: 0x05,
  L1: 0x06,
  L2: 0x07,
  DISABLED: 0x08,
  LOOPBACK: 0x09,
  HOT_RESET: 0x0a,
} as const;

/** Link State Flags (bytes 0Dh-0Eh). */
export const LinkStateFlag = {
  LANE_REVERSAL: 1 << 0,
  PERST_ASSERTED: 1 << 1,
  PRSNT_PRESENT: 1 << 2,
  POWER_OFF: 1 << 3,
} as const;

/** Physical Port Control, Port Opcode (Table 7-20 byte 01h). */
export const PortOpcode = {
  ASSERT_PERST: 0x00,
  DEASSERT_PERST: 0x01,
  RESET_PPB: 0x02,
} as const;

/** Get Virtual CXL Switch Info, vPPB Binding Status (Table 7-32). */
export const VppbStatus = {
  UNBOUND: 0x00,
  IN_PROGRESS: 0x01,
  BOUND_PORT: 0x02,
  BOUND_LD: 0x03,
  BOUND_PID: 0x04,
} as const;

/** VCS State (Table 7-32 byte 01h). */
export const VcsState = {
  DISABLED: 0x00,
  ENABLED: 0x01,
  INVALID_VCS_ID: 0xff,
} as const;

/** PCIe Link Capabilities encodings used in the port information block. */
export const LinkWidth = { X1: 0x01, X2: 0x02, X4: 0x04, X8: 0x08, X16: 0x10 } as const;
/** Max / Current Link Speed (LNKCAP / LNKSTA encoding): 1 = 2.5 GT/s ... 6 = 64 GT/s. */
export const LinkSpeed = { GT2_5: 1, GT5: 2, GT8: 3, GT16: 4, GT32: 5, GT64: 6 } as const;
/** Supported Link Speeds Vector bit n = speed n+1 (2.5 .. 64 GT/s). */
export const ALL_SPEEDS_VECTOR = 0x3f;
/** Supported CXL Modes bitmask: 68B flit + VH (b1) and 256B flit (b2). */
export const SUPPORTED_CXL_MODES = 0x06;

/** A component with an optional full cold-reset hook (type-3 code may add one; see coldResetComponent). */
interface Resettable extends ComponentState {
  coldReset?: (nowNs: number) => void;
}

/**
 * Cold reset of a component below a port (PERST# asserted, or Reset PPB): a running background operation
 * ends (Aborted), the timestamp is lost (Get Timestamp answers 0 until set again), and the component's own
 * `coldReset(nowNs)` runs if it has one. An MLD resets its FM-owned LD and every LD.
 */
export function coldResetComponent(c: ComponentState, nowNs: number): void {
  const r = c as Resettable;
  r.bg.update(nowNs);
  r.bg.abort();
  r.timestamp = null;
  if (typeof r.coldReset === 'function') r.coldReset(nowNs);
  if (isMldState(c)) for (const ld of c.lds) coldResetComponent(ld, nowNs);
}
