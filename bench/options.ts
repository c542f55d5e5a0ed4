/** The options of `mbxmux bench` (bench/run.ts parses them; shell completion lists them without loading the bench). */
export const BENCH_OPTIONS = {
  seconds: { type: 'string' },
  concurrency: { type: 'string' },
  workers: { type: 'string' },
  json: { type: 'string' },
  only: { type: 'string' },
  quick: { type: 'boolean' },
  full: { type: 'boolean' },
  list: { type: 'boolean' },
  compare: { type: 'string' },
  'fail-on-regression': { type: 'string' },
  noise: { type: 'string' },
  html: { type: 'string' },
  from: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;
