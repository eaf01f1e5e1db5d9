/**
 * The benchmark's verdicts (bench/stats.ts): a target is judged on the interval that holds the median, so a figure
 * a hair either side of its target on a noisy machine is reported as at the line, not flipped between met and missed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judge, medianInterval, verdictCell } from '../bench/stats.ts';

const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

test('the median interval is the textbook pair of order statistics, with its exact coverage', () => {
  // Distribution-free 95 % intervals for a median: ranks (2, 9) of 10, (6, 15) of 20, (18, 33) of 50.
  for (const [n, low, high, coverage] of [
    [10, 2, 9, 0.9785],
    [20, 6, 15, 0.9586],
    [50, 18, 33, 0.9672],
  ] as const) {
    const interval = medianInterval(oneTo(n).reverse());
    assert.deepEqual([interval.low, interval.high], [low, high], `n = ${n}`);
    assert.equal(Math.round(interval.coverage * 10000) / 10000, coverage, `n = ${n}`);
  }
  // Too few runs for 95 %: the whole range, and the coverage it has (1 − 2 / 2ⁿ).
  assert.deepEqual(medianInterval([3, 1, 2, 5, 4]), { low: 1, high: 5, coverage: 1 - 2 / 32 });
  assert.throws(() => medianInterval([]), /at least one sample/);
});

test('a target is met or missed only when the whole interval is on one side of it', () => {
  const ratios = [1.21, 1.24, 1.25, 1.27, 1.28, 1.29, 1.3, 1.31, 1.33, 1.36];
  assert.equal(judge(ratios, 1.4, 'at most').verdict, 'met');
  assert.equal(judge(ratios, 1.2, 'at most').verdict, 'missed');
  const line = judge(ratios, 1.3, 'at most');
  assert.equal(line.verdict, 'at the line');
  assert.equal(line.why, "the median's 97.9 % interval, 1.24–1.33×, holds 1.3×");
  // At least (requests per second, a build's speed-up): the other side.
  assert.equal(judge(ratios, 1.2, 'at least').verdict, 'met');
  assert.equal(judge(ratios, 1.4, 'at least').verdict, 'missed');
  // A quick run's few samples say so.
  assert.equal(judge([1.05, 1.19], 1.15, 'at most', '×').why, 'the 2 runs, 1.05–1.19×, lie either side of 1.15×');
  assert.equal(judge([3.2, 4.1, 3.9], 8, 'at most', ' MiB').verdict, 'met');
  // As a report's cell: the report's own words for met and missed, the interval when at the line.
  const words = { met: '**met**', missed: '**missed**' };
  assert.equal(verdictCell(ratios, 1.4, 'at most', words), '**met**');
  assert.equal(verdictCell(ratios, 1.2, 'at most', words), '**missed**');
  assert.equal(verdictCell(ratios, 1.3, 'at most', words), `at the line: ${line.why}`);
});
