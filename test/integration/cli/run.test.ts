import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeLines } from '../../../src/store/line-protocol.js';
import { runCli, startCli, tempDir, writeScenario } from '../../helpers/cli.js';

const quickstart = resolve(import.meta.dirname, '../../../examples/quickstart.yaml');

function samplesOf(storeDir: string, runId: string) {
  const file = join(storeDir, 'runs', runId, 'samples.lp');
  return decodeLines(readFileSync(file, 'utf8'));
}

describe('scalpels run (all-in-one, embedded broker)', () => {
  it('runs the quickstart end to end and stores every step', async () => {
    const store = tempDir();
    const r = await runCli(['run', quickstart, '--store-dir', store, '--json', '--arg', 'iterations=6']);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    const record = JSON.parse(r.stdout);
    expect(record.status).toBe('passed');
    expect(record.steps.map((s: { name: string }) => s.name)).toEqual(['idle', 'busy']);
    expect(record.steps[1].iterations).toBe(6);
    expect(existsSync(join(store, 'runs', record.id, 'run.json'))).toBe(true);

    const samples = samplesOf(store, record.id);
    // One iteration record per iteration, tagged with its step.
    const iterations = samples.filter((s) => s.measurement === 'iteration');
    expect(iterations.filter((s) => s.tags.step === 'busy')).toHaveLength(6);
    expect(iterations.filter((s) => s.tags.step === 'idle')).toHaveLength(1);
    // proc samples within each step's time window.
    for (const step of record.steps) {
      const [from, to] = [BigInt(step.startNs), BigInt(step.endNs)];
      const cpu = samples.filter((s) => s.measurement === 'cpu' && s.time >= from && s.time <= to);
      expect(cpu.length, `cpu samples during ${step.name}`).toBeGreaterThan(0);
    }
    // Every stream complete, and the accounting adds up.
    expect(record.streams.every((s: { complete: boolean }) => s.complete)).toBe(true);
    expect(record.data.lost).toBe(0);
    expect(record.data.written).toBe(samples.length);
    expect(record.data.produced).toBe(samples.length);

    const show = await runCli(['runs', 'show', 'latest', '--json', '--store-dir', store]);
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout).id).toBe(record.id);
  });

  it('prints a summary table, the run id and where it is stored', async () => {
    const store = tempDir();
    const r = await runCli(['run', quickstart, '--store-dir', store, '--arg', 'iterations=2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Run \d{8}-\d{6}-[0-9a-f]{4}\s+scenario quickstart\s+PASSED/m);
    expect(r.stdout).toMatch(/^busy\s+2\s+0\s/m);
    expect(r.stdout).toMatch(/^proc\s+\(run\)/m);
    expect(r.stdout).toContain(`Stored in ${join(store, 'runs')}`);
    expect(r.stdout).toMatch(/0 lost/);
    // CI=true: plain progress lines, no terminal control codes.
    expect(r.stderr).toMatch(/^step busy: ok, 2 iterations/m);
    expect(r.stderr).not.toContain('\x1b[');
  });

  it('gives run-level tracers samples inside a step shorter than their interval', async () => {
    const dir = tempDir();
    const file = writeScenario(
      dir,
      `version: 1
name: short-steps
tracers: [{ use: proc, interval: 10s }]
steps:
  - { name: a, workload: { use: sleep, with: { duration: 100ms } } }
  - { name: b, workload: { use: sleep, with: { duration: 100ms } } }
`,
    );
    const store = join(dir, 'store');
    const r = await runCli(['run', file, '--store-dir', store, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(r.stdout);
    const samples = samplesOf(store, record.id);
    for (const step of record.steps) {
      const [from, to] = [BigInt(step.startNs), BigInt(step.endNs)];
      // One sample as the step starts and one as it ends.
      const cpu = samples.filter((s) => s.measurement === 'cpu' && s.time >= from && s.time <= to);
      expect(cpu.length, `cpu samples during ${step.name}`).toBe(2);
    }
  });

  it('exits 1 when an SLA fails, and names the criterion', async () => {
    const dir = tempDir();
    const file = writeScenario(
      dir,
      `version: 1
name: sla-fail
steps:
  - name: flaky
    workload: { use: exec, with: { command: "exit 3" } }
    runner: { type: serial, times: 2 }
    sla: { failure_rate: { max: 0 } }
`,
    );
    const r = await runCli(['run', file, '--store-dir', join(dir, 'store')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILED/);
    expect(r.stdout).toMatch(/flaky: failure_rate: failure rate 100\.0% \(2\/2\); allowed 0%–0%/);
    expect(r.stdout).toMatch(/2× exit status 3/);
  });

  it('exits 130 on SIGINT, stores an interrupted run and leaves no child behind', async () => {
    const dir = tempDir();
    const marker = `scalpels-sigint-${process.pid}-${Date.now()}`;
    const file = writeScenario(
      dir,
      `version: 1
name: interrupted
tracers: [{ use: proc, interval: 200ms }]
steps:
  - name: long
    workload: { use: exec, with: { command: "sleep 30 # ${marker}" } }
    runner: { type: constant, times: 4, concurrency: 2 }
`,
    );
    const store = join(dir, 'store');
    const cli = startCli(['run', file, '--store-dir', store, '--json']);
    // Wait until the workload's processes exist, then interrupt.
    const deadline = Date.now() + 20_000;
    while (!pgrep(marker) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(pgrep(marker)).toBe(true);
    cli.child.kill('SIGINT');
    const r = await cli.done;
    expect(r.code).toBe(130);
    const record = JSON.parse(r.stdout);
    expect(record.status).toBe('interrupted');
    expect(record.steps[0].interrupted).toBe(true);
    expect(record.streams[0].complete).toBe(true);
    expect(existsSync(join(store, 'runs', record.id, 'run.json'))).toBe(true);
    expect(pgrep(marker)).toBe(false);
  });
});

function pgrep(pattern: string): boolean {
  try {
    execFileSync('pgrep', ['-f', pattern]);
    return true;
  } catch {
    return false;
  }
}
