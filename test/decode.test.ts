import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeBackgroundStatus, decodeCel, decodeFwInfo, decodeIdentify, decodeSupportedLogs, decodeTimestamp,
} from '../src/commands/decode/cxl-generic.js';
import { decodeIdentifySwitch, decodePortStates } from '../src/commands/decode/cxl-switch.js';
import { decodeIdentifyMemoryDevice, decodeType3Health } from '../src/commands/decode/cxl-type3.js';
import { decodeAnswer } from '../src/commands/decode/index.js';
import { decodeIdentifyController, decodeIdentifyNamespace } from '../src/commands/decode/nvme-identify.js';
import { decodeFirmwareSlotLog, decodeNvmeEffectsLog, decodeNvmeSmart, decodeSanitizeStatus } from '../src/commands/decode/nvme-logs.js';
import { catalog, type CommandFamily } from '../src/commands/families.js';

// Every expected value below is written from the spec's field layout, byte by byte: the encoders of the
// emulated devices are not used here.

/** Bytes from hex text (spaces allowed), padded with zeros to `len`. */
function bytes(hexText: string, len = 0): Uint8Array {
  const b = Buffer.from(hexText.replace(/\s+/g, ''), 'hex');
  const out = new Uint8Array(Math.max(len, b.length));
  out.set(b);
  return out;
}

function put(buf: Uint8Array, at: number, hexText: string): void {
  buf.set(bytes(hexText), at);
}

const ascii = (s: string): string => Buffer.from(s, 'ascii').toString('hex');
const CEL_UUID = '0da9c0b5bf414b788f7996b1623b3f17';

test('CXL Identify (0001h, CXL r3.1 8.2.9.1.1): ids, serial, max message size, component type', () => {
  // vendor 1E98h, device 0D93h, subsystem vendor 1234h, subsystem 5678h, serial 0123456789ABCDEFh, 2^12, type 03h
  const p = bytes('981e 930d 3412 7856 efcdab8967452301 0c 03');
  assert.equal(decodeIdentify(p), {
    vendorId: '0x1e98', deviceId: '0x0d93', subsystemVendorId: '0x1234', subsystemId: '0x5678',
    serialNumber: '0123456789abcdef', maxMessageSizeBytes: 4096, componentType: 'type-3 device',
  });
  assert.is(decodeIdentify(bytes('0000 0000 0000 0000 0000000000000000 08 00')).componentType, 'switch');
  assert.is(decodeIdentify(bytes('0000 0000 0000 0000 0000000000000000 08 07')).componentType, 'reserved (0x07)');
  assert.throws(() => decodeIdentify(new Uint8Array(17)), /expected at least 18/);
});

test('Background Operation Status (0002h, 8.2.9.1.2): running bit, percent in bits 7:1, opcode, rc', () => {
  // 55h = running | 42 << 1; opcode 4400h; rc 0; vendor status 0
  assert.equal(decodeBackgroundStatus(bytes('55 00 0044 0000 0000')), { running: true, percentComplete: 42, opcode: '0x4400', returnCode: 0, vendorStatus: 0 });
  // C8h = 100 << 1, finished; rc 0002h Invalid Input; vendor status 0BEEh
  assert.equal(decodeBackgroundStatus(bytes('c8 00 0443 0200 ee0b')), { running: false, percentComplete: 100, opcode: '0x4304', returnCode: 2, vendorStatus: 0x0bee });
});

test('Get FW Info (0200h, 8.2.9.3.1): slots, active and staged slot, revisions', () => {
  const p = new Uint8Array(0x50);
  put(p, 0, '04 1a 01'); // 4 slots; active 2, staged 3 (bits 5:3); online activation
  put(p, 0x10, ascii('fw-1.0'));
  put(p, 0x20, ascii('fw-2.0'));
  assert.equal(decodeFwInfo(p), {
    slotsSupported: 4, activeSlot: 2, stagedSlot: 3, onlineActivationSupported: true,
    revisions: [{ slot: 1, revision: 'fw-1.0' }, { slot: 2, revision: 'fw-2.0' }, { slot: 3, revision: null }, { slot: 4, revision: null }],
  });
});

