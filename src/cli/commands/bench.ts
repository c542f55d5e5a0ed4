import { BENCH_OPTIONS } from '../../../bench/options.js';
import { type Command } from '../common.js';

/** bench/run.js, compiled next to dist/src (it pulls in piscina and the baselines: loaded only when used) */
const RUNNER = new URL('../../../bench/run.js', import.meta.url).href;

export const bench: Command = {
  name: 'bench',
  summary: 'run the benchmarks (micro, per device kind, vs piscina.run / postMessage, scaling, targets); compare two runs',
  options: BENCH_OPTIONS,
  help: `usage: mbxmux bench [--quick] [--full] [--only REGEX] [--json FILE] [--html FILE] [--list]
                    [--seconds N] [--concurrency N] [--workers N]
                    [--compare BASE.json [NEW.json]] [--fail-on-regression PCT] [--noise PCT] [--from RUN.json]
  every benchmark in one run, baselines included, ending with the targets (MET / MISSED);
  mbxmux bench --list names the sections for --only, mbxmux bench --help explains every option`,
  async run(args) {
    const mod = (await import(RUNNER)) as { main: (a: string[]) => Promise<number> };
    return mod.main(args);
  },
};
