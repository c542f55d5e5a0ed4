import diagnostics from 'node:diagnostics_channel';

/**
 * Observability through node:diagnostics_channel. Publishing costs one `hasSubscribers` check per request
 * when nobody listens. Message shapes:
 *   mbxmux:request:start  { id, mux, session, tier, host, fabricManager, device, request (the SendRequest as given), time }
 *   mbxmux:request:end    { id, mux, device, result? (CommandResult), error? (MbxError), time }
 *   mbxmux:permission:refused { session, device, error (PermissionError) }
 *   mbxmux:worker:lost    { shard, generation, error, lost }
 *   mbxmux:worker:restarted { shard, generation }
 * `time` is performance.now() in ms.
 */
export const Channels = {
  requestStart: diagnostics.channel('mbxmux:request:start'),
  requestEnd: diagnostics.channel('mbxmux:request:end'),
  refused: diagnostics.channel('mbxmux:permission:refused'),
  workerLost: diagnostics.channel('mbxmux:worker:lost'),
  workerRestarted: diagnostics.channel('mbxmux:worker:restarted'),
} as const;

let nextTraceId = 1;
export function newTraceId(): number {
  return nextTraceId++;
}
