import type { Aggregation } from '../core/metric.js';
import type { DurationStats } from '../store/run-record.js';

/**
 * Exact statistics from every value, never from downsampled data. Percentiles use linear
 * interpolation between closest ranks (Hyndman & Fan type 7: numpy's and R's default), so
 * they can be checked against either.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Sample standard deviation (n − 1). */
export function stddev(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  let sq = 0;
  for (const v of values) sq += (v - m) ** 2;
  return Math.sqrt(sq / (values.length - 1));
}

export function durationStats(values: readonly number[]): DurationStats | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    min: sorted[0],
    mean: mean(sorted),
    median: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
    stddev: stddev(sorted),
  };
}

/**
 * One aggregation of the metric grammar over raw values. `rate` is values per second over
 * `windowMs` (the step's duration); `count` the number of values.
 */
export function aggregate(values: readonly number[], agg: Aggregation, windowMs?: number): number {
  switch (agg.kind) {
    case 'count':
      return values.length;
    case 'rate':
      return windowMs ? values.length / (windowMs / 1000) : Number.NaN;
    case 'avg':
      return mean(values);
    case 'min':
      return values.length ? values.reduce((a, b) => Math.min(a, b)) : Number.NaN;
    case 'max':
      return values.length ? values.reduce((a, b) => Math.max(a, b)) : Number.NaN;
    case 'med':
      return percentile([...values].sort((a, b) => a - b), 50);
    case 'percentile':
      return percentile([...values].sort((a, b) => a - b), agg.p);
  }
}
