import { ascii, bitNames, hex, need, u128, u64, view } from './bytes.js';

/** Decoders of NVMe Identify data structures (NVMe Base 2.0 5.17.2; NVM Command Set 1.0 4.1.5). */

const OACS_BITS = [
  [0, 'Security Send/Receive'], [1, 'Format NVM'], [2, 'Firmware Download/Commit'], [3, 'Namespace Management'],
  [4, 'Device Self-test'], [5, 'Directives'], [6, 'NVMe-MI Send/Receive'], [7, 'Virtualization Management'],
  [8, 'Doorbell Buffer Config'], [9, 'Get LBA Status'], [10, 'Command and Feature Lockdown'],
] as const;
const ONCS_BITS = [
  [0, 'Compare'], [1, 'Write Uncorrectable'], [2, 'Dataset Management'], [3, 'Write Zeroes'], [4, 'Save/Select in Features'],
  [5, 'Reservations'], [6, 'Timestamp'], [7, 'Verify'], [8, 'Copy'],
] as const;
const LPA_BITS = [
  [0, 'SMART per namespace'], [1, 'Commands Supported and Effects'], [2, 'extended Get Log Page data'], [3, 'Telemetry'],
  [4, 'Persistent Event Log'],
] as const;
const SANICAP_BITS = [[0, 'Crypto Erase'], [1, 'Block Erase'], [2, 'Overwrite']] as const;
const CNTRLTYPE = ['not reported', 'I/O controller', 'discovery controller', 'administrative controller'];

/** CNS 01h Identify Controller (Figure 275), 4096 bytes. */
export function decodeIdentifyController(p: Uint8Array) {
  need(p, 1024, 'Identify Controller data');
  const v = view(p);
  const ver = v.getUint32(80, true);
  const frmw = p[260]!;
  const sanicap = v.getUint32(328, true);
  const nul = p.indexOf(0, 768);
  return {
    vid: hex(v.getUint16(0, true), 4),
    ssvid: hex(v.getUint16(2, true), 4),
    serialNumber: ascii(p, 4, 20),
    modelNumber: ascii(p, 24, 40),
    firmwareRevision: ascii(p, 64, 8),
    ieeeOui: hex(p[73]! | (p[74]! << 8) | (p[75]! << 16), 6),
    /** largest transfer: 2^MDTS memory pages (0 = no limit) */
    mdts: p[77]!,
    controllerId: v.getUint16(78, true),
    version: `${ver >>> 16}.${(ver >>> 8) & 0xff}.${ver & 0xff}`,
    controllerType: CNTRLTYPE[p[111]!] ?? `reserved (${p[111]})`,
    optionalAdminCommands: bitNames(v.getUint16(256, true), OACS_BITS),
    abortCommandLimit: p[258]! + 1,
    asyncEventRequestLimit: p[259]! + 1,
    firmware: { slots: (frmw >>> 1) & 7, slot1ReadOnly: (frmw & 1) === 1, activationWithoutReset: (frmw & 0x10) !== 0 },
    logPageAttributes: bitNames(p[261]!, LPA_BITS),
    errorLogEntries: p[262]! + 1,
    powerStates: p[263]! + 1,
    warningTemperatureK: v.getUint16(266, true),
    criticalTemperatureK: v.getUint16(268, true),
    totalCapacityBytes: u128(v, 280),
    sanitizeCapabilities: bitNames(sanicap, SANICAP_BITS),
    submissionQueueEntryBytes: 2 ** (p[512]! & 0xf),
    completionQueueEntryBytes: 2 ** (p[513]! & 0xf),
    namespaces: v.getUint32(516, true),
    optionalNvmCommands: bitNames(v.getUint16(520, true), ONCS_BITS),
    volatileWriteCache: (p[525]! & 1) === 1,
    subsystemNqn: ascii(p, 768, (nul < 0 || nul > 1024 ? 1024 : nul) - 768),
  };
}

/** CNS 00h Identify Namespace, NVM command set (NVM Command Set 1.0 Figure 97). */
export function decodeIdentifyNamespace(p: Uint8Array) {
  need(p, 384, 'Identify Namespace data');
  const v = view(p);
  const nlbaf = p[25]! + 1;
  const flbas = p[26]!;
  const formats = [];
  for (let i = 0; i < Math.min(nlbaf, 64); i++) {
    const f = v.getUint32(128 + 4 * i, true);
    formats.push({ index: i, metadataBytes: f & 0xffff, lbaBytes: 2 ** ((f >>> 16) & 0xff), relativePerformance: (f >>> 24) & 3 });
  }
  return {
    sizeBlocks: u64(v, 0),
    capacityBlocks: u64(v, 8),
    utilizationBlocks: u64(v, 16),
    /** the LBA format in use: FLBAS bits 3:0 and 6:5 */
    formatInUse: (flbas & 0xf) | ((flbas >>> 5) & 3) << 4,
    metadataAtEndOfLba: (flbas & 0x10) !== 0,
    protectionInfoType: p[29]! & 7,
    nvmCapacityBytes: u128(v, 48),
    lbaFormats: formats,
  };
}
