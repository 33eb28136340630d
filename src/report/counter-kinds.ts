/**
 * Whether a tracer field of a stored run is a counter, and of which kind: what its manifest
 * declares (tracers/<name>.yaml), as the run's own scenario attached the tracer (a
 * `counters: delta` attachment writes interval counters). Gates and trends need it for `count`
 * and `rate`, the same way thresholds do while the run goes; the report's charts and tables
 * need it to draw a running total as a rate (declaredKinds), and guess by shape only for
 * measurements no attached tracer declares (series.ts).
 */
import type { CounterKind } from '../core/counters.js';
import type { MetricRef } from '../core/metric.js';
import {
  type MetricCatalog,
  type MetricLookups,
  type ResolvedSeries,
  resolveSeries,
  stepMetricCatalog,
} from '../scenario/metrics.js';
import type { RunRecord } from '../store/run-record.js';
import { loadTracerManifest, type MeasurementSpec } from '../tracers/manifest.js';

const manifests = new Map<string, MeasurementSpec[] | undefined>();

/**
 * The tracer manifests, read once each; a tracer this version does not ship has none. Read
 * from the YAML files rather than through the tracer registry (step-executor.ts's
 * builtinLookups) so that `report`, `compare` and `trends` do not load every tracer's code.
 */
const manifestLookups: MetricLookups = {
  measurements(name) {
    if (!manifests.has(name)) {
      let measurements: MeasurementSpec[] | undefined;
      try {
        measurements = loadTracerManifest(name).measurements;
      } catch {
        measurements = undefined;
      }
      manifests.set(name, measurements);
    }
    return manifests.get(name);
  },
  actions: () => 'any',
};

interface StoredScenario {
  tracers?: { use: string; with?: Record<string, unknown> }[];
  steps?: { name?: string; tracers?: { use: string; with?: Record<string, unknown> }[] }[];
}

/** What the tracers a stored run attached can produce: the run's, and `stepName`'s (every step's when none is named). */
function storedCatalog(record: RunRecord, stepName?: string): MetricCatalog {
  const scenario = (record.scenario.rendered ?? {}) as StoredScenario;
  const steps = Array.isArray(scenario.steps) ? scenario.steps : [];
  const stepTracers = steps
    .filter((s) => stepName === undefined || s?.name === stepName)
    .flatMap((s) => (Array.isArray(s?.tracers) ? s.tracers : []));
  return stepMetricCatalog(
    Array.isArray(scenario.tracers) ? scenario.tracers : [],
    { workload: { use: '' }, tracers: stepTracers },
    manifestLookups,
  );
}

/** `metric` resolved against the tracers a stored run attached to `stepName`, or why it cannot be. */
export function resolveStoredSeries(
  record: RunRecord,
  stepName: string,
  metric: Extract<MetricRef, { kind: 'series' }>,
): ResolvedSeries | string {
  return resolveSeries(metric, storedCatalog(record, stepName));
}

/** A field's kind as declared: a counter of either kind, or a level (no counter: a gauge). */
export type DeclaredKind = CounterKind | 'level';

/**
 * The declared kind of each field of `record`, as its scenario attached its tracers: the
 * run-level tracers and those of `stepName`, or of every step when no step is named. A
 * measurement no attached tracer declares (a tracer this version does not ship, a run written
 * by another tool) gives undefined, as does a field two attachments write differently.
 */
export function declaredKinds(
  record: RunRecord,
  stepName?: string,
): (measurement: string, field: string) => DeclaredKind | undefined {
  const kinds = new Map<string, DeclaredKind | 'conflict'>();
  for (const tracer of storedCatalog(record, stepName).tracers) {
    for (const m of tracer.measurements) {
      for (const [field, spec] of Object.entries(m.fields)) {
        const key = `${m.name}\u0000${field}`;
        const kind: DeclaredKind = spec.counter ?? 'level';
        const known = kinds.get(key);
        kinds.set(key, known === undefined || known === kind ? kind : 'conflict');
      }
    }
  }
  return (measurement, field) => {
    const kind = kinds.get(`${measurement}\u0000${field}`);
    return kind === 'conflict' ? undefined : kind;
  };
}
