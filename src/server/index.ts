/**
 * Ways in for programs and agents: the socket server and its client, recording and replay, and the
 * decoders the MCP tools use. The MCP server itself lives in ./mcp-server.js (not re-exported here: it
 * loads the MCP SDK, which costs startup time for programs that do not need it).
 */
export { SocketServer, isLoopback, type ListenAddress, type ListenTarget, type SocketServerOptions } from './socket-server.js';
export { SocketClient, connectSocket, type RemoteRequest, type SocketClientOptions } from './socket-client.js';
export { FleetClient, connectFleet, type FleetClientOptions, type FleetServerState } from './fleet-client.js';
export { fleetLoadTarget, type RemoteSession } from './fleet-target.js';
export { endpointName, parseEndpoint, parseEndpoints, type FleetEndpoint } from './endpoints.js';
export { grantSession, minTier, type SessionCaps, type SessionGrant } from './session-caps.js';
export { TokenStore, type TokenGrant, type TokenSpec } from './auth.js';
export { DEFAULT_LIMITS, resolveLimits, type ServerLimits } from './limits.js';
export type { ServerCounters, ServerStats } from './server-stats.js';
export {
  DEFAULT_MAX_FRAME_BYTES, PROTOCOL_VERSION, FrameDecoder, decodeMap, encodeFrame, errorFromWire,
  type ClientFrame, type EffectEntry, type ErrFrame, type ErrorFrame, type HelloFrame, type ReqFrame, type ResFrame,
  type ServerFrame, type StatsFrame, type StatsResultFrame, type WelcomeFrame, type WireRequest,
} from './frames.js';
export {
  Recorder, createRecorder, readRecording, RECORDING_FORMAT, RECORDING_VERSION, type RecordedRefusal, type RecordedRequest,
  type RecordedResult, type RecordedSession, type RecorderOptions, type Recording, type RecordingEnd, type RecordingHeader,
} from './recorder.js';
export { replayOn, replayRecording, type ReplayDifference, type ReplayOptions, type ReplayReport } from './replay.js';
export {
  decodeNvmeSmart, decodePortStates, decodeType3Health, readHealth, type DeviceHealth, type NvmeSmart, type PortState,
  type Type3Health,
} from './health.js';
export {
  commandName, commandNames, commandTarget, decodeAnswer, effectsView, familyOf, followBackground, hintsForTier, readBackground, resolveCommand,
  type BackgroundState, type CommandFamily, type CommandHints, type CommandTarget, type Decoded, type EffectsEntry, type EffectsView,
  type FollowResult, type KnownCommand, type ResolvedCommand,
} from '../commands/index.js';
export { DeviceTools, type McpToolsOptions, type SendAnswer, type SendArgs } from './device-tools.js';
