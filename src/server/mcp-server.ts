import { readFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { rcName } from '../devices/cci/return-codes.js';
import { describeStatus } from '../devices/nvme/status.js';
import { BadRequestError, CancelledError, MbxError, PermissionError } from '../errors.js';
import type { DeviceKind } from '../fleet/types.js';
import type { Mux } from '../mux/mux.js';
import type { Session } from '../mux/session.js';
import type { SendRequest } from '../mux/types.js';
import { type Tier, TierLevel } from '../policy/tiers.js';
import { commandName, familyOf, resolveCommand } from './command-names.js';
import { readHealth } from './health.js';
import { BoundedStdioTransport, DEFAULT_MAX_LINE_BYTES } from './mcp-transport.js';

export { BoundedStdioTransport, DEFAULT_MAX_LINE_BYTES };
import { timeoutOption } from '../validate.js';

/**
 * The Model Context Protocol face of a mux: four tools over ONE session whose tier, host and fabric-manager
 * role the operator fixed when starting the server. Nothing a tool is given can change them; a command the
 * tier refuses comes back as a tool error (isError) naming the tier it needs.
 *
 *   list_devices      id, kind, host, shard (filter by kind; paged)
 *   send_command      one command by opcode or name ("Get Health Info", "Identify Controller", ...)
 *   get_health        decoded health: type-3 4200h, NVMe SMART log, switch port states
 *   read_effects_log  the device's effects log with command names, effects and the tier each needs
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
  /** the longest timeoutMs send_command accepts (default 60 s); 0 ("no timeout") is refused */
  maxTimeoutMs?: number;
}

export const DEFAULT_MCP_MAX_TIMEOUT_MS = 60_000;

const HEX_RE = /^(0x)?[0-9a-fA-F\s]*$/;
const hexSchema = z.string().regex(HEX_RE, 'hex bytes, e.g. "0011aabb"').describe('bytes as hex, e.g. "0011aabb"');
const u32 = z.number().int().min(0).max(0xffffffff);
const KINDS = ['cxl-type3', 'cxl-switch', 'cxl-mld', 'nvme', 'mctp-pcc'] as const satisfies readonly DeviceKind[];

