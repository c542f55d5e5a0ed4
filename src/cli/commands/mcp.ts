import { DEFAULT_FLEET } from '../../fleet/expand.js';
import { createMux } from '../../mux/mux.js';
import { parseTier } from '../../policy/tiers.js';
import { Recorder } from '../../server/recorder.js';
import { timeoutOption } from '../../validate.js';
import { parseDuration, parseIntArg, UsageError } from '../args.js';
import { type Command, COMMON_HELP, muxOptions, parse } from '../common.js';

const OPTIONS = {
  tier: { type: 'string' }, host: { type: 'string' }, fm: { type: 'boolean' }, name: { type: 'string' }, record: { type: 'string' },
  'max-timeout': { type: 'string' }, 'max-line': { type: 'string' },
} as const;

export const mcp: Command = {
  name: 'mcp',
  summary: 'serve the fleet to an AI agent as a Model Context Protocol server (stdio)',
  options: OPTIONS,
  help: `usage: mbxmux mcp [--tier T] [--host N] [--fm] [--name NAME] [--record FILE] [--max-timeout DUR] [--max-line BYTES]
                   [--fleet SPEC] [--workers N]
  A Model Context Protocol server on stdin/stdout. Tools: list_devices, send_command (by opcode or command
  name; answers decoded, with read-only / destructive / idempotent hints from the target's effects log),
  get_health (decoded), read_effects_log (the tier each command needs, and its hints) and wait_background
  (follows Sanitize, Scan Media, Transfer FW... with progress notifications; send_command does the same when
  the request carries a progressToken). Resources: mbxmux://fleet and mbxmux://devices/{device}/effects.
  Every tool has annotations and an outputSchema; answers carry structuredContent beside the text.
  The session is fixed here; the agent cannot change it: every command and every poll is checked against
  it. A command the tier refuses is a tool error naming the tier needed. Logs go to stderr; stdout carries
  only the protocol.
  --tier T        the session's tier (default debug-read)
  --host N        the host the session acts for (default 0)
  --fm            a fabric-manager session (reaches every host's devices)
  --name NAME     session name in audit records (default mcp)
  --record FILE   record every request and answer (mbxmux replay FILE plays it back)
  --max-timeout DUR  the longest timeoutMs send_command accepts (default 60s; 0, "no timeout", is refused)
  --max-line BYTES   the longest message line read (default 10485760); longer lines are answered with a
                     JSON-RPC error and skipped, as are lines that are not JSON-RPC 2.0
  e.g. in an MCP client configuration: { "command": "npx", "args": ["mbxmux", "mcp", "--tier", "debug-read"] }
${COMMON_HELP}`,
  async run(args) {
    const { values, positionals } = parse(args, OPTIONS);
    if (values.help) return (console.log(this.help), 0);
    if (positionals.length > 0) throw new UsageError(`mcp takes no positional arguments (got "${positionals[0]}")`);
    let tier;
    try {
      tier = parseTier(values.tier ?? 'debug-read');
    } catch (e) {
      throw new UsageError(`--tier: ${(e as Error).message}`);
    }
    const host = parseIntArg(values.host, '--host', 0, 65535) ?? 0;
    const maxTimeoutMs = values['max-timeout'] === undefined ? undefined : Math.round(parseDuration(values['max-timeout'], '--max-timeout'));
    if (maxTimeoutMs !== undefined) timeoutOption(maxTimeoutMs, '--max-timeout', 0, 1);
    const maxLineBytes = parseIntArg(values['max-line'], '--max-line', 1024, 1 << 30);
    const muxOpts = muxOptions(values);
    // the MCP SDK is big: loaded only by this command, so other commands start fast
    const { serveMcpStdio } = await import('../../server/mcp-server.js');
    // stdout is the protocol: anything printed by mistake goes to stderr
    const origLog = console.log;
    console.log = console.error;
    const mux = await createMux(muxOpts);
    const recorder = values.record !== undefined ? new Recorder({ file: values.record, mux, fleet: muxOpts.fleet ?? DEFAULT_FLEET }) : null;
    const ac = new AbortController();
    const onSignal = (): void => ac.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    console.error(`mbxmux mcp: serving ${mux.devices().length} devices on stdio (tier ${tier}, host ${host}${values.fm ? ', fabric manager' : ''})`);
    try {
      await serveMcpStdio({
        mux, tier, host, fabricManager: values.fm === true, name: values.name ?? 'mcp', signal: ac.signal,
        ...(maxTimeoutMs !== undefined ? { maxTimeoutMs } : {}), ...(maxLineBytes !== undefined ? { maxLineBytes } : {}),
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await mux.close();
      await recorder?.close();
      console.log = origLog;
    }
    return 0;
  },
};
