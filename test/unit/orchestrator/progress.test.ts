import { describe, expect, it } from 'vitest';
import { createProgress, nthSmallest } from '../../../src/cli/progress.js';
import type { StepRecord } from '../../../src/store/run-record.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function record(extra: Partial<StepRecord> = {}): StepRecord {
  return {
    name: 's',
    startedAt: '',
    startNs: '0',
    workload: 'http',
    runner: 'r',
    iterations: 10,
    failures: 1,
    sla: [],
    errors: [],
    ...extra,
  };
}

describe('progress', () => {
  it('picks quantiles as sorting would, without sorting', () => {
    for (const n of [1, 2, 3, 10, 101, 10_000]) {
      // Ties included: durations of a fast step repeat.
      const values = Array.from({ length: n }, () => Math.round(Math.random() * 50) / 10);
      const sorted = [...values].sort((a, b) => a - b);
      for (const k of [0, Math.floor(n / 2), Math.floor(n * 0.95), n - 1])
        expect(nthSmallest(Float64Array.from(values), k), `n ${n}, k ${k}`).toBe(sorted[k]);
    }
  });

  it('plain (CI): a line at start, every few seconds with done/total, rate, p50/p95, failures, and at the end', async () => {
    const out: string[] = [];
    const p = createProgress({ live: false, write: (t) => out.push(t), plainEveryMs: 50 });
    p.stepStarted!({ name: 's', index: 0, planned: 100, runner: 'constant ×100, concurrency 2' });
    for (let i = 1; i <= 10; i++)
      p.iterationEnded!({ step: 's', done: i, failures: i > 9 ? 1 : 0, durationMs: i * 10, ok: i <= 9 });
    await pause(80);
    p.stepEnded!(
      record({
        throughput: 12.5,
        warmup: 2,
        missed: 3,
        duration: { count: 9, min: 10, mean: 50, median: 50, p90: 80, p95: 85, p99: 89, max: 90, stddev: 1 },
      }),
    );
    expect(out[0]).toBe('step s: started (constant ×100, concurrency 2)\n');
    expect(out[1]).toMatch(/^step s: 10\/100, \d+\.\d\/s, p50 50\.0ms, p95 90\.0ms, 1 failed\n$/);
    expect(out.at(-1)).toMatch(
      /^step s: ok, 10 iterations, 1 failed, median 50\.0ms, 2 warmup, 12\.5\/s, 3 missed starts \([\d.]+ms\)\n$/,
    );
    expect(out.join('')).not.toContain('\x1b[');
  });

  it('live (terminal): one redrawn line, elapsed/duration for a time-bound runner, missed starts', async () => {
    const out: string[] = [];
    const p = createProgress({ live: true, write: (t) => out.push(t), liveEveryMs: 20 });
    p.stepStarted!({ name: 's', index: 0, durationMs: 30_000, runner: 'rate' });
    p.iterationEnded!({ step: 's', done: 1, failures: 0, durationMs: 5, ok: true, missed: 4 });
    await pause(70);
    p.stepEnded!(
      record({
        sla: [
          { criterion: 'threshold duration: p(95) < 1ms', success: false, detail: '', kind: 'threshold' },
        ],
      }),
    );
    const live = out.filter((l) => l.startsWith('\r\x1b[2Kstep s: '));
    expect(live.length).toBeGreaterThan(1);
    expect(live[0]).toMatch(
      /^\r\x1b\[2Kstep s: [\d.]+ms\/30\.00s, 1 done, .*, p50 5\.00ms, p95 5\.00ms, 0 failed, 4 missed$/,
    );
    expect(out.at(-1)).toMatch(/^\r\x1b\[2Kstep s: THRESHOLDS FAILED, 10 iterations/);
  });
});
