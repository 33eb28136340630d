import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir, writeScenario } from '../../helpers/cli.js';

/** The all-in-one default: `run --allow-commands` gives the in-process agent a command catalog. */
describe('scalpels run --allow-commands (the in-process agent)', () => {
  const dir = tempDir();
  const catalog = join(dir, 'commands.d');
  const stamp = join(dir, 'stamp.txt');
  mkdirSync(catalog);
  writeFileSync(
    join(catalog, 'faults.yaml'),
    `commands:
  stamp:
    argv: [/bin/sh, -c, 'echo stamped >> ${stamp}; echo done']
`,
  );
  const scenario = writeScenario(
    dir,
    `version: 1
name: local-commands
steps:
  - name: s
    workload: { use: sleep, with: { duration: 20ms } }
    runner: { type: serial, times: 5 }
    hooks:
      - name: fault
        trigger: { event: { unit: iteration, at: [2] } }
        action: { command: stamp }
`,
  );
  const hooksOf = (stdout: string) => JSON.parse(stdout).steps[0].hooks;

  it('runs the named entry of the catalog given with --commands-dir', async () => {
    const r = await runCli([
      'run',
      scenario,
      '--allow-commands',
      '--commands-dir',
      catalog,
      '--store-dir',
      join(dir, 'store'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(hooksOf(r.stdout)).toMatchObject([
      { name: 'fault', trigger: 'iteration 2', ok: true, output: 'done' },
    ]);
    expect(readFileSync(stamp, 'utf8')).toBe('stamped\n');
  });

  it('without --allow-commands the in-process agent refuses, and the refusal is recorded', async () => {
    const r = await runCli(['run', scenario, '--store-dir', join(dir, 'store'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const [hook] = hooksOf(r.stdout);
    expect(hook).toMatchObject({ name: 'fault', ok: false });
    expect(hook.error).toContain('agent was not started with --allow-commands');
  });

  it('with --broker it is an error: agents on a broker allow commands themselves', async () => {
    const r = await runCli(['run', scenario, '--broker', 'mqtt://127.0.0.1:1', '--allow-commands']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--allow-commands is for the in-process agent');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
