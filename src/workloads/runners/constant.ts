import type { CommonRunnerKeys, RunnerPolicy } from './types.js';

export interface ConstantSpec extends CommonRunnerKeys {
  type: 'constant';
  times: number;
  concurrency?: number;
}

/** Starts `times` iterations with at most `concurrency` in flight (Rally's "constant"). */
export const constantRunner: RunnerPolicy<ConstantSpec> = {
  type: 'constant',
  planned: (spec) => spec.times,
  concurrency: (spec) => Math.min(spec.concurrency ?? 1, spec.times),
  describe: (spec) => `constant ×${spec.times}, concurrency ${spec.concurrency ?? 1}`,
  async run(spec, ctx) {
    let started = 0;
    const worker = async (slot: number) => {
      while (started < spec.times && !ctx.signal.aborted) {
        started++;
        await ctx.runIteration(slot);
      }
    };
    const slots = Math.min(spec.concurrency ?? 1, spec.times);
    await Promise.all(Array.from({ length: slots }, (_, i) => worker(i)));
  },
};
