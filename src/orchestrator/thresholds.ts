/**
 * Thresholds (k6's syntax, DESIGN.md §9's metric grammar) over the metrics of one step:
 * the workload's own (`duration`, `failure_rate`, `rate`, `action.<name>`) and the tracers'
 * (`<measurement>.<field>{tags}`).
 *
 * Tracer samples reach the thresholds through a tap on the collector's sink rather than by
 * reading the store back: the verdict must not depend on the store (InfluxDB may be down
 * and the data spooled, or not yet queryable after a write), the tap keeps only the series a
 * threshold names, and `abort_on_fail` needs the values while the step runs, which a
 * write-only RunWriter cannot give.
 */
import { type CounterKind, seriesCount } from '../core/counters.js';
import { formatDuration, parseDuration } from '../core/duration.js';
import { compare, type MetricRef, parseMetric, parseThreshold, type Threshold } from '../core/metric.js';
import { nowNs, type Sample } from '../core/sample.js';
import { aggregate } from '../report/stats.js';
import {
  aggregationIssue,
  type MetricCatalog,
  type ResolvedSeries,
  resolveSeries,
} from '../scenario/metrics.js';
import type { ThresholdSpec } from '../scenario/types.js';
import type { SlaResult } from '../store/run-record.js';
import type { SampleSink } from '../store/store.js';

/** One threshold of a step, parsed and resolved. */
export interface CompiledThreshold {
  metric: MetricRef;
  /** For tracer metrics: what to read. */
  series?: ResolvedSeries;
  threshold: Threshold;
  abortOnFail: boolean;
  delayMs: number;
  /** `duration: p(95) < 2s`: the criterion's name in results. */
  label: string;
}

/** Parses a step's `thresholds:` (already validated at load time, so errors here are bugs). */
export function compileThresholds(
  spec: Record<string, ThresholdSpec[]> | undefined,
  catalog: MetricCatalog,
): CompiledThreshold[] {
  const out: CompiledThreshold[] = [];
  for (const [metricText, list] of Object.entries(spec ?? {})) {
    const metric = parseMetric(metricText);
    let series: ResolvedSeries | undefined;
    if (metric.kind === 'series') {
      const r = resolveSeries(metric, catalog);
      if (typeof r === 'string') throw new Error(`threshold ${metricText}: ${r}`);
      series = r;
    }
    for (const item of list) {
      const text = typeof item === 'string' ? item : item.threshold;
      const threshold = parseThreshold(text);
      const issue = aggregationIssue(metric, threshold.aggregation, series);
      if (issue) throw new Error(`threshold ${metricText}: ${issue}`);
      out.push({
        metric,
        series,
        threshold,
        abortOnFail: typeof item === 'object' && item.abort_on_fail === true,
        delayMs:
          typeof item === 'object' && item.delay_abort_eval !== undefined
            ? parseDuration(item.delay_abort_eval)
            : 0,
        label: `${metricText}: ${threshold.text}`,
      });
    }
  }
  return out;
}

/** One value of a tracer series. */
export interface SeriesPoint {
  time: bigint;
  value: number;
  tags: Record<string, string>;
}

/** The tracer values a step's thresholds read: the points of each series, and the window they cover. */
export interface SeriesSource {
  values(ref: ResolvedSeries): SeriesPoint[];
  /** How long the step has been watched, ms: what a counter's `rate` divides by. */
  windowMs(): number;
}

/** The workload's own measurements of a step, warmup and interrupted iterations left out. */
export interface WorkloadData {
  /** Durations of successful iterations, ms. */
  durations: number[];
  iterations: number;
  failures: number;
  /** When each measured iteration ended, ms after the measured window's start. */
  completions: number[];
  /** The measured window, ms (from the first measured start to the step's end, or to now). */
  windowMs: number;
  /** Per action: durations of its successful executions, ms, and its failures. */
  actions: Map<string, { durations: number[]; failures: number }>;
}

