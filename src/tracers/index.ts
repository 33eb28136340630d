import { Registry } from '../core/registry.js';
import { bpftraceTracer } from './bpftrace/index.js';
import { commandTracer } from './command/index.js';
import { fsioTracer } from './fsio/index.js';
import { mysqlTracer } from './mysql/index.js';
import { osprofilerTracer } from './osprofiler/index.js';
import { perfTracer } from './perf/index.js';
import { postgresTracer } from './postgres/index.js';
import { procTracer } from './proc/index.js';
import { processTracer } from './process/index.js';
import { pythonTracer } from './python/index.js';
import { rabbitmqTracer } from './rabbitmq/index.js';
import { syscallsTracer } from './syscalls/index.js';
import { systemtapTracer } from './systemtap/index.js';
import type { TracerDefinition } from './types.js';

/** Every tracer an agent can run, by name. Adding one: a folder, a manifest and a line here. */
export const tracerRegistry = new Registry<TracerDefinition<never>>('tracer', [
  procTracer as TracerDefinition<never>,
  processTracer as TracerDefinition<never>,
  pythonTracer as TracerDefinition<never>,
  bpftraceTracer as TracerDefinition<never>,
  systemtapTracer as TracerDefinition<never>,
  commandTracer as TracerDefinition<never>,
  mysqlTracer as TracerDefinition<never>,
  postgresTracer as TracerDefinition<never>,
  rabbitmqTracer as TracerDefinition<never>,
  syscallsTracer as TracerDefinition<never>,
  fsioTracer as TracerDefinition<never>,
  perfTracer as TracerDefinition<never>,
  osprofilerTracer as TracerDefinition<never>,
]);
