import { formatDuration, parseDuration } from '../core/duration.js';
import { mean, stddev } from '../report/stats.js';
import type { SlaSpec } from '../scenario/types.js';
import type { DurationStats, SlaResult } from '../store/run-record.js';

/** What the SLA criteria look at: a step's measured iterations (warmup and interrupted ones left out). */
export interface StepOutcome {
  iterations: number;
  failures: number;
  /** Stats of successful iterations' durations, ms. */
  duration?: DurationStats;
  /** Durations of successful iterations, ms. */
  successDurations?: readonly number[];
  /** Longest duration of any iteration, failed ones included, ms (Rally's max_seconds_per_iteration). */
  maxAnyDurationMs?: number;
  /** Per atomic action: its durations within successful iterations, ms (as Rally's per-atomic average). */
  atomic?: ReadonlyMap<string, readonly number[]>;
}

/**
 * Rally's SLA criteria, evaluated at the end of a step, with Rally's semantics: failure
 * rates and degradation in percent; durations of successful iterations, except
 * max_seconds_per_iteration, which bounds every iteration. Where Rally approximates with
 * streaming statistics (outliers), this computes exactly from every duration.
 */
export function evaluateSla(sla: SlaSpec | undefined, step: StepOutcome): SlaResult[] {
  if (!sla) return [];
  const results: SlaResult[] = [];
  const push = (criterion: string, success: boolean, detail: string, value?: number) =>
    results.push({ criterion, success, detail, kind: 'sla', value });
  const ok = step.successDurations;

  if (sla.failure_rate) {
    const rate = step.iterations === 0 ? 0 : (step.failures / step.iterations) * 100;
    const { min = 0, max = 100 } = sla.failure_rate;
    push(
      'failure_rate',
      rate >= min && rate <= max,
      `failure rate ${rate.toFixed(1)}% (${step.failures}/${step.iterations}); allowed ${min}%–${max}%`,
      rate,
    );
  }
  if (sla.max_avg_duration !== undefined) {
    const limit = parseDuration(sla.max_avg_duration);
    const avg = step.duration?.mean;
    push(
      'max_avg_duration',
      avg !== undefined && avg <= limit,
      avg === undefined
        ? 'no successful iteration to average'
        : `average ${formatDuration(avg)}; allowed at most ${formatDuration(limit)}`,
      avg,
    );
  }
  if (sla.max_seconds_per_iteration !== undefined) {
    const limit = sla.max_seconds_per_iteration * 1000;
    const max = step.maxAnyDurationMs ?? step.duration?.max;
    push(
      'max_seconds_per_iteration',
      max === undefined || max <= limit,
      max === undefined
        ? 'no iteration'
        : `slowest iteration ${formatDuration(max)}; allowed at most ${formatDuration(limit)}`,
      max,
    );
  }
  if (sla.max_avg_duration_per_atomic) {
    const over: string[] = [];
    const seen: string[] = [];
    for (const [action, limitSpec] of Object.entries(sla.max_avg_duration_per_atomic)) {
      const limit = parseDuration(limitSpec);
      const values = step.atomic?.get(action) ?? [];
      if (values.length === 0) {
        over.push(`${action}: no successful iteration ran it`);
        continue;
      }
      const avg = mean(values);
      const text = `${action} average ${formatDuration(avg)} (at most ${formatDuration(limit)})`;
      if (avg > limit) over.push(text);
      else seen.push(text);
    }
    push('max_avg_duration_per_atomic', over.length === 0, over.length ? over.join('; ') : seen.join('; '));
  }
  if (sla.outliers) {
    const { max = 0, min_iterations: minIterations = 3, sigmas = 3 } = sla.outliers;
    const values = ok ?? [];
    if (values.length < minIterations) {
      push(
        'outliers',
        true,
        `${values.length} successful iterations, fewer than min_iterations ${minIterations}: not checked`,
        0,
      );
    } else {
      const limit = mean(values) + sigmas * stddev(values);
      const outliers = values.filter((v) => v > limit).length;
      push(
        'outliers',
        outliers <= max,
        `${outliers} iteration${outliers === 1 ? '' : 's'} slower than mean + ${sigmas}σ (${formatDuration(limit)}); allowed ${max}`,
        outliers,
      );
    }
  }
  if (sla.performance_degradation) {
    const limit = sla.performance_degradation.max_degradation;
    const values = ok ?? [];
    if (values.length === 0) {
      push('performance_degradation', true, 'no successful iteration: not checked');
    } else {
      // A loop, not Math.min(...values): a long step has more values than a call has arguments.
      let lo = values[0];
      let hi = values[0];
      for (const v of values) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const degradation = lo > 0 ? (hi / lo - 1) * 100 : 0;
      push(
        'performance_degradation',
        degradation <= limit,
        `slowest ${formatDuration(hi)} is ${degradation.toFixed(1)}% above the fastest ${formatDuration(lo)}; allowed ${limit}%`,
        degradation,
      );
    }
  }
  return results;
}
