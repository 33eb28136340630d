import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeLines } from '../../../src/store/line-protocol.js';
import { runCli, startCli, tempDir, writeScenario } from '../../helpers/cli.js';
import { type AgentProcess, startAgentProcess } from '../helpers/agent-process.js';
import { MqttProbe } from '../helpers/mqtt-probe.js';
import { PrivateMosquitto } from '../helpers/private-mosquitto.js';

/** The machine's shared Mosquitto: provisioning starts it when it is not running. */
const SHARED = 'mqtt://127.0.0.1:1883';

describe('three agents in separate processes on the shared Mosquitto', () => {
  const fleet = `t${randomBytes(3).toString('hex')}`;
  const names = [`${fleet}-ctl`, `${fleet}-c1`, `${fleet}-c2`];
  /** Every agent name the tests announce, for cleaning the shared broker afterwards. */
  const announced = [...names];
  const agents: AgentProcess[] = [];

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    const probe = await MqttProbe.connect(SHARED);
    await probe.forgetAgents(announced);
    await probe.close();
  });

  it('lists them with labels and tracers, and shows a killed one offline', async () => {
    agents.push(
      await startAgentProcess(names[0], SHARED, ['--label', 'role=controller', '--label', `fleet=${fleet}`]),
    );
    agents.push(
      await startAgentProcess(names[1], SHARED, ['--label', 'role=compute', '--label', `fleet=${fleet}`]),
    );
    agents.push(
      await startAgentProcess(names[2], SHARED, ['--label', 'role=compute', '--label', `fleet=${fleet}`]),
    );

    const listed = await runCli(['agents', '--broker', SHARED, '--json']);
    expect(listed.code).toBe(0);
    const mine = JSON.parse(listed.stdout).filter((a: { name: string }) => names.includes(a.name));
    expect(mine.map((a: { name: string }) => a.name).sort()).toEqual([...names].sort());
    for (const a of mine) {
      expect(a.online).toBe(true);
      expect(a.labels.fleet).toBe(fleet);
      expect(a.protocol).toBe(1);
      expect(a.tracers.find((t: { name: string }) => t.name === 'proc')).toMatchObject({ available: true });
      expect(typeof a.clockOffsetMs).toBe('number');
    }
    expect(mine.find((a: { name: string }) => a.name === names[1]).labels.role).toBe('compute');

    // A crash: the broker publishes the agent's last will, so it shows offline at once.
    const doomed = await startAgentProcess(`${fleet}-doomed`, SHARED);
    announced.push(doomed.name);
    await doomed.kill();
    const after = await runCli(['agents', '--broker', SHARED, '--json']);
    const entry = JSON.parse(after.stdout).find((a: { name: string }) => a.name === doomed.name);
    expect(entry).toMatchObject({ online: false });
  });

  it('stores samples from every agent, tagged by node, with a label selector for process', async () => {
    const dir = tempDir();
    const file = writeScenario(
      dir,
      `version: 1
name: fleet
tracers:
  - use: proc
    on: "${fleet}-*"
    interval: 200ms
steps:
  - name: observe
    workload: { use: sleep, with: { duration: 1s } }
    tracers:
      - use: process
        on: { role: compute, fleet: ${fleet} }
        interval: 200ms
        with: { pid: 1 }
`,
    );
    const store = join(dir, 'store');
    const r = await runCli([
      'run',
      file,
      '--broker',
      SHARED,
      '--store-dir',
      store,
      '--json',
      '--agent-wait',
      '10s',
    ]);
    expect(r.stderr).not.toMatch(/^Error/m);
    expect(r.code).toBe(0);
    const record = JSON.parse(r.stdout);
    expect(
      record.agents
        .map((a: { name: string }) => a.name)
        .filter((n: string) => names.includes(n))
        .sort(),
    ).toEqual([...names].sort());
    const samples = decodeLines(readFileSync(join(store, 'runs', record.id, 'samples.lp'), 'utf8'));
    const cpuHosts = new Set(samples.filter((s) => s.measurement === 'cpu').map((s) => s.tags.host));
    expect([...cpuHosts].sort()).toEqual([...names].sort());
    const procHosts = new Set(samples.filter((s) => s.measurement === 'procstat').map((s) => s.tags.host));
    expect([...procHosts].sort()).toEqual([names[1], names[2]].sort());
    expect(record.streams).toHaveLength(5);
    expect(record.streams.every((s: { complete: boolean }) => s.complete)).toBe(true);
    expect(record.data.lost).toBe(0);
  });

  it('refuses a selector that matches no agent, naming it', async () => {
    const dir = tempDir();
    const file = writeScenario(
      dir,
      `version: 1
name: nobody
steps:
  - name: s
    workload: { use: sleep, with: { duration: 10ms } }
    tracers: [{ use: proc, on: { role: storage, fleet: ${fleet} } }]
`,
    );
    const r = await runCli([
      'run',
      file,
      '--broker',
      SHARED,
      '--store-dir',
      join(dir, 'store'),
      '--agent-wait',
      '1s',
    ]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(new RegExp(`waited 1s for agents labelled role=storage,fleet=${fleet}`));
  });

  it('keeps going when an agent is killed mid-step, records the loss, and exits 3', async () => {
    const victim = await startAgentProcess(`${fleet}-victim`, SHARED, ['--label', `fleet=${fleet}`]);
    announced.push(victim.name);
    const dir = tempDir();
    const file = writeScenario(
      dir,
      `version: 1
name: loss
tracers: [{ use: proc, on: "${fleet}-*", interval: 200ms }]
steps:
  - name: long
    workload: { use: sleep, with: { duration: 3s } }
`,
    );
    const store = join(dir, 'store');
    const cli = startCli(['run', file, '--broker', SHARED, '--store-dir', store, '--json']);
    await cli.waitOutput('step long: started');
    await new Promise((r) => setTimeout(r, 500));
    await victim.kill();
    const r = await cli.done;
    expect(r.code).toBe(3);
    const record = JSON.parse(r.stdout);
    expect(record.status).toBe('error');
    expect(record.error).toMatch(new RegExp(`agent lost during the run: ${victim.name}`));
    expect(record.agents.find((a: { name: string }) => a.name === victim.name).lost).toMatch(/^\d{4}-/);
    const victimStream = record.streams.find((s: { agent: string }) => s.agent === victim.name);
    expect(victimStream.complete).toBe(false);
    expect(victimStream.samples).toBeGreaterThan(0);
    const others = record.streams.filter((s: { agent: string }) => s.agent !== victim.name);
    expect(others.length).toBe(3);
    expect(others.every((s: { complete: boolean }) => s.complete)).toBe(true);
    expect(r.stderr).toMatch(new RegExp(`agent ${victim.name} went offline`));
  });
});

describe('a run that selects no agent', () => {
  it('runs on a broker with no agent at all, without waiting for one', async () => {
    const broker = await PrivateMosquitto.start();
    try {
      const dir = tempDir();
      const file = writeScenario(
        dir,
        `version: 1
name: alone
steps:
  - name: s
    workload: { use: sleep, with: { duration: 10ms } }
    runner: { type: serial, times: 3 }
`,
      );
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
      const record = JSON.parse(r.stdout);
      expect(record.agents).toEqual([]);
      expect(record.steps[0]).toMatchObject({ name: 's', iterations: 3, failures: 0 });
    } finally {
      await broker.stop();
    }
  });
});
