import { constantRunner } from './constant.js';
import type { CommonRunnerKeys, RunnerPolicy } from './types.js';

export interface SerialSpec extends CommonRunnerKeys {
  type: 'serial';
  times?: number;
}

/** One iteration after another: `constant` with a concurrency of one. */
export const serialRunner: RunnerPolicy<SerialSpec> = {
  type: 'serial',
  planned: (spec) => spec.times ?? 1,
  concurrency: () => 1,
  describe: (spec) => `serial ×${spec.times ?? 1}`,
  run: (spec, ctx) => constantRunner.run({ type: 'constant', times: spec.times ?? 1, concurrency: 1 }, ctx),
};
