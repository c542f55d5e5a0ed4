/**
 * A high-dynamic-range latency histogram (the HdrHistogram layout, 3 significant digits): values in
 * nanoseconds from 1 ns to 2^42 ns (~73 minutes) land in log-linear buckets with at most 0.1% error.
 * Recording is O(1) with no allocation; histograms of several runs merge by adding counts.
 */
const SUB_BUCKET_BITS = 11; // 2048 sub-buckets: 3 significant decimal digits
const SUB_BUCKET_HALF = 1 << (SUB_BUCKET_BITS - 1);
const MAX_BITS = 42;
const BUCKETS = MAX_BITS - SUB_BUCKET_BITS + 1;

export class Histogram {
  readonly counts = new Float64Array((BUCKETS + 1) * SUB_BUCKET_HALF);
  total = 0;
  min = Infinity;
  max = 0;
  private sum = 0;

  /** Records one value (ns). Values above the range are clamped to the top bucket. */
  record(ns: number): void {
    let v = Math.round(ns);
    if (v < 1) v = 1;
    const top = 2 ** MAX_BITS - 1;
    if (v > top) v = top;
    this.counts[indexOf(v)]! += 1;
    this.total++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  get mean(): number {
    return this.total === 0 ? 0 : this.sum / this.total;
  }

  /** The value (ns) at percentile p (0..100): the highest value equivalent to the bucket holding it. */
  percentile(p: number): number {
    if (this.total === 0) return 0;
    const want = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= want) return Math.min(this.max, highestEquivalent(i));
    }
    return this.max;
  }

  add(other: Histogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.sum += other.sum;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = 0;
  }

  /** Percentile curve for plots: [percentile, ns] at log-spaced points up to the max. */
  curve(): [number, number][] {
    const out: [number, number][] = [];
    for (const p of [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100]) out.push([p, this.percentile(p)]);
    return out;
  }
}

function bitLength(v: number): number {
  return v < 2 ** 32 ? 32 - Math.clz32(v) : Math.floor(Math.log2(v)) + 1;
}

function indexOf(v: number): number {
  const bucket = Math.max(0, bitLength(v) - SUB_BUCKET_BITS);
  const sub = Math.floor(v / 2 ** bucket);
  // HdrHistogram's countsIndex: (bucket + 1) * half + (sub - half), i.e. bucket * half + sub
  return bucket * SUB_BUCKET_HALF + sub;
}

/** Largest value that maps to counts index i. */
function highestEquivalent(i: number): number {
  if (i < 2 * SUB_BUCKET_HALF) return i;
  const bucket = Math.floor(i / SUB_BUCKET_HALF) - 1;
  const sub = (i % SUB_BUCKET_HALF) + SUB_BUCKET_HALF;
  return (sub + 1) * 2 ** bucket - 1;
}
