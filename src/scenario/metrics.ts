/**
 * Which metrics a step can produce, for thresholds and gates: the workload's own
 * (`duration`, `failure_rate`, `rate`, `action.<name>`) and those of the tracers attached to
 * the step or the run, as their manifests declare them (tracers/<name>.yaml `measurements`).
 * Used at load time (an unknown metric is a validation error, not a silent pass) and by the
 * step executor to know which series to read.
 */
import { type CounterKind, type CounterMode, writtenCounterKind } from '../core/counters.js';
import type { Aggregation, MetricRef } from '../core/metric.js';
import { didYouMean } from '../core/registry.js';
import type { MeasurementSpec } from '../tracers/manifest.js';

/** Tags every tracer sample carries (DESIGN.md §5), whatever its measurement declares. */
export const COMMON_TAGS = ['run', 'scenario', 'step', 'host', 'tracer'];

/** A tracer metric resolved against the tracer catalog: which measurement, field and tags to read. */
export interface ResolvedSeries {
  measurement: string;
  field: string;
  /** The user's tag filter, plus `tracer` when the metric named its tracer (`process.cpu_usage`). */
  tags: Record<string, string>;
  text: string;
  /** The field's counter kind as the attached tracer writes it (its `counters:` applied); absent for a level. */
  counter?: CounterKind;
}

/** What a step can produce, for checking that a threshold names a metric that will exist. */
export interface MetricCatalog {
  /** The workload's atomic actions: names, or 'any' when only the run knows them (module). */
  actions: string[] | 'any';
  /**
   * The tracers attached to the step or the run, with their measurements as they write them:
   * fields' counter kinds already follow the attachment's `counters:` (see writtenCounterKind).
   */
  tracers: { name: string; measurements: MeasurementSpec[] }[];
}

const ALLOWED: Record<string, Aggregation['kind'][]> = {
  duration: ['avg', 'min', 'med', 'max', 'percentile', 'count', 'rate'],
  action: ['avg', 'min', 'med', 'max', 'percentile', 'count', 'rate'],
  failure_rate: ['rate', 'count'],
  rate: ['rate', 'avg', 'min', 'med', 'max', 'percentile', 'count'],
  series: ['avg', 'min', 'med', 'max', 'percentile', 'count', 'rate'],
};

/**
 * Why `agg` does not apply to `metric`, or undefined when it does. With the resolved series of
 * a tracer metric, `rate` is refused on a level: the per-second increase of a gauge means nothing.
 */
export function aggregationIssue(
  metric: MetricRef,
  agg: Aggregation,
  series?: ResolvedSeries,
): string | undefined {
  const allowed = ALLOWED[metric.kind];
  if (series && !series.counter && agg.kind === 'rate') {
    const levels = allowed.filter((k) => k !== 'rate' && k !== 'count');
    return `rate applies to counters; ${metric.text} is a level: use ${levels
      .map(aggName)
      .join(', ')
      .replace(/, ([^,]*)$/, ' or $1')}`;
  }
  if (allowed.includes(agg.kind)) return undefined;
  const names = allowed.map(aggName).join(', ');
  return `aggregation ${agg.text} does not apply to ${metric.kind === 'series' ? 'a tracer metric' : metric.kind}: expected ${names}`;
}

function aggName(kind: Aggregation['kind']): string {
  return kind === 'percentile' ? 'p(N)' : kind;
}

/**
 * Resolves a tracer metric against the catalog. Accepted forms: `<measurement>.<field>`
 * (`cpu.usage_active`), `<tracer>.<measurement>.<field>` (`proc.cpu.usage_active`) and
 * `<tracer>.<field>` when one measurement of that tracer has the field (`process.cpu_usage`).
 * Returns a sentence saying what is wrong when the metric cannot be produced.
 */
