import {
  BadRequestError, CancelledError, type MbxError, ProtocolError, TransportError, WorkerLostError,
} from '../errors.js';
import { CqFlag, WorkerFailure } from '../shard/protocol.js';

/** The request facts an error message names. */
interface Failing {
  readonly device: { readonly id: string };
  readonly opcode: number;
}

const decoder = new TextDecoder();

export function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

export function timeoutError(p: Failing): CancelledError {
  return new CancelledError('EMBX_TIMEOUT',
    `${p.device.id} did not answer opcode 0x${hex4(p.opcode)} within the timeout; raise timeoutMs or check the device's faults`,
    { device: p.device.id, opcode: p.opcode });
}

export function abortedError(p: Failing): CancelledError {
  return new CancelledError('EMBX_ABORTED', `the request to ${p.device.id} was aborted`, { device: p.device.id, opcode: p.opcode });
}

export function workerLostError(p: Failing, shard: number, reason: string): WorkerLostError {
  return new WorkerLostError(
    `the worker serving ${p.device.id} (shard ${shard}) died while opcode 0x${hex4(p.opcode)} was in flight: ${reason}; the shard is restarting, retry the request`,
    { device: p.device.id, opcode: p.opcode, shard });
}

/** A FAILED or CANCELLED completion from the worker, as the caller's error. */
export function completionError(p: Failing, flags: number, failure: number, detail: Uint8Array): MbxError {
  const text = decoder.decode(detail);
  if ((flags & CqFlag.CANCELLED) !== 0) {
    return new CancelledError('EMBX_ABORTED', `${p.device.id} dropped opcode 0x${hex4(p.opcode)} (cancelled in the worker)`, { device: p.device.id });
  }
  if (failure === WorkerFailure.TRANSPORT) return new TransportError(`${p.device.id}: ${text}`, { device: p.device.id, opcode: p.opcode });
  if (failure === WorkerFailure.PROTOCOL) return malformedAnswer(p, new Error(text));
  return new BadRequestError(`${p.device.id}: ${text}`, { device: p.device.id, opcode: p.opcode });
}

/** EMBX_PROTOCOL for a device answer that cannot be read (found by the worker's host driver or the decoder). */
export function malformedAnswer(p: Failing, cause: unknown): ProtocolError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new ProtocolError(`${p.device.id} sent a malformed answer to opcode 0x${hex4(p.opcode)}, which was not delivered: ${why}; `
    + 'retry, and check the device (or its faults.malformed)', { device: p.device.id, opcode: p.opcode });
}
