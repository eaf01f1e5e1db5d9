/**
 * Summaries of repeated measurements: median with min and max, and ratios of medians to a baseline. On a shared,
 * noisy machine the median of interleaved runs is the figure to compare; min and max show the spread.
 *
 * @example
 * ```ts
 * summarize([3, 1, 2]); // { n: 3, median: 2, min: 1, max: 3, samples: [3, 1, 2] }
 * ```
 */

/** A measured figure over several runs. */
export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  samples: number[];
}

/** Median, min and max of `samples` (which must not be empty). */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('summarize() needs at least one sample');
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { n: samples.length, median, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples: [...samples] };
}

/** `value / baseline`, rounded to 3 decimals; undefined when either is missing or the baseline is 0. */
export function ratio(value: number | undefined, baseline: number | undefined): number | undefined {
  if (value === undefined || baseline === undefined || baseline === 0) return undefined;
  return Math.round((value / baseline) * 1000) / 1000;
}

/** Rounds for display: 3 significant digits for small numbers, whole numbers from 100 on. */
export function round(value: number): number {
  if (Math.abs(value) >= 100) return Math.round(value);
  return Number(value.toPrecision(3));
}
