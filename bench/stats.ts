/** Latency statistics from raw samples (ns) and table formatting shared by the benchmarks. */
export interface LatencyStats {
  samples: number;
  p50: number;
  p99: number;
  p999: number;
  mean: number;
  max: number;
}

/** Percentiles of ns samples, reported in µs. */
export function latencyStats(ns: Float64Array | number[]): LatencyStats {
  const a = Float64Array.from(ns).sort();
  const q = (p: number): number => a[Math.min(a.length - 1, Math.floor(p * a.length))]! / 1000;
  let sum = 0;
  for (const x of a) sum += x;
  return { samples: a.length, p50: q(0.5), p99: q(0.99), p999: q(0.999), mean: sum / a.length / 1000, max: a[a.length - 1]! / 1000 };
}

export function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(digits);
}

/** A plain-text table: first row is the header. */
export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}
