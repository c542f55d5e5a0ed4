import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseSlice } from '../fleet/slice.js';
import type { MuxOptions } from '../mux/types.js';
import { parseFleetArg, parseIntArg, UsageError } from './args.js';

/** Options as node:util parseArgs takes them. */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** A CLI command: `mbxmux <name> ...`. run() returns the exit code. */
export interface Command {
  name: string;
  summary: string;
  help: string;
  /** its options besides COMMON (what it passes to parse(); shell completion lists them) */
  options?: OptionSpec;
  /** not listed by --help (the completion scripts' helper) */
  hidden?: boolean;
  run(args: string[]): Promise<number>;
}

/** Options every command accepts. */
export const COMMON = {
  fleet: { type: 'string' },
  slice: { type: 'string' },
  workers: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Parsed<T extends NonNullable<ParseArgsConfig['options']>> =
  ReturnType<typeof parseArgs<{ args: string[]; options: typeof COMMON & T; allowPositionals: true; strict: true }>>;

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T): Parsed<T> {
  try {
    return parseArgs({ args, options: { ...COMMON, ...options } as typeof COMMON & T, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** --fleet, --slice and --workers into mux options. */
export function muxOptions(v: { fleet?: string | undefined; slice?: string | undefined; workers?: string | undefined }): MuxOptions {
  const o: MuxOptions = {};
  const fleet = parseFleetArg(v.fleet);
  if (fleet !== undefined) o.fleet = fleet;
  if (v.slice !== undefined) {
    try {
      o.slice = parseSlice(v.slice);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const workers = parseIntArg(v.workers, '--workers', 1, 256);
  if (workers !== undefined) o.workers = workers;
  return o;
}

export const COMMON_HELP = `  --fleet SPEC     counts like cxl-type3=1024,cxl-switch=4,nvme=256,mctp-pcc=16, or a JSON fleet file
  --slice i/N      only the i-th of N slices of the fleet (0 <= i < N), ids and serials as in the whole fleet
  --workers N      worker threads (default: CPU count)
  -h, --help       this help`;
