/**
 * Whether a tracer field of a stored run is a counter, and of which kind: what its manifest
 * declares (tracers/<name>.yaml), as the run's own scenario attached the tracer (a
 * `counters: delta` attachment writes interval counters). Gates and trends need it for `count`
 * and `rate`, the same way thresholds do while the run goes. The report's charts still guess
 * counters by shape (series.ts).
 */
import type { MetricRef } from '../core/metric.js';
import {
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

/** `metric` resolved against the tracers a stored run attached to `stepName`, or why it cannot be. */
export function resolveStoredSeries(
  record: RunRecord,
  stepName: string,
  metric: Extract<MetricRef, { kind: 'series' }>,
): ResolvedSeries | string {
  const scenario = (record.scenario.rendered ?? {}) as StoredScenario;
  const step = Array.isArray(scenario.steps) ? scenario.steps.find((s) => s?.name === stepName) : undefined;
  const catalog = stepMetricCatalog(
    Array.isArray(scenario.tracers) ? scenario.tracers : [],
    { workload: { use: '' }, tracers: Array.isArray(step?.tracers) ? step.tracers : [] },
    manifestLookups,
  );
  return resolveSeries(metric, catalog);
}