export function resolveSeries(
  ref: Extract<MetricRef, { kind: 'series' }>,
  catalog: MetricCatalog,
): ResolvedSeries | string {
  const all = catalog.tracers.flatMap((t) => t.measurements.map((m) => ({ tracer: t.name, m })));
  let candidates = all.filter((x) => x.m.name === ref.measurement);
  let extraTags: Record<string, string> = {};
  if (candidates.length === 0) {
    const dot = ref.measurement.indexOf('.');
    const tracer = dot > 0 ? ref.measurement.slice(0, dot) : ref.measurement;
    const rest = dot > 0 ? ref.measurement.slice(dot + 1) : undefined;
    const mine = all.filter((x) => x.tracer === tracer);
    if (mine.length > 0) {
      extraTags = { tracer };
      candidates =
        rest !== undefined
          ? mine.filter((x) => x.m.name === rest)
          : mine.filter((x) => ref.field in x.m.fields);
      if (candidates.length === 0) {
        return rest !== undefined
          ? `tracer ${tracer} writes no measurement "${rest}"; it writes ${mine.map((x) => x.m.name).join(', ')}`
          : `no measurement of tracer ${tracer} has a field "${ref.field}"; its measurements: ${mine.map((x) => x.m.name).join(', ')}`;
      }
      if (candidates.length > 1) {
        return `field "${ref.field}" is in several measurements of tracer ${tracer} (${candidates.map((x) => x.m.name).join(', ')}): write ${tracer}.<measurement>.${ref.field}`;
      }
    }
  }
  if (candidates.length === 0) {
    const names = [...new Set(all.map((x) => x.m.name))];
    if (catalog.tracers.length === 0) {
      return `no tracer attached to this step or the run writes measurement "${ref.measurement}" (no tracers are attached)`;
    }
    const hint = didYouMean(ref.measurement, names);
    return `no tracer attached to this step or the run writes measurement "${ref.measurement}"${hint ? ` (did you mean "${hint}"?)` : ''}; attached tracers write: ${names.join(', ')}`;
  }
  const measurement = candidates[0].m;
  if (!candidates.some((x) => ref.field in x.m.fields)) {
    const fields = Object.keys(measurement.fields);
    const hint = didYouMean(ref.field, fields);
    return `measurement ${measurement.name} has no field "${ref.field}"${hint ? ` (did you mean "${hint}"?)` : ''}; its fields: ${fields.join(', ')}`;
  }
  const tagNames = new Set([...COMMON_TAGS, ...candidates.flatMap((x) => Object.keys(x.m.tags))]);
  for (const tag of Object.keys(ref.tags)) {
    if (!tagNames.has(tag)) {
      const hint = didYouMean(tag, tagNames);
      return `measurement ${measurement.name} has no tag "${tag}"${hint ? ` (did you mean "${hint}"?)` : ''}; its tags: ${[...tagNames].join(', ')}`;
    }
  }
  const withField = candidates.filter((x) => ref.field in x.m.fields);
  const kinds = new Set(withField.map((x) => x.m.fields[ref.field].counter));
  if (kinds.size > 1) {
    const tracers = [...new Set(withField.map((x) => x.tracer))].join(', ');
    return `${ref.text} is written both as a running total and per interval in this step (tracer ${tracers} attached with and without counters: delta), so its values cannot be added up: attach the tracer with the same counters`;
  }
  const counter = withField[0].m.fields[ref.field].counter;
  return {
    measurement: measurement.name,
    field: ref.field,
    tags: { ...ref.tags, ...extraTags },
    text: ref.text,
    ...(counter ? { counter } : {}),
  };
}

/** Why the step cannot produce `metric`, or undefined when it can. */
export function metricIssue(metric: MetricRef, catalog: MetricCatalog): string | undefined {
  if (metric.kind === 'series') {
    const r = resolveSeries(metric, catalog);
    return typeof r === 'string' ? r : undefined;
  }
  if (Object.keys(metric.tags).length > 0)
    return `${metric.kind === 'action' ? 'action' : metric.kind} metrics take no tag filter`;
  if (metric.kind === 'action' && catalog.actions !== 'any' && !catalog.actions.includes(metric.action)) {
    if (catalog.actions.length === 0)
      return `the workload reports no atomic actions, so there is no "action.${metric.action}"`;
    const hint = didYouMean(metric.action, catalog.actions);
    return `the workload reports no action "${metric.action}"${hint ? ` (did you mean "${hint}"?)` : ''}; its actions: ${catalog.actions.join(', ')}`;
  }
  return undefined;
}

/** How to look up what the plugins declare. */
export interface MetricLookups {
  /** A tracer's declared measurements, or undefined for an unknown tracer. */
  measurements(tracer: string): MeasurementSpec[] | undefined;
  /** A workload's atomic actions with these params (see WorkloadDefinition.actions). */
  actions(workload: string, params: Record<string, unknown> | undefined): string[] | 'any';
}

/** A tracer attached to a step or the run, as far as its metrics go. */
interface AttachedTracer {
  use: string;
  with?: Record<string, unknown>;
}

/**
 * What one step can produce: its workload's actions, and the tracers on the step and the run.
 * A tracer attached with `counters: delta` writes its `cumulative` fields as `interval` ones
 * (the catalog-wide convention of the `counters:` parameter, docs/data-model.md).
 */
export function stepMetricCatalog(
  runTracers: readonly AttachedTracer[] | undefined,
  step: { workload: { use: string; with?: Record<string, unknown> }; tracers?: readonly AttachedTracer[] },
  lookups: MetricLookups,
): MetricCatalog {
  const seen = new Set<string>();
  const tracers: MetricCatalog['tracers'] = [];
  for (const t of [...(runTracers ?? []), ...(step.tracers ?? [])]) {
    const mode = t.with?.counters === 'delta' ? 'delta' : undefined;
    const key = `${t.use}\u0000${mode ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const measurements = lookups.measurements(t.use);
    if (measurements) tracers.push({ name: t.use, measurements: asWritten(measurements, mode) });
  }
  return { actions: lookups.actions(step.workload.use, step.workload.with), tracers };
}

/** Declared measurements with their counter kinds as a tracer attached with `counters: mode` writes them. */
function asWritten(measurements: MeasurementSpec[], mode: CounterMode | undefined): MeasurementSpec[] {
  if (mode === undefined) return measurements;
  return measurements.map((m) => ({
    ...m,
    fields: Object.fromEntries(
      Object.entries(m.fields).map(([name, f]) => {
        const counter = writtenCounterKind(f.counter, mode);
        return [name, counter ? { ...f, counter } : f];
      }),
    ),
  }));
}
