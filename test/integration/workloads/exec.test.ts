import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runStep, scenarioOf } from './helpers.js';

const step = (withBlock: string, runner = '{ type: serial, times: 1 }', file?: string) =>
  scenarioOf(
    `version: 1
name: exec-test
steps:
  - name: s
    workload: { use: exec, with: ${withBlock} }
    runner: ${runner}
`,
    file,
  );

describe('exec workload with real commands', () => {
  it('succeeds on exit status 0 and records it', async () => {
    const { record, sink } = await runStep(
      step('{ command: "true" }', '{ type: constant, times: 4, concurrency: 2 }'),
    );
    expect(record).toMatchObject({ iterations: 4, failures: 0 });
    expect(sink.of('iteration')[0].fields.exit_code).toBe(0n);
  });

  it('fails with the exit status and the last lines of stderr', async () => {
    const { record } = await runStep(step(`{ command: "echo one >&2; echo two >&2; exit 3" }`));
    expect(record.errors).toEqual([{ message: 'exit status 3: one | two', count: 1 }]);
  });

  it('accepts the exit codes listed in expect.exit_code', async () => {
    const { record } = await runStep(step('{ command: "exit 3", expect: { exit_code: [0, 3] } }'));
    expect(record.failures).toBe(0);
  });

  it('runs an argv without a shell, with env and a cwd relative to the scenario', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'exec-'));
    writeFileSync(join(dir, 'marker'), 'x');
    const { record } = await runStep(
      step(
        '{ argv: [/bin/sh, -c, "test -f marker && test \\"$FOO\\" = bar"], env: { FOO: bar }, cwd: . }',
        undefined,
        join(dir, 's.yaml'),
      ),
    );
    expect(record.errors).toEqual([]);
  });

  it('kills a command (and its children) at the timeout', async () => {
    const t0 = performance.now();
    const { record } = await runStep(step('{ command: "sleep 5; echo late", timeout: 300ms }'));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(record.errors[0].message).toBe('timed out after 300ms');
  });

  it('reports a command that cannot be started', async () => {
    const { record } = await runStep(step('{ argv: [/nonexistent/binary] }'));
    expect(record.errors[0].message).toMatch(/cannot run \/nonexistent\/binary: .*ENOENT/);
  });

  it('records warmup iterations as points but leaves them out of statistics', async () => {
    const { record, sink } = await runStep(
      step('{ command: "true" }', '{ type: constant, times: 5, warmup: 2 }'),
    );
    expect(record.iterations).toBe(3);
    expect(record.warmup).toBe(2);
    expect(record.duration!.count).toBe(3);
    const points = sink.of('iteration');
    expect(points).toHaveLength(5);
    expect(points.filter((p) => p.fields.warmup === true).map((p) => p.fields.iteration)).toEqual([0n, 1n]);
  });

  it('stops a step at max_failures, and the step fails naming it', async () => {
    const { record } = await runStep(
      step('{ command: "exit 1" }', '{ type: constant, times: 50, concurrency: 1, max_failures: 3 }'),
    );
    expect(record.iterations).toBe(3);
    expect(record.stoppedEarly).toMatch(/max_failures/);
    expect(record.sla).toContainEqual(expect.objectContaining({ criterion: 'max_failures', success: false }));
  });

  it('runner timeout aborts a long iteration', async () => {
    const { record } = await runStep(
      step('{ command: "sleep 5" }', '{ type: serial, times: 1, timeout: 200ms }'),
    );
    expect(record.errors[0].message).toBe('timed out after 200ms');
  });
});
