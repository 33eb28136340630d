import { Registry } from '../core/registry.js';
import { procTracer } from './proc/index.js';
import { processTracer } from './process/index.js';
import type { TracerDefinition } from './types.js';

/** Every tracer an agent can run, by name. Adding one: a folder, a manifest and a line here. */
export const tracerRegistry = new Registry<TracerDefinition<never>>('tracer', [
  procTracer as TracerDefinition<never>,
  processTracer as TracerDefinition<never>,
]);
