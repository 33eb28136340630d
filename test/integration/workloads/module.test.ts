import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runStep, scenarioOf } from './helpers.js';

const fixtures = resolve(import.meta.dirname, '../../fixtures/workloads');
const scenarioFile = resolve(fixtures, 'scenario.yaml');

const step = (withBlock: string, runner = '{ type: constant, times: 6, concurrency: 2 }') =>
  scenarioOf(
    `version: 1
name: module-test
args: { delayMs: 5 }
steps:
  - name: s
    workload: { use: module, with: ${withBlock} }
    runner: ${runner}
`,
    scenarioFile,
  );

describe('module workload (a TypeScript module from test fixtures)', () => {
  it('loads TS without a build step and records atomic actions from ctx.time', async () => {
    const { record, sink } = await runStep(step('{ path: ./flow.ts }'));
    expect(record.iterations).toBe(6);
    expect(record.failures).toBe(0);
    expect(Object.keys(record.actions!).sort()).toEqual(['compute', 'prepare']);
    expect(record.actions!.prepare.count).toBe(6);
    expect(record.actions!.prepare.min).toBeGreaterThanOrEqual(4);
    const actions = sink.of('action');
    expect(actions).toHaveLength(12);
    expect(actions.every((a) => a.tags.worker === '0' || a.tags.worker === '1')).toBe(true);
  });

  it('passes with.args over the scenario args; a thrown error fails the iteration and its action', async () => {
    const { record, sink } = await runStep(step('{ path: ./flow.ts, args: { failEvery: 3, delayMs: 1 } }'));
    expect(record.iterations).toBe(6);
    expect(record.failures).toBe(2);
    expect(record.errors[0].message).toMatch(/^boom at [25] \(setups: 1\)$/);
    expect(record.actions!.explode).toMatchObject({ count: 0, failures: 2 });
    const failed = sink.of('action').filter((a) => a.tags.action === 'explode');
    expect(failed.every((a) => a.fields.ok === false && String(a.fields.error).startsWith('boom'))).toBe(
      true,
    );
  });

  it('calls a named export', async () => {
    const { record } = await runStep(step('{ path: ./flow.ts, export: empty }'));
    expect(record.failures).toBe(0);
    expect(record.actions).toBeUndefined();
  });

  it('names a missing export and a missing file clearly', async () => {
    await expect(runStep(step('{ path: ./flow.ts, export: nope }'))).rejects.toThrow(
      /has no function export "nope"; its functions: .*default/,
    );
    expect(() => step('{ path: ./missing.ts }')).toThrow(
      /scenario\.yaml:\d+:\d+: steps\[0\]\.workload\.with\.path: no module at .*missing\.ts/,
    );
  });
});
