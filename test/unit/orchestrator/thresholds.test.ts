import { describe, expect, it } from 'vitest';
import {
  compileThresholds,
  evaluateThresholds,
  SeriesTap,
  type WorkloadData,
} from '../../../src/orchestrator/thresholds.js';
import type { MetricCatalog } from '../../../src/scenario/metrics.js';
import { resolveSeries } from '../../../src/scenario/metrics.js';
import { tracerRegistry } from '../../../src/tracers/index.js';

const catalog: MetricCatalog = {
  actions: ['login'],
  tracers: ['proc', 'process'].map((name) => ({
    name,
    measurements: tracerRegistry.get(name)!.manifest.measurements,
  })),
};

/** 10 s window, 100 iterations of 1..100 ms (all ok but 4 failed ones), one per 100 ms. */
function data(): WorkloadData {
  const durations = Array.from({ length: 96 }, (_, i) => i + 1);
  return {
    durations,
    iterations: 100,
    failures: 4,
    completions: Array.from({ length: 100 }, (_, i) => i * 100 + 50),
    windowMs: 10_000,
    actions: new Map([['login', { durations: [10, 20, 30], failures: 1 }]]),
  };
}

function check(
  metric: string,
  threshold: string,
  series: Parameters<typeof evaluateThresholds>[2] = () => [],
) {
  const [result] = evaluateThresholds(compileThresholds({ [metric]: [threshold] }, catalog), data(), series);
  return result;
}

describe('threshold aggregations (passing and failing case each)', () => {
  const cases: [string, string, string, string][] = [
    // metric, passing, failing, expected detail of the failing one
    ['duration', 'avg < 49ms', 'avg < 48ms', 'avg = 48.5ms'],
    ['duration', 'min >= 1', 'min > 1', 'min = 1.00ms'],
    ['duration', 'med <= 48.5', 'med < 48', 'med = 48.5ms'],
    ['duration', 'max == 96', 'max < 96', 'max = 96.0ms'],
    ['duration', 'p(95) < 1s', 'p(95) < 50ms', 'p(95) = 91.3ms'],
    ['duration', 'count == 96', 'count > 96', 'count = 96'],
    ['duration', 'rate > 9', 'rate > 10', 'rate = 9.60/s'],
    ['failure_rate', 'rate < 5%', 'rate < 4', 'rate = 4.00%'],
    ['failure_rate', 'count <= 4', 'count < 4', 'count = 4'],
    ['rate', 'rate >= 10', 'rate > 10', 'rate = 10.00/s'],
    ['rate', 'min >= 10', 'min > 10', 'min = 10.00/s'],
    ['rate', 'count == 100', 'count < 100', 'count = 100'],
    ['action.login', 'avg == 20', 'p(50) > 20', 'p(50) = 20.0ms'],
  ];
  for (const [metric, pass, fail, detail] of cases) {
    it(`${metric}: ${pass} passes, ${fail} fails`, () => {
      expect(check(metric, pass).success).toBe(true);
      const r = check(metric, fail);
      expect(r).toMatchObject({
        success: false,
        kind: 'threshold',
        criterion: `threshold ${metric}: ${fail}`,
        detail,
      });
    });
  }

  it('tracer metrics: avg, max, p(N), count and counter rate over the tapped samples', () => {
    const ns = (s: number) => BigInt(s * 1e9);
    const points = [
      { time: ns(0), value: 10, tags: { host: 'a', cpu: 'cpu-total' } },
      { time: ns(1), value: 30, tags: { host: 'a', cpu: 'cpu-total' } },
      { time: ns(2), value: 50, tags: { host: 'a', cpu: 'cpu-total' } },
    ];
    const series = () => points;
    expect(check('cpu.usage_active', 'avg < 31', series).success).toBe(true);
    expect(check('cpu.usage_active', 'avg < 30', series).detail).toBe('avg = 30');
    expect(check('cpu.usage_active', 'max <= 50', series).success).toBe(true);
    expect(check('cpu.usage_active', 'count == 3', series).success).toBe(true);
    // rate: the increase per second of a counter (50 - 10 over 2 s).
    expect(check('cpu.usage_active', 'rate == 20', series).success).toBe(true);
    expect(check('cpu.usage_active', 'rate < 20', series).detail).toBe('rate = 20/s');
  });

  it('a metric with no data fails (a count is 0)', () => {
    expect(check('cpu.usage_active', 'avg < 100')).toMatchObject({ success: false, detail: 'avg = no data' });
    expect(check('cpu.usage_active', 'count == 0').success).toBe(true);
  });

  it('abort_on_fail and its delay are compiled', () => {
    const [t] = compileThresholds(
      { duration: [{ threshold: 'p(95) < 1s', abort_on_fail: true, delay_abort_eval: '10s' }] },
      catalog,
    );
    expect(t).toMatchObject({ abortOnFail: true, delayMs: 10_000, label: 'duration: p(95) < 1s' });
  });
});

