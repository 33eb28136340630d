/** The metric grammar's error messages say what to write instead (src/core/metric.ts). */
import { describe, expect, it } from 'vitest';
import { parseGate, parseThreshold } from '../../../src/core/metric.js';

describe('metric grammar errors', () => {
  it('suggest p(95) for p95 in a gate or a threshold', () => {
    expect(() => parseGate('duration:p95:+10%')).toThrow(
      'invalid aggregation "p95" (did you mean p(95)?): expected avg, min, med, max, p(N), count or rate',
    );
    expect(() => parseThreshold('P99.9 < 2s')).toThrow(
      /invalid aggregation "P99\.9" \(did you mean p\(99\.9\)\?\)/,
    );
    expect(() => parseThreshold('avgg < 2s')).toThrow(/invalid aggregation "avgg" \(did you mean avg\?\)/);
    expect(() => parseThreshold('median < 2s')).toThrow(
      /^invalid aggregation "median" \(did you mean med\?\)/,
    );
    expect(parseThreshold('p(95) < 2s').aggregation).toEqual({ kind: 'percentile', p: 95, text: 'p(95)' });
  });

  it('call a bad comparison an invalid operator', () => {
    expect(() => parseThreshold('avg << 3')).toThrow(
      'invalid operator "<<" in threshold "avg << 3": expected <, <=, >, >=, ==, !=',
    );
    expect(() => parseThreshold('avg = 3')).toThrow(/^invalid operator "="/);
    expect(() => parseThreshold('avg =< 3')).toThrow(/^invalid operator "=<"/);
    expect(parseThreshold('avg >= 3').op).toBe('>=');
    expect(parseThreshold('count != 0').op).toBe('!=');
  });
});
