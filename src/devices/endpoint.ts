/**
 * The worker-side face of one emulated device: the shard loop hands it requests from the submission ring,
 * and it answers through a CompletionSink, now or later (slow or hung devices, background work).
 */
export interface CompletionSink {
  /**
   * Writes one completion: `head` then `body` become its payload (either may be null). ARG0..ARG2 as in
   * src/shard/protocol.ts. Copies the bytes, so views into device memory may be passed; `head` and `body` are
   * valid only during the call (an endpoint reuses its views for the next command).
   */
  complete(tag: number, target: number, opcode: number, flags: number, a0: number, a1: number, a2: number,
    head: Uint8Array | null, body: Uint8Array | null): void;
}

export interface DeviceEndpoint {
  /** Starts or queues one request. `payload` is a view into the submission ring, valid only during the call. */
  submit(tag: number, opcode: number, flags: number, payload: Uint8Array, a0: number, a1: number, a2: number, nowNs: number): void;
  /** Drops the request with `tag` if this device still holds it, answering it CANCELLED. */
  cancel(tag: number, nowNs: number): void;
  /** Runs work that was due by `nowNs`; returns the next time (ns) it needs to run, or Infinity. */
  poll(nowNs: number): number;
  /** The next time (ns) poll() has work, or Infinity; cheap, called after every submit. */
  deadline(): number;
}