/** Completions per whole second of the window; a window under a second is one scaled bucket. */
function perSecond(completions: readonly number[], windowMs: number): number[] {
  const full = Math.floor(windowMs / 1000);
  if (full === 0) return windowMs > 0 ? [completions.length / (windowMs / 1000)] : [];
  const buckets = new Array<number>(full).fill(0);
  for (const c of completions) {
    const b = Math.floor(c / 1000);
    if (b < full) buckets[b]++;
  }
  return buckets;
}

/**
 * What a counter counted in the window, summed over its series (tag sets): the increase of each
 * running total (counterIncrease: a decrease is a reset), or the sum of per-interval values.
 */
export function counterTotal(points: readonly SeriesPoint[], kind: CounterKind): number {
  const bySeries = new Map<string, { t: bigint[]; v: number[] }>();
  for (const p of points) {
    const key = Object.entries(p.tags)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    let s = bySeries.get(key);
    if (!s) {
      s = { t: [], v: [] };
      bySeries.set(key, s);
    }
    s.t.push(p.time);
    s.v.push(p.value);
  }
  let total = 0;
  for (const s of bySeries.values()) total += seriesCount(kind, s.t, s.v);
  return total;
}

/**
 * The value a threshold compares, in the metric's base unit (ms for durations, % for failure_rate).
 * On a tracer counter, k6's Counter semantics: `count` is what it counted in the window, `rate`
 * that per second of the window; on a level, `count` is the number of samples.
 */
export function measure(t: CompiledThreshold, data: WorkloadData, series: SeriesSource): number {
  const agg = t.threshold.aggregation;
  switch (t.metric.kind) {
    case 'duration':
      return agg.kind === 'rate'
        ? perSecondRate(data.durations.length, data.windowMs)
        : aggregate(data.durations, agg);
    case 'action': {
      const a = data.actions.get(t.metric.action);
      const values = a?.durations ?? [];
      return agg.kind === 'rate' ? perSecondRate(values.length, data.windowMs) : aggregate(values, agg);
    }
    case 'failure_rate':
      if (agg.kind === 'count') return data.failures;
      return data.iterations === 0 ? 0 : (data.failures / data.iterations) * 100;
    case 'rate':
      if (agg.kind === 'count') return data.iterations;
      if (agg.kind === 'rate' || agg.kind === 'avg') return perSecondRate(data.iterations, data.windowMs);
      return aggregate(perSecond(data.completions, data.windowMs), agg);
    case 'series': {
      const points = series.values(t.series!);
      const counter = t.series!.counter;
      if (counter && agg.kind === 'count') return counterTotal(points, counter);
      if (counter && agg.kind === 'rate') {
        const windowMs = series.windowMs();
        return points.length > 0 && windowMs > 0
          ? counterTotal(points, counter) / (windowMs / 1000)
          : Number.NaN;
      }
      return aggregate(
        points.map((p) => p.value),
        agg,
      );
    }
  }
}

function perSecondRate(count: number, windowMs: number): number {
  return windowMs > 0 ? count / (windowMs / 1000) : Number.NaN;
}

/** Formats a measured value in the metric's unit, for the result's detail. */
export function formatValue(t: CompiledThreshold, value: number): string {
  if (Number.isNaN(value)) return 'no data';
  const agg = t.threshold.aggregation.kind;
  // A count of a counter can be a sum of floats (time_us): shortened like other tracer values.
  if (agg === 'count') return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  switch (t.metric.kind) {
    case 'duration':
    case 'action':
      return agg === 'rate' ? `${value.toFixed(2)}/s` : formatDuration(value);
    case 'failure_rate':
      return `${value.toFixed(2)}%`;
    case 'rate':
      return `${value.toFixed(2)}/s`;
    case 'series':
      return agg === 'rate' ? `${Number(value.toPrecision(6))}/s` : String(Number(value.toPrecision(6)));
  }
}

