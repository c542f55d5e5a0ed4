import { readFileSync } from 'node:fs';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { type CallToolResult, ErrorCode, McpError, type ServerNotification, type ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { BackgroundState } from '../commands/background.js';
import { CancelledError, MbxError, PermissionError } from '../errors.js';
import type { DeviceKind } from '../fleet/types.js';
import type { Session } from '../mux/session.js';
import { TierLevel } from '../policy/tiers.js';
import { BoundedStdioTransport, DEFAULT_MAX_LINE_BYTES } from './mcp-transport.js';
import { effectsOutput, fleetResource, getHealthOutput, listDevicesOutput, sendCommandOutput, waitBackgroundOutput } from './mcp-schemas.js';
import { type CallOptions, DEFAULT_MCP_MAX_TIMEOUT_MS, DeviceTools, type McpToolsOptions } from './device-tools.js';

export { BoundedStdioTransport, DEFAULT_MAX_LINE_BYTES, DEFAULT_MCP_MAX_TIMEOUT_MS, DeviceTools, type McpToolsOptions };

/**
 * The Model Context Protocol face of a mux: tools and resources over ONE session whose tier, host and
 * fabric-manager role the operator fixed when starting the server. Nothing a tool is given can change them;
 * a command the tier refuses comes back as a tool error (isError) naming the tier it needs.
 *
 *   list_devices      id, kind, host, shard (filter by kind; paged)
 *   send_command      one command by opcode or name, decoded when a decoder fits; follows a background
 *                     operation it starts when the caller asks for progress (or waitBackground: true)
 *   get_health        decoded health: type-3 4200h, NVMe SMART log, switch port states
 *   read_effects_log  the device's effects log: names, effects, the tier each needs, hints, allowed here
 *   wait_background   follows the device's background operation to its end, with progress notifications
 *
 *   mbxmux://fleet                     every device, and whether this session may address it
 *   mbxmux://devices/{device}/effects  a device's effects log (as read_effects_log)
 *
 * Annotations: static per tool (MCP has no per-call annotations). For send_command they are the worst case
 * this session's tier allows (a debug-read session cannot change anything the logs declare); each answer
 * then carries `hints` for that very command, decided from its target's effects log (commands/hints.ts), and
 * read_effects_log lists the same hints per command before anything is sent.
 */

const HEX_RE = /^(0x)?[0-9a-fA-F\s]*$/;
const hexSchema = z.string().regex(HEX_RE, 'hex bytes, e.g. "0011aabb"').describe('bytes as hex, e.g. "0011aabb"');
const u32 = z.number().int().min(0).max(0xffffffff);
const KINDS = ['cxl-type3', 'cxl-switch', 'cxl-mld', 'nvme', 'mctp-pcc'] as const satisfies readonly DeviceKind[];
const tunnelSchema = z.array(z.number().int().min(0).max(255)).min(1).max(3).describe('CXL switch: tunnel through these port / LD ids, outermost first');
/** at most this many devices are listed as effects resources (the template reads any device) */
const LISTED_EFFECTS_RESOURCES = 2000;

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

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * The caller's progress channel: with a progressToken in the request, each poll of a background operation
 * becomes notifications/progress (progress = percent of 100, only when it grew, as MCP requires).
 */
function progressFor(extra: Extra, what: string): CallOptions {
  const token = extra._meta?.progressToken;
  if (token === undefined) return { signal: extra.signal };
  let last = -1;
  return {
    signal: extra.signal,
    onProgress: async (s: BackgroundState) => {
      if (s.percentComplete <= last) return;
      last = s.percentComplete;
      const state = s.running ? `${s.percentComplete}%` : `ended: ${s.status ?? 'done'}`;
      await extra.sendNotification({
        method: 'notifications/progress',
        params: { progressToken: token, progress: s.percentComplete, total: 100, message: `${s.command ?? what} on ${s.device}: ${state}` },
      });
    },
  };
}

/** Builds an McpServer with the tools and resources on one fixed-tier session. Connect it to any MCP transport. */
export function createMcpServer(opts: McpToolsOptions): { server: McpServer; tools: DeviceTools } {
  const tools = new DeviceTools(opts);
  const s = tools.session;
  const level = TierLevel[s.tier];
  const server = new McpServer({ name: 'mbxmux', version: version() }, {
    instructions: `Emulated firmware mailboxes (CXL type-3 memory devices mem<N>, CXL switches sw<N>, NVMe controllers nvme<N>, `
      + `MCTP-over-PCC endpoints mctp<N> fronting a CXL component). This session has tier ${s.tier}, host ${s.host}`
      + `${s.fabricManager ? ', fabric manager' : ''}; the operator fixed it and no tool can raise it. Start with list_devices `
      + '(or the mbxmux://fleet resource), then get_health or read_effects_log (what this tier may send, with read-only / destructive hints '
      + 'per command) before send_command. Long commands (Sanitize, Scan Media, Transfer FW) run in the background: pass a progressToken '
      + 'to follow them with progress notifications, or call wait_background.',
  });
  const wrap = <A>(fn: (args: A, extra: Extra) => Promise<object> | object) => async (args: A, extra: Extra): Promise<CallToolResult> => {
    try {
      return okResult(await fn(args, extra));
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
    outputSchema: listDevicesOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  }, wrap((a) => tools.listDevices(a)));

  server.registerTool('send_command', {
    title: 'Send a mailbox command',
    description: 'Sends one command to one device and returns its answer (rc 0 = success; a non-zero rc is the device\'s answer, not a failure), '
      + 'decoded when mbxmux knows the structure (health, SMART, identify, FW info, port state, effects logs). '
      + 'opcode is a JSON number (0x4200 = 16896), a hex string ("0x4200", "4200h", or "4200": a bare number is read as hex, with a note), '
      + 'or a command name, without regard to case or punctuation: CXL e.g. "Identify", "Get Health Info", "get-fw-info", '
      + '"Identify Memory Device", "Identify Switch Device", "Get Physical Port State"; NVMe e.g. "Identify Controller", "Identify Namespace", '
      + '"SMART / Health Information", "Get Features", "Firmware Slot Information". A unique prefix works; an ambiguous one is refused. '
      + 'NVMe commands take nsid and cdw10..cdw15 and answer data (payload) plus completion dwords dw0/dw1 (e.g. a Get Features value); '
      + 'queue 1 and up sends an NVM I/O command (Read, Write, ...) to an I/O queue created with the admin commands 05h and 01h; '
      + 'CXL commands take payload (hex). Each answer carries hints (readOnly/destructive/idempotent) for that command from the target\'s '
      + 'effects log. A command that starts a background operation is followed to its end when the request has a progressToken '
      + '(progress notifications) or waitBackground is true. Refused commands return an error naming the tier needed.',
    inputSchema: {
      device: z.string().min(1).describe('device id, e.g. mem0, sw0, nvme0, mctp0'),
      opcode: z.union([z.number().int().min(0).max(0xffff), z.string().min(1)]).describe('opcode number, "0x4200", or a command name'),
      payload: hexSchema.optional().describe('CXL input payload as hex'),
      data: hexSchema.optional().describe('NVMe host-to-controller data as hex'),
      tunnel: tunnelSchema.optional(),
      queue: z.number().int().min(0).max(65535).optional().describe('NVMe: 0 the admin queue (default), 1 and up a created I/O queue'),
      cid: z.number().int().min(0).max(65535).optional().describe('NVMe: command identifier to use (default: the host picks)'),
      nsid: u32.optional(), cdw10: u32.optional(), cdw11: u32.optional(), cdw12: u32.optional(),
      cdw13: u32.optional(), cdw14: u32.optional(), cdw15: u32.optional(),
      mctpType: z.number().int().min(0).max(127).optional().describe('MCTP endpoints: message type to use'),
      timeoutMs: z.number().int().min(1).max(tools.maxTimeoutMs).optional().describe(`per-request timeout, ms (default 5000, at most ${tools.maxTimeoutMs})`),
      waitBackground: z.boolean().optional().describe('follow a background operation the command starts to its end (default: only with a progressToken)'),
    },
    outputSchema: sendCommandOutput,
    // worst case for this session's tier; every answer carries the hints of its own command
    annotations: {
      readOnlyHint: level <= TierLevel['debug-read'], destructiveHint: level >= TierLevel['debug-write-full'],
      idempotentHint: level <= TierLevel['debug-read'], openWorldHint: false,
    },
  }, wrap((a, extra) => tools.sendCommand(a, progressFor(extra, String(a.opcode)))));

  server.registerTool('get_health', {
    title: 'Read device health',
    description: 'Reads and decodes a device\'s health: CXL type-3 Get Health Info (health/media status, life used, temperature, dirty shutdowns, '
      + 'corrected errors); NVMe SMART / Health log (critical warnings, temperature, spare, percentage used, counters); CXL switch: every '
      + 'port\'s state (link, LTSSM, width, speed, connected device). An MCTP endpoint answers for the device it fronts.',
    inputSchema: { device: z.string().min(1).describe('device id') },
    outputSchema: getHealthOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  }, wrap((a, extra) => tools.getHealth(a, { signal: extra.signal })));

  server.registerTool('read_effects_log', {
    title: 'Read the command effects log',
    description: 'The commands a device declares in its effects log: opcode, name, effects, the tier each needs, read-only / destructive / '
      + 'idempotent hints, and whether this session may send it. Also the resource mbxmux://devices/{device}/effects.',
    inputSchema: { device: z.string().min(1).describe('device id') },
    outputSchema: effectsOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  }, wrap((a) => tools.readEffectsLog(a)));

  server.registerTool('wait_background', {
    title: 'Wait for a background operation',
    description: 'Follows the background operation running on a device (CXL: Background Operation Status 0002h, e.g. after Sanitize, Scan Media, '
      + 'Transfer FW; NVMe: the Sanitize Status log) until it ends or timeoutMs passes, sending progress notifications when the request has a '
      + 'progressToken; answers its final state and return code (done: false if it still runs). Nothing runs that was not already running.',
    inputSchema: {
      device: z.string().min(1).describe('device id'),
      tunnel: tunnelSchema.optional(),
      timeoutMs: z.number().int().min(1).max(tools.maxTimeoutMs).optional().describe(`stop waiting after this long (default and most ${tools.maxTimeoutMs})`),
    },
    outputSchema: waitBackgroundOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  }, wrap((a, extra) => tools.waitBackground(a, progressFor(extra, 'background operation'))));

  const json = (uri: URL, value: unknown) => ({ contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(value, null, 2) }] });

  server.registerResource('fleet', 'mbxmux://fleet', {
    title: 'The fleet',
    description: `Every emulated device (id, kind, host, shard, what an MCTP endpoint fronts) and whether this session (tier ${s.tier}, host ${s.host}) may address it`,
    mimeType: 'application/json',
  }, (uri) => json(uri, fleetResource.parse(tools.fleet())));

  const effects = new ResourceTemplate('mbxmux://devices/{device}/effects', {
    list: () => ({
      resources: tools.mux.fleet.devices.slice(0, LISTED_EFFECTS_RESOURCES).map((d) => ({
        uri: `mbxmux://devices/${d.id}/effects`, name: `${d.id} effects log`, mimeType: 'application/json',
      })),
    }),
    complete: {
      device: (value) => tools.mux.fleet.devices.filter((d) => d.id.startsWith(value)).slice(0, 100).map((d) => d.id),
    },
  });
  server.registerResource('device-effects', effects, {
    title: 'A device\'s effects log',
    description: 'The commands the device declares, with names, effects, the tier each needs, hints and whether this session may send it '
      + `(the first ${LISTED_EFFECTS_RESOURCES} devices are listed; any device id can be read)`,
    mimeType: 'application/json',
  }, (uri, vars) => {
    const id = String(vars.device);
    if (!tools.mux.fleet.byId.has(id)) throw new McpError(ErrorCode.InvalidParams, `unknown device ${JSON.stringify(id)}: read mbxmux://fleet for the ids`);
    return json(uri, tools.readEffectsLog({ device: id }));
  });

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
