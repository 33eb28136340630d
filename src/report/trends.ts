/**
 * Trends: the stored runs of one scenario over time, per step (median, p95, success rate) and
 * for a few tracer aggregates, each run linked to its own report.
 */

import { InputError } from '../core/errors.js';
import {
  type Aggregation,
  type MetricRef,
  MetricSyntaxError,
  parseAggregation,
  parseMetric,
} from '../core/metric.js';
import { didYouMean } from '../core/registry.js';
import { scalpelsVersion } from '../core/version.js';
import { metricValues } from './gates.js';
import { type ChartSpec, fmtNumber, PALETTE } from './model.js';
import type { RunData } from './run-data.js';
import { aggregate, percentile } from './stats.js';

/** Tracer aggregates shown by default: host CPU and memory, when the runs have them. */
export const DEFAULT_TREND_METRICS = ['cpu.usage_active{cpu=cpu-total}:avg', 'mem.used_percent:max'];

/** A trend metric: `<metric>:<aggregation>` in the grammar of DESIGN.md §9. */
export interface TrendMetric {
  metric: MetricRef;
  aggregation: Aggregation;
  text: string;
}

/** Parses `cpu.usage_active{cpu=cpu-total}:avg`. @throws InputError on a syntax error. */
export function parseTrendMetric(text: string): TrendMetric {
  const colon = text.lastIndexOf(':');
  if (colon <= 0)
    throw new InputError(
      `invalid trend metric "${text}": expected <metric>:<aggregation>, e.g. "cpu.usage_active:avg"`,
    );
  try {
    return {
      metric: parseMetric(text.slice(0, colon)),
      aggregation: parseAggregation(text.slice(colon + 1)),
      text,
    };
  } catch (err) {
    if (err instanceof MetricSyntaxError) throw new InputError(`trend metric "${text}": ${err.message}`);
    throw err;
  }
}

/** The numbers of one run in a trend. */
export interface TrendPoint {
  id: string;
  startedAt: string;
  status: string;
  statusCls: string;
  /** Relative link to the run's report, when one was written. */
  link?: string;
  /** Per step: median and p95 of successful iterations (ms), success rate (%). */
  steps: Record<string, { median: number; p95: number; success: number } | undefined>;
  /** Per step, then metric text: the aggregate. */
  metrics: Record<string, Record<string, number | undefined>>;
}

/** Extracts a run's trend numbers. `data` may lack series when no metric needs them. */
export function trendPoint(data: RunData, metrics: TrendMetric[], link?: string): TrendPoint {
  const r = data.record;
  const steps: TrendPoint['steps'] = {};
  const values: TrendPoint['metrics'] = {};
  for (const s of data.steps) {
    const it = data.iterations.get(s.name);
    steps[s.name] = it
      ? {
          median: percentile(it.okSorted, 50),
          p95: percentile(it.okSorted, 95),
          success: it.count ? ((it.count - it.failures) / it.count) * 100 : Number.NaN,
        }
      : undefined;
    values[s.name] = {};
    for (const m of metrics) {
      const v = metricValues(data, s.name, {
        metric: m.metric,
        aggregation: m.aggregation,
        direction: '+',
        tolerance: 0,
        relative: false,
        text: m.text,
      });
      values[s.name][m.text] =
        typeof v === 'string'
          ? undefined
          : v.single
            ? v.values[0]
            : aggregate(v.values, m.aggregation, v.windowMs);
    }
  }
  return {
    id: r.id,
    startedAt: r.startedAt,
    status: r.status,
    statusCls: r.status === 'passed' ? 'better' : 'worse',
    link,
    steps,
    metrics: values,
  };
}

/** What a scenario's runs hold, to name what exists when a trend metric matches nothing. */
export class TrendInventory {
  /** Measurement → field names. */
  readonly fields = new Map<string, Set<string>>();
  readonly actions = new Set<string>();
  runs = 0;

  add(data: RunData): void {
    this.runs++;
    for (const g of data.series) {
      const fields = this.fields.get(g.measurement) ?? new Set<string>();
      for (const f of g.fields.keys()) fields.add(f);
      this.fields.set(g.measurement, fields);
    }
    for (const byAction of data.actions.values()) for (const a of byAction.keys()) this.actions.add(a);
  }

  /** Why `m` has no value in any run: what is missing, a did-you-mean, and what exists. */
  explain(m: TrendMetric): string {
    const ref = m.metric;
    const list = (names: Iterable<string>) => [...names].sort().join(', ') || 'none';
    const hint = (name: string, names: Iterable<string>) => {
      const h = didYouMean(name, names);
      return h ? ` (did you mean "${h}"?)` : '';
    };
    if (ref.kind === 'series') {
      const fields = this.fields.get(ref.measurement);
      if (!fields)
        return `no measurement "${ref.measurement}"${hint(ref.measurement, this.fields.keys())}; measurements: ${list(this.fields.keys())}`;
      if (!fields.has(ref.field))
        return `measurement ${ref.measurement} has no field "${ref.field}"${hint(ref.field, fields)}; its fields: ${list(fields)}`;
      return `no ${ref.measurement}.${ref.field} sample matches its tags {${Object.entries(ref.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')}} in any step`;
    }
    if (ref.kind === 'action')
      return `no action "${ref.action}"${hint(ref.action, this.actions)}; actions: ${list(this.actions)}`;
    return `no ${ref.kind} data in any step`;
  }
}

