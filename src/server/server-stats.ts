/**
 * The socket server's counters (SocketServer.stats(), the `stats` frame, and the line `mbxmux serve` logs
 * when it stops). Refusals and forced closes are counted by reason; peaks are over all connections.
 */
export interface ServerCounters {
  /** connections accepted (including ones refused later) */
  accepted: number;
  /** request frames processed (req, devices, effects, stats) */
  requests: number;
  refused: {
    /** hello without a valid token (the server has a token file) */
    auth: number;
    /** hello asking for a host the client may not act for */
    host: number;
    /** connections over maxConnections */
    connections: number;
    /** requests the session's tier or host binding refused (EMBX_PERMISSION answers) */
    permission: number;
  };
  closed: {
    /** after a malformed frame */
    protocol: number;
    helloTimeout: number;
    idleTimeout: number;
    /** answers not read: over maxOutputBytes, or no bytes taken for the idle timeout */
    slowReader: number;
    shutdown: number;
  };
  peak: {
    /** most answer bytes buffered for one connection */
    outputBytes: number;
    /** most requests in flight on one connection */
    inFlight: number;
    /** most request frame bytes held by one connection's requests in flight */
    inFlightBytes: number;
  };
}

export interface ServerStats extends ServerCounters {
  /** connections open now */
  connections: number;
}

export function newCounters(): ServerCounters {
  return {
    accepted: 0, requests: 0,
    refused: { auth: 0, host: 0, connections: 0, permission: 0 },
    closed: { protocol: 0, helloTimeout: 0, idleTimeout: 0, slowReader: 0, shutdown: 0 },
    peak: { outputBytes: 0, inFlight: 0, inFlightBytes: 0 },
  };
}
