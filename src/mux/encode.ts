import { decodeNvmeCompletion, encodeNvmeRequest, isLongLivedNvme, nvmeRingFields } from '../devices/nvme/wire.js';
import { decodeTunnelResponse, encodeTunnelRequest, TUNNEL_OPCODE } from '../devices/cxl/tunnel.js';
import { BadRequestError, ProtocolError } from '../errors.js';
import type { DeviceDescriptor } from '../fleet/types.js';
import type { Decoder } from './pending.js';
import { CqFlag, SqFlag } from './protocol.js';
import type { CommandResult, SendRequest } from './types.js';

/** A request as it goes into a ring descriptor, with the decoder for its answer. */
export interface Encoded {
  opcode: number;
  flags: number;
  payload: Uint8Array | null;
  a0: number;
  decode: Decoder;
  /** the device may hold it indefinitely (an NVMe AER): it takes a long-lived slot, not a window place */
  longLived?: boolean;
}

const EMPTY = new Uint8Array(0);
const NVME_FIELDS = ['queue', 'cid', 'nsid', 'cdw10', 'cdw11', 'cdw12', 'cdw13', 'cdw14', 'cdw15'] as const;

/** Bytes of their own (an ArrayBuffer exactly their size) for what a result hands to the caller. */
function own(bytes: Uint8Array, at: number, len: number): Uint8Array {
  return len === 0 ? EMPTY : bytes.slice(at, at + len);
}

export const decodeCxl: Decoder = (rc32, flags, _a1, _a2, ring, at, len): CommandResult => ({
  rc: rc32 & 0xffff,
  payload: own(ring, at, len),
  vendorStatus: rc32 >>> 16,
  background: (flags & CqFlag.BACKGROUND) !== 0,
});

const decodeNvme: Decoder = (_rc32, _flags, _a1, _a2, ring, at, len): CommandResult => {
  const c = decodeNvmeCompletion(ring.subarray(at, at + len));
  return { rc: c.rc, payload: own(c.payload, 0, c.payload.byteLength), cqe: own(c.cqe, 0, c.cqe.byteLength), vendorStatus: 0, background: false };
};

/** The answer to a tunnelled command: the innermost status and payload, with every hop's status. */
const decodeTunnel: Decoder = (rc32, flags, _a1, _a2, ring, at, len): CommandResult => {
  const rc = rc32 & 0xffff;
  const background = (flags & CqFlag.BACKGROUND) !== 0;
  if (rc !== 0) return { rc, payload: own(ring, at, len), vendorStatus: rc32 >>> 16, background, tunnel: { hops: [], failedAt: 0 } };
  const r = decodeTunnelResponse(ring.subarray(at, at + len));
  if ('error' in r) throw new ProtocolError(`the switch answered a tunnel with a malformed response: ${r.detail}`);
  const failedAt = r.innerOpcode === TUNNEL_OPCODE ? r.hops.length : -1;
  return {
    rc: r.innerRc, payload: own(r.innerPayload, 0, r.innerPayload.byteLength), vendorStatus: r.innerVendor, background: r.innerBackground,
    tunnel: { hops: r.hops.map((h) => ({ opcode: h.opcode, rc: h.rc, vendorStatus: h.vendorStatus })), failedAt },
  };
};

function payloadOf(req: SendRequest, d: DeviceDescriptor): Uint8Array | null {
  const p = req.payload;
  if (p === undefined) return null;
  if (!(p instanceof Uint8Array)) throw new BadRequestError('payload must be a Uint8Array (or Buffer)');
  if (p.byteLength > d.mailboxBytes) {
    throw new BadRequestError(`payload of ${p.byteLength} bytes exceeds ${d.id}'s mailbox of ${d.mailboxBytes} bytes`,
      { device: d.id, length: p.byteLength, limit: d.mailboxBytes });
  }
  return p.byteLength === 0 ? null : p;
}

