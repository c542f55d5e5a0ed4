import { parseArgs, type ParseArgsConfig } from 'node:util';
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

/** --fleet and --workers into mux options. */
export function muxOptions(v: { fleet?: string | undefined; workers?: string | undefined }): MuxOptions {
  const o: MuxOptions = {};
  const fleet = parseFleetArg(v.fleet);
  if (fleet !== undefined) o.fleet = fleet;
  const workers = parseIntArg(v.workers, '--workers', 1, 256);
  if (workers !== undefined) o.workers = workers;
  return o;
}

export const COMMON_HELP = `  --fleet SPEC     counts like cxl-type3=1024,cxl-switch=4,nvme=256,mctp-pcc=16, or a JSON fleet file
  --workers N      worker threads (default: CPU count)
  -h, --help       this help`;
