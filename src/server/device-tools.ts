import { type BackgroundState, followBackground, type FollowResult, startedBackground } from '../commands/background.js';
import { opcodeHex } from '../commands/catalog.js';
import { decodeAnswer, type Decoded } from '../commands/decode/index.js';
import { callHints, type CallHints, effectsView, type EffectsView } from '../commands/effects-view.js';
import { isNvme } from '../commands/families.js';
import { commandName, resolveCommand } from '../commands/resolve.js';
import { commandTarget } from '../commands/target.js';
import { rcName } from '../devices/cci/return-codes.js';
import { describeStatus } from '../devices/nvme/status.js';
import { BadRequestError } from '../errors.js';
import type { DeviceKind } from '../fleet/types.js';
import type { Mux } from '../mux/mux.js';
import type { Session } from '../mux/session.js';
import type { SendRequest } from '../mux/types.js';
import type { Tier } from '../policy/tiers.js';
import { timeoutOption } from '../validate.js';
import { type DeviceHealth, readHealth } from './health.js';

/**
 * What the MCP tools (and `mbxmux send`) do, as plain async functions over ONE session whose tier, host and fabric-manager role
 * the operator fixed (mcp-server.ts wraps each as a tool; programs and tests may call them directly).
 * Every device access is a session.send(): the tier, host and fabric-manager checks apply to each, including
 * the polls that follow a background operation.
 */

export interface McpToolsOptions {
  mux: Mux;
  tier?: Tier;
  host?: number;
  fabricManager?: boolean;
  /** session name (audit records), default "mcp" */
  name?: string;
  /** most payload bytes shown as hex in a send_command answer (default 4096; the rest is cut and counted) */
  maxPayloadBytes?: number;
  /** the longest timeoutMs send_command and wait_background accept (default 60 s); 0 ("no timeout") is refused */
  maxTimeoutMs?: number;
  /** how often a background operation is polled while followed, ms (default 100) */
  pollIntervalMs?: number;
  /** accept timeoutMs 0 (no timeout) in send_command: only for a front whose operator created the mux (the CLI) */
  allowNoTimeout?: boolean;
}

export const DEFAULT_MCP_MAX_TIMEOUT_MS = 60_000;

export interface SendArgs {
  device: string; opcode: number | string; payload?: string | undefined; data?: string | undefined; tunnel?: number[] | undefined;
  queue?: number | undefined; cid?: number | undefined; nsid?: number | undefined; cdw10?: number | undefined; cdw11?: number | undefined;
  cdw12?: number | undefined; cdw13?: number | undefined; cdw14?: number | undefined; cdw15?: number | undefined; mctpType?: number | undefined;
  timeoutMs?: number | undefined;
  /** follow a background operation the command starts (default: when the caller asked for progress) */
  waitBackground?: boolean | undefined;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** the caller wants progress: background operations are followed and every poll reported here */
  onProgress?: (s: BackgroundState) => void | Promise<void>;
}

export interface SendAnswer {
  device: string;
  /** the device that ran the command, when a tunnel or an MCTP endpoint lies between */
  target?: string;
  command: string;
  opcode: string;
  rc: number;
  status: string;
  vendorStatus?: number;
  /** a background operation was running when the command completed (mailbox Status bit 0) */
  background?: boolean;
  payloadBytes: number;
  payload: string;
  payloadTruncated?: boolean;
  cqe?: string;
  dw0?: string;
  dw1?: string;
  tunnel?: { hops: { opcode: number; rc: number; vendorStatus: number }[]; failedAt: number };
  /** how the opcode was read from a bare number */
  note?: string;
  /** readOnly / destructive / idempotent for THIS command, from its target's effects log */
  hints: CallHints;
  decoded?: Decoded;
  /** the command started a background operation */
  backgroundOperation?: { followed: true; result: FollowResult } | { followed: false; next: string };
}

const HEX_TEXT = /^[0-9a-f]*$/i;

