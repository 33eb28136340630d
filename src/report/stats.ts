import type { Aggregation } from '../core/metric.js';
import type { DurationStats } from '../store/run-record.js';

/**
 * Exact statistics from every value, never from downsampled data. Percentiles use linear
 * interpolation between closest ranks (Hyndman & Fan type 7: numpy's and R's default), so
 * they can be checked against either.
 *
 * `sorted` must be sorted ascending; typed arrays are accepted so that large columns need not
 * be copied into plain arrays.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/** Arithmetic mean; NaN for no values. */
export function mean(values: ArrayLike<number>): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}

/** Sample standard deviation (n − 1). */
export function stddev(values: ArrayLike<number>): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  let sq = 0;
  for (let i = 0; i < values.length; i++) sq += (values[i] - m) ** 2;
  return Math.sqrt(sq / (values.length - 1));
}

/** An ascending copy as a Float64Array: a numeric sort with no comparator, several times faster than Array#sort. */
export function sortedCopy(values: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(values);
  out.sort();
  return out;
}

/** Count, min, mean, median, p90, p95, p99, max and standard deviation; undefined for no values. */
export function durationStats(values: ArrayLike<number>): DurationStats | undefined {
  if (values.length === 0) return undefined;
  const sorted = sortedCopy(values);
  return statsOfSorted(sorted);
}

