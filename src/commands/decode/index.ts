import { catalog, type CommandFamily } from '../families.js';
import { decodeBackgroundStatus, decodeCel, decodeFwInfo, decodeIdentify, decodeSupportedLogs, decodeTimestamp, getLogOffset, isCelRequest } from './cxl-generic.js';
import { decodePortStates, decodeIdentifySwitch } from './cxl-switch.js';
import { decodeIdentifyMemoryDevice, decodeType3Health } from './cxl-type3.js';
import { decodeIdentifyController, decodeIdentifyNamespace } from './nvme-identify.js';
import { decodeFirmwareSlotLog, decodeNvmeEffectsLog, decodeNvmeSmart, decodeSanitizeStatus } from './nvme-logs.js';

/**
 * Decoded answers: which decoder fits a command, chosen from the target's family, the opcode and (CXL Get
 * Log's UUID, NVMe Identify's CNS, Get Log Page's log id) the request itself. Used by `mbxmux send` and by
 * MCP send_command; get_health uses the same decoders. Only successful answers are decoded.
 */

export interface AnswerRequest {
  opcode: number;
  /** CXL input payload */
  payload?: Uint8Array | undefined;
  cdw10?: number | undefined;
}

export interface Decoded {
  /** what the payload was decoded as */
  as: string;
  value?: unknown;
  /** set instead of value when the payload did not fit the structure */
  error?: string;
}

type Decoder = { as: string; run: (out: Uint8Array) => unknown };

const CXL_GENERIC: Record<number, Decoder> = {
  0x0001: { as: 'Identify', run: decodeIdentify },
  0x0002: { as: 'Background Operation Status', run: decodeBackgroundStatus },
  0x0200: { as: 'FW Info', run: decodeFwInfo },
  0x0300: { as: 'Timestamp', run: decodeTimestamp },
  0x0400: { as: 'Supported Logs', run: decodeSupportedLogs },
};
const TYPE3: Record<number, Decoder> = {
  0x4000: { as: 'Identify Memory Device', run: decodeIdentifyMemoryDevice },
  0x4200: { as: 'Health Info', run: decodeType3Health },
};
const SWITCH: Record<number, Decoder> = {
  0x5100: { as: 'Identify Switch Device', run: decodeIdentifySwitch },
  0x5101: { as: 'Physical Port State', run: (p) => ({ ports: decodePortStates(p) }) },
};

const nameIn = (family: CommandFamily) => (op: number): string | undefined => catalog(family).nameOf(op);

function nvmeDecoder(req: AnswerRequest): Decoder | undefined {
  const low = (req.cdw10 ?? 0) & 0xff;
  if (req.opcode === 0x06) {
    if (low === 0x01) return { as: 'Identify Controller', run: decodeIdentifyController };
    if (low === 0x00) return { as: 'Identify Namespace', run: decodeIdentifyNamespace };
    return undefined;
  }
  if (req.opcode !== 0x02) return undefined;
  switch (low) {
    case 0x02: return { as: 'SMART / Health Information', run: decodeNvmeSmart };
    case 0x03: return { as: 'Firmware Slot Information', run: decodeFirmwareSlotLog };
    case 0x05: return { as: 'Commands Supported and Effects', run: (p) => decodeNvmeEffectsLog(p, nameIn('nvme'), nameIn('nvme-io')) };
    case 0x81: return { as: 'Sanitize Status', run: decodeSanitizeStatus };
    default: return undefined;
  }
}

function cxlDecoder(family: CommandFamily, req: AnswerRequest): Decoder | undefined {
  if (req.opcode === 0x0401) {
    const input = req.payload;
    if (!isCelRequest(input)) return undefined;
    const offset = getLogOffset(input);
    return { as: 'Command Effects Log', run: (p) => decodeCel(p, offset, nameIn(family)) };
  }
  return CXL_GENERIC[req.opcode] ?? (family === 'cxl-type3' ? TYPE3 : family === 'cxl-switch' ? SWITCH : {})[req.opcode];
}

/** The decoded answer, or null when no decoder fits (the caller shows hex). */
export function decodeAnswer(family: CommandFamily, req: AnswerRequest, out: Uint8Array): Decoded | null {
  const d = family === 'nvme' ? nvmeDecoder(req) : family === 'nvme-io' ? undefined : cxlDecoder(family, req);
  if (d === undefined) return null;
  try {
    const value = d.run(out);
    return value === null ? null : { as: d.as, value };
  } catch (e) {
    return { as: d.as, error: (e as Error).message };
  }
}

export { decodeBackgroundStatus, decodeCel, decodeFwInfo, decodeIdentify, decodeSupportedLogs, decodeTimestamp } from './cxl-generic.js';
export { decodeIdentifySwitch, decodePortStates, type PortState } from './cxl-switch.js';
export { decodeIdentifyMemoryDevice, decodeType3Health, type Type3Health } from './cxl-type3.js';
export { decodeIdentifyController, decodeIdentifyNamespace } from './nvme-identify.js';
export { decodeFirmwareSlotLog, decodeNvmeEffectsLog, decodeNvmeSmart, decodeSanitizeStatus, type NvmeSmart, type SanitizeStatus } from './nvme-logs.js';
export type { BackgroundStatus } from './cxl-generic.js';
