// Shared by the test/nvme-*.test.ts files: one emulated NVMe controller driven through NvmeEndpoint the way
// the shard worker drives it (submit/cancel/poll), with a CompletionSink that records every completion.
import type { CompletionSink } from '../src/devices/endpoint.js';
import { FaultInjector } from '../src/devices/faults.js';
import { NvmeEndpoint } from '../src/devices/nvme/endpoint.js';
import { decodeNvmeCompletion, encodeNvmeRequest, nvmeRingFields, type NvmeRequest } from '../src/devices/nvme/wire.js';
import { buildFleet } from '../src/fleet/expand.js';
import type { FaultSpec, VendorMode } from '../src/fleet/types.js';

export interface Completion {
  tag: number;
  target: number;
  opcode: number;
  flags: number;
  a0: number;
  a1: number;
  /** head + body, copied */
  payload: Uint8Array;
}

export class RecordingSink implements CompletionSink {
  readonly all: Completion[] = [];
  readonly byTag = new Map<number, Completion>();
  complete(tag: number, target: number, opcode: number, flags: number, a0: number, a1: number, _a2: number,
    head: Uint8Array | null, body: Uint8Array | null): void {
    const hl = head?.byteLength ?? 0;
    const payload = new Uint8Array(hl + (body?.byteLength ?? 0));
    if (head) payload.set(head);
    if (body) payload.set(body, hl);
    const c = { tag, target, opcode, flags, a0, a1, payload };
    if (this.byTag.has(tag)) throw new Error(`tag ${tag} completed twice`);
    this.all.push(c);
    this.byTag.set(tag, c);
  }
}

export interface DeviceOptions {
  queueDepth?: number;
  maxTransferBytes?: number;
  namespaces?: number;
  vendorCommands?: VendorMode;
  faults?: FaultSpec;
}

export const T0 = 1_000_000_000;

export function nvmeDevice(o: DeviceOptions = {}) {
  const spec: Record<string, unknown> = { kind: 'nvme', count: 1, vendorCommands: o.vendorCommands ?? 'declared' };
  if (o.queueDepth !== undefined) spec.queueDepth = o.queueDepth;
  if (o.maxTransferBytes !== undefined) spec.maxTransferBytes = o.maxTransferBytes;
  if (o.namespaces !== undefined) spec.namespaces = o.namespaces;
  if (o.faults !== undefined) spec.faults = o.faults;
  const fleet = buildFleet({ devices: [spec as never] }, 1);
  const d = fleet.devices[0]!;
  const arena = new SharedArrayBuffer(fleet.arenaBytes[0]!);
  const sink = new RecordingSink();
  const faults = d.faults ? new FaultInjector(d.faults, d.serial) : FaultInjector.NONE;
  const ep = new NvmeEndpoint(d, arena, sink, faults);
  let tag = 100;
  /** Submits a request (descriptor OPCODE / ARG0 as the mux encodes them); returns its tag. */
  const submit = (req: NvmeRequest, nowNs = T0): number => {
    const t = tag++;
    const ring = nvmeRingFields(req);
    ep.submit(t, ring.opcode, 0, encodeNvmeRequest(req, d.mailboxBytes), ring.a0, 0, 0, nowNs);
    return t;
  };
  /** The decoded completion of `t` (throws if it has not completed). */
  const result = (t: number) => {
    const c = sink.byTag.get(t);
    if (c === undefined) throw new Error(`tag ${t} has not completed`);
    return { ...decodeNvmeCompletion(c.payload), completion: c };
  };
  /** Submits and returns the completion (the command must complete at once). */
  const send = (req: NvmeRequest, nowNs = T0) => result(submit(req, nowNs));
  return { d, arena, sink, ep, ctrl: ep.controller, submit, result, send, done: (t: number) => sink.byTag.has(t) };
}

/** Create I/O Completion Queue `qid` (`entries`, PC = 1, IEN = 1, vector `iv`). */
export const createCq = (qid: number, entries: number, iv = qid): NvmeRequest =>
  ({ opcode: 0x05, cdw10: (qid | ((entries - 1) << 16)) >>> 0, cdw11: (1 | (1 << 1) | (iv << 16)) >>> 0 });
/** Create I/O Submission Queue `qid` (`entries`, PC = 1) posting to CQ `cqid`. */
export const createSq = (qid: number, entries: number, cqid = qid): NvmeRequest =>
  ({ opcode: 0x01, cdw10: (qid | ((entries - 1) << 16)) >>> 0, cdw11: (1 | (cqid << 16)) >>> 0 });
export const deleteSq = (qid: number): NvmeRequest => ({ opcode: 0x00, cdw10: qid });
export const deleteCq = (qid: number): NvmeRequest => ({ opcode: 0x04, cdw10: qid });
/** Read / Write on I/O queue `queue`: NLB `blocks` (1-based here) from SLBA. */
export const readCmd = (queue: number, nsid: number, slba: number, blocks: number, extra: Partial<NvmeRequest> = {}): NvmeRequest =>
  ({ queue, opcode: 0x02, nsid, cdw10: slba >>> 0, cdw11: Math.floor(slba / 2 ** 32), cdw12: blocks - 1, ...extra });
export const writeCmd = (queue: number, nsid: number, slba: number, blocks: number, data: Uint8Array, extra: Partial<NvmeRequest> = {}): NvmeRequest =>
  ({ queue, opcode: 0x01, nsid, cdw10: slba >>> 0, cdw11: Math.floor(slba / 2 ** 32), cdw12: blocks - 1, data, ...extra });

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
export const ascii = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** Get Log Page CDW10/CDW11 for `bytes` from LID `lid`. */
export function getLog(lid: number, bytes: number, extra: Partial<NvmeRequest> = {}): NvmeRequest {
  const numd = bytes / 4 - 1;
  return { opcode: 0x02, nsid: 0xffffffff, cdw10: (lid | ((numd & 0xffff) << 16)) >>> 0, cdw11: numd >>> 16, ...extra };
}