function hexBytes(text: string, what: string): Uint8Array {
  const clean = text.replace(/\s+/g, '').replace(/^0x/i, '');
  if (clean.length % 2 !== 0 || !HEX_TEXT.test(clean)) throw new BadRequestError(`${what} must be an even number of hex digits (got ${JSON.stringify(text.slice(0, 40))})`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
/** NVMe completion dword (command-specific result, e.g. the value of Get Features) */
const cqeDword = (cqe: Uint8Array, at: number): string => `0x${new DataView(cqe.buffer, cqe.byteOffset, cqe.byteLength).getUint32(at, true).toString(16).padStart(8, '0')}`;
const FIELDS = ['queue', 'cid', 'nsid', 'cdw10', 'cdw11', 'cdw12', 'cdw13', 'cdw14', 'cdw15', 'mctpType', 'timeoutMs'] as const;

export class DeviceTools {
  readonly session: Session;
  readonly mux: Mux;
  private readonly maxPayloadBytes: number;
  readonly maxTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly allowNoTimeout: boolean;

  constructor(opts: McpToolsOptions) {
    this.maxTimeoutMs = timeoutOption(opts.maxTimeoutMs, 'maxTimeoutMs', DEFAULT_MCP_MAX_TIMEOUT_MS, 1);
    this.pollIntervalMs = timeoutOption(opts.pollIntervalMs, 'pollIntervalMs', 100, 1);
    this.allowNoTimeout = opts.allowNoTimeout === true;
    this.mux = opts.mux;
    this.session = opts.mux.openSession({ tier: opts.tier ?? 'debug-read', host: opts.host ?? 0, fabricManager: opts.fabricManager === true, name: opts.name ?? 'mcp' });
    this.maxPayloadBytes = opts.maxPayloadBytes ?? 4096;
  }

  /** The fleet, each device with whether this session may address it (the fleet resource; list_devices pages it). */
  fleet(): { session: { tier: Tier; host: number; fabricManager: boolean }; total: number; devices: object[] } {
    const s = this.session;
    const devices = this.mux.fleet.devices.map((d) => ({
      ...this.deviceRow(d.id),
      reachable: d.tunnelOnly === undefined && this.mux.policy.hostRefusal(s, d.mctp ? d.mctp.fronts : d.index) === null,
    }));
    return { session: { tier: s.tier, host: s.host, fabricManager: s.fabricManager }, total: devices.length, devices };
  }

  private deviceRow(id: string): { id: string; kind: DeviceKind; host: number; shard: number; reachableVia?: { device: string; port: number }; fronts?: string } {
    const d = this.mux.fleet.byId.get(id)!;
    return {
      id: d.id, kind: d.kind, host: d.host, shard: d.shard,
      ...(d.tunnelOnly ? { reachableVia: { device: this.mux.fleet.devices[d.tunnelOnly.via]!.id, port: d.tunnelOnly.port } } : {}),
      ...(d.mctp ? { fronts: this.mux.fleet.devices[d.mctp.fronts]!.id } : {}),
    };
  }

  listDevices(args: { kind?: DeviceKind | undefined; offset?: number | undefined; limit?: number | undefined }) {
    const all = this.mux.fleet.devices.filter((d) => args.kind === undefined || d.kind === args.kind);
    const offset = args.offset ?? 0;
    const limit = args.limit ?? 500;
    const page = all.slice(offset, offset + limit).map((d) => this.deviceRow(d.id));
    return { total: all.length, offset, count: page.length, devices: page };
  }

  private checkTimeout(ms: number | undefined, what: string, zeroOk = false): void {
    // a request without a timeout on a hung device would be ended only by the client
    if (ms !== undefined && !((ms > 0 || (ms === 0 && zeroOk)) && ms <= this.maxTimeoutMs)) {
      throw new BadRequestError(`${what} must be more than 0 and at most ${this.maxTimeoutMs} ms on this server (got ${ms})`);
    }
  }

  async sendCommand(args: SendArgs, opts: CallOptions = {}): Promise<SendAnswer> {
    const target = commandTarget(this.mux.fleet, args.device, { tunnel: args.tunnel, queue: args.queue });
    const cmd = resolveCommand(target.family, args.opcode);
    const nvme = isNvme(target.family);
    this.checkTimeout(args.timeoutMs, 'timeoutMs', this.allowNoTimeout);
    const req: SendRequest = { device: args.device, opcode: cmd.opcode };
    if (cmd.fields) Object.assign(req, cmd.fields);
    for (const k of FIELDS) if (args[k] !== undefined) req[k] = args[k];
    if (args.payload !== undefined) req.payload = hexBytes(args.payload, 'payload');
    if (args.data !== undefined) req.data = hexBytes(args.data, 'data');
    if (args.tunnel !== undefined) req.tunnel = args.tunnel;
    if (opts.signal) req.signal = opts.signal;
    const hints = callHints(this.mux, target, cmd.opcode);
    const r = await this.session.send(req);
    const shown = r.payload.byteLength > this.maxPayloadBytes ? r.payload.subarray(0, this.maxPayloadBytes) : r.payload;
    const decoded = r.rc === 0 ? decodeAnswer(target.family, { opcode: cmd.opcode, payload: req.payload, cdw10: req.cdw10 }, r.payload) : null;
    const answer: SendAnswer = {
      device: args.device,
      ...(target.path.length > 1 ? { target: target.device.id } : {}),
      command: commandName(target.family, cmd.opcode, req.cdw10 !== undefined ? { cdw10: req.cdw10 } : {}) ?? cmd.name,
      opcode: opcodeHex(cmd.opcode, nvme),
      rc: r.rc,
      status: r.cqe !== undefined ? describeStatus(r.rc) : rcName(r.rc),
      ...(r.vendorStatus ? { vendorStatus: r.vendorStatus } : {}),
      ...(r.background ? { background: true } : {}),
      payloadBytes: r.payload.byteLength,
      payload: hex(shown),
      ...(shown !== r.payload ? { payloadTruncated: true } : {}),
      ...(r.cqe !== undefined ? { cqe: hex(r.cqe), dw0: cqeDword(r.cqe, 0), dw1: cqeDword(r.cqe, 4) } : {}),
      ...(r.tunnel !== undefined ? { tunnel: r.tunnel } : {}),
      ...(cmd.note !== undefined ? { note: cmd.note } : {}),
      hints,
      ...(decoded !== null ? { decoded } : {}),
    };
    if (startedBackground(target.family, cmd.opcode, req.cdw10, r)) {
      const follow = args.waitBackground ?? opts.onProgress !== undefined;
      const where = { device: args.device, tunnel: args.tunnel };
      answer.backgroundOperation = follow
        ? { followed: true, result: await followBackground(this.session, where, target.family, this.followOptions(undefined, opts)) }
        : { followed: false, next: `call wait_background ${JSON.stringify({ device: args.device, ...(args.tunnel ? { tunnel: args.tunnel } : {}) })} to follow it` };
    }
    return answer;
  }

  private followOptions(timeoutMs: number | undefined, opts: CallOptions) {
    return { intervalMs: this.pollIntervalMs, timeoutMs: timeoutMs ?? this.maxTimeoutMs, signal: opts.signal, ...(opts.onProgress ? { onPoll: opts.onProgress } : {}) };
  }

  /** Follows whatever background operation runs on the device (or reports the last one) until it ends or timeoutMs. */
  async waitBackground(args: { device: string; tunnel?: number[] | undefined; timeoutMs?: number | undefined }, opts: CallOptions = {}): Promise<FollowResult> {
    const target = commandTarget(this.mux.fleet, args.device, { tunnel: args.tunnel });
    this.checkTimeout(args.timeoutMs, 'timeoutMs');
    return await followBackground(this.session, { device: args.device, tunnel: args.tunnel }, target.family, this.followOptions(args.timeoutMs, opts));
  }

  async getHealth(args: { device: string }, opts: { signal?: AbortSignal } = {}): Promise<DeviceHealth> {
    return await readHealth(this.mux, this.session, args.device, opts);
  }

  readEffectsLog(args: { device: string }): EffectsView {
    return effectsView(this.mux, args.device, this.session);
  }

  close(): void {
    this.session.close();
  }
}
