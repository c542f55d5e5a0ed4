/**
 * An `mctp<N>` endpoint: CXL CCI commands carried as MCTP messages (type 7 FM API / DSP0234, type 8 CCI /
 * DSP0281) over an ACPI PCC outbox (type 3) and inbox (type 4) pair (DSP0292), fronting one CXL component
 * of the fleet. Inside the shard worker this class plays both sides:
 *
 *  host   builds [type][12-byte CCI request][payload], fragments it at the MTU, sends one packet per
 *         outbox doorbell; later reassembles the response from the inbox and answers the mux.
 *  device (the fronted component's MCTP interface) reassembles, drops non-CXL message types, answers a
 *         type/command-set mismatch with rc 03h, runs the command with executeCci() (req.via = 7 or 8),
 *         and sends [type][12-byte CCI response][output] back fragmented through the inbox.
 *
 * One request at a time, FIFO. A request the host never gets a full, well-formed answer to (a dropped
 * packet in either direction, a message the device drops) fails with CqFlag.FAILED, ARG1 =
 * WorkerFailure.TRANSPORT and a UTF-8 reason, `responseTimeoutMs` after the last packet moved. Device
 * delays are device behaviour, as on the mailbox: `slowMs` answers late, `hang` never answers (the client
 * cancels); neither is cut short by the transport timeout, which only covers messages lost in transit.
 */
import type { ComponentState } from '../devices/cci/cci.js';
import { type CciRequest, newCciRequest, Via } from '../devices/cci/command-table.js';
import { Rc } from '../devices/cci/return-codes.js';
import type { CompletionSink, DeviceEndpoint } from '../devices/endpoint.js';
import { executeWithFaults, type FaultInjector } from '../devices/faults.js';
import type { DeviceDescriptor } from '../fleet/types.js';
import { CqFlag, packStatus, SqFlag, WorkerFailure } from '../shard/protocol.js';
import { CCI_HEADER_BYTES, CciCategory, newCciHeader, readCciHeaderInto, writeCciHeader } from '../devices/cxl/cci-message.js';
import { Fragmenter, Reasm, Reassembler, reassemblyDropReason } from './mctp-fragment.js';
import { cxlTypeAllowsSet, MCTP_IC, MctpType, mctpTypeForOpcode } from './mctp-packet.js';
import { PccChannel, pccErrorText } from './pcc-channel.js';
import {
  FRAME_DATA, MCTP_PCC_INBOX_ID, MCTP_PCC_OUTBOX_ID, PCC_SUBSPACE_INITIATOR, PCC_SUBSPACE_RESPONDER, pccBlockBytes,
  pccInboxOffset, pccSubspaceBytes,
} from './pcc-layout.js';

/** EID of the emulated host (the FM / BMC side), as in the worked examples. Device EIDs start at 9. */
export const MCTP_HOST_EID = 8;
/** Default response timeout: DSP0237 MT3a-like 100 ms (libcxlmi waits 2 s, CXL r3.1 §9.20.2). */
export const DEFAULT_RESPONSE_TIMEOUT_MS = 100;
/** The MCTP message-type byte before the CCI message. */
const TYPE_BYTES = 1;
const MSG_HEADER = TYPE_BYTES + CCI_HEADER_BYTES;

export interface MctpPccOptions {
  /** transport timeout in ms (default 100) */
  responseTimeoutMs?: number;
  /** the requester's EID (default 8) */
  hostEid?: number;
}

const PHASE_NONE = 0;
/** the device holds the command (slowMs until dueNs, hang forever) */
const PHASE_DEVICE = 1;
/** the message was lost; the host fails the request at dueNs */
const PHASE_LOST = 2;

interface Waiting {
  tag: number;
  opcode: number;
  flags: number;
  a0: number;
  payload: Uint8Array;
}

/**
 * One direction of the link (DSP0292): requests go host -> device through the type-3 outbox (OSPM rings, the
 * platform takes the frame and completes, OSPM reaps), responses device -> host through the type-4 inbox (the
 * platform posts, OSPM receives and consumes). The words name it in the reasons a lost request gives.
 */
interface Leg {
  message: 'request' | 'response';
  channel: 'outbox' | 'inbox';
  receiver: 'device' | 'host';
  ch: PccChannel;
  /** the receiver's reassembler */
  rx: Reassembler;
  /** sender: announces the packet at region[16..16+len); 0 or a negative PccErr */
  post(len: number): number;
  /** receiver: the packet's length, or a negative PccErr (the frame is rejected) */
  take(): number;
  /** receiver done with the frame (`rejected`: it could not be taken); 0 or a PccErr the sender sees */
  release(rejected: boolean): number;
  /** after the last packet */
  end(): void;
}

