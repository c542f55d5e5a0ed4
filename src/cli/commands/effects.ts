import { effectsView } from '../../commands/effects-view.js';
import { createMux } from '../../mux/mux.js';
import { parseTier } from '../../policy/tiers.js';
import { parseIntArg, UsageError } from '../args.js';
import { type Command, COMMON_HELP, muxOptions, parse } from '../common.js';
import { table } from '../format-fields.js';

const OPTIONS = { json: { type: 'boolean' }, tier: { type: 'string' }, host: { type: 'string' }, fm: { type: 'boolean' } } as const;

export const effects: Command = {
  name: 'effects',
  summary: 'print a device\'s effects log: every command it declares, its effects and the tier it needs',
  options: OPTIONS,
  help: `usage: mbxmux effects <device> [--tier T] [--host N] [--fm] [--json] [--fleet SPEC] [--workers N]
  The commands the device declares in its own effects log (CXL Command Effects Log; NVMe Commands Supported
  and Effects, admin and I/O halves), as the mux read it at start: opcode, name (what mbxmux send takes),
  the tier each needs here (README "Permission tiers"), whether a session with --tier and --host may send it,
  and the effects that decided it. The same list as the MCP tool read_effects_log.
  --tier T    the session tier to judge "allowed" for (default debug-read)
  --host N    the host the session acts for (default 0); --fm a fabric-manager session
  --json      the list as JSON, with read-only / destructive / idempotent hints per command
${COMMON_HELP}`,
  async run(args) {
    const { values, positionals } = parse(args, OPTIONS);
    if (values.help) return (console.log(this.help), 0);
    if (positionals.length !== 1) throw new UsageError('effects needs one <device>, e.g. mbxmux effects mem0');
    const tier = values.tier === undefined ? 'debug-read' : parseTier(values.tier);
    const host = parseIntArg(values.host, '--host', 0, 65535) ?? 0;
    const mux = await createMux(muxOptions(values));
    try {
      const v = effectsView(mux, positionals[0]!, { tier, host, fabricManager: values.fm === true });
      if (values.json) {
        console.log(JSON.stringify(v));
        return 0;
      }
      const where = v.reachable ? '' : ` - not reachable by this session: ${v.unreachableReason}`;
      console.log(`${v.device} (${v.family}): ${v.commands} commands declared; allowed = may be sent with tier ${tier}, host ${host}${values.fm ? ', fabric manager' : ''}${where}`);
      const rows = v.entries.map((e) => ({
        ...(e.set !== undefined ? { set: e.set } : {}), opcode: e.opcode, name: e.name ?? '(unnamed)', tier: e.tier, allowed: e.allowed,
        effects: e.effects.length ? e.effects.join(' ') : '-',
      }));
      console.log(table(rows).join('\n'));
    } finally {
      await mux.close();
    }
    return 0;
  },
};
