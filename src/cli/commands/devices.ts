import { createMux } from '../../mux/mux.js';
import { type Command, COMMON_HELP, muxOptions, parse } from '../common.js';

const OPTIONS = { json: { type: 'boolean' } } as const;

export const devices: Command = {
  name: 'devices',
  summary: 'list the emulated fleet',
  options: OPTIONS,
  help: `usage: mbxmux devices [--json] [--fleet SPEC] [--workers N]
  lists every device: id, kind, shard (worker), host, serial
${COMMON_HELP}`,
  async run(args) {
    const { values } = parse(args, OPTIONS);
    if (values.help) return (console.log(this.help), 0);
    const mux = await createMux(muxOptions(values));
    try {
      const list = mux.devices();
      if (values.json) console.log(JSON.stringify(list));
      else {
        for (const d of list) {
          console.log(`${d.id.padEnd(10)} ${d.kind.padEnd(11)} shard ${d.shard}  host ${d.host}  serial ${d.serial}${d.reachableVia ? `  via ${d.reachableVia.device} port ${d.reachableVia.port}` : ''}`);
        }
      }
    } finally {
      await mux.close();
    }
    return 0;
  },
};
