import { BadRequestError } from '../errors.js';
import { intOption, timeoutOption } from '../validate.js';
import { DEFAULT_MAX_FRAME_BYTES } from './frames.js';

/**
 * The socket server's resource bounds, in the manner of Redis's maxclients / timeout /
 * client-output-buffer-limit and an HTTP/2 server's concurrent-stream and frame-size limits. Every one has
 * a CLI flag (`mbxmux serve --help`) and is listed with its default in the README.
 *
 * Worst case per connection: one frame being received (maxFrameBytes) + request bytes held by requests in
 * flight (maxInFlightBytes + one frame) + answers not yet taken by the client (maxOutputBytes). Numeric
 * checks use the shared validators of src/validate.ts (as createMux does).
 */
export interface ServerLimits {
  /** connections open at once; more are refused with an error frame (EMBX_BACKPRESSURE) */
  maxConnections: number;
  /** a connection that has not sent hello after this long is closed (EMBX_TIMEOUT) */
  helloTimeoutMs: number;
  /** a connection with nothing in flight, nothing to send and nothing received for this long is closed (0 = never) */
  idleTimeoutMs: number;
  /** requests (of every kind) in flight per connection; the server reads no more frames until one is answered */
  maxInFlight: number;
  /** request frame bytes held by a connection's requests in flight; past it the server stops reading */
  maxInFlightBytes: number;
  /**
   * answer bytes buffered for a connection that the client has not read; past it the client is disconnected
   * (after one small closing frame). A single answer larger than this is still sent when nothing else waits.
   */
  maxOutputBytes: number;
  /** a client that takes no answer bytes for this long while answers wait is disconnected as a slow reader */
  stallTimeoutMs: number;
  /** the largest frame a client may send */
  maxFrameBytes: number;
  /** the longest `timeoutMs` a request may ask for; 0 ("no timeout") and longer are refused (EMBX_BAD_REQUEST) */
  maxRequestTimeoutMs: number;
  /** on close/SIGTERM: how long requests in flight may take to be answered before they are answered EMBX_CLOSED */
  shutdownGraceMs: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxConnections: 128,
  helloTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
  maxInFlight: 256,
  maxInFlightBytes: 16 * 1024 * 1024,
  maxOutputBytes: 16 * 1024 * 1024,
  stallTimeoutMs: 30_000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxRequestTimeoutMs: 60_000,
  shutdownGraceMs: 10_000,
});

/** The defaults with `given` applied, each validated (BadRequestError names the option). */
export function resolveLimits(given: Partial<ServerLimits> = {}): ServerLimits {
  for (const k of Object.keys(given)) {
    if (!(k in DEFAULT_LIMITS)) throw new BadRequestError(`unknown server limit "${k}"`);
  }
  const d = DEFAULT_LIMITS;
  return {
    maxConnections: intOption(given.maxConnections, 'maxConnections', 1, 1_000_000, d.maxConnections),
    helloTimeoutMs: timeoutOption(given.helloTimeoutMs, 'helloTimeoutMs', d.helloTimeoutMs, 1),
    idleTimeoutMs: timeoutOption(given.idleTimeoutMs, 'idleTimeoutMs', d.idleTimeoutMs, 0),
    maxInFlight: intOption(given.maxInFlight, 'maxInFlight', 1, 1 << 20, d.maxInFlight),
    maxInFlightBytes: intOption(given.maxInFlightBytes, 'maxInFlightBytes', 1024, 2 ** 32, d.maxInFlightBytes),
    maxOutputBytes: intOption(given.maxOutputBytes, 'maxOutputBytes', 64 * 1024, 2 ** 32, d.maxOutputBytes),
    stallTimeoutMs: timeoutOption(given.stallTimeoutMs, 'stallTimeoutMs', d.stallTimeoutMs, 1),
    maxFrameBytes: intOption(given.maxFrameBytes, 'maxFrameBytes', 64, 0xffffffff, d.maxFrameBytes),
    maxRequestTimeoutMs: timeoutOption(given.maxRequestTimeoutMs, 'maxRequestTimeoutMs', d.maxRequestTimeoutMs, 1),
    shutdownGraceMs: timeoutOption(given.shutdownGraceMs, 'shutdownGraceMs', d.shutdownGraceMs, 0),
  };
}