/**
 * Refuses metrics the user asked for that have no value in any run (invalid input, exit 2):
 * a column of dashes would hide a typo.
 */
export function checkTrendMetrics(
  metrics: TrendMetric[],
  points: TrendPoint[],
  inventory: TrendInventory,
): void {
  for (const m of metrics) {
    if (points.some((p) => Object.values(p.metrics).some((byMetric) => byMetric[m.text] !== undefined)))
      continue;
    throw new InputError(
      `trend metric "${m.text}" matches nothing in the ${inventory.runs} runs: ${inventory.explain(m)}`,
    );
  }
}

/** The trends page's model (templates/trends.hbs). */
export interface TrendsModel {
  title: string;
  scenario: string;
  generatedAt: string;
  scalpelsVersion: string;
  columns: { step: string; metrics: string[] }[];
  rows: { point: TrendPoint; cells: { text: string; cls?: string }[] }[];
  charts: ChartSpec[];
  stepCharts: { step: string; charts: string[] }[];
  eagerCharts: number;
}

const ms = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v)
    ? '–'
    : v < 1000
      ? `${v.toFixed(v < 10 ? 2 : 1)} ms`
      : `${(v / 1000).toFixed(2)} s`;

/** Builds the trends page from the points of every run, oldest first. */
export function buildTrendsModel(
  scenario: string,
  points: TrendPoint[],
  metrics: TrendMetric[],
  now = new Date(),
): TrendsModel {
  const stepNames: string[] = [];
  for (const p of points) for (const s of Object.keys(p.steps)) if (!stepNames.includes(s)) stepNames.push(s);
  const metricNames = metrics.map((m) => m.text);
  const columns = stepNames.map((step) => ({
    step,
    metrics: metricNames.filter((m) => points.some((p) => p.metrics[step]?.[m] !== undefined)),
  }));
  const rows = points.map((point) => ({
    point,
    cells: columns.flatMap((c) => {
      const s = point.steps[c.step];
      return [
        { text: ms(s?.median) },
        { text: ms(s?.p95) },
        {
          text: s && Number.isFinite(s.success) ? `${s.success.toFixed(1)} %` : '–',
          cls: s && s.success < 100 ? 'worse' : undefined,
        },
        ...c.metrics.map((m) => ({ text: fmtNumber(point.metrics[c.step]?.[m]) })),
      ];
    }),
  }));
  const charts: ChartSpec[] = [];
  const stepCharts = columns.map((c) => {
    const x = points.map((_, i) => i + 1);
    const line = (label: string, color: string, y: (number | undefined)[]) => {
      const xs: number[] = [];
      const ys: number[] = [];
      y.forEach((v, i) => {
        if (v !== undefined && Number.isFinite(v)) {
          xs.push(x[i]);
          ys.push(Number(v.toPrecision(4)));
        }
      });
      return { label, color, x: xs, y: ys };
    };
    const ids: string[] = [];
    const add = (spec: Omit<ChartSpec, 'id'>) => {
      const id = `c${charts.length}`;
      charts.push({ id, ...spec });
      ids.push(id);
    };
    add({
      kind: 'line',
      title: `${c.step}: iteration duration`,
      xLabel: 'run # (oldest first)',
      yLabel: 'ms',
      series: [
        line(
          'median',
          PALETTE[0],
          points.map((p) => p.steps[c.step]?.median),
        ),
        line(
          'p95',
          PALETTE[1],
          points.map((p) => p.steps[c.step]?.p95),
        ),
      ],
    });
    add({
      kind: 'line',
      title: `${c.step}: success rate`,
      xLabel: 'run # (oldest first)',
      yLabel: '%',
      series: [
        line(
          'success',
          PALETTE[2],
          points.map((p) => p.steps[c.step]?.success),
        ),
      ],
    });
    for (const [k, m] of c.metrics.entries()) {
      add({
        kind: 'line',
        title: `${c.step}: ${m}`,
        xLabel: 'run # (oldest first)',
        yLabel: m,
        series: [
          line(
            m,
            PALETTE[(3 + k) % PALETTE.length],
            points.map((p) => p.metrics[c.step]?.[m]),
          ),
        ],
      });
    }
    return { step: c.step, charts: ids };
  });
  return {
    title: `Scalpels trends: ${scenario}, ${points.length} runs`,
    scenario,
    generatedAt: now.toISOString(),
    scalpelsVersion,
    columns,
    rows,
    charts,
    stepCharts,
    eagerCharts: charts.length,
  };
}
