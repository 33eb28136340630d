import { formatDuration, parseDuration } from '../core/duration.js';
import type { SlaSpec } from '../scenario/types.js';
import type { DurationStats, SlaResult } from '../store/run-record.js';

export interface StepOutcome {
  iterations: number;
  failures: number;
  /** Stats of successful iterations' durations, ms. */
  duration?: DurationStats;
}

/**
 * Rally's SLA criteria, evaluated at the end of a step. Failure rates are percentages, as
 * in Rally; durations of successful iterations only, as in Rally's max_avg_duration.
 */
export function evaluateSla(sla: SlaSpec | undefined, step: StepOutcome): SlaResult[] {
  if (!sla) return [];
  const results: SlaResult[] = [];
  if (sla.failure_rate) {
    const rate = step.iterations === 0 ? 0 : (step.failures / step.iterations) * 100;
    const { min = 0, max = 100 } = sla.failure_rate;
    results.push({
      criterion: 'failure_rate',
      success: rate >= min && rate <= max,
      detail: `failure rate ${rate.toFixed(1)}% (${step.failures}/${step.iterations}); allowed ${min}%–${max}%`,
    });
  }
  if (sla.max_avg_duration !== undefined) {
    const limit = parseDuration(sla.max_avg_duration);
    const avg = step.duration?.mean;
    results.push({
      criterion: 'max_avg_duration',
      success: avg !== undefined && avg <= limit,
      detail:
        avg === undefined
          ? 'no successful iteration to average'
          : `average ${formatDuration(avg)}; allowed at most ${formatDuration(limit)}`,
    });
  }
  if (sla.max_seconds_per_iteration !== undefined) {
    const limit = sla.max_seconds_per_iteration * 1000;
    const max = step.duration?.max;
    results.push({
      criterion: 'max_seconds_per_iteration',
      success: max === undefined || max <= limit,
      detail: max === undefined ? 'no successful iteration' : `slowest ${formatDuration(max)}; allowed at most ${formatDuration(limit)}`,
    });
  }
  return results;
}