/**
 * Turns a send() request into ring fields for the device's kind. CXL mailboxes and MCTP endpoints carry
 * opcode + payload; NVMe carries a 64-byte SQE + data; `tunnel` wraps a CXL command in nested 5300h.
 */
export function encodeRequest(req: SendRequest, d: DeviceDescriptor): Encoded {
  switch (d.kind) {
    case 'nvme': {
      if (req.payload !== undefined && req.data !== undefined) throw new BadRequestError('NVMe requests take data, not payload (give one)');
      const nv: Parameters<typeof encodeNvmeRequest>[0] = { opcode: req.opcode };
      for (const k of NVME_FIELDS) if (req[k] !== undefined) nv[k] = req[k];
      const data = req.data ?? req.payload;
      if (data !== undefined) nv.data = data;
      const payload = encodeNvmeRequest(nv, d.mailboxBytes);
      // an I/O queue's command is opcode 100h + op: its index in the effects log, which the policy checks
      const ring = nvmeRingFields(nv);
      // an admin AER waits for an event indefinitely: it takes a long-lived slot, not a window place
      const longLived = (nv.queue ?? 0) === 0 && isLongLivedNvme(req.opcode);
      return { opcode: ring.opcode, flags: 0, payload, a0: ring.a0, decode: decodeNvme, longLived };
    }
    case 'mctp-pcc': {
      const t = req.mctpType;
      if (t !== undefined && (!Number.isInteger(t) || t < 0 || t > 0x7f)) throw new BadRequestError(`mctpType must be an MCTP message type 0..127 (got ${JSON.stringify(t)})`);
      // a tunnel over MCTP is a 5300h message (FM API, type 7 unless told) to the component the endpoint fronts:
      // the policy decodes it hop by hop as for a switch's own mailbox
      const payload = payloadOf(req, d);
      const tunnelled = req.tunnel === undefined ? null : wrapTunnel(req, payload, d);
      return {
        opcode: tunnelled === null ? req.opcode : TUNNEL_OPCODE, flags: t === undefined ? 0 : SqFlag.MCTP_TYPE,
        payload: tunnelled ?? payload, a0: t ?? 0, decode: tunnelled === null ? decodeCxl : decodeTunnel,
      };
    }
    default: {
      if (req.mctpType !== undefined) throw new BadRequestError(`mctpType applies to MCTP endpoints (mctp<N>), not ${d.id}`);
      const payload = payloadOf(req, d);
      if (req.tunnel === undefined) return { opcode: req.opcode, flags: 0, payload, a0: 0, decode: decodeCxl };
      if (d.kind !== 'cxl-switch') throw new BadRequestError(`tunnel applies to CXL switches (sw<N>) and the MCTP endpoints fronting them, not ${d.id} (${d.kind})`);
      return { opcode: TUNNEL_OPCODE, flags: 0, payload: wrapTunnel(req, payload, d), a0: 0, decode: decodeTunnel };
    }
  }
}

/** Wraps the request's command in nested 5300h Tunnel Management Command requests (CXL r3.1 7.6.7.3.1). */
function wrapTunnel(req: SendRequest, payload: Uint8Array | null, d: DeviceDescriptor): Uint8Array {
  const hops = req.tunnel;
  if (!Array.isArray(hops) || hops.length === 0 || hops.length > 3 || !hops.every((h) => Number.isInteger(h) && h >= 0 && h <= 255)) {
    throw new BadRequestError('tunnel must list 1 to 3 port or LD ids (0..255), outermost first, e.g. [2, 1] = port 2, then LD 1');
  }
  const wrapped = encodeTunnelRequest(hops.map((portOrLd) => ({ portOrLd })), req.opcode, payload ?? EMPTY);
  if (wrapped.byteLength > d.mailboxBytes) {
    throw new BadRequestError(`the tunnelled request is ${wrapped.byteLength} bytes, more than ${d.id}'s message limit of ${d.mailboxBytes} bytes`);
  }
  return wrapped;
}
