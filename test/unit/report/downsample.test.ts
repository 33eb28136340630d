import { describe, expect, it } from 'vitest';
import { inFlight, minMaxDownsample } from '../../../src/report/downsample.js';

describe('minMaxDownsample', () => {
  it('returns small inputs sorted and whole, without NaN', () => {
    expect(minMaxDownsample([3, 1, 2], [30, Number.NaN, 20], 10)).toEqual({ x: [2, 3], y: [20, 30] });
  });

  it('keeps every spike and dip of a large series within 2 points per bucket', () => {
    const n = 100_000;
    const x = Float64Array.from({ length: n }, (_, i) => i);
    const y = Float64Array.from({ length: n }, (_, i) => Math.sin(i / 1000));
    y[12_345] = 50;
    y[67_890] = -50;
    const d = minMaxDownsample(x, y, 100);
    expect(d.x.length).toBeLessThanOrEqual(200);
    expect(d.y).toContain(50);
    expect(d.y).toContain(-50);
    expect(d.x).toEqual([...d.x].sort((a, b) => a - b));
  });

  it('considers only the rows `include` selects', () => {
    const d = minMaxDownsample([0, 1, 2, 3], [5, 6, 7, 8], 10, (i) => i >= 2);
    expect(d).toEqual({ x: [2, 3], y: [7, 8] });
  });
});

describe('inFlight', () => {
  it('counts overlapping iterations, ends before starts at the same instant', () => {
    // [0,10) and [5,15) overlap; [10,20) starts when the first ends.
    const p = inFlight([0, 5, 10], [10, 10, 10], 100);
    expect(p.x).toEqual([0, 5, 10, 15, 20]);
    expect(p.y).toEqual([1, 2, 2, 1, 0]);
  });

  it('keeps the peak per bucket when reducing', () => {
    const n = 10_000;
    const start = Float64Array.from({ length: n }, (_, i) => i * 10);
    const duration = Float64Array.from({ length: n }, (_, i) => (i === 5000 ? 100 : 5));
    const p = inFlight(start, duration, 50);
    expect(p.x.length).toBeLessThanOrEqual(51);
    expect(Math.max(...p.y)).toBe(2);
  });
});
