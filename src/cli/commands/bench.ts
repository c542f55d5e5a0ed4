import { type Command } from '../common.js';

export const bench: Command = {
  name: 'bench',
  summary: 'run the benchmarks (mbxmux vs piscina.run vs postMessage)',
  help: `usage: mbxmux bench [--seconds N] [--concurrency N] [--workers N] [--json FILE]
  benchmarks mbxmux against piscina.run per command and postMessage per command in one run`,
  async run(args) {
    if (args.includes('--help') || args.includes('-h')) return (console.log(this.help), 0);
    const mod = (await import(new URL('../../../bench/run.js', import.meta.url).href)) as { main: (a: string[]) => Promise<number> };
    return mod.main(args);
  },
};
