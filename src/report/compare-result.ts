/**
 * The result of `scalpels compare`: per step, each candidate's iteration durations against the
 * baseline's, and the gates. The JSON output is this object; JUnit and Markdown render it.
 */
import {
  compareDistributions,
  DEFAULT_ALPHA,
  type DistributionComparison,
  matchSteps,
  type Verdict,
} from './compare.js';
import type { GateResult } from './gates.js';
import type { RunData } from './run-data.js';
import { BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, percentile } from './stats.js';

/** One candidate's step against the baseline's. */
export interface StepComparison {
  run: string;
  iterations: number;
  failures: number;
  median: number;
  p95: number;
  verdict: Verdict;
  pValue: number;
  /** Relative change of the median (0.1 = +10 %) and its bootstrap interval. */
  medianChange: number;
  ciLow: number;
  ciHigh: number;
}

/** Everything `compare` decided. */
export interface CompareResult {
  scenario: string;
  baseline: string;
  candidates: string[];
  alpha: number;
  bootstrap: { resamples: number; seed: number; confidence: number };
  steps: {
    name: string;
    baseline: { iterations: number; failures: number; median: number; p95: number } | null;
    candidates: (StepComparison | null)[];
  }[];
  unmatched: { name: string; presentIn: string[]; missingFrom: string[] }[];
  gates: GateResult[];
  /** Gates that failed; 0 means exit code 0. */
  failed: number;
  passed: boolean;
}

/** Builds the comparison of runs[1..] against runs[0]. */
export function buildCompareResult(
  runs: RunData[],
  gates: GateResult[],
  alpha = DEFAULT_ALPHA,
): CompareResult {
  const matching = matchSteps(runs);
  const [base, ...cands] = runs;
  const steps = matching.names.map((name) => {
    const b = base.iterations.get(name);
    const inBase = matching.index.get(name)![0] !== undefined;
    return {
      name,
      baseline:
        inBase && b
          ? {
              iterations: b.count,
              failures: b.failures,
              median: percentile(b.okSorted, 50),
              p95: percentile(b.okSorted, 95),
            }
          : null,
      candidates: cands.map((cand, k) => {
        const c = cand.iterations.get(name);
        if (matching.index.get(name)![k + 1] === undefined || !c) return null;
        const cmp: DistributionComparison | undefined =
          b && inBase ? compareDistributions(b.okSorted, c.okSorted, alpha) : undefined;
        return {
          run: cand.record.id,
          iterations: c.count,
          failures: c.failures,
          median: percentile(c.okSorted, 50),
          p95: percentile(c.okSorted, 95),
          verdict: cmp?.verdict ?? 'n/a',
          pValue: cmp?.mwu.pValue ?? Number.NaN,
          medianChange: cmp?.interval.estimate ?? Number.NaN,
          ciLow: cmp?.interval.low ?? Number.NaN,
          ciHigh: cmp?.interval.high ?? Number.NaN,
        };
      }),
    };
  });
  const failed = gates.filter((g) => g.status === 'fail').length;
  return {
    scenario: base.record.scenario.name,
    baseline: base.record.id,
    candidates: cands.map((c) => c.record.id),
    alpha,
    bootstrap: { resamples: BOOTSTRAP_RESAMPLES, seed: BOOTSTRAP_SEED, confidence: 0.95 },
    steps,
    unmatched: matching.unmatched,
    gates,
    failed,
    passed: failed === 0,
  };
}

/** JSON with NaN and ±Infinity as null (JSON has neither). */
export function compareResultJson(result: CompareResult): string {
  return JSON.stringify(result, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}
