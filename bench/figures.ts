/**
 * Figures: the numbers a bench run is compared by (`mbxmux bench --compare`). Each section returns the
 * figures it measures beside its tables; each figure carries its unit, which direction is better, and every
 * repeat it measured (repeated runs, rounds, or consecutive windows of one run), so a comparison can tell a
 * change from run-to-run noise. compare.ts works on figures alone: a section that adds one is compared
 * with no change there.
 */
export interface Figure {
  /** unique within its section, and stable from run to run (it is the key of a comparison) */
  name: string;
  /** 'µs', 'req/s', 'ns/op', '×', ... */
  unit: string;
  better: 'higher' | 'lower';
  /** one value per repeat; the figure's value is their median */
  samples: number[];
}

/** A figure from its repeats (non-finite ones, e.g. from an empty window, are left out). */
export function figure(name: string, unit: string, better: Figure['better'], samples: readonly number[]): Figure {
  return { name, unit, better, samples: samples.filter((x) => Number.isFinite(x)) };
}

/** `n` consecutive slices of `values`, as equal as possible (the last ones may be one shorter); empty slices are dropped. */
export function slices<T>(values: ArrayLike<T>, n: number): T[][] {
  const out: T[][] = [];
  const len = values.length;
  for (let i = 0; i < n; i++) {
    const from = Math.floor((i * len) / n);
    const to = Math.floor(((i + 1) * len) / n);
    if (to > from) out.push(Array.from({ length: to - from }, (_, k) => values[from + k]!));
  }
  return out;
}