/** Evaluates thresholds into results; a metric with no data fails (except a count, which is 0). */
export function evaluateThresholds(
  list: readonly CompiledThreshold[],
  data: WorkloadData,
  series: SeriesSource,
): SlaResult[] {
  return list.map((t) => {
    const value = measure(t, data, series);
    const ok = !Number.isNaN(value) && compare(value, t.threshold.op, t.threshold.value);
    return {
      criterion: `threshold ${t.label}`,
      success: ok,
      detail: `${t.threshold.aggregation.text} = ${formatValue(t, value)}`,
      kind: 'threshold' as const,
      value: Number.isNaN(value) ? undefined : value,
    };
  });
}

/** The samples of one step's watched tracer metrics, gathered as they flow to the store. */
export class SeriesWatch implements SeriesSource {
  readonly points = new Map<string, SeriesPoint[]>();
  /** Set at the step's end: later run-level samples are outside the step. */
  toNs?: bigint;

  constructor(
    readonly step: string,
    readonly refs: readonly ResolvedSeries[],
    readonly fromNs: bigint,
  ) {
    for (const r of refs) this.points.set(r.text, []);
  }

  /** Values of `ref` so far. */
  values(ref: ResolvedSeries): SeriesPoint[] {
    return this.points.get(ref.text) ?? [];
  }

  /** From the watch's start to the step's end, or to now while the step runs. */
  windowMs(): number {
    return Number((this.toNs ?? nowNs()) - this.fromNs) / 1e6;
  }

  accept(sample: Sample): void {
    const own = sample.tags.step === this.step;
    if (!own) {
      // A run-level tracer's sample counts when it falls within the step.
      if (sample.tags.step !== undefined || sample.time < this.fromNs) return;
      if (this.toNs !== undefined && sample.time > this.toNs) return;
    }
    for (const ref of this.refs) {
      if (sample.measurement !== ref.measurement) continue;
      const raw = sample.fields[ref.field];
      if (raw === undefined || typeof raw === 'string') continue;
      let match = true;
      for (const k in ref.tags) {
        if (sample.tags[k] !== ref.tags[k]) {
          match = false;
          break;
        }
      }
      if (match)
        this.points.get(ref.text)!.push({ time: sample.time, value: Number(raw), tags: sample.tags });
    }
  }
}

/**
 * Taps the collector's sample flow for the tracer metrics that thresholds name. Wrap the sink
 * the collector writes to; steps `watch` their metrics while they run.
 */
export class SeriesTap {
  private readonly watches = new Set<SeriesWatch>();
  /** Latest sample time seen per run-level tracer, to know when a step's window is complete. */
  private readonly latestRunLevel = new Map<string, bigint>();

  /** A sink that passes everything to `inner` and keeps what a watch wants. */
  wrap(inner: SampleSink): SampleSink {
    return {
      write: (samples) => {
        this.observe(samples);
        inner.write(samples);
      },
      flush: () => inner.flush(),
    };
  }

  observe(samples: readonly Sample[]): void {
    for (const s of samples) {
      if (s.tags.step === undefined && s.tags.tracer !== undefined) {
        const prev = this.latestRunLevel.get(s.tags.tracer);
        if (prev === undefined || s.time > prev) this.latestRunLevel.set(s.tags.tracer, s.time);
      }
      for (const w of this.watches) w.accept(s);
    }
  }

  watch(step: string, refs: readonly ResolvedSeries[], fromNs: bigint): SeriesWatch {
    const w = new SeriesWatch(step, refs, fromNs);
    if (refs.length > 0) this.watches.add(w);
    return w;
  }

  unwatch(w: SeriesWatch): void {
    this.watches.delete(w);
  }

  /**
   * Waits until every run-level tracer has sent a sample stamped at or after `endNs` — so
   * the step's window is complete — or `timeoutMs` passes (a tracer with a long interval).
   */
  async settle(endNs: bigint, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ([...this.latestRunLevel.values()].every((t) => t >= endNs)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
