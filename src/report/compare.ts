/**
 * Comparison of runs: steps matched by name, iteration durations classified with a
 * Mann-Whitney U test and a bootstrap interval, single numbers with a tolerance.
 */
import type { RunData } from './run-data.js';
import {
  bootstrapMedianChange,
  type MannWhitneyResult,
  type MedianChangeInterval,
  mannWhitneyU,
  percentile,
} from './stats.js';

/** The significance level of every test (benchstat's default). */
export const DEFAULT_ALPHA = 0.05;
/** The tolerance of single numbers per step (tracer aggregates, failure and iteration rates), in percent. */
export const DEFAULT_TOLERANCE_PCT = 10;

/** Steps by name across runs. */
export interface StepMatching {
  /** Every step name, in the baseline's order, then the others' new names in their order. */
  names: string[];
  /** For each name, the index of the step in each run (undefined where a run lacks it). */
  index: Map<string, (number | undefined)[]>;
  /** Names missing from at least one run, with the ids of the runs that have them. */
  unmatched: { name: string; presentIn: string[]; missingFrom: string[] }[];
}

/** Matches steps by name; a step in only some runs is listed as unmatched, never dropped. */
export function matchSteps(runs: RunData[]): StepMatching {
  const names: string[] = [];
  const index = new Map<string, (number | undefined)[]>();
  runs.forEach((run, r) => {
    run.steps.forEach((step, i) => {
      let row = index.get(step.name);
      if (!row) {
        row = new Array(runs.length).fill(undefined);
        index.set(step.name, row);
        names.push(step.name);
      }
      // A name repeated within one run keeps its first occurrence.
      if (row[r] === undefined) row[r] = i;
    });
  });
  const unmatched = names
    .filter((n) => index.get(n)!.some((i) => i === undefined))
    .map((name) => {
      const row = index.get(name)!;
      return {
        name,
        presentIn: runs.filter((_, r) => row[r] !== undefined).map((run) => run.record.id),
        missingFrom: runs.filter((_, r) => row[r] === undefined).map((run) => run.record.id),
      };
    });
  return { names, index, unmatched };
}

/** better / worse / no significant change, or n/a when there is nothing to compare. */
export type Verdict = 'better' | 'worse' | 'same' | 'n/a';

/** Candidate vs baseline iteration durations (successful iterations). */
export interface DistributionComparison {
  baselineMedian: number;
  candidateMedian: number;
  mwu: MannWhitneyResult;
  interval: MedianChangeInterval;
  alpha: number;
  /** Lower durations are better. */
  verdict: Verdict;
}

/**
 * Classifies a change of durations as benchstat does: significant when the Mann-Whitney
 * p-value is below alpha, and then better or worse by the side the candidate's values lie on
 * (U below its mean: the candidate tends to be slower). The bootstrap interval says how big.
 *
 * Both inputs must be sorted ascending.
 */
export function compareDistributions(
  baseline: Float64Array,
  candidate: Float64Array,
  alpha = DEFAULT_ALPHA,
): DistributionComparison {
  const mwu = mannWhitneyU(baseline, candidate);
  const interval = bootstrapMedianChange(baseline, candidate);
  let verdict: Verdict = 'n/a';
  if (baseline.length > 0 && candidate.length > 0) {
    if (!(mwu.pValue < alpha)) verdict = 'same';
    else verdict = mwu.u > (mwu.n1 * mwu.n2) / 2 ? 'better' : 'worse';
  }
  return {
    baselineMedian: percentile(baseline, 50),
    candidateMedian: percentile(candidate, 50),
    mwu,
    interval,
    alpha,
    verdict,
  };
}

/** higher / lower beyond the tolerance, or within it. */
export type ToleranceClass = 'higher' | 'lower' | 'within' | 'n/a';

/** Relative change in percent; ±Infinity from zero, NaN when either value is missing. */
export function relativeChangePct(baseline: number, candidate: number): number {
  if (!Number.isFinite(baseline) || !Number.isFinite(candidate)) return Number.NaN;
  if (baseline === 0)
    return candidate === 0 ? 0 : candidate > 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  return ((candidate - baseline) / Math.abs(baseline)) * 100;
}

/** A single number per step against its baseline, with a tolerance in percent (no test: one value each). */
export function classifyByTolerance(
  baseline: number,
  candidate: number,
  tolerancePct = DEFAULT_TOLERANCE_PCT,
): { changePct: number; cls: ToleranceClass } {
  const changePct = relativeChangePct(baseline, candidate);
  if (Number.isNaN(changePct)) return { changePct, cls: 'n/a' };
  return {
    changePct,
    cls: changePct > tolerancePct ? 'higher' : changePct < -tolerancePct ? 'lower' : 'within',
  };
}