const utf8 = new TextEncoder();
const hex = (v: number, digits: number): string => v.toString(16).toUpperCase().padStart(digits, '0') + 'h';

export interface MctpEndpointStats {
  requests: number;
  answered: number;
  failed: number;
  cancelled: number;
  /** packets that crossed a PCC channel, both directions */
  packets: number;
  /** packets dropped by faults.dropFragments */
  droppedPackets: number;
}

export class MctpPccEndpoint implements DeviceEndpoint {
  readonly id: string;
  readonly local: number;
  /** the fronted component's EID on this link */
  readonly eid: number;
  readonly hostEid: number;
  /** transmission unit: packet payload bytes */
  readonly mtu: number;
  /** largest CCI payload in either direction (the fronted device's message limit) */
  readonly payloadLimit: number;
  readonly timeoutNs: number;
  readonly outbox: PccChannel;
  readonly inbox: PccChannel;
  readonly stats: MctpEndpointStats = { requests: 0, answered: 0, failed: 0, cancelled: 0, packets: 0, droppedPackets: 0 };

  private readonly frag = new Fragmenter();
  private readonly hostRx: Reassembler;
  private readonly devRx: Reassembler;
  private readonly hdr = newCciHeader();
  /** [type][CCI header][payload]: host request, then the device's request/response (allocated on first use) */
  private scratch: Uint8Array | null = null;
  private req: CciRequest | null = null;
  private cciTag = 0xff;
  private mctpTag = 7;

  // host side: the request in flight
  private active = false;
  private aTag = 0;
  private aOpcode = 0;
  private aType = 0;
  private aCciTag = 0;
  private aMctpTag = 0;
  private phase = PHASE_NONE;
  private dueNs = Infinity;
  private reason = '';

  // device side: the request it holds
  private dPeer = 0;
  private dMctpTag = 0;
  private dCciTag = 0;
  private dOpcode = 0;
  private dType = 0;
  private dInLen = 0;

  private readonly waiting: Waiting[] = [];
  private waitHead = 0;

  private readonly requestLeg: Leg;
  private readonly responseLeg: Leg;

  constructor(d: DeviceDescriptor, arena: SharedArrayBuffer, readonly fronted: ComponentState, readonly sink: CompletionSink,
    readonly faults: FaultInjector, opts: MctpPccOptions = {}) {
    const m = d.mctp;
    if (m === undefined) throw new Error(`${d.id}: not an MCTP endpoint (descriptor has no mctp facts)`);
    if (d.memOffset + pccBlockBytes(m.mtu) > arena.byteLength) {
      throw new RangeError(`${d.id}: PCC block ${d.memOffset}+${pccBlockBytes(m.mtu)} lies outside the ${arena.byteLength}-byte arena`);
    }
    this.id = d.id;
    this.local = d.local;
    this.eid = m.eid;
    this.hostEid = opts.hostEid ?? MCTP_HOST_EID;
    this.mtu = m.mtu;
    this.payloadLimit = d.mailboxBytes;
    this.timeoutNs = (opts.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS) * 1e6;
    const sub = pccSubspaceBytes(m.mtu);
    this.outbox = new PccChannel(arena, d.memOffset, sub, MCTP_PCC_OUTBOX_ID, PCC_SUBSPACE_INITIATOR);
    this.inbox = new PccChannel(arena, d.memOffset + pccInboxOffset(m.mtu), sub, MCTP_PCC_INBOX_ID, PCC_SUBSPACE_RESPONDER);
    this.outbox.reset();
    this.inbox.reset();
    const maxMessageBytes = MSG_HEADER + d.mailboxBytes;
    this.hostRx = new Reassembler({ localEid: this.hostEid, maxMessageBytes, maxUnit: m.mtu, timeoutNs: this.timeoutNs });
    this.devRx = new Reassembler({ localEid: this.eid, maxMessageBytes, maxUnit: m.mtu, timeoutNs: this.timeoutNs });
    const out = this.outbox;
    const inb = this.inbox;
    this.requestLeg = {
      message: 'request', channel: 'outbox', receiver: 'device', ch: out, rx: this.devRx,
      post: (len) => out.ospmRing(len),
      take: () => out.platformTake(),
      release: (rejected) => {
        out.platformComplete(rejected);
        return out.ospmReap(); // the host reaps the completion
      },
      end: () => {},
    };
    this.responseLeg = {
      message: 'response', channel: 'inbox', receiver: 'host', ch: inb, rx: this.hostRx,
      post: (len) => inb.platformPost(len),
      take: () => inb.ospmReceive(),
      release: () => {
        inb.ospmConsumed();
        return 0;
      },
      end: () => void inb.platformSawDoorbell(),
    };
  }

