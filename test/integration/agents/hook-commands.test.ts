import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sample } from '../../../src/core/sample.js';
import { LocalStore } from '../../../src/store/local/local-store.js';
import type { HookRecord, RunRecord } from '../../../src/store/run-record.js';
import { runCli, startCli, tempDir, writeScenario } from '../../helpers/cli.js';
import { type AgentProcess, startAgentProcess } from '../helpers/agent-process.js';
import { PrivateMosquitto } from '../helpers/private-mosquitto.js';

/** Unique, so the test can tell its own `sleep` from anyone else's. */
const SLOW_SLEEP = '31.4159';

async function hookPoints(store: string, runId: string): Promise<Sample[]> {
  const points: Sample[] = [];
  for await (const s of new LocalStore(store).readSamples(runId, { measurement: 'hook' })) points.push(s);
  return points.sort((a, b) => (a.time < b.time ? -1 : 1));
}

function sleepRunning(): boolean {
  try {
    execFileSync('pgrep', ['-f', `sleep ${SLOW_SLEEP}`]);
    return true;
  } catch {
    return false;
  }
}

describe('hook, setup and teardown actions on agents (entries of their own catalogs)', () => {
  let broker: PrivateMosquitto;
  let withCommands: AgentProcess;
  let without: AgentProcess;
  const dir = tempDir();
  const catalog = join(dir, 'commands.d');
  const stampFile = join(dir, 'stamp.txt');
  const setupFile = join(dir, 'setup.txt');

  beforeAll(async () => {
    mkdirSync(catalog);
    // No format: these entries are actions only, never tracers.
    writeFileSync(
      join(catalog, 'actions.yaml'),
      `commands:
  stamp:
    description: Writes the time (ns) to a file, says so on stdout and stderr.
    argv: [/bin/sh, -c, 'date +%s%N > "$STAMP_FILE"; echo stamped; echo on-stderr >&2']
    env: { STAMP_FILE: ${JSON.stringify(stampFile)} }
  prepare:
    argv: [/bin/sh, -c, 'echo "$1" > ${JSON.stringify(setupFile)}', prepare, ready]
  slow:
    argv: [/bin/sh, -c, 'echo started; sleep ${SLOW_SLEEP}; echo never']
  failing:
    argv: [/bin/sh, -c, 'echo cleaning; exit 3']
`,
    );
    broker = await PrivateMosquitto.start();
    [withCommands, without] = await Promise.all([
      startAgentProcess('ctl-1', broker.url, [
        '--allow-commands',
        '--commands-dir',
        catalog,
        '--label',
        'role=controller',
      ]),
      startAgentProcess('ctl-2', broker.url, ['--label', 'role=controller']),
    ]);
  });
  afterAll(async () => {
    await Promise.all([withCommands?.stop(), without?.stop()]);
    await broker?.stop();
  });

  it('runs the named entry on every selected agent at iteration N, recording each agent apart', async () => {
    const store = join(dir, 'store');
    const file = writeScenario(
      dir,
      `version: 1
name: agent-hooks
teardown:
  - { name: cleanup, command: failing, on: ctl-1 }
steps:
  - name: s
    workload: { use: sleep, with: { duration: 100ms } }
    runner: { type: serial, times: 6 }
    setup:
      - { name: prepare, command: prepare, on: ctl-1 }
    hooks:
      - name: stamp
        trigger: { event: { unit: iteration, at: [3] } }
        action: { command: stamp, on: { role: controller } }
      - name: typo
        trigger: { event: { unit: iteration, at: [4] } }
        action: { command: stmap, on: ctl-1 }
      - name: slow
        trigger: { event: { unit: iteration, at: [1] } }
        action: { command: slow, on: ctl-1, timeout: 500ms }
`,
    );
    const r = await runCli(['run', file, '--broker', broker.url, '--store-dir', store, '--json']);
    // A failed hook is recorded; it does not fail the run (as for exec hooks).
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(r.stdout) as RunRecord;
    const step = record.steps[0];
    const hooks = step.hooks ?? [];
    const find = (name: string, host?: string) => {
      const found = hooks.filter((h) => h.name === name && (host === undefined || h.host === host));
      expect(found, `${name} on ${host}: ${JSON.stringify(hooks)}`).toHaveLength(1);
      return found[0] as HookRecord;
    };

    // Setup ran on the agent before the workload, from the agent's catalog entry.
    expect(readFileSync(setupFile, 'utf8')).toBe('ready\n');
    expect(find('prepare')).toMatchObject({ phase: 'setup', host: 'ctl-1', ok: true, exitCode: 0 });

    // The hook ran on the agent with --allow-commands, during the step, at iteration 3 ...
    const stamp = find('stamp', 'ctl-1');
    expect(stamp).toMatchObject({ phase: 'hook', trigger: 'iteration 3', ok: true, exitCode: 0 });
    expect(stamp.output).toContain('stamped');
    expect(stamp.output).toContain('on-stderr');
    const stampedAt = BigInt(readFileSync(stampFile, 'utf8').trim());
    expect(stampedAt > BigInt(step.startNs) && stampedAt < BigInt(step.endNs!)).toBe(true);
    expect(stampedAt >= BigInt(stamp.startNs)).toBe(true);
    // ... and the agent without it refused, in a sentence.
    expect(find('stamp', 'ctl-2')).toMatchObject({
      ok: false,
      trigger: 'iteration 3',
      error: 'command "stamp" refused: agent was not started with --allow-commands',
    });

    // A name not in the catalog is refused, with the near one.
    expect(find('typo').error).toMatch(
      /^no command "stmap" in this agent's catalog .*\(did you mean "stamp"\?\); it has /,
    );

    // The timeout killed the whole process group on the agent, and the output so far came back.
    const slow = find('slow');
    expect(slow).toMatchObject({
      ok: false,
      output: 'started',
      error: 'command "slow" timed out after 500ms',
    });
    expect(slow.durationMs).toBeGreaterThanOrEqual(500);
    expect(slow.durationMs).toBeLessThan(5000);
    expect(sleepRunning()).toBe(false);

    // The run's teardown ran on the agent; its exit status is the record's.
    expect(record.hooks).toMatchObject([
      {
        name: 'cleanup',
        phase: 'teardown',
        host: 'ctl-1',
        ok: false,
        exitCode: 3,
        output: 'cleaning',
        error: 'exit status 3',
      },
    ]);

    // One point per agent and run of an action, tagged with the agent.
    const points = await hookPoints(store, record.id);
    const summary = points.map((p) => `${p.tags.hook}@${p.tags.host}:${p.tags.phase}:${p.fields.ok}`).sort();
    expect(summary).toEqual([
      'cleanup@ctl-1:teardown:false',
      'prepare@ctl-1:setup:true',
      'slow@ctl-1:hook:false',
      'stamp@ctl-1:hook:true',
      'stamp@ctl-2:hook:false',
      'typo@ctl-1:hook:false',
    ]);
    const stampPoint = points.find((p) => p.tags.hook === 'stamp' && p.tags.host === 'ctl-1')!;
    expect(stampPoint.tags).toMatchObject({ run: record.id, scenario: 'agent-hooks', step: 's' });
    expect(stampPoint.fields).toMatchObject({ ok: true, exit_code: 0n, trigger: 'iteration 3' });
    expect(stampPoint.time).toBe(BigInt(stamp.startNs));

    // The report's hooks table tells the agents apart.
    const html = join(dir, 'report.html');
    const report = await runCli(['report', record.id, '--store-dir', store, '-o', html]);
    expect(report.code, report.stderr).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<td>stamp on ctl-1</td>');
    expect(page).toContain('<td>stamp on ctl-2</td>');
  });

  it('records an agent that does not answer as a failed run of the hook, without hanging', async () => {
    const file = writeScenario(
      dir,
      `version: 1
name: silent-agent
steps:
  - name: s
    workload: { use: sleep, with: { duration: 100ms } }
    runner: { type: serial, times: 5 }
    # The agent is online and answered the run's pings; then it hangs (SIGSTOP).
    setup: [ { name: freeze, exec: "kill -STOP ${withCommands.child.pid}" } ]
    hooks:
      - name: stamp
        trigger: { event: { unit: iteration, at: [1] } }
        action: { command: stamp, on: ctl-1, timeout: 300ms }
`,
      'silent.yaml',
    );
    try {
      const t0 = Date.now();
      const r = await runCli([
        'run',
        file,
        '--broker',
        broker.url,
        '--store-dir',
        join(dir, 'store'),
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(Date.now() - t0).toBeLessThan(20_000);
      const stamp = (JSON.parse(r.stdout) as RunRecord).steps[0].hooks!.find((h) => h.name === 'stamp')!;
      expect(stamp).toMatchObject({ host: 'ctl-1', ok: false });
      expect(stamp.error).toBe(
        "agent ctl-1 did not answer within 5.30s (the command's timeout plus 5.00s): it is offline, hung, or too old to know run-command",
      );
    } finally {
      withCommands.child.kill('SIGCONT');
    }
  });

  it('Ctrl-C kills an action still running on an agent, instead of leaving it to its timeout', async () => {
    const file = writeScenario(
      dir,
      `version: 1
name: agent-hooks-interrupted
steps:
  - name: s
    workload: { use: sleep, with: { duration: 30s } }
    hooks:
      - name: long-fault
        trigger: { event: { unit: iteration, at: [1] } }
        action: { command: slow, on: ctl-1, timeout: 10m }
`,
      'interrupted.yaml',
    );
    const cli = startCli([
      'run',
      file,
      '--broker',
      broker.url,
      '--store-dir',
      join(dir, 'store-int'),
      '--json',
    ]);
    const deadline = Date.now() + 60_000;
    while (!sleepRunning() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(sleepRunning(), 'the action started on the agent').toBe(true);
    cli.child.kill('SIGINT');
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(130);
    // The runner told the agent to stop the run: the command is gone at once, not in 10 minutes.
    const gone = Date.now() + 5_000;
    while (sleepRunning() && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
    expect(sleepRunning(), 'the action still runs on the agent').toBe(false);
  });

  it('refuses to start a run whose action selects no agent, before the workload', async () => {
    const file = writeScenario(
      dir,
      `version: 1
name: nobody
steps:
  - name: s
    workload: { use: sleep, with: { duration: 10ms } }
    hooks:
      - trigger: { event: { unit: iteration, at: [1] } }
        action: { command: stamp, on: { role: nowhere } }
`,
      'nobody.yaml',
    );
    const r = await runCli([
      'run',
      file,
      '--broker',
      broker.url,
      '--store-dir',
      join(dir, 'store'),
      '--agent-wait',
      '1s',
      '--json',
    ]);
    expect(r.code).toBe(3);
    expect(r.stdout + r.stderr).toMatch(/agents labelled role=nowhere/);
    expect((JSON.parse(r.stdout) as RunRecord).steps).toEqual([]);
  });
});
