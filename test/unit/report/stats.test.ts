import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAggregation } from '../../../src/core/metric.js';
import {
  aggregate,
  bootstrapMedianChange,
  bootstrapMedianDraw,
  durationStats,
  erfc,
  histogram,
  mannWhitneyU,
  percentile,
  seededRandom,
  sortedCopy,
} from '../../../src/report/stats.js';

/** Computed by test/fixtures/stats/generate.py with Debian's scipy; see the file for the command. */
const fixtures = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../../fixtures/stats/scipy.json'), 'utf8'),
) as {
  mannwhitneyu: { name: string; x: number[]; y: number[]; u: number; p: number }[];
  erfc: { x: number; erfc: number }[];
  percentile: { values: number[]; p: number[]; expected: number[] };
};

/** Relative closeness, with an absolute floor for values near zero. */
function close(actual: number, expected: number, rel = 1e-9): void {
  const tol = Math.max(Math.abs(expected) * rel, 1e-300);
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(tol);
}

describe('erfc', () => {
  it.each(fixtures.erfc)('matches scipy.special.erfc($x)', ({ x, erfc: expected }) => {
    close(erfc(x), expected, 1e-12);
  });
});

describe('mannWhitneyU (two-sided, normal approximation, tie + continuity correction)', () => {
  it.each(fixtures.mannwhitneyu)('matches scipy for "$name"', ({ x, y, u, p }) => {
    const r = mannWhitneyU(x, y);
    expect(r.u).toBe(u);
    close(r.pValue, p, 1e-9);
    // Symmetric: swapping the samples mirrors U and keeps p.
    const s = mannWhitneyU(y, x);
    expect(s.u).toBe(x.length * y.length - u);
    close(s.pValue, p, 1e-9);
  });

  it('gives p = 1 when every value is tied, NaN for an empty sample', () => {
    expect(mannWhitneyU([5, 5, 5], [5, 5]).pValue).toBe(1);
    expect(mannWhitneyU([], [1]).pValue).toBeNaN();
  });

  it('accepts typed arrays, sorted or not', () => {
    const { x, y, p } = fixtures.mannwhitneyu[6];
    close(mannWhitneyU(Float64Array.from(x), sortedCopy(y)).pValue, p, 1e-9);
  });
});

describe('percentile (type 7, numpy linear)', () => {
  it('matches numpy.percentile', () => {
    const sorted = sortedCopy(fixtures.percentile.values);
    for (const [i, p] of fixtures.percentile.p.entries())
      close(percentile(sorted, p), fixtures.percentile.expected[i], 1e-12);
  });

  it('gives NaN for no values and the value itself for one', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(percentile([7], 99)).toBe(7);
  });

  it('durationStats and aggregate agree with percentile', () => {
    const v = [5, 1, 4, 2, 3];
    expect(durationStats(v)).toMatchObject({ count: 5, min: 1, median: 3, max: 5, mean: 3, p90: 4.6 });
    expect(aggregate(v, parseAggregation('p(90)'))).toBeCloseTo(4.6, 12);
    expect(aggregate(v, parseAggregation('med'))).toBe(3);
    expect(aggregate(v, parseAggregation('rate'), 2000)).toBe(2.5);
    expect(aggregate(Float64Array.from(v), parseAggregation('max'))).toBe(5);
  });
});

describe('seeded bootstrap of the relative change of the median', () => {
  const rng = seededRandom(7);
  const base = sortedCopy(Array.from({ length: 301 }, () => 100 + 20 * rng()));
  const cand = sortedCopy(Array.from({ length: 300 }, () => 110 + 20 * rng()));

  it('is reproducible: same seed, same interval; another seed, another interval', () => {
    const a = bootstrapMedianChange(base, cand, { seed: 1 });
    const b = bootstrapMedianChange(base, cand, { seed: 1 });
    const c = bootstrapMedianChange(base, cand, { seed: 2 });
    expect(b).toEqual(a);
    expect(c.low).not.toBe(a.low);
    expect(a.resamples).toBe(10_000);
    expect(a.low).toBeLessThan(a.estimate);
    expect(a.high).toBeGreaterThan(a.estimate);
    // About +10 %: the interval holds it and excludes 0.
    expect(a.low).toBeGreaterThan(0.05);
    expect(a.high).toBeLessThan(0.15);
  });

  it('draws medians with the distribution of a full resample (odd and even n)', () => {
    for (const n of [31, 40]) {
      const sorted = sortedCopy(Array.from({ length: n }, (_, i) => i * i));
      const fast = seededRandom(3);
      const slow = seededRandom(4);
      const draws = 20_000;
      const viaOrderStatistics = new Float64Array(draws);
      const viaResampling = new Float64Array(draws);
      const resample = new Float64Array(n);
      for (let d = 0; d < draws; d++) {
        viaOrderStatistics[d] = bootstrapMedianDraw(sorted, fast);
        for (let i = 0; i < n; i++) resample[i] = sorted[Math.floor(slow() * n)];
        viaResampling[d] = percentile(resample.sort(), 50);
      }
      viaOrderStatistics.sort();
      viaResampling.sort();
      // Same quantiles within Monte-Carlo noise (a few percent of the spread).
      const spread = percentile(viaResampling, 97.5) - percentile(viaResampling, 2.5);
      for (const q of [2.5, 10, 25, 50, 75, 90, 97.5]) {
        expect(Math.abs(percentile(viaOrderStatistics, q) - percentile(viaResampling, q))).toBeLessThan(
          spread * 0.05,
        );
      }
      // And the same two-sample Mann-Whitney verdict: no detectable difference.
      expect(mannWhitneyU(viaOrderStatistics, viaResampling).pValue).toBeGreaterThan(0.001);
    }
  });

  it('returns NaN bounds when the baseline median is zero', () => {
    expect(bootstrapMedianChange([0, 0, 0], [1, 2]).low).toBeNaN();
  });
});

describe('histogram', () => {
  it('clamps out-of-range values into the end bins', () => {
    expect(histogram([0, 1, 2, 3, 10, -5], 0, 4, 4)).toEqual([2, 1, 1, 2]);
  });
});