test('Get Timestamp (0300h) and Get Supported Logs (0400h)', () => {
  // 1,700,000,000,123,456,789 ns = 17979CFE3D85CD15h
  assert.equal(decodeTimestamp(bytes('15cd853dfe9c9717')), { nanoseconds: '1700000000123456789', iso: '2023-11-14T22:13:20.123Z' });
  // one log: the CEL, A4h bytes
  assert.equal(decodeSupportedLogs(bytes(`0100 000000000000 ${CEL_UUID} a4000000`)), {
    count: 1, logs: [{ uuid: '0da9c0b5-bf41-4b78-8f79-96b1623b3f17', name: 'Command Effects Log', bytes: 164 }],
  });
});

test('Command Effects Log entries (Get Log 0401h, 8.2.9.5.2.1) are named in the device\'s family', () => {
  // 4200h effects 0; 4400h effects 0074h = bits 2, 4, 5, 6
  const p = bytes('0042 0000 0044 7400');
  assert.equal(decodeCel(p, 0, (op) => catalog('cxl-type3').nameOf(op)), {
    log: 'Command Effects Log',
    entries: [
      { opcode: '0x4200', name: 'Get Health Info', effects: [] },
      { opcode: '0x4400', name: 'Sanitize', effects: ['IMMEDIATE_DATA_CHANGE', 'IMMEDIATE_LOG_CHANGE', 'SECURITY_STATE_CHANGE', 'BACKGROUND_OP'] },
    ],
  });
  assert.is(decodeCel(p, 2, () => undefined), null, 'an offset inside an entry does not decode');
  const viaAnswer = decodeAnswer('cxl-switch', { opcode: 0x0401, payload: bytes(`${CEL_UUID} 00000000 08000000`) }, bytes('0051 0000 0251 0000'));
  assert.equal(viaAnswer?.value, { log: 'Command Effects Log', entries: [
    { opcode: '0x5100', name: 'Identify Switch Device', effects: [] }, { opcode: '0x5102', name: 'Physical Port Control', effects: [] }] });
  assert.is(decodeAnswer('cxl-type3', { opcode: 0x0401, payload: bytes(`${'11'.repeat(16)} 00000000 08000000`) }, p), null, 'another log: no decoder');
});

test('Identify Memory Device (4000h, 8.2.9.9.1.1) and Get Health Info (4200h, 8.2.9.9.3.1)', () => {
  const p = new Uint8Array(0x45);
  put(p, 0x00, ascii('FW-7'));
  put(p, 0x10, '0400000000000000'); // 4 x 256 MiB
  put(p, 0x28, '0100000000000000');
  put(p, 0x30, '0001 8000 4000 2000'); // event log sizes 256, 128, 64, 32
  put(p, 0x38, '00000200'); // LSA 128 KiB
  put(p, 0x3c, '030201 1000 00 00 4000'); // poison records 010203h, inject limit 16, caps, QoS, DC log 64
  assert.equal(decodeIdentifyMemoryDevice(p), {
    fwRevision: 'FW-7', totalCapacityUnits256MiB: 4, volatileOnlyCapacityUnits256MiB: 0, persistentOnlyCapacityUnits256MiB: 0,
    partitionAlignmentUnits256MiB: 1, eventLogSizes: { informational: 256, warning: 128, failure: 64, fatal: 32, dynamicCapacity: 64 },
    lsaBytes: 0x20000, poisonListMaxMediaErrorRecords: 0x010203, injectPoisonLimit: 16, poisonHandlingCapabilities: '0x00', qosTelemetryCapabilities: '0x00',
  });
  // health 05h (maintenance + replacement), media 02h, additional 16h (life critical, temperature warning, volatile over
  // warning), life 85%, temperature -5 C (FFFBh), dirty shutdowns 7, corrected volatile 256, persistent 3
  const h = decodeType3Health(bytes('05 02 16 55 fbff 07000000 00010000 03000000'));
  assert.equal(h, {
    healthStatus: { raw: 5, maintenanceNeeded: true, performanceDegraded: false, hardwareReplacementNeeded: true },
    mediaStatus: { raw: 2, text: 'write persistency lost' },
    additionalStatus: { raw: 0x16, lifeUsed: 'critical', deviceTemperature: 'warning', correctedVolatileErrorsOverWarning: true, correctedPersistentErrorsOverWarning: false },
    lifeUsedPercent: 85, temperatureC: -5, dirtyShutdownCount: 7, correctedVolatileErrorCount: 256, correctedPersistentErrorCount: 3,
  });
  assert.equal([decodeType3Health(bytes('00 00 00 ff ff7f', 0x12)).lifeUsedPercent, decodeType3Health(bytes('00 00 00 ff ff7f', 0x12)).temperatureC], [null, null]);
});

