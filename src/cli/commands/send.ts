import { resolveCommand } from '../../commands/resolve.js';
import { commandTarget } from '../../commands/target.js';
import { buildFleet, DEFAULT_FLEET } from '../../fleet/expand.js';
import type { FleetInput } from '../../fleet/types.js';
import { createMux } from '../../mux/mux.js';
import { parseTier } from '../../policy/tiers.js';
import { DeviceTools, type SendAnswer, type SendArgs } from '../../server/device-tools.js';
import { parseHex, parseIntArg, toHex, UsageError } from '../args.js';
import { type Command, COMMON_HELP, muxOptions, parse } from '../common.js';
import { formatFields } from '../format-fields.js';

const DWORDS = ['queue', 'nsid', 'cdw10', 'cdw11', 'cdw12', 'cdw13', 'cdw14', 'cdw15'] as const;

const OPTIONS = {
  json: { type: 'boolean' }, raw: { type: 'boolean' }, payload: { type: 'string' }, tier: { type: 'string' }, host: { type: 'string' },
  fm: { type: 'boolean' }, timeout: { type: 'string' }, tunnel: { type: 'string' }, 'mctp-type': { type: 'string' }, data: { type: 'string' },
  queue: { type: 'string' }, nsid: { type: 'string' }, cdw10: { type: 'string' }, cdw11: { type: 'string' }, cdw12: { type: 'string' },
  cdw13: { type: 'string' }, cdw14: { type: 'string' }, cdw15: { type: 'string' },
} as const;

/** The answer as `mbxmux send` always printed it: status, NVMe CQE, tunnel hops, payload hex. */
function rawLines(a: SendAnswer): string[] {
  const out = [`rc 0x${a.rc.toString(16).padStart(2, '0')} ${a.status}${a.vendorStatus ? ` vendor 0x${a.vendorStatus.toString(16)}` : ''}${a.background ? ' (background operation running)' : ''}`];
  if (a.cqe) out.push(`cqe ${a.cqe}`);
  if (a.tunnel) out.push(`tunnel hops ${a.tunnel.hops.map((h) => `0x${h.opcode.toString(16)}:rc ${h.rc}`).join(' -> ')}`);
  out.push(`payload ${a.payloadBytes} bytes${a.payloadBytes ? `: ${a.payload}` : ''}`);
  return out;
}

export const send: Command = {
  name: 'send',
  summary: 'send one command (by name or opcode) to one device and print the answer, decoded',
  options: OPTIONS,
  help: `usage: mbxmux send <device> <command> [--payload HEX] [--raw | --json] [--tier T] [--host N] [--fm] [--timeout MS]
                   [--tunnel 2,1] [--mctp-type N] [--queue N] [--nsid N --cdw10 N ... --cdw15 N --data HEX]
  sends one command, e.g. mbxmux send mem0 get-health-info, mbxmux send nvme0 identify-controller
  <command>   a name from the device's command table, without regard to case, spaces or punctuation:
              get-health-info, "Get Health Info", identify-controller (mbxmux effects DEVICE lists them);
              a unique prefix works (get-health); one that fits several commands is refused, naming them.
              Or an opcode in hex: 0x4200 or 4200h. A bare number is read as hex too, since every device kind
              names its opcodes in hex (CXL 4200h, NVMe 06h); a one-line note on stderr says so.
  Output: the status line, then the answer decoded where mbxmux knows its structure (health, SMART,
  identify, FW info, port state, effects logs, background and sanitize status), else the payload in hex.
  --raw       the status line and the payload in hex only
  --json      one JSON object with both: {"rc":0,"status":..,"payload":"<hex>","decoded":{..},"hints":{..}}
  --tier      configuration | debug-read | debug-write | debug-write-full | fabric-destructive (default debug-read)
  --fm        act as the fabric manager (reach every host's devices)
  --tunnel    CXL switch: tunnel through these port/LD ids, outermost first (names come from the device at the end)
  --mctp-type MCTP endpoint: message type to use instead of the command set's
  NVMe: --queue N (0 admin, default; 1 and up an I/O queue, named from the NVM command set: read, write, ...),
        --nsid, --cdw10..--cdw15 (numbers, 0x.. hex allowed), --data HEX (host-to-controller data)
${COMMON_HELP}`,
  async run(args) {
    const { values, positionals } = parse(args, OPTIONS);
    if (values.help) return (console.log(this.help), 0);
    if (positionals.length !== 2) throw new UsageError('send needs <device> <command>, e.g. mbxmux send mem0 get-health-info');
    if (values.raw && values.json) throw new UsageError('--raw and --json exclude each other (--json carries the hex and the decoded answer)');
    const [device, command] = positionals as [string, string];
    const a: SendArgs = { device, opcode: command };
    if (values.payload !== undefined) a.payload = toHex(parseHex(values.payload, '--payload'));
    if (values.data !== undefined) a.data = toHex(parseHex(values.data, '--data'));
    for (const k of DWORDS) {
      const v = parseIntArg(values[k], `--${k}`, 0, k === 'queue' ? 0xffff : 0xffffffff);
      if (v !== undefined) a[k] = v;
    }
    if (values.tunnel !== undefined) a.tunnel = values.tunnel.split(',').map((x, i) => parseIntArg(x.trim(), `--tunnel hop ${i + 1}`, 0, 255)!);
    const mt = parseIntArg(values['mctp-type'], '--mctp-type', 0, 127);
    if (mt !== undefined) a.mctpType = mt;
    const timeoutMs = parseIntArg(values.timeout, '--timeout', 0, 3_600_000);
    if (timeoutMs !== undefined) a.timeoutMs = timeoutMs;
    const tier = values.tier === undefined ? 'debug-read' : parseTier(values.tier);
    const host = parseIntArg(values.host, '--host', 0, 65535) ?? 0;
    const muxOpts = muxOptions(values);
    // the name is checked against the fleet before the workers start: a typo costs no start-up
    const target = commandTarget(buildFleet((muxOpts.fleet ?? DEFAULT_FLEET) as FleetInput, 1), device, a);
    const cmd = resolveCommand(target.family, command);
    if (cmd.note !== undefined) console.error(`mbxmux send: note: ${cmd.note}`);
    // --timeout 0 (no timeout): the operator who runs this command creates the mux, so it is theirs to allow
    const mux = await createMux({ ...muxOpts, ...(timeoutMs === 0 ? { noTimeoutTier: tier } : {}) });
    try {
      const tools = new DeviceTools({
        mux, tier, host, fabricManager: values.fm === true, name: 'cli', maxPayloadBytes: Infinity, maxTimeoutMs: 3_600_000, allowNoTimeout: true,
      });
      const r = await tools.sendCommand(a);
      if (values.json) {
        console.log(JSON.stringify(r));
      } else if (values.raw || r.decoded === undefined) {
        console.log(rawLines(r).join('\n'));
      } else {
        console.log([rawLines(r)[0]!, `${r.command} (${r.opcode}) on ${r.target ?? r.device}, decoded as ${r.decoded.as}:`,
          ...(r.decoded.error !== undefined ? [`  could not decode: ${r.decoded.error}; payload ${r.payload}`] : formatFields(r.decoded.value, '  '))].join('\n'));
      }
    } finally {
      await mux.close();
    }
    return 0;
  },
};
