/**
 * A high-dynamic-range latency histogram (the HdrHistogram layout, 3 significant digits): values in
 * nanoseconds from 1 ns to 2^42 ns (~73 minutes) land in log-linear buckets with at most 0.1% error.
 * Recording is O(1) with no allocation; histograms of several runs merge by adding counts.
 */
const SUB_BUCKET_BITS = 11; // 2048 sub-buckets: 3 significant decimal digits
const SUB_BUCKET_HALF = 1 << (SUB_BUCKET_BITS - 1);
const MAX_BITS = 42;
const BUCKETS = MAX_BITS - SUB_BUCKET_BITS + 1;
const TOP = 2 ** MAX_BITS - 1;

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
    else if (v > TOP) v = TOP;
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

  /** Number of recorded values at or above `ns` (bucket resolution: within 0.1%). */
  countAtOrAbove(ns: number): number {
    if (this.total === 0) return 0;
    let v = Math.round(ns);
    if (v < 1) v = 1;
    else if (v > TOP) v = TOP;
    let n = 0;
    for (let i = indexOf(v); i < this.counts.length; i++) n += this.counts[i]!;
    return n;
  }

  /**
   * HDR-style percentile curve: points evenly spaced on the log axis x = log10(100 / (100 - p)), from
   * p = 0 to p = 99.999 (x = 0..5), `perDecade` points per nine, then [100, max]. Returns [percentile, ns].
   */
  percentileCurve(perDecade = 10, nines = 5): [number, number][] {
    const out: [number, number][] = [];
    if (this.total === 0) return out;
    for (let k = 0; k <= nines * perDecade; k++) {
      const p = 100 - 100 / 10 ** (k / perDecade);
      out.push([Number(p.toFixed(6)), this.percentile(p)]);
    }
    out.push([100, this.max]);
    return out;
  }

  /** The non-zero buckets as [lowest ns, highest ns, count]: merge histograms of the same layout by adding counts. */
  buckets(): [number, number, number][] {
    const out: [number, number, number][] = [];
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i]!;
      if (c !== 0) out.push([lowestEquivalent(i), highestEquivalent(i), c]);
    }
    return out;
  }

  /** A JSON-safe snapshot: layout, totals, a percentile curve and the raw non-zero buckets. */
  toJSON(): HistogramJSON {
    return {
      unit: 'ns', significantDigits: 3, subBucketBits: SUB_BUCKET_BITS, maxBits: MAX_BITS,
      total: this.total, min: this.total === 0 ? 0 : this.min, max: this.max, mean: this.mean, sum: this.sum,
      percentiles: this.percentileCurve(), buckets: this.buckets(),
    };
  }

  /** Rebuilds a histogram from toJSON() output (throws on a different layout). */
  static fromJSON(j: HistogramJSON): Histogram {
    if (j.subBucketBits !== SUB_BUCKET_BITS || j.maxBits !== MAX_BITS) {
      throw new RangeError(`histogram layout ${j.subBucketBits}/${j.maxBits} does not match ${SUB_BUCKET_BITS}/${MAX_BITS}`);
    }
    return Histogram.fromBuckets(j.buckets, j);
  }

  /**
   * A histogram with the counts of buckets() output (this layout) and the given min, max and sum (which the
   * buckets alone know only to within a bucket).
   */
  static fromBuckets(buckets: readonly (readonly [number, number, number])[], stats: { min: number; max: number; sum: number }): Histogram {
    const h = new Histogram();
    for (const [low, , count] of buckets) {
      h.counts[indexOf(low)]! += count;
      h.total += count;
    }
    h.min = h.total === 0 ? Infinity : stats.min;
    h.max = stats.max;
    h.sum = stats.sum;
    return h;
  }

  /** Percentile curve for plots: [percentile, ns] at log-spaced points up to the max. */
  curve(): [number, number][] {
    const out: [number, number][] = [];
    for (const p of [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100]) out.push([p, this.percentile(p)]);
    return out;
  }
}

/** What Histogram.toJSON() writes (`mbxmux load --json`). Bucket bounds are inclusive, in ns. */
export interface HistogramJSON {
  unit: 'ns';
  significantDigits: number;
  subBucketBits: number;
  maxBits: number;
  total: number;
  min: number;
  max: number;
  mean: number;
  sum: number;
  /** [percentile, ns] from percentileCurve() */
  percentiles: [number, number][];
  /** non-zero buckets: [lowest ns, highest ns, count] */
  buckets: [number, number, number][];
}

function bitLength(v: number): number {
  return v < 2 ** 32 ? 32 - Math.clz32(v) : Math.floor(Math.log2(v)) + 1;
}

function indexOf(v: number): number {
  if (v < 4294967296) {
    // the hot path (values below ~4.3 s): integer shifts instead of Math.pow and a division
    const b = 32 - Math.clz32(v) - SUB_BUCKET_BITS;
    return b <= 0 ? v : b * SUB_BUCKET_HALF + (v >>> b);
  }
  const bucket = Math.max(0, bitLength(v) - SUB_BUCKET_BITS);
  const sub = Math.floor(v / 2 ** bucket);
  // HdrHistogram's countsIndex: (bucket + 1) * half + (sub - half), i.e. bucket * half + sub
  return bucket * SUB_BUCKET_HALF + sub;
}

/** Smallest value that maps to counts index i. */
function lowestEquivalent(i: number): number {
  if (i < 2 * SUB_BUCKET_HALF) return i;
  const bucket = Math.floor(i / SUB_BUCKET_HALF) - 1;
  const sub = (i % SUB_BUCKET_HALF) + SUB_BUCKET_HALF;
  return sub * 2 ** bucket;
}

/** Largest value that maps to counts index i. */
function highestEquivalent(i: number): number {
  if (i < 2 * SUB_BUCKET_HALF) return i;
  const bucket = Math.floor(i / SUB_BUCKET_HALF) - 1;
  const sub = (i % SUB_BUCKET_HALF) + SUB_BUCKET_HALF;
  return (sub + 1) * 2 ** bucket - 1;
}
