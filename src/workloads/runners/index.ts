import { constantRunner } from './constant.js';
import { durationRunner } from './duration.js';
import { rateRunner } from './rate.js';
import { serialRunner } from './serial.js';
import type { RunnerPolicy } from './types.js';

/** Runner policies by `type`; the scenario schema lists the same types. */
export const runnerPolicies: Record<string, RunnerPolicy<never>> = {
  constant: constantRunner as RunnerPolicy<never>,
  duration: durationRunner as RunnerPolicy<never>,
  rate: rateRunner as RunnerPolicy<never>,
  serial: serialRunner as RunnerPolicy<never>,
};

export function runnerPolicy(type: string): RunnerPolicy<Record<string, unknown>> {
  const policy = runnerPolicies[type];
  if (!policy) throw new Error(`unknown runner type "${type}"`);
  return policy as unknown as RunnerPolicy<Record<string, unknown>>;
}
