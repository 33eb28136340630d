import { describe, expect, it } from 'vitest';
import { nowNs, perfToNs } from '../../../src/core/sample.js';
import { LineBytes } from '../../../src/store/line-bytes.js';

describe('performance.now() readings as timestamps', () => {
  it('are on the clock of nowNs()', () => {
    const before = nowNs();
    const reading = perfToNs(performance.now());
    const after = nowNs();
    // The origin is taken from two reads a few hundred nanoseconds apart.
    expect(reading).toBeGreaterThanOrEqual(before - 10_000n);
    expect(reading).toBeLessThanOrEqual(after + 10_000n);
  });

  it('are written as bytes with the digits of the BigInt, for readings across the range', () => {
    const readings = [
      0,
      1e-6,
      0.0004,
      999.999999,
      1000,
      performance.now(),
      86_400_000.123456,
      // Around the 2^53 ns the double path is exact to (104 days of uptime).
      9_007_199_000,
      9_007_199_254.740992,
      9_100_000_000.5,
      1e12,
    ];
    for (let i = 0; i < 2000; i++) readings.push(Math.random() * 10 ** (Math.random() * 12));
    for (const ms of readings) {
      const out = new LineBytes(16);
      out.perfTime(ms);
      expect(out.take().toString('latin1'), `reading ${ms}`).toBe(String(perfToNs(ms)));
    }
  });
});