  submit(tag: number, opcode: number, flags: number, payload: Uint8Array, a0: number, _a1: number, _a2: number, nowNs: number): void {
    this.faults.crashCheck(opcode, this.id);
    if (this.active || this.waitHead < this.waiting.length) {
      this.waiting.push({ tag, opcode, flags, a0, payload: payload.slice() });
      return;
    }
    this.start(tag, opcode, flags, a0, payload, nowNs);
  }

  cancel(tag: number, nowNs: number): void {
    if (this.active && this.aTag === tag) {
      // The host abandons the tag: a late response would be discarded, and the device's held command
      // (slow or hung) is dropped with it.
      const opcode = this.aOpcode;
      this.idle();
      this.stats.cancelled++;
      this.sink.complete(tag, this.local, opcode, CqFlag.CANCELLED, 0, 0, 0, null, null);
      this.startNext(nowNs);
      return;
    }
    for (let i = this.waitHead; i < this.waiting.length; i++) {
      const w = this.waiting[i]!;
      if (w.tag === tag) {
        this.waiting.splice(i, 1);
        this.stats.cancelled++;
        this.sink.complete(tag, this.local, w.opcode, CqFlag.CANCELLED, 0, 0, 0, null, null);
        return;
      }
    }
  }

  poll(nowNs: number): number {
    if (this.active && this.dueNs <= nowNs) {
      if (this.phase === PHASE_DEVICE) {
        this.phase = PHASE_NONE;
        this.dueNs = Infinity;
        this.deviceExecute(nowNs);
      } else if (this.phase === PHASE_LOST) {
        this.fail();
      }
    }
    this.startNext(nowNs);
    return this.deadline();
  }

  deadline(): number {
    return this.active ? this.dueNs : Infinity;
  }

  // ------------------------------------------------------------------ host side

  private start(tag: number, opcode: number, flags: number, a0: number, payload: Uint8Array, nowNs: number): void {
    this.stats.requests++;
    opcode &= 0xffff;
    if (payload.byteLength > this.payloadLimit) {
      // Like the mailbox: the input cannot fit the fronted device's message limit.
      this.sink.complete(tag, this.local, opcode, 0, packStatus(Rc.INVALID_PAYLOAD_LENGTH, 0), 0, 0, null, null);
      return;
    }
    const s = this.buffer();
    this.active = true;
    this.aTag = tag;
    this.aOpcode = opcode;
    this.aType = (flags & SqFlag.MCTP_TYPE) !== 0 ? a0 & 0xff : mctpTypeForOpcode(opcode);
    this.aCciTag = this.cciTag = (this.cciTag + 1) & 0xff;
    this.aMctpTag = this.mctpTag = (this.mctpTag + 1) & 7;
    this.phase = PHASE_NONE;
    this.dueNs = Infinity;
    this.reason = '';
    s[0] = this.aType;
    const h = this.hdr;
    h.category = CciCategory.REQUEST;
    h.tag = this.aCciTag;
    h.opcode = opcode;
    h.payloadLength = payload.byteLength;
    h.bo = false;
    h.rc = 0;
    h.vendorStatus = 0;
    writeCciHeader(s, TYPE_BYTES, h);
    s.set(payload, MSG_HEADER);
    this.hostRx.reset();
    if (this.send(this.requestLeg, MSG_HEADER + payload.byteLength, this.hostEid, this.eid, this.aMctpTag, true, nowNs)) this.deviceReceive(nowNs);
    else this.lost(`request message did not reach the device`, nowNs);
  }