test('Identify Switch Device (5100h) and Get Physical Port State (5101h, CXL r3.1 7.6.7.1)', () => {
  const id = new Uint8Array(0x49);
  put(id, 0, '00 00 05 01 1f'); // ingress 0, 5 ports, 1 VCS, ports 0-4 active
  put(id, 0x24, '01');
  put(id, 0x44, '0400 0300 08');
  assert.equal(decodeIdentifySwitch(id), {
    ingressPortId: 0, physicalPorts: 5, virtualCxlSwitches: 1, activePorts: [0, 1, 2, 3, 4], activeVcss: [0], totalVppbs: 4, boundVppbs: 3, hdmDecodersPerUsp: 8,
  });
  // one port: 2, DSP (3), 256B flit (3), rsvd, MLD (5), versions, x8/x8, speeds, max 32 GT/s (5), current 5, L0 (4),
  // lane 0, link state 0004h (presence detected), 4 LDs
  const ps = bytes('01 000000  02 03 03 00 05 07 08 08 3f 05 05 04 00 0400 04');
  assert.equal(decodePortStates(ps), [{
    port: 2, configState: 'DSP', connectedDeviceMode: 'FLIT_256B', connectedDeviceType: 'CXL_TYPE3_MLD', maxLinkWidth: 8, negotiatedLinkWidth: 8,
    maxLinkSpeedGTs: 32, currentLinkSpeedGTs: 32, ltssm: 'L0', perstAsserted: false, presenceDetected: true, laneReversed: false, poweredOff: false,
    supportedLdCount: 4, linkUp: true,
  }]);
});

test('NVMe Identify Controller (CNS 01h, NVMe Base 2.0 Figure 275) and Identify Namespace (CNS 00h)', () => {
  const p = new Uint8Array(4096);
  put(p, 0, '361b f41a');
  put(p, 4, ascii('SN123'.padEnd(20)));
  put(p, 24, ascii('Model X'.padEnd(40)));
  put(p, 64, ascii('2.1'.padEnd(8)));
  put(p, 73, '005452 00 07 4100 00040100'); // IEEE OUI 525400h, CMIC, MDTS 7, CNTLID 41h, VER 1.4.0
  put(p, 111, '01');
  put(p, 256, '0600 03 03 17 06 3f 00'); // OACS Format + FW, ACL 3, AERL 3, FRMW 17h, LPA 06h, ELPE 63, NPSS 0
  put(p, 266, '5701 7501'); // WCTEMP 343 K, CCTEMP 373 K
  put(p, 280, '0010a5d4e8000000'); // TNVMCAP 10^12
  put(p, 328, '03000000'); // SANICAP crypto + block erase
  put(p, 512, '66 44 0000 04000000 0c00'); // SQES, CQES, MAXCMD, NN 4, ONCS DSM + Write Zeroes
  put(p, 525, '01');
  put(p, 768, ascii('nqn.2014-08.org.example:x'));
  assert.equal(decodeIdentifyController(p), {
    vid: '0x1b36', ssvid: '0x1af4', serialNumber: 'SN123', modelNumber: 'Model X', firmwareRevision: '2.1', ieeeOui: '0x525400', mdts: 7,
    controllerId: 0x41, version: '1.4.0', controllerType: 'I/O controller', optionalAdminCommands: ['Format NVM', 'Firmware Download/Commit'],
    abortCommandLimit: 4, asyncEventRequestLimit: 4, firmware: { slots: 3, slot1ReadOnly: true, activationWithoutReset: true },
    logPageAttributes: ['Commands Supported and Effects', 'extended Get Log Page data'], errorLogEntries: 64, powerStates: 1,
    warningTemperatureK: 343, criticalTemperatureK: 373, totalCapacityBytes: 1e12, sanitizeCapabilities: ['Crypto Erase', 'Block Erase'],
    submissionQueueEntryBytes: 64, completionQueueEntryBytes: 16, namespaces: 4, optionalNvmCommands: ['Dataset Management', 'Write Zeroes'],
    volatileWriteCache: true, subsystemNqn: 'nqn.2014-08.org.example:x',
  });
  const ns = new Uint8Array(4096);
  put(ns, 0, '0000100000000000 0000100000000000 0010000000000000 00 01 01'); // NSZE, NCAP 100000h, NUSE 1000h, NLBAF 1, FLBAS 1
  put(ns, 48, '0000000001000000'); // NVMCAP 2^32 (low 8 bytes of 16)
  put(ns, 128, '00000902 08000c00'); // LBAF0 512 B rp 2; LBAF1 4 KiB + 8 B metadata
  assert.equal(decodeIdentifyNamespace(ns), {
    sizeBlocks: 0x100000, capacityBlocks: 0x100000, utilizationBlocks: 0x1000, formatInUse: 1, metadataAtEndOfLba: false, protectionInfoType: 0,
    nvmCapacityBytes: 2 ** 32, lbaFormats: [
      { index: 0, metadataBytes: 0, lbaBytes: 512, relativePerformance: 2 }, { index: 1, metadataBytes: 8, lbaBytes: 4096, relativePerformance: 0 }],
  });
});

