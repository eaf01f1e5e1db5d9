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

/**
 * The interval that holds the median of the population the samples come from with probability `coverage`: two order
 * statistics, chosen from the binomial distribution (no assumption about the shape of the distribution, so it suits
 * timings with a long tail). The narrowest such interval whose coverage is at least `level`; with too few samples for
 * `level` (five or fewer for 95 %), the whole range and the coverage it has.
 *
 * @example
 * ```ts
 * medianInterval(twentyRatios); // { low: 6th smallest, high: 15th smallest, coverage: 0.9586 }
 * ```
 */
export function medianInterval(samples: readonly number[], level = 0.95): MedianInterval {
  if (samples.length === 0) throw new Error('medianInterval() needs at least one sample');
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  // below[k]: the chance that at most k of n samples fall below the median, P(Binomial(n, 1/2) ≤ k).
  let term = 0.5 ** n;
  let below = term;
  let k = 0;
  let coverage = 1 - 2 * below;
  for (;;) {
    term *= (n - k) / (k + 1);
    const next = 1 - 2 * (below + term);
    if (k + 1 > n - 2 - k || next < level) break;
    below += term;
    k++;
    coverage = next;
  }
  return { low: sorted[k]!, high: sorted[n - 1 - k]!, coverage };
}

/** A median's interval: see {@link medianInterval}. */
export interface MedianInterval {
  low: number;
  high: number;
  /** The chance that the interval holds the median (at least the level asked for, when there are enough samples). */
  coverage: number;
}

/**
 * Whether repeated measurements meet a target (`value ≤ limit`, or `≥` for `at least`), judged on the median's
 * interval rather than the median alone: `met` when the whole interval is on the right side of the limit, `missed`
 * when it is all on the wrong side, and `at the line` when it holds the limit (this machine's noise cannot tell), with
 * `why` saying so in words.
 *
 * @example
 * ```ts
 * judge([1.2, 1.3, 1.25, 1.35, 1.28, 1.31], 1.3, 'at most').why; // 'the 6 runs, 1.2–1.35×, lie either side of 1.3×'
 * ```
 */
export function judge(
  samples: readonly number[],
  limit: number,
  direction: 'at most' | 'at least',
  unit = '×',
): { verdict: 'met' | 'missed' | 'at the line'; interval: MedianInterval; why: string } {
  const interval = medianInterval(samples);
  const good = (value: number) => (direction === 'at most' ? value <= limit : value >= limit);
  const [low, high] = [good(interval.low), good(interval.high)];
  const verdict = low && high ? 'met' : !low && !high ? 'missed' : 'at the line';
  const span = `${round(interval.low)}–${round(interval.high)}${unit}`;
  const why =
    verdict !== 'at the line'
      ? ''
      : interval.coverage < 0.95
        ? `the ${samples.length} runs, ${span}, lie either side of ${limit}${unit}`
        : `the median's ${round(interval.coverage * 100)} % interval, ${span}, holds ${limit}${unit}`;
  return { verdict, interval, why };
}

/**
 * {@link judge}'s verdict as a report's cell: `met` or `missed` in the report's own words, else `at the line: <why>`.
 *
 * @example
 * ```ts
 * verdictCell([1.9, 2.1, 1.95], 2, 'at most', { met: 'met', missed: '**missed**' }); // 'at the line: the 3 runs, …'
 * ```
 */
export function verdictCell(
  samples: readonly number[],
  limit: number,
  direction: 'at most' | 'at least',
  words: { met: string; missed: string },
  unit = '×',
): string {
  const { verdict, why } = judge(samples, limit, direction, unit);
  return verdict === 'at the line' ? `at the line: ${why}` : words[verdict];
}
