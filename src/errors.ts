/**
 * One error class per failure family, each with a stable `code` string that programs can switch on.
 * Messages say what happened and what to do about it.
 */
export type MbxErrorCode =
  | 'EMBX_BAD_REQUEST'
  | 'EMBX_UNKNOWN_DEVICE'
  | 'EMBX_PERMISSION'
  | 'EMBX_RING_FULL'
  | 'EMBX_BACKPRESSURE'
  | 'EMBX_TIMEOUT'
  | 'EMBX_ABORTED'
  | 'EMBX_WORKER_LOST'
  | 'EMBX_CLOSED'
  | 'EMBX_BAD_FLEET'
  | 'EMBX_TRANSPORT'
  | 'EMBX_PROTOCOL'
  | 'EMBX_BUILD'
  | 'EMBX_SERVER_LOST';

export class MbxError extends Error {
  readonly code: MbxErrorCode;
  readonly context: Record<string, unknown>;
  constructor(code: MbxErrorCode, message: string, context: Record<string, unknown> = {}) {
    super(message);
    this.code = code;
    this.context = context;
  }
  override get name(): string {
    return this.constructor.name;
  }
  toJSON(): { code: MbxErrorCode; message: string; context: Record<string, unknown> } {
    return { code: this.code, message: this.message, context: this.context };
  }
}

/** Malformed input from the caller: wrong types, out-of-range fields, oversize payloads, unknown devices. */
export class BadRequestError extends MbxError {
  constructor(message: string, context: Record<string, unknown> = {}, code: 'EMBX_BAD_REQUEST' | 'EMBX_UNKNOWN_DEVICE' = 'EMBX_BAD_REQUEST') {
    super(code, message, context);
  }
}

/** The session's tier or host binding does not allow the request; it never reached the device. */
export class PermissionError extends MbxError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('EMBX_PERMISSION', message, context);
  }
}

/** No room to queue: the ring is full and the caller asked not to wait, or the session queue hit its limit. */
export class BackpressureError extends MbxError {
  constructor(code: 'EMBX_RING_FULL' | 'EMBX_BACKPRESSURE', message: string, context: Record<string, unknown> = {}) {
    super(code, message, context);
  }
}

/** The request did not complete in time, or its AbortSignal fired. */
export class CancelledError extends MbxError {
  constructor(code: 'EMBX_TIMEOUT' | 'EMBX_ABORTED', message: string, context: Record<string, unknown> = {}) {
    super(code, message, context);
  }
}

/** The worker thread serving the device died while the request was in flight. */
export class WorkerLostError extends MbxError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('EMBX_WORKER_LOST', message, context);
  }
}

/** The mux is closing or closed. */
export class ClosedError extends MbxError {
  constructor(message = 'the mux is closed; create a new one with createMux()', context: Record<string, unknown> = {}) {
    super('EMBX_CLOSED', message, context);
  }
}

/**
 * A request sent over a socket that the server never ran: the connection closed (a bad frame, a limit,
 * shutdown) and the server's closing error said the last request it processed came before this one
 * (`context.lastId`). Sending it again cannot run it twice. A ClosedError, so `code` is EMBX_CLOSED.
 */
export class NotRunError extends ClosedError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super(message, { ...context, notRun: true });
  }
}

/**
 * A client of many servers (connectFleet) lost the server that serves the device: the connection broke or the
 * server shut down with the request in flight, or the server is not connected now (the client reconnects with
 * backoff). `context.endpoint` names the server; `context.notRun` is true when the request certainly never ran
 * (it was not sent, or the server said it did not run it), so sending it again cannot run it twice.
 */
export class ServerLostError extends MbxError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('EMBX_SERVER_LOST', message, context);
  }
}

/** A fleet description (options or JSON file) that cannot be built. */
export class FleetError extends MbxError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('EMBX_BAD_FLEET', message, context);
  }
}

/** A transport below the device (MCTP, PCC) lost or mangled the message. */
export class TransportError extends MbxError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('EMBX_TRANSPORT', message, context);
  }
}

/**
 * A peer sent something that is not a valid message: a socket or MCP client's frame, or a device's answer the
 * mux cannot read (a length field that does not match what it carries). A malformed answer fails only its
 * own request.
 */
export class ProtocolError extends MbxError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('EMBX_PROTOCOL', message, context);
  }
}

/** The native preload library of `mbxmux expose` cannot be built: no C compiler, or the compile failed. */
export class BuildError extends MbxError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('EMBX_BUILD', message, context);
  }
}

export function isMbxError(e: unknown): e is MbxError {
  return e instanceof MbxError;
}