/** durationStats of values already sorted ascending (no copy). */
export function statsOfSorted(sorted: ArrayLike<number>): DurationStats | undefined {
  if (sorted.length === 0) return undefined;
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
export function aggregate(values: ArrayLike<number>, agg: Aggregation, windowMs?: number): number {
  switch (agg.kind) {
    case 'count':
      return values.length;
    case 'rate':
      return windowMs ? values.length / (windowMs / 1000) : Number.NaN;
    case 'avg':
      return mean(values);
    case 'min': {
      if (values.length === 0) return Number.NaN;
      let m = values[0];
      for (let i = 1; i < values.length; i++) if (values[i] < m) m = values[i];
      return m;
    }
    case 'max': {
      if (values.length === 0) return Number.NaN;
      let m = values[0];
      for (let i = 1; i < values.length; i++) if (values[i] > m) m = values[i];
      return m;
    }
    case 'med':
      return percentile(sortedCopy(values), 50);
    case 'percentile':
      return percentile(sortedCopy(values), agg.p);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* The normal distribution                                                                     */
/* ------------------------------------------------------------------------------------------ */

const SQRT_PI = Math.sqrt(Math.PI);

/**
 * The complementary error function, to about 1e-14 relative error for x ≥ 0 (checked against
 * scipy in the unit tests). Below 2.5, a series of positive terms (no cancellation); above,
 * the classic continued fraction evaluated with Lentz's method. No magic constants, so the
 * accuracy is the series' and the fraction's, not a fitted approximation's.
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) {
    // erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1))
    let term = x;
    let sum = x;
    const x2 = x * x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return 1 - (2 / SQRT_PI) * Math.exp(-x2) * sum;
  }
  if (x > 27) return 0; // below the smallest double
  // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / SQRT_PI / f;
}

/** P(Z > z) for a standard normal Z. */
export function normalSurvival(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/* ------------------------------------------------------------------------------------------ */
/* Mann-Whitney U                                                                              */
/* ------------------------------------------------------------------------------------------ */

/** The outcome of a two-sided Mann-Whitney U test. */
export interface MannWhitneyResult {
  /** U of the first sample: the number of (a, b) pairs with a > b, ties counting one half. */
  u: number;
  /** The standardized statistic, after the continuity correction (≥ 0). */
  z: number;
  /** Two-sided p-value; 1 when every value is tied (no evidence of a difference), NaN when a sample is empty. */
  pValue: number;
  n1: number;
  n2: number;
}

/**
 * Two-sided Mann-Whitney U test with the normal approximation, a tie correction and a
 * continuity correction: what Go's benchstat (golang.org/x/perf) does for samples with ties,
 * and what scipy.stats.mannwhitneyu(a, b, method='asymptotic') computes, whose values the
 * unit tests check against. The approximation is used at every size, so small samples never
 * switch methods between two runs of a CI job.
 *
 * Runs in O(n log n): both samples are sorted, then ranked by one merge.
 */
export function mannWhitneyU(a: ArrayLike<number>, b: ArrayLike<number>): MannWhitneyResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { u: Number.NaN, z: Number.NaN, pValue: Number.NaN, n1, n2 };
  const sa = a instanceof Float64Array && isSorted(a) ? a : sortedCopy(a);
  const sb = b instanceof Float64Array && isSorted(b) ? b : sortedCopy(b);
  // Merge, giving each group of equal values the average of the ranks it spans.
  let i = 0;
  let j = 0;
  let rank = 0; // ranks used so far
  let rankSumA = 0;
  let tieTerm = 0;
  while (i < n1 || j < n2) {
    const v = j >= n2 || (i < n1 && sa[i] <= sb[j]) ? sa[i] : sb[j];
    let ca = 0;
    let cb = 0;
    while (i < n1 && sa[i] === v) {
      i++;
      ca++;
    }
    while (j < n2 && sb[j] === v) {
      j++;
      cb++;
    }
    const t = ca + cb;
    const average = rank + (t + 1) / 2;
    rankSumA += ca * average;
    rank += t;
    if (t > 1) tieTerm += t * t * t - t;
  }
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  if (!(sigma > 0)) return { u, z: 0, pValue: 1, n1, n2 };
  const z = Math.max(0, Math.abs(u - mu) - 0.5) / sigma;
  const pValue = Math.min(1, 2 * normalSurvival(z));
  return { u, z, pValue, n1, n2 };
}

function isSorted(values: ArrayLike<number>): boolean {
  for (let i = 1; i < values.length; i++) if (values[i - 1] > values[i]) return false;
  return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Seeded randomness and the bootstrap                                                         */
/* ------------------------------------------------------------------------------------------ */

/**
 * xoshiro128** seeded through splitmix32: a small, fast generator with good statistical
 * quality, so a bootstrap is reproducible from its seed on every machine and Node version
 * (Math.random cannot be seeded). Returns uniforms in [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  return () => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result / 4294967296;
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A standard normal deviate (Marsaglia's polar method). */
function normal(rng: () => number): number {
  for (;;) {
    const u = 2 * rng() - 1;
    const v = 2 * rng() - 1;
    const s = u * u + v * v;
    if (s > 0 && s < 1) return u * Math.sqrt((-2 * Math.log(s)) / s);
  }
}

/** A Gamma(shape, 1) deviate for shape ≥ 1 (Marsaglia & Tsang, 2000). */
function gamma(shape: number, rng: () => number): number {
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** A Beta(a, b) deviate for a, b ≥ 1. */
function beta(a: number, b: number, rng: () => number): number {
  const x = gamma(a, rng);
  return x / (x + gamma(b, rng));
}

/**
 * The median of one bootstrap resample of `sorted` (n values drawn with replacement), drawn
 * in O(1) instead of O(n). Drawing index ⌊n·U⌋ for n uniforms U and sorting them is the same as
 * sorting the uniforms first, and the k-th smallest of n uniforms follows Beta(k, n − k + 1);
 * given it is u, the next one is u plus (1 − u) times the smallest of n − k uniforms. So the
 * resample's middle order statistics can be drawn directly, with exactly the distribution that
 * resampling every value would give. With 100 000 iterations per step this turns a bootstrap of
 * 10 000 resamples from 10⁹ draws into 4·10⁴.
 */
export function bootstrapMedianDraw(sorted: ArrayLike<number>, rng: () => number): number {
  const n = sorted.length;
  const at = (u: number) => sorted[Math.min(n - 1, Math.floor(n * u))];
  if (n % 2 === 1) {
    const k = (n + 1) / 2;
    return at(beta(k, n - k + 1, rng));
  }
  const k = n / 2;
  const u1 = beta(k, n - k + 1, rng);
  const u2 = u1 + (1 - u1) * (1 - (1 - rng()) ** (1 / (n - k)));
  return (at(u1) + at(u2)) / 2;
}

/** Bootstrap settings: fixed defaults, so the same runs always give the same interval. */
export interface BootstrapOptions {
  /** Resamples; default BOOTSTRAP_RESAMPLES. */
  resamples?: number;
  /** Confidence level of the interval; default 0.95. */
  confidence?: number;
  /** PRNG seed; default BOOTSTRAP_SEED. */
  seed?: number;
}

/** The fixed, documented number of bootstrap resamples (docs/reports.md). */
export const BOOTSTRAP_RESAMPLES = 10_000;
/** The fixed seed: the interval of two given runs is the same in every report. */
export const BOOTSTRAP_SEED = 20_150_601;

/** A confidence interval of the relative change of the median, candidate vs baseline. */
export interface MedianChangeInterval {
  /** median(candidate) / median(baseline) − 1, from the full samples. */
  estimate: number;
  low: number;
  high: number;
  confidence: number;
  resamples: number;
  seed: number;
}

/**
 * Percentile bootstrap interval of the relative change of the median: each resample draws a
 * baseline median and a candidate median independently (bootstrapMedianDraw) and takes
 * their ratio minus one. NaN bounds when a median is zero or a sample is empty.
 *
 * Both inputs must be sorted ascending.
 */
export function bootstrapMedianChange(
  baseline: ArrayLike<number>,
  candidate: ArrayLike<number>,
  options: BootstrapOptions = {},
): MedianChangeInterval {
  const resamples = options.resamples ?? BOOTSTRAP_RESAMPLES;
  const confidence = options.confidence ?? 0.95;
  const seed = options.seed ?? BOOTSTRAP_SEED;
  const result = { estimate: Number.NaN, low: Number.NaN, high: Number.NaN, confidence, resamples, seed };
  if (baseline.length === 0 || candidate.length === 0) return result;
  const m0 = percentile(baseline, 50);
  if (m0 === 0) return result;
  result.estimate = percentile(candidate, 50) / m0 - 1;
  const rng = seededRandom(seed);
  const ratios = new Float64Array(resamples);
  let kept = 0;
  for (let r = 0; r < resamples; r++) {
    const b = bootstrapMedianDraw(baseline, rng);
    const c = bootstrapMedianDraw(candidate, rng);
    if (b !== 0) ratios[kept++] = c / b - 1;
  }
  const sorted = ratios.subarray(0, kept).sort();
  result.low = percentile(sorted, ((1 - confidence) / 2) * 100);
  result.high = percentile(sorted, ((1 + confidence) / 2) * 100);
  return result;
}

/** Equal-width bins over [lo, hi]; values above hi go into the last bin, below lo into the first. */
export function histogram(values: ArrayLike<number>, lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const width = (hi - lo) / bins;
  for (let i = 0; i < values.length; i++) {
    const k = width > 0 ? Math.floor((values[i] - lo) / width) : 0;
    counts[k < 0 ? 0 : k >= bins ? bins - 1 : k]++;
  }
  return counts;
}
