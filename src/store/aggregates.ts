/**
 * Per-step aggregates of fields, computed by Scalpels from raw points: the same code for
 * every store, and independent of the order a store returns points in (values are sorted
 * before they are summed, series are visited in key order), so the local store and InfluxDB
 * give exactly the same numbers. InfluxQL's own PERCENTILE and MEDIAN use other definitions;
 * they are never used.
 */
import { counterIncrease } from '../core/counters.js';
import type { FieldValue, Sample } from '../core/sample.js';
import type { RunRecord } from './run-record.js';
import type { RunReader } from './store.js';

/** What to aggregate: one field of one measurement, optionally narrowed by exact tags. */
export interface AggregateQuery {
  measurement: string;
  field: string;
  tags?: Record<string, string>;
}

/** Statistics of one field's values within one step. */
export interface FieldAggregate {
  count: number;
  sum: number;
  mean: number;
  min: number;
  max: number;
  /** Percentiles with linear interpolation between closest ranks (type 7: numpy's and R's default). */
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  /**
   * For cumulative counters (running totals such as bytes or context switches): the increase
   * per second, summed over series. Each series contributes its increase (counterIncrease: a
   * decrease is a reset) over its time span. Undefined when no series has two points.
   */
  rate?: number;
}

/** One series' points within a step: times as ns after the step's start (exact below 104 days). */
interface SeriesPoints {
  t: number[];
  v: number[];
}

function numeric(value: FieldValue | undefined): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  return undefined;
}

function percentile(sorted: Float64Array, p: number): number {
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/**
 * Order-independent statistics of values (sorted here; the input is left alone), and the
 * counter rate when the points of each series are given.
 */
export function fieldAggregate(
  values: ArrayLike<number>,
  series?: Iterable<[string, SeriesPoints]>,
): FieldAggregate | undefined {
  if (values.length === 0) return undefined;
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i];
  const out: FieldAggregate = {
    count: sorted.length,
    sum,
    mean: sum / sorted.length,
    min: sorted[0],
    max: sorted[sorted.length - 1],
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
  };
  if (series) out.rate = counterRate(series);
  return out;
}

function counterRate(series: Iterable<[string, SeriesPoints]>): number | undefined {
  let total = 0;
  let any = false;
  for (const [, { t, v }] of [...series].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (t.length < 2) continue;
    let first = t[0];
    let last = t[0];
    for (let i = 1; i < t.length; i++) {
      if (t[i] < first) first = t[i];
      if (t[i] > last) last = t[i];
    }
    const span = (last - first) / 1e9;
    if (span <= 0) continue;
    total += counterIncrease(t, v) / span;
    any = true;
  }
  return any ? total : undefined;
}

/** A series key from the tags, sorted by key (stores return tags in their own order). */
function seriesKey(tags: Record<string, string>): string {
  const keys = Object.keys(tags);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1] > keys[i]) {
      keys.sort();
      break;
    }
  }
  let key = '';
  for (const k of keys) key += `${k}=${tags[k]}\u0000`;
  return key;
}

interface StepWindow {
  name: string;
  from: bigint;
  to?: bigint;
}

/**
 * Aggregates of several fields of one measurement per step, in one pass over the run's
 * points. A point belongs to a step by its `step` tag when it has one (iterations,
 * step-scoped tracers), else by time within the step's [start, end] (run-wide tracers).
 * Returns field → step → aggregate; steps without values are left out.
 */
export async function stepAggregatesOf(
  reader: RunReader,
  record: RunRecord,
  measurement: string,
  fields: readonly string[],
  tags?: Record<string, string>,
): Promise<Map<string, Map<string, FieldAggregate>>> {
  const windows: StepWindow[] = record.steps
    .filter((s) => s.startNs !== undefined)
    .map((s) => ({
      name: s.name,
      from: BigInt(s.startNs),
      to: s.endNs !== undefined ? BigInt(s.endNs) : undefined,
    }));
  const byName = new Map(windows.map((w) => [w.name, w]));
  // field → step → series → points
  const acc = new Map(fields.map((f) => [f, new Map<string, Map<string, SeriesPoints>>()]));
  const add = (field: string, w: StepWindow, key: string, sample: Sample, value: number) => {
    const steps = acc.get(field)!;
    let series = steps.get(w.name);
    if (!series) {
      series = new Map();
      steps.set(w.name, series);
    }
    let points = series.get(key);
    if (!points) {
      points = { t: [], v: [] };
      series.set(key, points);
    }
    points.t.push(Number(sample.time - w.from));
    points.v.push(value);
  };
  for await (const sample of reader.readSamples(record.id, { measurement, tags })) {
    let key: string | undefined;
    for (const field of fields) {
      const value = numeric(sample.fields[field]);
      if (value === undefined) continue;
      key ??= seriesKey(sample.tags);
      const tagged = sample.tags.step;
      if (tagged !== undefined) {
        const w = byName.get(tagged);
        if (w) add(field, w, key, sample, value);
        continue;
      }
      for (const w of windows) {
        if (sample.time >= w.from && (w.to === undefined || sample.time <= w.to))
          add(field, w, key, sample, value);
      }
    }
  }
  const out = new Map<string, Map<string, FieldAggregate>>();
  for (const field of fields) {
    const steps = new Map<string, FieldAggregate>();
    for (const w of windows) {
      const series = acc.get(field)!.get(w.name);
      if (!series) continue;
      let n = 0;
      for (const p of series.values()) n += p.v.length;
      const values = new Float64Array(n);
      let i = 0;
      for (const p of series.values()) for (const v of p.v) values[i++] = v;
      const agg = fieldAggregate(values, series);
      if (agg) steps.set(w.name, agg);
    }
    out.set(field, steps);
  }
  return out;
}

/** Aggregates of one field per step (see stepAggregatesOf). */
export async function stepAggregates(
  reader: RunReader,
  record: RunRecord,
  query: AggregateQuery,
): Promise<Map<string, FieldAggregate>> {
  const all = await stepAggregatesOf(reader, record, query.measurement, [query.field], query.tags);
  return all.get(query.field)!;
}
