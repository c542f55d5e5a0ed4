/** What every benchmark section gets and returns. */
import type { Figure } from './figures.js';
import type { Table } from './stats.js';

export interface BenchContext {
  /** short run (CI smoke): fewer repeats, shorter loops, no 100,000-device row unless `full` */
  quick: boolean;
  /** include optional rows even in a quick run (the 100,000-device fleet) */
  full: boolean;
  /** base duration of one pipelined-throughput measurement, seconds */
  seconds: number;
  /** requests kept in flight by pipelined runs */
  concurrency: number;
  /** shard workers for the muxes of the fleet-level sections */
  workers: number;
  /** progress lines (stderr) */
  log: (line: string) => void;
  /** results of the sections already run in this process (later sections and the summary read them) */
  results: Map<string, SectionResult>;
}

export interface SectionResult {
  tables: Table[];
  /** machine-readable numbers (the JSON output) */
  data: Record<string, unknown>;
  /** the figures `--compare` compares, each with its repeats (see figures.ts) */
  figures?: Figure[];
}

export interface Section {
  /** stable id, matched by --only */
  id: string;
  title: string;
  run(ctx: BenchContext): Promise<SectionResult>;
}

/** Scales a duration (ms) for quick runs. */
export function dur(ctx: BenchContext, fullMs: number, quickMs: number): number {
  return ctx.quick ? quickMs : fullMs;
}