describe('tracer metric names', () => {
  const series = (text: string) => {
    const [measurement, field] = [
      text.slice(0, text.lastIndexOf('.')),
      text.slice(text.lastIndexOf('.') + 1),
    ];
    return resolveSeries({ kind: 'series', measurement, field, tags: {}, text }, catalog);
  };
  it('accepts measurement.field, tracer.measurement.field and tracer.field', () => {
    expect(series('cpu.usage_active')).toMatchObject({ measurement: 'cpu', field: 'usage_active', tags: {} });
    expect(series('proc.cpu.usage_active')).toMatchObject({
      measurement: 'cpu',
      field: 'usage_active',
      tags: { tracer: 'proc' },
    });
    expect(series('process.cpu_usage')).toMatchObject({
      measurement: 'procstat',
      field: 'cpu_usage',
      tags: { tracer: 'process' },
    });
  });
  it('says what is wrong, with a suggestion', () => {
    expect(series('cpu.usage_activ')).toMatch(
      /measurement cpu has no field "usage_activ" \(did you mean "usage_active"\?\)/,
    );
    expect(series('cpus.usage_active')).toMatch(
      /no tracer attached to this step or the run writes measurement "cpus" \(did you mean "cpu"\?\)/,
    );
    expect(series('proc.cpux.usage_active')).toMatch(/tracer proc writes no measurement "cpux"/);
  });
});

describe('SeriesTap', () => {
  it("keeps a step's own samples and run-level samples within the step's window", async () => {
    const tap = new SeriesTap();
    const written: unknown[] = [];
    const sink = tap.wrap({ write: (s) => written.push(...s), flush: async () => {} });
    const [ref] = compileThresholds({ 'cpu.usage_active{cpu=cpu-total}': ['avg < 1'] }, catalog).map(
      (t) => t.series!,
    );
    const watch = tap.watch('busy', [ref], 100n);
    const sample = (time: bigint, tags: Record<string, string>, value = 1) => ({
      measurement: 'cpu',
      tags: { cpu: 'cpu-total', tracer: 'proc', ...tags },
      fields: { usage_active: value },
      time,
    });
    sink.write([
      sample(50n, {}), // run-level, before the step
      sample(150n, {}), // run-level, in the step
      sample(160n, { step: 'busy' }), // the step's own tracer
      sample(170n, { step: 'other' }),
      sample(180n, { cpu: 'cpu0' }), // filtered out by the tag
      { measurement: 'mem', tags: {}, fields: { used: 1 }, time: 150n },
    ]);
    watch.toNs = 200n;
    sink.write([sample(250n, {}), sample(260n, { step: 'busy' })]);
    expect(written).toHaveLength(8);
    expect(watch.values(ref).map((p) => p.time)).toEqual([150n, 160n, 260n]);
    // Run-level proc has reached past 200: settle returns at once.
    const t0 = Date.now();
    await tap.settle(200n, 2000);
    expect(Date.now() - t0).toBeLessThan(100);
  });
});
