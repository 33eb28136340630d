/**
 * End to end through the built CLI (`npm run build` first): exit codes and the summary a
 * CI job reads, for SLA criteria, thresholds, abort_on_fail, setup/teardown and Ctrl-C.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { runCli, startCli, tempDir, writeScenario } from '../../helpers/cli.js';

const flow = resolve(import.meta.dirname, '../../fixtures/workloads/flow.ts');

function run(dir: string, yaml: string, extra: string[] = []) {
  const file = writeScenario(dir, yaml);
  return runCli(['run', file, '--store-dir', join(dir, 'store'), ...extra]);
}

const slaScenario = (lenient: boolean) => `version: 1
name: sla-${lenient ? 'pass' : 'fail'}
steps:
  - name: failure-rate
    workload: { use: exec, with: { command: "exit 1" } }
    runner: { type: constant, times: 2 }
    sla: { failure_rate: { max: ${lenient ? 100 : 0} } }
  - name: avg
    workload: { use: sleep, with: { duration: 20ms } }
    runner: { type: serial, times: 2 }
    sla: { max_avg_duration: ${lenient ? '5s' : '5ms'} }
  - name: per-iteration
    workload: { use: sleep, with: { duration: 20ms } }
    sla: { max_seconds_per_iteration: ${lenient ? 5 : 0.005} }
  - name: atomic
    workload: { use: module, with: { path: ${flow}, export: shaped } }
    runner: { type: serial, times: 2 }
    sla: { max_avg_duration_per_atomic: { prepare: ${lenient ? '2s' : '1ms'} } }
  - name: outliers
    workload: { use: module, with: { path: ${flow}, export: shaped, args: { base: 5, slow: 300, slowAt: 15 } } }
    runner: { type: serial, times: 20 }
    sla: { outliers: { max: ${lenient ? 1 : 0} } }
  - name: degradation
    workload: { use: module, with: { path: ${flow}, export: shaped, args: { base: 5, slow: 100, slowAt: 1 } } }
    runner: { type: serial, times: 3 }
    sla: { performance_degradation: { max_degradation: ${lenient ? 10000 : 50} } }
`;

const thresholdScenario = (pass: boolean) => `version: 1
name: thresholds-${pass ? 'pass' : 'fail'}
tracers:
  - use: proc
    interval: 200ms
steps:
  - name: t
    workload: { use: module, with: { path: ${flow}, export: shaped, args: { base: 10 } } }
    runner: { type: duration, duration: 1500ms, concurrency: 2 }
    thresholds:
      duration: [${pass ? '"avg < 1s", "min > 5ms", "med < 1s", "max < 2s", "p(90) < 1s", "count > 10", "rate > 10"' : '"avg < 1ms", "min < 1ms", "med < 1ms", "max < 1ms", "p(90) < 1ms", "count > 100000", "rate > 100000"'}]
      failure_rate: [${pass ? '"rate < 1%", "count == 0"' : '"rate > 50%", "count > 0"'}]
      rate: [${pass ? '"min > 10"' : '"min > 100000"'}]
      action.prepare: [${pass ? '"p(95) < 1s"' : '"p(95) < 1ms"'}]
      cpu.usage_active{cpu=cpu-total}: [${pass ? '"avg >= 0", "count >= 3"' : '"avg < 0"'}]
`;

// Each case starts the CLI (a broker, an agent) once or twice: slow on a shared two-core box.
vi.setConfig({ testTimeout: 180_000 });

describe('scalpels run: SLA, thresholds, teardown (built CLI)', () => {
  it('every SLA criterion passes when met: exit 0', async () => {
    const r = await run(tempDir(), slaScenario(true));
    expect(r.stdout).toMatch(/PASSED/);
    expect(r.code).toBe(0);
  });

  it('every SLA criterion fails when not met: exit 1, each named in the summary', async () => {
    const r = await run(tempDir(), slaScenario(false));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILED/);
    for (const [step, criterion] of [
      ['failure-rate', 'failure_rate'],
      ['avg', 'max_avg_duration'],
      ['per-iteration', 'max_seconds_per_iteration'],
      ['atomic', 'max_avg_duration_per_atomic'],
      ['outliers', 'outliers'],
      ['degradation', 'performance_degradation'],
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^ {2}${step}: ${criterion}: `, 'm'));
    }
  });

  it('every threshold aggregation passes when met: exit 0', async () => {
    const r = await run(tempDir(), thresholdScenario(true));
    expect(r.stdout + r.stderr).toMatch(/PASSED/);
    expect(r.code).toBe(0);
  });

  it('every threshold aggregation fails when not met: exit 1, each named in the summary', async () => {
    const r = await run(tempDir(), thresholdScenario(false), ['--json']);
    expect(r.code).toBe(1);
    const record = JSON.parse(r.stdout);
    const failed = record.steps[0].sla
      .filter((s: { success: boolean }) => !s.success)
      .map((s: { criterion: string }) => s.criterion);
    expect(failed).toHaveLength(12);
    const summary = await run(tempDir(), thresholdScenario(false));
    for (const c of failed) expect(summary.stdout).toContain(`  t: ${c}: `);
    expect(summary.stdout).toContain('  t: threshold duration: p(90) < 1ms: p(90) = ');
    expect(summary.stdout).toContain('  t: threshold cpu.usage_active{cpu=cpu-total}: avg < 0: avg = ');
  });

  it('abort_on_fail stops the step and the run, and still runs both teardowns', async () => {
    const dir = tempDir();
    const r = await run(
      dir,
      `version: 1
name: abort
teardown: [ { exec: "touch run-teardown" } ]
steps:
  - name: failing
    workload: { use: exec, with: { command: "exit 1" } }
    runner: { type: duration, duration: 30s }
    thresholds:
      failure_rate: [ { threshold: "rate < 10%", abort_on_fail: true, delay_abort_eval: 500ms } ]
    teardown: [ { exec: "touch step-teardown" } ]
  - name: never
    workload: { use: sleep, with: { duration: 1ms } }
`,
      ['--json'],
    );
    expect(r.code).toBe(1);
    const record = JSON.parse(r.stdout);
    expect(record.steps.map((s: { name: string }) => s.name)).toEqual(['failing']);
    const step = record.steps[0];
    expect(step.aborted).toMatch(
      /^threshold failure_rate: rate < 10% failed after 1\.\d+s \(rate = 100\.00%\)$/,
    );
    expect(Date.parse(step.endedAt) - Date.parse(step.startedAt)).toBeLessThan(5000);
    expect(step.sla).toContainEqual(expect.objectContaining({ criterion: 'abort_on_fail', success: false }));
    expect(existsSync(join(dir, 'step-teardown'))).toBe(true);
    expect(existsSync(join(dir, 'run-teardown'))).toBe(true);
    expect(record.hooks).toMatchObject([{ name: 'teardown-1', phase: 'teardown', ok: true }]);
  });

  it('a failed scenario setup ends the run with exit 3, after teardown', async () => {
    const dir = tempDir();
    const r = await run(
      dir,
      `version: 1
name: setup-fails
setup: [ { name: db, exec: "echo cannot reach db >&2; exit 2" } ]
teardown: [ { exec: "touch cleaned" } ]
steps:
  - name: s
    workload: { use: sleep, with: { duration: 1ms } }
`,
    );
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/Error: setup db failed: exit status 2 — cannot reach db/);
    expect(existsSync(join(dir, 'cleaned'))).toBe(true);
  });

  it('Ctrl-C: the step stops, teardowns run, exit 130', async () => {
    const dir = tempDir();
    const file = writeScenario(
      dir,
      `version: 1
name: interrupted
teardown: [ { exec: "echo run > run-teardown" } ]
steps:
  - name: long
    workload: { use: sleep, with: { duration: 30s } }
    teardown: [ { exec: "echo step > step-teardown" } ]
`,
    );
    const cli = startCli(['run', file, '--store-dir', join(dir, 'store')]);
    const started = await new Promise<boolean>((resolveStarted) => {
      const timer = setInterval(() => {
        if (cli.output().includes('step long: started')) {
          clearInterval(timer);
          resolveStarted(true);
        }
      }, 50);
      void cli.done.then(() => {
        clearInterval(timer);
        resolveStarted(false);
      });
    });
    expect(started, cli.output()).toBe(true);
    cli.child.kill('SIGINT');
    const r = await cli.done;
    expect(r.code).toBe(130);
    expect(readFileSync(join(dir, 'step-teardown'), 'utf8')).toBe('step\n');
    expect(readFileSync(join(dir, 'run-teardown'), 'utf8')).toBe('run\n');
  });

  it('a threshold on a metric the step cannot produce is refused before the run: exit 2', async () => {
    const dir = tempDir();
    const r = await run(
      dir,
      `version: 1
name: bad
steps:
  - name: s
    workload: { use: sleep, with: { duration: 1ms } }
    thresholds:
      cpu.usage_active: ["avg < 80"]
`,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /scenario\.yaml:7:7: steps\[0\]\.thresholds\.cpu\.usage_active: threshold on "cpu\.usage_active": no tracer attached/,
    );
    expect(existsSync(join(dir, 'store'))).toBe(false);
  });
});
