import { describe, expect, it } from 'vitest';
import { counterIncrease, writtenCounterKind } from '../../../src/core/counters.js';

describe('counterIncrease', () => {
  it('is last minus first for a running total that only grows', () => {
    expect(counterIncrease([0, 1, 2, 3], [100, 130, 130, 175])).toBe(75);
  });

  it('reads a decrease as a reset from zero: the new value is all increase (Prometheus)', () => {
    // 100 → 140 (+40), restart, 25 (+25), 60 (+35)
    expect(counterIncrease([0, 1, 2, 3], [100, 140, 25, 60])).toBe(100);
    // A reset to exactly 0 adds nothing, and counting resumes from there.
    expect(counterIncrease([0, 1, 2], [50, 0, 7])).toBe(7);
  });

  it('puts points in time order first, whatever order they come in', () => {
    // In time order: 10, 20, 5 (reset), 15 → +10 +5 +10 = 25.
    expect(counterIncrease([3, 0, 2, 1], [15, 10, 5, 20])).toBe(25);
    // The same values at increasing times read as two resets: +10 +5 +15.
    expect(counterIncrease([0, 1, 2, 3], [15, 10, 5, 20])).toBe(30);
  });

  it('takes nanosecond bigint times as well', () => {
    expect(counterIncrease([2_000_000_000n, 1_000_000_000n, 3_000_000_000n], [30, 10, 31])).toBe(21);
  });

  it('is 0 for fewer than two points', () => {
    expect(counterIncrease([], [])).toBe(0);
    expect(counterIncrease([5], [1234])).toBe(0);
  });
});

describe('writtenCounterKind', () => {
  it('turns cumulative fields into interval ones under counters: delta, and nothing else', () => {
    expect(writtenCounterKind('cumulative', undefined)).toBe('cumulative');
    expect(writtenCounterKind('cumulative', 'cumulative')).toBe('cumulative');
    expect(writtenCounterKind('cumulative', 'delta')).toBe('interval');
    expect(writtenCounterKind('interval', 'delta')).toBe('interval');
    expect(writtenCounterKind(undefined, 'delta')).toBeUndefined();
  });
});
