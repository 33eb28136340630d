import { parseDuration } from '../core/duration.js';
import type { PluginSchemas } from '../scenario/load.js';
import { tracerRegistry } from '../tracers/index.js';
import { workloadRegistry } from '../workloads/index.js';

/** The plugin schemas scenario validation checks `use:`/`with:` against. */
export const tracerSchemas: PluginSchemas = {
  kind: 'tracer',
  names: () => tracerRegistry.names(),
  params: (name) => tracerRegistry.get(name)?.manifest.params,
};

export const workloadSchemas: PluginSchemas = {
  kind: 'workload',
  names: () => workloadRegistry.names(),
  params: (name) => workloadRegistry.get(name)?.params,
};

export function defaultIntervalMs(tracer: string): number {
  const manifest = tracerRegistry.get(tracer)?.manifest;
  return manifest ? parseDuration(manifest.default_interval) : 1000;
}
