/**
 * mbxmux public API. Everything a program or agent needs is exported from here, with types.
 */
export { createMux, Mux, type MuxStats } from './mux/mux.js';
export { Session } from './mux/session.js';
export type { CommandResult, DeviceInfo, MuxOptions, SendRequest, SessionOptions } from './mux/types.js';
export { DEFAULT_FLEET, buildFleet, loadFleetFile, parseFleetFlag } from './fleet/expand.js';
export { parseSlice } from './fleet/slice.js';
export type {
  DeviceKind, DeviceSpec, FaultSpec, FleetCounts, FleetFile, FleetInput, FleetSlice, MctpSpec, MldSpec, NvmeSpec, SwitchSpec,
  TestOnlyCompletionFaults, Type3Spec, VendorMode,
} from './fleet/types.js';
export {
  BackpressureError, BadRequestError, BuildError, CancelledError, ClosedError, FleetError, MbxError, NotRunError, PermissionError,
  ProtocolError, ServerLostError, TransportError, WorkerLostError, isMbxError, type MbxErrorCode,
} from './errors.js';
export { Rc, rcName } from './devices/cci/return-codes.js';
export { Effect, effectNames } from './devices/cci/effects.js';
export { TIERS, type Tier } from './policy/tiers.js';
export { Channels as diagnosticsChannels } from './mux/diagnostics.js';
export * from './harness/index.js';
export { decodeTunnelResponse, encodeTunnelRequest } from './devices/cxl/tunnel.js';
export { encodeNvmeRequest, decodeNvmeCompletion } from './devices/nvme/wire.js';
export type { AuditRecord } from './policy/audit.js';
export * from './server/index.js';
export { exposeDevices, type ExposeOptions, type ExposeResult } from './expose/expose.js';
export { buildPreloadLibrary, type BuildOptions } from './expose/preload-build.js';
export type { DeviceSelection, ExposedDevice, ExposedKind } from './expose/device-map.js';
