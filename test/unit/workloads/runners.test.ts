import { describe, expect, it } from 'vitest';
import { constantRunner } from '../../../src/workloads/runners/constant.js';
import { durationRunner } from '../../../src/workloads/runners/duration.js';
import { rateRunner, scheduleOf } from '../../../src/workloads/runners/rate.js';
import { serialRunner } from '../../../src/workloads/runners/serial.js';
import type { RunnerContext } from '../../../src/workloads/runners/types.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A runner context whose iterations take `ms`, counting concurrency and starts. */
function fakeContext(ms: number, signal = new AbortController().signal) {
  const state = {
    started: 0,
    inFlight: 0,
    maxInFlight: 0,
    missed: 0,
    cancelled: undefined as string | undefined,
    workers: new Set<number>(),
  };
  const cancel = new AbortController();
  const ctx: RunnerContext = {
    signal,
    async runIteration(worker) {
      state.started++;
      state.workers.add(worker);
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      let onAbort = () => {};
      const cancelled = new Promise<void>((r) => {
        onAbort = r;
      });
      cancel.signal.addEventListener('abort', onAbort);
      await Promise.race([pause(ms), cancelled]);
      // Removed, as a real workload does: a listener left per iteration is a leak (Node warns at 11).
      cancel.signal.removeEventListener('abort', onAbort);
      state.inFlight--;
    },
    missed: (n) => {
      state.missed += n;
    },
    cancelInFlight: (reason) => {
      state.cancelled = reason;
      cancel.abort();
    },
  };
  return { ctx, state };
}

describe('runner policies', () => {
  it('constant: exactly times iterations, never more than concurrency at once', async () => {
    const { ctx, state } = fakeContext(5);
    await constantRunner.run({ type: 'constant', times: 30, concurrency: 4 }, ctx);
    expect(state.started).toBe(30);
    expect(state.maxInFlight).toBe(4);
    expect([...state.workers].sort()).toEqual([0, 1, 2, 3]);
  });

  it('serial: one at a time', async () => {
    const { ctx, state } = fakeContext(1);
    await serialRunner.run({ type: 'serial', times: 5 }, ctx);
    expect(state).toMatchObject({ started: 5, maxInFlight: 1 });
  });

  it('constant: stops starting when its signal aborts', async () => {
    const stop = new AbortController();
    const { ctx, state } = fakeContext(10, stop.signal);
    setTimeout(() => stop.abort(), 55);
    await constantRunner.run({ type: 'constant', times: 1000, concurrency: 1 }, ctx);
    expect(state.started).toBeGreaterThan(2);
    expect(state.started).toBeLessThan(10);
  });

  it('duration: keeps concurrency busy until the time is up, then stops on time', async () => {
    const { ctx, state } = fakeContext(20);
    const t0 = performance.now();
    await durationRunner.run({ type: 'duration', duration: '500ms', concurrency: 3 }, ctx);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(500);
    // Generous: other processes share this machine's two cores.
    expect(elapsed).toBeLessThan(750);
    expect(state.maxInFlight).toBe(3);
    expect(state.started).toBeGreaterThan(40); // 75 on an idle machine; timers run late on a busy one
    expect(state.cancelled).toBeUndefined();
  });

  it('duration: cancels iterations still running after graceful_stop', async () => {
    const { ctx, state } = fakeContext(10_000);
    const t0 = performance.now();
    await durationRunner.run(
      { type: 'duration', duration: '100ms', concurrency: 2, graceful_stop: '100ms' },
      ctx,
    );
    expect(performance.now() - t0).toBeLessThan(400);
    expect(state.cancelled).toMatch(/still running 100ms after the step's duration/);
  });

  it('rate: the schedule of a constant rate and of a linear ramp', () => {
    const constant = scheduleOf(200);
    expect(constant(0)).toBe(0);
    expect(constant(200)).toBe(1000);
    // Ramp 0 → 100/s over 2 s: N(t) = 25 t², so 100 starts by 2 s, then 100/s.
    const ramp = scheduleOf({ start: 0, end: 100, duration: '2s' });
    expect(ramp(25)).toBeCloseTo(1000);
    expect(ramp(100)).toBeCloseTo(2000);
    expect(ramp(200)).toBeCloseTo(3000);
    // Ramp down 100 → 0 over 2 s: 100 starts in all, then none.
    const down = scheduleOf({ start: 100, end: 0, duration: 2 });
    expect(down(75)).toBeCloseTo(1000);
    expect(down(99)).toBeLessThan(2000);
    expect(down(100)).toBeUndefined();
    expect(
      rateRunner.planned({ type: 'rate', rps: { start: 0, end: 100, duration: '2s' }, duration: '3s' }),
    ).toBe(200);
    expect(rateRunner.planned({ type: 'rate', rps: 50, duration: '2s' })).toBe(100);
  });

  it('rate: starts on schedule whatever the latency, counting missed starts (open model)', async () => {
    const { ctx, state } = fakeContext(200);
    const t0 = performance.now();
    await rateRunner.run({ type: 'rate', rps: 100, times: 50, max_concurrency: 10 }, ctx);
    // 50 starts scheduled over 490 ms; each holds a slot 200 ms, so about 10 per 200 ms start.
    expect(state.started + state.missed).toBe(50);
    expect(state.maxInFlight).toBe(10);
    expect(state.missed).toBeGreaterThan(15);
    expect(performance.now() - t0).toBeLessThan(900);
  });

  it('rate: a ramp starts slowly, then faster', async () => {
    const starts: number[] = [];
    const t0 = performance.now();
    const { ctx } = fakeContext(1);
    const run = ctx.runIteration;
    ctx.runIteration = (w) => {
      starts.push(performance.now() - t0);
      return run(w);
    };
    await rateRunner.run({ type: 'rate', rps: { start: 10, end: 190, duration: '1s' }, duration: '1s' }, ctx);
    // N(1 s) = (10 + 190) / 2 = 100 starts, a quarter of them in the first half (N(0.5) = 27.5).
    expect(starts.length).toBe(100);
    const firstHalf = starts.filter((t) => t < 500).length;
    // A constant 100/s would start 50 there; timers may run late on a busy machine.
    expect(firstHalf).toBeGreaterThanOrEqual(15);
    expect(firstHalf).toBeLessThanOrEqual(35);
  });
});