test('NVMe SMART / Health (LID 02h), Firmware Slot (03h), Sanitize Status (81h)', () => {
  const s = new Uint8Array(512);
  put(s, 0, '02 3601 64 0a 03'); // temperature warning, 310 K, spare 100%, threshold 10%, 3% used
  put(s, 32, '3930000000000000 0000000000000000'); // data units read 12345
  put(s, 128, '0000000000000000 0100000000000000'); // power-on hours 2^64: beyond 2^53, a decimal string
  put(s, 200, '2c01'); // sensor 1: 300 K
  const smart = decodeNvmeSmart(s);
  assert.equal([smart.criticalWarning.temperature, smart.criticalWarning.raw, smart.compositeTemperatureK, smart.compositeTemperatureC], [true, 2, 310, 37]);
  assert.equal([smart.availableSparePercent, smart.availableSpareThresholdPercent, smart.percentageUsed], [100, 10, 3]);
  assert.equal([smart.dataUnitsRead, smart.powerOnHours], [12345, '18446744073709551616']);
  assert.equal(smart.temperatureSensorsK, [{ sensor: 1, kelvin: 300, celsius: 27 }]);

  const fw = new Uint8Array(512);
  put(fw, 0, '21'); // active slot 1, slot 2 at the next reset (bits 6:4)
  put(fw, 8, ascii('1.0.0   '));
  put(fw, 16, ascii('2.0.0   '));
  assert.equal(decodeFirmwareSlotLog(fw), {
    activeSlot: 1, nextResetSlot: 2,
    slots: [{ slot: 1, revision: '1.0.0' }, { slot: 2, revision: '2.0.0' }, ...[3, 4, 5, 6, 7].map((slot) => ({ slot, revision: null }))],
  });

  // SPROG 8000h = 50%, SSTAT 010b in progress, SCDW10 204h, ETO not reported, ETBE 2 s, ETCE 1 s
  assert.equal(decodeSanitizeStatus(bytes('0080 0200 04020000 ffffffff 02000000 01000000', 512)), {
    status: 'in progress', statusCode: 2, percentComplete: 50, overwritePassesCompleted: 0, globalDataErased: false, lastCdw10: '0x00000204',
    estimatedSeconds: { overwrite: null, blockErase: 2, cryptoErase: 1 },
  });
  // SPROG FFFFh once ended; SSTAT 0119h: completed (001b), 3 overwrite passes (7:3), global data erased (8)
  const done = decodeSanitizeStatus(bytes('ffff 1901 03000000', 512));
  assert.equal([done.status, done.percentComplete, done.overwritePassesCompleted, done.globalDataErased], ['completed', null, 3, true]);
});

