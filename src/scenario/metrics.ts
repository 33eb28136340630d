/**
 * Which metrics a step can produce, for thresholds and gates: the workload's own
 * (`duration`, `failure_rate`, `rate`, `action.<name>`) and those of the tracers attached to
 * the step or the run, as their manifests declare them (tracers/<name>.yaml `measurements`).
 * Used at load time (an unknown metric is a validation error, not a silent pass) and by the
 * step executor to know which series to read.
 */
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
}

/** What a step can produce, for checking that a threshold names a metric that will exist. */
export interface MetricCatalog {
  /** The workload's atomic actions: names, or 'any' when only the run knows them (module). */
  actions: string[] | 'any';
  /** The tracers attached to the step or the run, with their declared measurements. */
  tracers: { name: string; measurements: MeasurementSpec[] }[];
}

const ALLOWED: Record<string, Aggregation['kind'][]> = {
  duration: ['avg', 'min', 'med', 'max', 'percentile', 'count', 'rate'],
  action: ['avg', 'min', 'med', 'max', 'percentile', 'count', 'rate'],
  failure_rate: ['rate', 'count'],
  rate: ['rate', 'avg', 'min', 'med', 'max', 'percentile', 'count'],
  series: ['avg', 'min', 'med', 'max', 'percentile', 'count', 'rate'],
};

/** Why `agg` does not apply to `metric`, or undefined when it does. */
export function aggregationIssue(metric: MetricRef, agg: Aggregation): string | undefined {
  const allowed = ALLOWED[metric.kind];
  if (allowed.includes(agg.kind)) return undefined;
  const names = allowed.map((k) => (k === 'percentile' ? 'p(N)' : k)).join(', ');
  return `aggregation ${agg.text} does not apply to ${metric.kind === 'series' ? 'a tracer metric' : metric.kind}: expected ${names}`;
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
  return {
    measurement: measurement.name,
    field: ref.field,
    tags: { ...ref.tags, ...extraTags },
    text: ref.text,
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

/** What one step can produce: its workload's actions, and the tracers on the step and the run. */
export function stepMetricCatalog(
  runTracers: readonly { use: string }[] | undefined,
  step: { workload: { use: string; with?: Record<string, unknown> }; tracers?: readonly { use: string }[] },
  lookups: MetricLookups,
): MetricCatalog {
  const names = [...new Set([...(runTracers ?? []), ...(step.tracers ?? [])].map((t) => t.use))];
  return {
    actions: lookups.actions(step.workload.use, step.workload.with),
    tracers: names.flatMap((name) => {
      const measurements = lookups.measurements(name);
      return measurements ? [{ name, measurements }] : [];
    }),
  };
}
