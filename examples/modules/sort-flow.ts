/**
 * A module workload: generate numbers, sort them, check the order — three atomic actions
 * per iteration. `setup` runs once per step, before the first iteration.
 */
import type { ModuleContext, ModuleLifecycleContext } from '../../src/workloads/module/index.js';

let seed = 1;

export function setup(ctx: ModuleLifecycleContext): void {
  seed = Number(ctx.args.seed ?? 1);
}

export default async function sortFlow(ctx: ModuleContext): Promise<void> {
  const size = Number(ctx.args.size ?? 100_000);
  const values = await ctx.time('generate', () => {
    const out = new Float64Array(size);
    let x = seed + ctx.iteration;
    for (let i = 0; i < size; i++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      out[i] = x;
    }
    return out;
  });
  const sorted = await ctx.time('sort', () => values.sort());
  await ctx.time('check', () => {
    for (let i = 1; i < sorted.length; i++)
      if (sorted[i - 1] > sorted[i]) throw new Error(`not sorted at ${i}`);
  });
}
