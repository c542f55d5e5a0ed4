/** Latency statistics from raw samples, number formatting with units, and plain-text tables. */
export interface LatencyStats {
  samples: number;
  /** µs */
  p50: number;
  p99: number;
  p999: number;
  mean: number;
  max: number;
}

/** Percentiles of ns samples, reported in µs. */
export function latencyStats(ns: Float64Array | number[]): LatencyStats {
  if (ns.length === 0) return { samples: 0, p50: NaN, p99: NaN, p999: NaN, mean: NaN, max: NaN };
  const a = Float64Array.from(ns).sort();
  const q = (p: number): number => a[Math.min(a.length - 1, Math.floor(p * a.length))]! / 1000;
  let sum = 0;
  for (const x of a) sum += x;
  return { samples: a.length, p50: q(0.5), p99: q(0.99), p999: q(0.999), mean: sum / a.length / 1000, max: a[a.length - 1]! / 1000 };
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const a = [...xs].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 === 1 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}

/** A growable Float64Array of samples. */
export class Samples {
  private buf = new Float64Array(1024);
  length = 0;

  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }

  /** Appends another set. */
  append(o: Samples): void {
    for (let i = 0; i < o.length; i++) this.push(o.buf[i]!);
  }

  values(): Float64Array {
    return this.buf.subarray(0, this.length);
  }
}

// ------------------------------------------------------------------ formatting

/** Fixed decimals, thousands separated: 1234567.8 -> "1,234,567.8". */
export function num(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return n !== n ? 'n/a' : String(n);
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Three significant figures for latencies and ratios: 0.183, 5.29, 36.9, 163, 21,134. */
export function sig(n: number): string {
  if (!Number.isFinite(n)) return n !== n ? 'n/a' : String(n);
  const a = Math.abs(n);
  if (a >= 1000) return num(n, 0);
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

/** Compact rate: 812,345 -> "812k", 61,234,567 -> "61.2M". */
export function si(n: number): string {
  if (!Number.isFinite(n)) return n !== n ? 'n/a' : String(n);
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(a >= 1e8 ? 0 : a >= 1e7 ? 1 : 2)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  return num(n, a >= 100 ? 0 : 1);
}

/** Bytes as 64 B / 4 KiB / 1 MiB. */
export function bytes(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

/** Bandwidth in MB/s (10^6 bytes) with GB/s above 1000 MB/s. */
export function bandwidth(bytesPerSec: number): string {
  const mb = bytesPerSec / 1e6;
  return mb >= 1000 ? `${(mb / 1000).toFixed(2)} GB/s` : `${sig(mb)} MB/s`;
}

/** A table: a title line (with units), a header row, rows, and an optional note printed under it. */
export interface Table {
  title: string;
  head: string[];
  rows: (string | number)[][];
  note?: string;
}

/** Plain-text rendering: first column left-aligned, the rest right-aligned. */
export function renderTable(t: Table): string {
  const cells = [t.head, ...t.rows].map((r) => r.map((c) => (typeof c === 'number' ? sig(c) : c)));
  const widths = t.head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const out = [t.title, line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)];
  if (t.note) out.push(...t.note.split('\n').map((l) => `  ${l}`));
  return out.join('\n');
}