test('NVMe Commands Supported and Effects (LID 05h, Figure 210): admin and I/O halves, named', () => {
  const p = new Uint8Array(4096);
  put(p, 4 * 0x06, '01000000'); // Identify: CSUPP
  put(p, 4 * 0x80, '07000200'); // Format NVM: CSUPP LBCC NCC, CSE 010b
  put(p, 1024 + 4 * 0x01, '03000000'); // Write: CSUPP LBCC
  put(p, 1024 + 4 * 0x02, '01000000'); // Read
  put(p, 1024 + 4 * 0x03, '00000000'); // not supported: not listed
  assert.equal(decodeNvmeEffectsLog(p, (op) => catalog('nvme').nameOf(op), (op) => catalog('nvme-io').nameOf(op)), {
    log: 'Commands Supported and Effects',
    admin: [{ opcode: '0x06', name: 'Identify', effects: ['CSUPP'] }, { opcode: '0x80', name: 'Format NVM', effects: ['CSUPP', 'LBCC', 'NCC', 'CSE=010b'] }],
    io: [{ opcode: '0x01', name: 'Write', effects: ['CSUPP', 'LBCC'] }, { opcode: '0x02', name: 'Read', effects: ['CSUPP'] }],
  });
});

test('decodeAnswer picks the decoder from family, opcode, CNS and log id; a short payload is an error, not a throw', () => {
  const smart = new Uint8Array(512);
  assert.is(decodeAnswer('nvme', { opcode: 0x02, cdw10: 0x007f0002 }, smart)?.as, 'SMART / Health Information');
  assert.is(decodeAnswer('nvme', { opcode: 0x02, cdw10: 0x007f0081 }, smart)?.as, 'Sanitize Status');
  assert.is(decodeAnswer('nvme', { opcode: 0x06, cdw10: 0x02 }, new Uint8Array(4096)), null, 'a namespace list: no decoder');
  assert.is(decodeAnswer('nvme-io', { opcode: 0x02 }, new Uint8Array(512)), null);
  assert.is(decodeAnswer('cxl-switch', { opcode: 0x4200 }, new Uint8Array(18)), null, 'a switch has no Get Health Info');
  assert.is(decodeAnswer('cxl-type3', { opcode: 0x5101 }, new Uint8Array(20)), null);
  assert.equal(decodeAnswer('cxl-type3', { opcode: 0x4200 }, new Uint8Array(4)), { as: 'Health Info', error: 'Get Health Info output is 4 bytes, expected at least 18' });
  assert.is(decodeAnswer('nvme', { opcode: 0x02, cdw10: 0x00000002 }, new Uint8Array(4))?.error, 'the SMART / Health Information log is 4 bytes, expected at least 512');
});

const REQUESTS: [CommandFamily, { opcode: number; cdw10?: number; payload?: Uint8Array }][] = [
  ['cxl-type3', { opcode: 0x0001 }], ['cxl-type3', { opcode: 0x0002 }], ['cxl-type3', { opcode: 0x0200 }], ['cxl-type3', { opcode: 0x0300 }],
  ['cxl-type3', { opcode: 0x0400 }], ['cxl-type3', { opcode: 0x0401, payload: bytes(`${CEL_UUID} 00000000 00010000`) }],
  ['cxl-type3', { opcode: 0x4000 }], ['cxl-type3', { opcode: 0x4200 }], ['cxl-switch', { opcode: 0x5100 }], ['cxl-switch', { opcode: 0x5101 }],
  ['nvme', { opcode: 0x06, cdw10: 1 }], ['nvme', { opcode: 0x06, cdw10: 0 }], ['nvme', { opcode: 0x02, cdw10: 2 }], ['nvme', { opcode: 0x02, cdw10: 3 }],
  ['nvme', { opcode: 0x02, cdw10: 5 }], ['nvme', { opcode: 0x02, cdw10: 0x81 }],
];

test('property: every decoder, any bytes: a value or an error, never a throw, always JSON', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: REQUESTS.length - 1 }), fc.uint8Array({ maxLength: 4200 }), (i, out) => {
    const [family, req] = REQUESTS[i]!;
    const d = decodeAnswer(family, req, out);
    assert.ok(d !== null, 'each of these requests has a decoder');
    assert.ok((d.value === undefined) !== (d.error === undefined), 'exactly one of value and error');
    JSON.stringify(d); // no BigInt, no cycles
    if (req.opcode === 0x0401 && d.value !== undefined) assert.is((d.value as { entries: unknown[] }).entries.length, out.byteLength >> 2);
    return true;
  }), { numRuns: 400 });
});

test.run();