  /** Host: validates the reassembled response and answers the mux, or treats it as lost. */
  private hostAnswer(nowNs: number): void {
    const rx = this.hostRx;
    const m = rx.message;
    const h = this.hdr;
    let bad = '';
    if (rx.messageSrc !== this.eid || rx.messageTag !== this.aMctpTag || rx.messageTagOwner) bad = 'MCTP source/tag/TO do not match the request';
    else if (m.byteLength < MSG_HEADER || !readCciHeaderInto(m, TYPE_BYTES, h)) bad = `response of ${m.byteLength} bytes is shorter than a CCI message`;
    else if (m[0] !== this.aType) bad = `response message type ${hex(m[0]!, 2)} differs from the request's ${hex(this.aType, 2)}`;
    else if (h.category !== CciCategory.RESPONSE) bad = `CCI category ${h.category} is not a response`;
    else if (h.tag !== this.aCciTag || h.opcode !== this.aOpcode) bad = 'CCI tag or opcode do not echo the request';
    else if (h.payloadLength !== m.byteLength - MSG_HEADER) bad = `CCI payload length ${h.payloadLength} but ${m.byteLength - MSG_HEADER} bytes arrived`;
    if (bad !== '') {
      this.lost(`host discarded the response: ${bad}`, nowNs);
      return;
    }
    const tag = this.aTag;
    const opcode = this.aOpcode;
    this.idle();
    this.stats.answered++;
    this.sink.complete(tag, this.local, opcode, h.bo ? CqFlag.BACKGROUND : 0, packStatus(h.rc, h.vendorStatus), 0, 0, null,
      h.payloadLength === 0 ? null : m.subarray(MSG_HEADER));
  }

  private lost(reason: string, nowNs: number): void {
    if (this.reason === '') this.reason = reason;
    this.phase = PHASE_LOST;
    this.dueNs = nowNs + this.timeoutNs;
  }

  private fail(): void {
    const text = `${this.id}: no response to opcode ${hex(this.aOpcode, 4)} (MCTP type ${hex(this.aType, 2)}, tag ${this.aMctpTag}, ` +
      `CCI tag ${hex(this.aCciTag, 2)}) within ${this.timeoutNs / 1e6} ms: ${this.reason}`;
    const tag = this.aTag;
    const opcode = this.aOpcode;
    this.idle();
    this.stats.failed++;
    this.sink.complete(tag, this.local, opcode, CqFlag.FAILED, 0, WorkerFailure.TRANSPORT, 0, null, utf8.encode(text));
  }

  private idle(): void {
    this.active = false;
    this.phase = PHASE_NONE;
    this.dueNs = Infinity;
  }

  private startNext(nowNs: number): void {
    while (!this.active && this.waitHead < this.waiting.length) {
      const w = this.waiting[this.waitHead]!;
      this.waiting[this.waitHead++] = undefined as unknown as Waiting;
      if (this.waitHead === this.waiting.length) {
        this.waiting.length = 0;
        this.waitHead = 0;
      }
      this.start(w.tag, w.opcode, w.flags, w.a0, w.payload, nowNs);
    }
  }

  private buffer(): Uint8Array {
    if (this.scratch === null) {
      this.scratch = new Uint8Array(MSG_HEADER + this.payloadLimit);
      this.req = newCciRequest(this.scratch.subarray(MSG_HEADER));
    }
    return this.scratch;
  }

  // ------------------------------------------------------------------ the two PCC channels

  /**
   * Sends the message in scratch[0..len) one packet per doorbell through one leg of the link, the other side
   * feeding its reassembler; every way a packet can be lost marks the request lost with the first reason.
   * Returns true if the receiver assembled a message (in leg.rx.message).
   */
  private send(leg: Leg, len: number, src: number, dst: number, tag: number, tagOwner: boolean, nowNs: number): boolean {
    const f = this.frag;
    const ch = leg.ch;
    const count = f.begin(this.scratch!.subarray(0, len), this.mtu, src, dst, tag, tagOwner);
    let got = false;
    while (!f.done) {
      const packet = `${leg.message} packet ${f.index + 1} of ${count}`;
      const region = ch.txRegion();
      if (region === null) {
        this.lost(`${leg.channel} busy at ${packet}`, nowNs);
        return false;
      }
      const r = leg.post(f.next(region, FRAME_DATA));
      if (r < 0) {
        this.lost(`${packet}: ${pccErrorText(r)}`, nowNs);
        return false;
      }
      this.stats.packets++;
      // the receiving side
      const n = leg.take();
      if (n < 0) {
        this.lost(`${leg.receiver} rejected ${packet}: ${pccErrorText(n)}`, nowNs);
      } else if (this.faults.active && this.faults.dropFragment()) {
        this.stats.droppedPackets++;
        this.lost(`${packet} dropped (faults.dropFragments)`, nowNs);
      } else {
        const a = leg.rx.acceptAt(ch.region, FRAME_DATA, n, nowNs);
        if (a === Reasm.MESSAGE) got = true;
        else if (a < 0) this.lost(`${leg.receiver} dropped ${packet}: ${reassemblyDropReason(a)}`, nowNs);
      }
      const e = leg.release(n < 0);
      if (e < 0) this.lost(`${leg.channel} completion for ${packet}: ${pccErrorText(e)}`, nowNs);
    }
    leg.end();
    return got;
  }

