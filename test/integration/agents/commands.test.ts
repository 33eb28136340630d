import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeScenario } from '../../helpers/cli.js';
import { type AgentProcess, startAgentProcess } from '../helpers/agent-process.js';
import { PrivateMosquitto } from '../helpers/private-mosquitto.js';

describe('operator-defined commands on an agent started with --allow-commands', () => {
  let broker: PrivateMosquitto;
  let agent: AgentProcess;
  const catalog = join(tempDir(), 'commands.d');

  beforeAll(async () => {
    mkdirSync(catalog);
    writeFileSync(
      join(catalog, 'probes.yaml'),
      `commands:
  ticker:
    description: Three key=value lines, one per 100 ms.
    argv: [/bin/sh, -c, 'for i in 1 2 3; do echo "tick=$i load=0.5"; sleep 0.1; done; sleep 30']
    format: kv
    measurement: ticker
`,
    );
    broker = await PrivateMosquitto.start();
    agent = await startAgentProcess('cmd-agent', broker.url, ['--allow-commands', '--commands-dir', catalog]);
  });
  afterAll(async () => {
    await agent.stop();
    await broker.stop();
  });

  it('runs a catalog entry named by the scenario, and refuses a name not in the catalog', async () => {
    expect(agent.logs()).toMatch(/"commands":\["ticker"\]/);
    const dir = tempDir();
    const ok = writeScenario(
      dir,
      `version: 1
name: commands
steps:
  - name: s
    workload: { use: sleep, with: { duration: 1s } }
    tracers: [{ use: command, on: cmd-agent, with: { name: ticker } }]
`,
    );
    const r = await runCli(['run', ok, '--broker', broker.url, '--store-dir', join(dir, 'store'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(r.stdout);
    expect(record.streams[0]).toMatchObject({ tracer: 'command', samples: 3, complete: true });

    const bad = writeScenario(
      dir,
      `version: 1
name: commands
steps:
  - name: s
    workload: { use: sleep, with: { duration: 10ms } }
    tracers: [{ use: command, on: cmd-agent, with: { name: rm-everything } }]
`,
      'bad.yaml',
    );
    const refused = await runCli(['run', bad, '--broker', broker.url, '--store-dir', join(dir, 'store')]);
    expect(refused.code).toBe(3);
    expect(refused.stdout + refused.stderr).toMatch(/rm-everything/);
  });
});
