import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { runStep, scenarioOf } from '../../integration/workloads/helpers.js';

describe('hooks, setup and teardown of a step (exec on the runner node)', () => {
  it('fire at the right iteration and time, and are recorded as points and in the record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hooks-'));
    const loaded = scenarioOf(
      `version: 1
name: hooks
steps:
  - name: s
    workload: { use: sleep, with: { duration: 50ms } }
    runner: { type: serial, times: 10 }
    setup: [ { name: prepare, exec: "echo ready > setup.txt" } ]
    teardown: [ { exec: "echo done; exit 4" } ]
    hooks:
      - name: at-iter
        trigger: { event: { unit: iteration, at: [3, 7] } }
        action: { exec: "echo fired; cat setup.txt" }
      - name: every-5
        trigger: { periodic: { unit: iteration, step: 5 } }
        action: { exec: [/bin/true] }
      - name: at-time
        trigger: { event: { unit: time, at: [200ms] } }
        action: { exec: "exit 2" }
      - name: tick
        trigger: { periodic: { unit: time, step: 150ms, end: 400ms } }
        action: { exec: "true" }
`,
      join(dir, 'scenario.yaml'),
    );
    // A timer cannot fire before the event loop is free: measure how late the loop ran.
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const { record, sink } = await runStep(loaded);
    lag.disable();
    const maxLagMs = lag.max / 1e6;
    expect(readFileSync(join(dir, 'setup.txt'), 'utf8')).toBe('ready\n');
    const hooks = record.hooks!;
    const byName = (n: string) => hooks.filter((h) => h.name === n);
    expect(byName('prepare')).toMatchObject([{ phase: 'setup', ok: true }]);
    expect(byName('teardown-1')).toMatchObject([
      { phase: 'teardown', ok: false, exitCode: 4, output: 'done', error: 'exit status 4' },
    ]);
    expect(byName('at-iter').map((h) => h.trigger)).toEqual(['iteration 3', 'iteration 7']);
    expect(byName('at-iter')[0]).toMatchObject({ ok: true, output: 'fired | ready' });
    expect(byName('every-5').map((h) => h.trigger)).toEqual(['iteration 5', 'iteration 10']);
    expect(byName('at-time')).toMatchObject([{ trigger: 'time 200ms', ok: false, exitCode: 2 }]);
    expect(byName('tick').map((h) => h.trigger)).toEqual(['time 0µs', 'time 150ms', 'time 300ms']);

    // Iteration triggers fire as iteration N (1-based) starts: between its start and the next one's.
    const starts = sink.of('iteration').map((p) => p.time);
    for (const h of [...byName('at-iter'), ...byName('every-5')]) {
      const n = Number(h.trigger!.split(' ')[1]);
      const t = BigInt(h.startNs);
      expect(t >= starts[n - 1], `${h.name} ${h.trigger} after iteration ${n} started`).toBe(true);
      if (n < starts.length) expect(t < starts[n], `${h.name} ${h.trigger} before the next`).toBe(true);
    }
    // Time triggers at their offset from the workload's start.
    for (const h of [...byName('at-time'), ...byName('tick')]) {
      const due = h.trigger === 'time 0µs' ? 0 : Number.parseInt(h.trigger!.split(' ')[1], 10);
      expect(h.offsetMs!).toBeGreaterThanOrEqual(due);
      // On time, give or take how late the event loop ran (spawning is synchronous in Node).
      expect(h.offsetMs!).toBeLessThan(due + 50 + maxLagMs);
    }
    // Points: measurement hook, one per run of an action.
    const points = sink.of('hook');
    expect(points).toHaveLength(hooks.length);
    expect(points.find((p) => p.tags.hook === 'at-time')).toMatchObject({
      tags: { run: 'r1', scenario: 'hooks', step: 's', hook: 'at-time', phase: 'hook' },
      fields: { ok: false, exit_code: 2n, trigger: 'time 200ms' },
    });
    // A failed teardown is recorded, not fatal.
    expect(record.iterations).toBe(10);
  });

  it('a failed setup stops the step with the output, and teardown still runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hooks-'));
    const loaded = scenarioOf(
      `version: 1
name: hooks
steps:
  - name: s
    workload: { use: sleep, with: { duration: 1ms } }
    setup: [ { exec: "echo no database >&2; exit 1" } ]
    teardown: [ { exec: "touch cleaned" } ]
`,
      join(dir, 'scenario.yaml'),
    );
    await expect(runStep(loaded)).rejects.toThrow(
      'step s: setup setup-1 failed: exit status 1 — no database',
    );
    expect(readFileSync(join(dir, 'cleaned'), 'utf8')).toBe('');
  });

  it('starts a background process for the step, waits until ready, and stops it after teardown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hooks-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const loaded = scenarioOf(
      `version: 1
name: bg
steps:
  - name: s
    workload: { use: http, with: { url: "http://127.0.0.1:${port}/" } }
    runner: { type: constant, times: 5 }
    setup:
      - name: server
        exec: [${JSON.stringify(process.execPath)}, -e, "require('http').createServer((q, r) => r.end('ok')).listen(${port})"]
        background: true
        ready: "tcp://127.0.0.1:${port}"
        timeout: 10s
`,
      join(dir, 'scenario.yaml'),
    );
    const { record } = await runStep(loaded);
    expect(record.failures).toBe(0);
    expect(record.hooks![0]).toMatchObject({ name: 'server', background: true, ok: true });
    // Stopped: the port refuses connections now.
    const refused = await fetch(`http://127.0.0.1:${port}/`).then(
      () => false,
      () => true,
    );
    expect(refused).toBe(true);
  });
});
