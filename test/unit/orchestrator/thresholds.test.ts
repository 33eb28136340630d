import { describe, expect, it } from 'vitest';
import { builtinLookups } from '../../../src/orchestrator/step-executor.js';
import {
  compileThresholds,
  evaluateThresholds,
  type SeriesPoint,
  type SeriesSource,
  SeriesTap,
  type WorkloadData,
} from '../../../src/orchestrator/thresholds.js';
import type { MetricCatalog } from '../../../src/scenario/metrics.js';
import { resolveSeries, stepMetricCatalog } from '../../../src/scenario/metrics.js';
import { tracerRegistry } from '../../../src/tracers/index.js';

const catalog: MetricCatalog = {
  actions: ['login'],
  tracers: ['proc', 'process', 'syscalls', 'mysql'].map((name) => ({
    name,
    measurements: tracerRegistry.get(name)!.manifest.measurements,
  })),
};

/** Tapped tracer points over a window of `windowMs` (10 s unless told). */
function source(points: SeriesPoint[] = [], windowMs = 10_000): SeriesSource {
  return { values: () => points, windowMs: () => windowMs };
}

const ns = (s: number) => BigInt(Math.round(s * 1e9));

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

function check(metric: string, threshold: string, series: SeriesSource = source()) {
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

  it('tracer levels: avg, max, p(N) over the values, count of the samples', () => {
    const series = source([
      { time: ns(0), value: 10, tags: { host: 'a', cpu: 'cpu-total' } },
      { time: ns(1), value: 30, tags: { host: 'a', cpu: 'cpu-total' } },
      { time: ns(2), value: 50, tags: { host: 'a', cpu: 'cpu-total' } },
    ]);
    expect(check('cpu.usage_active', 'avg < 31', series).success).toBe(true);
    expect(check('cpu.usage_active', 'avg < 30', series).detail).toBe('avg = 30');
    expect(check('cpu.usage_active', 'max <= 50', series).success).toBe(true);
    expect(check('cpu.usage_active', 'p(50) == 30', series).success).toBe(true);
    expect(check('cpu.usage_active', 'count == 3', series).success).toBe(true);
  });

  it('rate on a level is refused: it has no increase', () => {
    expect(() => compileThresholds({ 'cpu.usage_active': ['rate < 20'] }, catalog)).toThrow(
      'threshold cpu.usage_active: rate applies to counters; cpu.usage_active is a level: use avg, min, med, max or p(N)',
    );
  });

  it('cumulative counters: count is the increase summed over series (resets from zero), rate per second of the window', () => {
    // mysql writes running totals by default. Two servers; points out of order; b restarts.
    const a = { host: 'n1', server: 'a:3306' };
    const b = { host: 'n1', server: 'b:3306' };
    const series = source(
      [
        { time: ns(2), value: 1300, tags: a },
        { time: ns(0), value: 1000, tags: a },
        { time: ns(1), value: 1100, tags: a },
        { time: ns(0), value: 500, tags: b },
        { time: ns(1), value: 800, tags: b }, // +300
        { time: ns(2), value: 40, tags: b }, // restarted: +40
      ],
      4000,
    );
    // a: +300; b: +340.
    expect(check('mysql.com_select', 'count == 640', series).success).toBe(true);
    expect(check('mysql.com_select', 'count >= 641', series)).toMatchObject({
      success: false,
      detail: 'count = 640',
    });
    expect(check('mysql.com_select', 'rate == 160', series).success).toBe(true);
    expect(check('mysql.com_select', 'rate < 160', series).detail).toBe('rate = 160/s');
    // The other aggregations still read the values as they are.
    expect(check('mysql.com_select', 'max == 1300', series).success).toBe(true);
  });

  it('interval counters: count is the sum of the values, rate per second of the window', () => {
    const read = { host: 'n1', process_name: 'x', syscall: 'read' };
    const write = { host: 'n1', process_name: 'x', syscall: 'write' };
    const series = source(
      [
        { time: ns(1), value: 40, tags: read },
        { time: ns(2), value: 10, tags: read },
        { time: ns(1), value: 30, tags: write },
      ],
      2000,
    );
    expect(check('syscalls.calls', 'count == 80', series).success).toBe(true);
    expect(check('syscalls.calls', 'rate == 40', series).success).toBe(true);
    expect(check('syscalls.calls', 'rate > 40', series).detail).toBe('rate = 40/s');
    expect(check('syscalls.calls', 'avg < 27', series).detail).toBe('avg = 26.6667');
  });

  it('a counter with no sample: count 0, rate no data', () => {
    expect(check('syscalls.calls', 'count == 0').success).toBe(true);
    expect(check('syscalls.calls', 'rate < 1')).toMatchObject({ success: false, detail: 'rate = no data' });
  });

  it('counters: delta makes the cumulative fields of that attachment interval ones', () => {
    const of = (tracers: { use: string; with?: Record<string, unknown> }[], metric = 'mysql.com_select') => {
      const c = stepMetricCatalog(tracers, { workload: { use: 'sleep' } }, builtinLookups);
      const [measurement, field] = metric.split('.');
      return resolveSeries({ kind: 'series', measurement, field, tags: {}, text: metric }, c);
    };
    expect(of([{ use: 'mysql' }])).toMatchObject({ counter: 'cumulative' });
    expect(of([{ use: 'mysql', with: { counters: 'cumulative' } }])).toMatchObject({ counter: 'cumulative' });
    expect(of([{ use: 'mysql', with: { counters: 'delta' } }])).toMatchObject({ counter: 'interval' });
    // Levels and per-interval figures stay what they are.
    expect(of([{ use: 'mysql', with: { counters: 'delta' } }], 'mysql.threads_connected')).not.toHaveProperty(
      'counter',
    );
    expect(of([{ use: 'mysql', with: { counters: 'delta' } }], 'mysql_statements.calls')).toMatchObject({
      counter: 'interval',
    });
    // The same field written both ways in one step cannot be added up.
    expect(of([{ use: 'mysql' }, { use: 'mysql', with: { counters: 'delta' } }])).toMatch(
      /mysql\.com_select is written both as a running total and per interval/,
    );

    const points = [
      { time: ns(1), value: 7, tags: { server: 'a' } },
      { time: ns(2), value: 5, tags: { server: 'a' } },
    ];
    const delta = stepMetricCatalog(
      [{ use: 'mysql', with: { counters: 'delta' } }],
      { workload: { use: 'sleep' } },
      builtinLookups,
    );
    const [r] = evaluateThresholds(
      compileThresholds({ 'mysql.com_select': ['count == 12'] }, delta),
      data(),
      source(points),
    );
    expect(r).toMatchObject({ success: true, detail: 'count = 12' });
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
