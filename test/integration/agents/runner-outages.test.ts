import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, tempDir, writeSleepScenario } from '../../helpers/cli.js';
import { startAgentProcess } from '../helpers/agent-process.js';
import { PrivateMosquitto } from '../helpers/private-mosquitto.js';

describe('the runner through outages, on a private Mosquitto', () => {
  let broker: PrivateMosquitto;

  beforeAll(async () => {
    broker = await PrivateMosquitto.start();
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('does not wait on an agent it knows is offline: the step keeps its length', async () => {
    const agent = await startAgentProcess(`lost-${randomBytes(3).toString('hex')}`, broker.url);
    const dir = tempDir();
    const cli = startCli([
      'run',
      writeSleepScenario(dir, { name: 'outages', on: agent.name, seconds: 4 }),
      '--broker',
      broker.url,
      '--store-dir',
      join(dir, 'store'),
      '--json',
    ]);
    await cli.waitOutput('step long: started');
    await new Promise((r) => setTimeout(r, 1000));
    await agent.kill();
    const killedAt = Date.now();
    await cli.waitOutput(`agent ${agent.name} went offline`);
    const r = await cli.done;
    const afterKillMs = Date.now() - killedAt;
    expect(r.code, r.stderr).toBe(3);
    const record = JSON.parse(r.stdout);
    expect(record.error).toMatch(`agent lost during the run: ${agent.name}`);
    const step = record.steps[0];
    const stepMs = Date.parse(step.endedAt) - Date.parse(step.startedAt);
    // A 4 s sleep: before, the end-of-step mark to the lost agent waited its 15 s ack timeout.
    expect(stepMs).toBeGreaterThanOrEqual(4000);
    expect(stepMs).toBeLessThan(6500);
    // The rest is the rejoin window (10 s from when it went offline), counted once.
    expect(afterKillMs).toBeLessThan(15_000);
    expect(record.streams[0]).toMatchObject({ agent: agent.name, complete: false });
    console.log(`4 s step took ${stepMs} ms; the run ended ${afterKillMs} ms after the kill`);
  });

  it('records a broker restart in run.json and in the summary, and loses no sample', async () => {
    const agent = await startAgentProcess(`brk-${randomBytes(3).toString('hex')}`, broker.url, [
      '--spool-dir',
      tempDir(),
    ]);
    try {
      const dir = tempDir();
      const store = join(dir, 'store');
      const cli = startCli([
        'run',
        writeSleepScenario(dir, { name: 'outages', on: agent.name, seconds: 5 }),
        '--broker',
        broker.url,
        '--store-dir',
        store,
      ]);
      await cli.waitOutput('step long: started');
      await new Promise((r) => setTimeout(r, 1000));
      const down = Date.now();
      await broker.pause();
      await new Promise((r) => setTimeout(r, 2000));
      await broker.resume();
      const r = await cli.done;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/lost the broker connection at \S+; reconnecting/);
      expect(r.stderr).toMatch(/reconnected to the broker after \d/);
      const location = /^Stored in (.+)$/m.exec(r.stdout)![1];
      const record = JSON.parse(readFileSync(join(location, 'run.json'), 'utf8'));
      expect(record.brokerOutages).toHaveLength(1);
      const [outage] = record.brokerOutages;
      expect(Math.abs(Date.parse(outage.from) - down)).toBeLessThan(1500);
      expect(Date.parse(outage.to) - Date.parse(outage.from)).toBe(outage.durationMs);
      expect(outage.durationMs).toBeGreaterThanOrEqual(1500);
      expect(outage.durationMs).toBeLessThan(15_000);
      expect(r.stdout).toContain(`Lost the broker from ${outage.from} to ${outage.to} (`);
      expect(record.streams[0].complete).toBe(true);
      expect(record.data.lost).toBe(0);
    } finally {
      await agent.stop();
    }
  });
});
