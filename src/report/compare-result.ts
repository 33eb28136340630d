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
import { type GateProblem, type GateResult, gateProblems } from './gates.js';
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
  /** The baseline's scenario. */
  scenario: string;
  /** Every run's scenario, baseline first, once each: more than one only with allowDifferentScenarios. */
  scenarios: string[];
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
  /** Gate checks evaluated (passed or failed), and those skipped (no data to judge). */
  checked: number;
  skipped: number;
  /** Gate checks that failed. */
  failed: number;
  /** Why the gates cannot pass besides failed checks: candidates that did not finish. */
  problems: GateProblem[];
  /** True when there are no gates, or no check failed and every candidate finished: exit code 0. */
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
  const skipped = gates.filter((g) => g.status === 'skipped').length;
  const problems = gates.length > 0 ? gateProblems(runs) : [];
  return {
    scenario: base.record.scenario.name,
    scenarios: [...new Set(runs.map((r) => r.record.scenario.name))],
    baseline: base.record.id,
    candidates: cands.map((c) => c.record.id),
    alpha,
    bootstrap: { resamples: BOOTSTRAP_RESAMPLES, seed: BOOTSTRAP_SEED, confidence: 0.95 },
    steps,
    unmatched: matching.unmatched,
    gates,
    checked: gates.length - skipped,
    skipped,
    failed,
    problems,
    passed: failed === 0 && problems.length === 0,
  };
}

/**
 * One sentence on the gates for a terminal, a CI log or a Markdown heading: never "passed" for
 * checks that were skipped, and the reason when the gates cannot pass without a failed check.
 */
export function gateSummary(result: CompareResult): string {
  const { gates, checked, skipped, failed, problems } = result;
  if (gates.length === 0) return 'No gates.';
  const failedSteps = [...new Set(gates.filter((g) => g.status === 'fail').map((g) => g.step))];
  if (problems.length > 0) {
    const counts = `${checked} checked, ${failed} failed, ${skipped} skipped`;
    return `Gates not passed: ${problems.map((p) => p.message).join('; ')} (${counts}).`;
  }
  const skips = skipped > 0 ? `; ${skipped} skipped` : '';
  if (failed > 0)
    return `${failed} of ${checked} gate checks failed (steps: ${failedSteps.join(', ')})${skips}.`;
  if (skipped > 0) return `Gates passed: ${checked} checked${skips}.`;
  return `All ${checked} gate checks passed.`;
}

/** JSON with NaN and ±Infinity as null (JSON has neither). */
export function compareResultJson(result: CompareResult): string {
  return JSON.stringify(result, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}