function hexBytes(text: string, what: string): Uint8Array {
  const clean = text.replace(/\s+/g, '').replace(/^0x/i, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(clean)) throw new BadRequestError(`${what} must be an even number of hex digits (got ${JSON.stringify(text.slice(0, 40))})`);
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
/** NVMe completion dword (command-specific result, e.g. the value of Get Features) */
const cqeDword = (cqe: Uint8Array, at: number): string => `0x${new DataView(cqe.buffer, cqe.byteOffset, cqe.byteLength).getUint32(at, true).toString(16).padStart(8, '0')}`;
const opHex = (op: number, nvme: boolean): string => `0x${op.toString(16).padStart(nvme ? 2 : 4, '0')}`;

/** The tools as plain async functions (the MCP layer below wraps each; tests and programs may call them). */
export class DeviceTools {
  readonly session: Session;
  private readonly mux: Mux;
  private readonly maxPayloadBytes: number;
  readonly maxTimeoutMs: number;

  constructor(opts: McpToolsOptions) {
    this.maxTimeoutMs = timeoutOption(opts.maxTimeoutMs, 'maxTimeoutMs', DEFAULT_MCP_MAX_TIMEOUT_MS, 1);
    this.mux = opts.mux;
    this.session = opts.mux.openSession({ tier: opts.tier ?? 'debug-read', host: opts.host ?? 0, fabricManager: opts.fabricManager === true, name: opts.name ?? 'mcp' });
    this.maxPayloadBytes = opts.maxPayloadBytes ?? 4096;
  }

  listDevices(args: { kind?: DeviceKind | undefined; offset?: number | undefined; limit?: number | undefined }): object {
    const all = this.mux.devices().filter((d) => args.kind === undefined || d.kind === args.kind);
    const offset = args.offset ?? 0;
    const limit = args.limit ?? 500;
    const page = all.slice(offset, offset + limit).map((d) => ({
      id: d.id, kind: d.kind, host: d.host, shard: d.shard,
      ...(d.reachableVia ? { reachableVia: d.reachableVia } : {}),
      ...(d.kind === 'mctp-pcc' ? { fronts: this.mux.fleet.devices[this.mux.fleet.byId.get(d.id)!.mctp!.fronts]!.id } : {}),
    }));
    return { total: all.length, offset, count: page.length, devices: page };
  }

  async sendCommand(args: {
    device: string; opcode: number | string; payload?: string | undefined; data?: string | undefined; tunnel?: number[] | undefined;
    queue?: number | undefined; cid?: number | undefined; nsid?: number | undefined; cdw10?: number | undefined; cdw11?: number | undefined; cdw12?: number | undefined; cdw13?: number | undefined;
    cdw14?: number | undefined; cdw15?: number | undefined; mctpType?: number | undefined; timeoutMs?: number | undefined;
  }, opts: { signal?: AbortSignal } = {}): Promise<object> {
    // a tunnelled command is named in the family of the device at the end of the tunnel: type-3 names work there
    const family = args.tunnel !== undefined && args.tunnel.length > 0 ? 'cxl-type3' : familyOf(this.mux, args.device);
    let cmd;
    try {
      cmd = resolveCommand(family, args.opcode);
    } catch (e) {
      if (args.tunnel === undefined || typeof args.opcode !== 'string') throw e;
      cmd = resolveCommand('cxl-mld', args.opcode); // Get LD Info & co. through a tunnel to an MLD
    }
    const nvme = family === 'nvme';
    if (args.timeoutMs !== undefined && !(args.timeoutMs > 0 && args.timeoutMs <= this.maxTimeoutMs)) {
      // a request without a timeout on a hung device would be ended only by the client
      throw new BadRequestError(`timeoutMs must be more than 0 and at most ${this.maxTimeoutMs} ms on this server (got ${args.timeoutMs})`);
    }
    const req: SendRequest = { device: args.device, opcode: cmd.opcode };
    if (cmd.fields) Object.assign(req, cmd.fields);
    for (const k of ['queue', 'cid', 'nsid', 'cdw10', 'cdw11', 'cdw12', 'cdw13', 'cdw14', 'cdw15', 'mctpType', 'timeoutMs'] as const) {
      if (args[k] !== undefined) req[k] = args[k];
    }
    if (args.payload !== undefined) req.payload = hexBytes(args.payload, 'payload');
    if (args.data !== undefined) req.data = hexBytes(args.data, 'data');
    if (args.tunnel !== undefined) req.tunnel = args.tunnel;
    if (opts.signal) req.signal = opts.signal;
    const r = await this.session.send(req);
    const shown = r.payload.byteLength > this.maxPayloadBytes ? r.payload.subarray(0, this.maxPayloadBytes) : r.payload;
    const named = nvme ? commandName('nvme', cmd.opcode, { ...(req.cdw10 !== undefined ? { cdw10: req.cdw10 } : {}) }) : undefined;
    return {
      device: args.device,
      command: named ?? cmd.name,
      opcode: opHex(cmd.opcode, nvme),
      rc: r.rc,
      status: r.cqe !== undefined ? describeStatus(r.rc) : rcName(r.rc),
      ...(r.vendorStatus ? { vendorStatus: r.vendorStatus } : {}),
      ...(r.background ? { background: true } : {}),
      payloadBytes: r.payload.byteLength,
      payload: hex(shown),
      ...(shown !== r.payload ? { payloadTruncated: true } : {}),
      ...(r.cqe !== undefined ? { cqe: hex(r.cqe), dw0: cqeDword(r.cqe, 0), dw1: cqeDword(r.cqe, 4) } : {}),
      ...(r.tunnel !== undefined ? { tunnel: r.tunnel } : {}),
    };
  }

  async getHealth(args: { device: string }, opts: { signal?: AbortSignal } = {}): Promise<object> {
    return await readHealth(this.mux, this.session, args.device, opts);
  }

  readEffectsLog(args: { device: string }): object {
    const family = familyOf(this.mux, args.device);
    const nvme = family === 'nvme';
    const level = TierLevel[this.session.tier];
    const entries = this.mux.effects(args.device).map((e) => ({
      opcode: opHex(e.opcode, nvme),
      name: commandName(family, e.opcode) ?? null,
      effects: e.effectNames,
      tier: e.tier,
      allowed: e.tier !== 'refused' && TierLevel[e.tier as Tier] <= level && !(e.tier === 'fabric-destructive' && !this.mux.gates.fabricDestructive),
      reason: e.reason,
    }));
    return { device: args.device, family, sessionTier: this.session.tier, commands: entries.length, entries };
  }

  close(): void {
    this.session.close();
  }
}

/** A tool failure as an MCP tool error result; permission refusals name the tier needed. */
export function toolError(e: unknown, session: Session): CallToolResult {
  let text: string;
  if (e instanceof PermissionError) {
    const need = typeof e.context.neededTier === 'string' ? e.context.neededTier : 'a higher tier';
    text = `EMBX_PERMISSION: ${e.message}\nThis needs tier ${need}; this session's tier is ${session.tier}, fixed by the operator `
      + '(mbxmux mcp --tier); it cannot be raised through this server.';
  } else if (e instanceof MbxError) {
    text = `${e.code}: ${e.message}`;
  } else {
    text = `error: ${(e as Error)?.message ?? String(e)}`;
  }
  return { isError: true, content: [{ type: 'text', text }] };
}

function okResult(value: object): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: value as Record<string, unknown> };
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** Builds an McpServer with the four tools on one fixed-tier session. Connect it to any MCP transport. */
export function createMcpServer(opts: McpToolsOptions): { server: McpServer; tools: DeviceTools } {
  const tools = new DeviceTools(opts);
  const s = tools.session;
  const server = new McpServer({ name: 'mbxmux', version: version() }, {
    instructions: `Emulated firmware mailboxes (CXL type-3 memory devices mem<N>, CXL switches sw<N>, NVMe controllers nvme<N>, `
      + `MCTP-over-PCC endpoints mctp<N> fronting a CXL component). This session has tier ${s.tier}, host ${s.host}`
      + `${s.fabricManager ? ', fabric manager' : ''}; the operator fixed it and no tool can raise it. Start with list_devices, `
      + 'then get_health or read_effects_log (which lists what this tier may send) before send_command.',
  });
  const wrap = <A>(fn: (args: A, signal: AbortSignal) => Promise<object> | object) => async (args: A, extra: { signal: AbortSignal }): Promise<CallToolResult> => {
    try {
      return okResult(await fn(args, extra.signal));
    } catch (e) {
      return toolError(e, s);
    }
  };

  server.registerTool('list_devices', {
    title: 'List devices',
    description: 'Lists the emulated devices: id, kind (cxl-type3, cxl-switch, cxl-mld, nvme, mctp-pcc), host, shard; MCTP endpoints also say which device they front.',
    inputSchema: {
      kind: z.enum(KINDS).optional().describe('only devices of this kind'),
      offset: z.number().int().min(0).optional().describe('skip this many (paging)'),
      limit: z.number().int().min(1).max(10_000).optional().describe('at most this many (default 500)'),
    },
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  }, wrap((a) => tools.listDevices(a)));

  server.registerTool('send_command', {
    title: 'Send a mailbox command',
    description: 'Sends one command to one device and returns its answer (rc 0 = success; a non-zero rc is the device\'s answer, not a failure). '
      + 'opcode is a number (0x4200 = 16896), a "0x4200" string, or a command name: CXL e.g. "Identify", "Get Health Info", "Get FW Info", '
      + '"Get Timestamp", "Identify Memory Device", "Get Partition Info", "Identify Switch Device", "Get Physical Port State"; NVMe e.g. '
      + '"Identify Controller", "Identify Namespace", "SMART / Health Information", "Get Features", "Firmware Slot Information". '
      + 'NVMe commands take nsid and cdw10..cdw15 and answer data (payload) plus completion dwords dw0/dw1 (e.g. a Get Features value); '
      + 'queue 1 and up sends an NVM I/O command (Read 02h, Write 01h, ...) to an I/O queue created with the admin commands 05h and 01h; '
      + 'CXL commands take payload (hex). Refused commands return an error naming the tier needed.',
    inputSchema: {
      device: z.string().min(1).describe('device id, e.g. mem0, sw0, nvme0, mctp0'),
      opcode: z.union([z.number().int().min(0).max(0xffff), z.string().min(1)]).describe('opcode number, "0x4200", or a command name'),
      payload: hexSchema.optional().describe('CXL input payload as hex'),
      data: hexSchema.optional().describe('NVMe host-to-controller data as hex'),
      tunnel: z.array(z.number().int().min(0).max(255)).min(1).max(3).optional().describe('CXL switch: tunnel through these port / LD ids, outermost first'),
      queue: z.number().int().min(0).max(65535).optional().describe('NVMe: 0 the admin queue (default), 1 and up a created I/O queue'),
      cid: z.number().int().min(0).max(65535).optional().describe('NVMe: command identifier to use (default: the host picks)'),
      nsid: u32.optional(), cdw10: u32.optional(), cdw11: u32.optional(), cdw12: u32.optional(),
      cdw13: u32.optional(), cdw14: u32.optional(), cdw15: u32.optional(),
      mctpType: z.number().int().min(0).max(127).optional().describe('MCTP endpoints: message type to use'),
      timeoutMs: z.number().int().min(1).max(tools.maxTimeoutMs).optional().describe(`per-request timeout, ms (default 5000, at most ${tools.maxTimeoutMs})`),
    },
    annotations: { readOnlyHint: false, destructiveHint: TierLevel[s.tier] >= TierLevel['debug-write'], openWorldHint: false },
  }, wrap((a, signal) => tools.sendCommand(a, { signal })));

  server.registerTool('get_health', {
    title: 'Read device health',
    description: 'Reads and decodes a device\'s health: CXL type-3 Get Health Info (health/media status, life used, temperature, dirty shutdowns, '
      + 'corrected errors); NVMe SMART / Health log (critical warnings, temperature, spare, percentage used, counters); CXL switch: every '
      + 'port\'s state (link, LTSSM, width, speed, connected device). An MCTP endpoint answers for the device it fronts.',
    inputSchema: { device: z.string().min(1).describe('device id') },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, wrap((a, signal) => tools.getHealth(a, { signal })));

  server.registerTool('read_effects_log', {
    title: 'Read the command effects log',
    description: 'The commands a device declares in its Command Effects Log: opcode, name when known, effects, the tier each needs, and whether this session may send it.',
    inputSchema: { device: z.string().min(1).describe('device id') },
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  }, wrap((a) => tools.readEffectsLog(a)));

  return { server, tools };
}

/**
 * Serves MCP over this process's stdin/stdout until stdin ends, the signal fires or the client closes.
 * Every line gets an answer: malformed or oversize ones a JSON-RPC error (mcp-transport.ts), and serving
 * goes on. Resolves when the server has closed (the mux is the caller's to close). Log to stderr only.
 */
export async function serveMcpStdio(opts: McpToolsOptions & { signal?: AbortSignal; maxLineBytes?: number }): Promise<void> {
  if (opts.signal?.aborted) throw new CancelledError('EMBX_ABORTED', 'serveMcpStdio was aborted');
  const { server, tools } = createMcpServer(opts);
  const transport = new BoundedStdioTransport(process.stdin, process.stdout, { maxLineBytes: opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES });
  let onStdinEnd: (() => void) | null = null;
  let onAbort: (() => void) | null = null;
  const ended = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    onStdinEnd = () => resolve();
    process.stdin.once('end', onStdinEnd);
    process.stdin.once('close', onStdinEnd);
    onAbort = () => resolve();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
  await server.connect(transport);
  await ended;
  if (onStdinEnd) {
    process.stdin.off('end', onStdinEnd);
    process.stdin.off('close', onStdinEnd);
  }
  if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
  await server.close().catch(() => {});
  tools.close();
  process.stdin.pause();
}
