import { Registry } from '../core/registry.js';
import { execWorkload } from './exec/index.js';
import { httpWorkload } from './http/index.js';
import { moduleWorkload } from './module/index.js';
import { openstackWorkload } from './openstack/index.js';
import { sleepWorkload } from './sleep/index.js';
import type { WorkloadDefinition } from './types.js';

/** Every workload, by name. Adding one: a folder under src/workloads/ and a line here. */
export const workloadRegistry = new Registry<WorkloadDefinition<never>>('workload', [
  execWorkload as WorkloadDefinition<never>,
  httpWorkload as WorkloadDefinition<never>,
  moduleWorkload as WorkloadDefinition<never>,
  openstackWorkload as WorkloadDefinition<never>,
  sleepWorkload as WorkloadDefinition<never>,
]);
