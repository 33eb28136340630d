import { parseDuration } from '../core/duration.js';
import type { PluginSchemas } from '../scenario/load.js';
import { tracerRegistry } from '../tracers/index.js';
import { workloadRegistry } from '../workloads/index.js';

/** The plugin schemas scenario validation checks `use:`/`with:` against. */
export const tracerSchemas: PluginSchemas = {
  kind: 'tracer',
  names: () => tracerRegistry.names(),
  params: (name) => tracerRegistry.get(name)?.manifest.params,
  measurements: (name) => tracerRegistry.get(name)?.manifest.measurements,
};

export const workloadSchemas: PluginSchemas = {
  kind: 'workload',
  names: () => workloadRegistry.names(),
  params: (name) => workloadRegistry.get(name)?.params,
  actions: (name, params) => workloadRegistry.get(name)?.actions?.((params ?? {}) as never) ?? [],
  check: (name, params, ctx) => workloadRegistry.get(name)?.check?.(params as never, ctx) ?? [],
};

export function defaultIntervalMs(tracer: string): number {
  const manifest = tracerRegistry.get(tracer)?.manifest;
  return manifest ? parseDuration(manifest.default_interval) : 1000;
}
