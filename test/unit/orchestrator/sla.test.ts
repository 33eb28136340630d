import { describe, expect, it } from 'vitest';
import { evaluateSla, type StepOutcome } from '../../../src/orchestrator/sla.js';
import { durationStats } from '../../../src/report/stats.js';
import type { SlaSpec } from '../../../src/scenario/types.js';

function outcome(ok: number[], failures = 0, extra: Partial<StepOutcome> = {}): StepOutcome {
  return {
    iterations: ok.length + failures,
    failures,
    duration: durationStats(ok),
    successDurations: ok,
    maxAnyDurationMs: Math.max(0, ...ok),
    ...extra,
  };
}

function one(sla: SlaSpec, step: StepOutcome) {
  const results = evaluateSla(sla, step);
  expect(results).toHaveLength(1);
  return results[0];
}

describe('Rally SLA criteria', () => {
  it('failure_rate: percent of failed iterations within [min, max]', () => {
    expect(one({ failure_rate: { max: 25 } }, outcome([1, 1, 1], 1)).success).toBe(true);
    const r = one({ failure_rate: { max: 20 } }, outcome([1, 1, 1], 1));
    expect(r).toMatchObject({ criterion: 'failure_rate', success: false, value: 25 });
    expect(r.detail).toBe('failure rate 25.0% (1/4); allowed 0%–20%');
    expect(one({ failure_rate: { min: 50 } }, outcome([1, 1, 1], 1)).success).toBe(false);
  });

  it('max_avg_duration: the average of successful iterations', () => {
    expect(one({ max_avg_duration: '2s' }, outcome([1000, 3000])).success).toBe(true);
    expect(one({ max_avg_duration: 1.9 }, outcome([1000, 3000]))).toMatchObject({
      success: false,
      value: 2000,
    });
    expect(one({ max_avg_duration: '1s' }, outcome([], 3)).detail).toBe('no successful iteration to average');
  });

  it('max_seconds_per_iteration: every iteration, failed ones included (as Rally)', () => {
    expect(one({ max_seconds_per_iteration: 3 }, outcome([1000, 3000])).success).toBe(true);
    const r = one({ max_seconds_per_iteration: 2 }, outcome([1000], 1, { maxAnyDurationMs: 2500 }));
    expect(r).toMatchObject({ criterion: 'max_seconds_per_iteration', success: false });
    expect(r.detail).toBe('slowest iteration 2.50s; allowed at most 2.00s');
  });

  it('max_avg_duration_per_atomic: per action, within successful iterations', () => {
    const atomic = new Map([
      ['login', [100, 200]],
      ['boot', [1000, 3000]],
    ]);
    expect(
      one({ max_avg_duration_per_atomic: { login: '150ms', boot: 2 } }, outcome([1], 0, { atomic })).success,
    ).toBe(true);
    const r = one({ max_avg_duration_per_atomic: { login: '100ms', boot: 2 } }, outcome([1], 0, { atomic }));
    expect(r).toMatchObject({ criterion: 'max_avg_duration_per_atomic', success: false });
    expect(r.detail).toBe('login average 150ms (at most 100ms)');
    expect(one({ max_avg_duration_per_atomic: { other: 1 } }, outcome([1], 0, { atomic })).success).toBe(
      false,
    );
  });

  it('outliers: iterations slower than mean + sigmas × stddev, exactly', () => {
    const steady = [100, 101, 99, 100, 102, 98, 100, 101, 99, 100];
    expect(one({ outliers: { max: 0 } }, outcome(steady)).success).toBe(true);
    const withSpike = [...steady, 100, 99, 101, 100, 100, 100, 99, 101, 100, 100, 1000];
    const r = one({ outliers: { max: 0, sigmas: 3 } }, outcome(withSpike));
    expect(r).toMatchObject({ criterion: 'outliers', success: false, value: 1 });
    expect(one({ outliers: { max: 1 } }, outcome(withSpike)).success).toBe(true);
    // Too few iterations: not checked, as in Rally.
    expect(one({ outliers: { min_iterations: 50 } }, outcome(withSpike)).detail).toMatch(
      /fewer than min_iterations 50/,
    );
  });

  it('performance_degradation: slowest over fastest, in percent', () => {
    expect(one({ performance_degradation: { max_degradation: 50 } }, outcome([100, 140, 120])).success).toBe(
      true,
    );
    const r = one({ performance_degradation: { max_degradation: 30 } }, outcome([100, 140, 120]));
    expect(r).toMatchObject({ criterion: 'performance_degradation', success: false });
    expect(r.value).toBeCloseTo(40);
  });

  it('no SLA, no results', () => {
    expect(evaluateSla(undefined, outcome([1]))).toEqual([]);
  });
});