  // ------------------------------------------------------------------ device side

  /** Device: a message was assembled. Drop what the CXL bindings do not carry, else run or hold it. */
  private deviceReceive(nowNs: number): void {
    const rx = this.devRx;
    const m = rx.message;
    if (m.byteLength < TYPE_BYTES) {
      this.lost('device dropped an empty MCTP message', nowNs);
      return;
    }
    const typeByte = m[0]!;
    const type = typeByte & ~MCTP_IC;
    if ((typeByte & MCTP_IC) !== 0 || (type !== MctpType.CXL_FM_API && type !== MctpType.CXL_CCI)) {
      this.lost(`device dropped MCTP message type byte ${hex(typeByte, 2)} (unsupported message type; only 07h FM API and 08h CCI, IC = 0)`, nowNs);
      return;
    }
    const h = this.hdr;
    if (!rx.messageTagOwner) {
      this.lost('device dropped a message with TO = 0 (not a request)', nowNs);
      return;
    }
    if (m.byteLength < MSG_HEADER || !readCciHeaderInto(m, TYPE_BYTES, h)) {
      this.lost(`device dropped a ${m.byteLength}-byte CXL message shorter than type byte + 12-byte CCI header`, nowNs);
      return;
    }
    if (h.category !== CciCategory.REQUEST) {
      this.lost(`device dropped a CCI message of category ${h.category} (not a request)`, nowNs);
      return;
    }
    const s = this.buffer();
    s.set(m, 0);
    this.dPeer = rx.messageSrc;
    this.dMctpTag = rx.messageTag;
    this.dCciTag = h.tag;
    this.dOpcode = h.opcode;
    this.dType = type;
    this.dInLen = m.byteLength - MSG_HEADER;
    if (h.payloadLength !== this.dInLen) {
      this.deviceRespond(Rc.INVALID_PAYLOAD_LENGTH, 0, 0, nowNs);
      return;
    }
    if (!cxlTypeAllowsSet(type, h.opcode >>> 8)) {
      this.deviceRespond(Rc.UNSUPPORTED, 0, 0, nowNs);
      return;
    }
    const f = this.faults;
    if (f.active && (f.hangs(h.opcode) || f.delayNs() > 0)) {
      this.phase = PHASE_DEVICE;
      this.dueNs = f.hangs(h.opcode) ? Infinity : nowNs + f.delayNs();
      return;
    }
    this.deviceExecute(nowNs);
  }

  /** Device: runs the held command against the fronted component (forced faults as on the mailbox). */
  private deviceExecute(nowNs: number): void {
    const req = this.req!;
    req.opcode = this.dOpcode;
    req.inLen = this.dInLen;
    req.nowNs = nowNs;
    req.via = this.dType === MctpType.CXL_FM_API ? Via.MCTP_FM_API : Via.MCTP_CCI;
    const rc = executeWithFaults(this.faults, this.fronted, req);
    this.deviceRespond(rc, req.vendorStatus, req.outLen, nowNs);
  }

  /** Device: [type][CCI response][output] (output already in place) back through the inbox. */
  private deviceRespond(rc: number, vendorStatus: number, outLen: number, nowNs: number): void {
    const s = this.scratch!;
    s[0] = this.dType;
    const h = this.hdr;
    h.category = CciCategory.RESPONSE;
    h.tag = this.dCciTag;
    h.opcode = this.dOpcode;
    h.payloadLength = outLen;
    h.bo = this.fronted.bg.running;
    h.rc = rc;
    h.vendorStatus = vendorStatus;
    writeCciHeader(s, TYPE_BYTES, h);
    if (this.send(this.responseLeg, MSG_HEADER + outLen, this.eid, this.dPeer, this.dMctpTag, false, nowNs)) this.hostAnswer(nowNs);
    else this.lost('response message did not reach the host', nowNs);
  }
}
