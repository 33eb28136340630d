import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage, envelope } from '../../../src/protocol/codec.js';
import type { PingRequest, ReplyMessage, StartTracerRequest } from '../../../src/protocol/messages.js';
import { signRequest } from '../../../src/protocol/signing.js';
import { startCli, tempDir, writeSleepScenario } from '../../helpers/cli.js';
import { type AgentProcess, startAgentProcess } from '../helpers/agent-process.js';
import { MqttProbe } from '../helpers/mqtt-probe.js';
import { PrivateMosquitto } from '../helpers/private-mosquitto.js';

describe('faults on a private Mosquitto', () => {
  let broker: PrivateMosquitto;
  const agents: AgentProcess[] = [];
  const prefix = `f${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    broker = await PrivateMosquitto.start();
    agents.push(await startAgentProcess(`${prefix}-a`, broker.url, ['--spool-dir', tempDir()]));
    agents.push(await startAgentProcess(`${prefix}-b`, broker.url, ['--spool-dir', tempDir()]));
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await broker.stop();
  });

  it('survives a broker restart mid-run: every sample each agent produced is stored', async () => {
    const dir = tempDir();
    const cli = startCli([
      'run',
      writeSleepScenario(dir, { name: 'faults', on: `${prefix}-*`, seconds: 8 }),
      '--broker',
      broker.url,
      '--store-dir',
      join(dir, 'store'),
      '--json',
    ]);
    await cli.waitOutput('step long: started');
    await new Promise((r) => setTimeout(r, 1000));
    await broker.pause();
    await new Promise((r) => setTimeout(r, 2000));
    await broker.resume();
    const r = await cli.done;
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(r.stdout);
    expect(record.streams).toHaveLength(2);
    for (const s of record.streams) {
      expect(s.complete).toBe(true);
      // 8 s at 200 ms: ~40 samples × 4 measurements; the outage must not cost any of them.
      expect(s.samples).toBeGreaterThan(100);
    }
    expect(record.data.lost).toBe(0);
    expect(record.data.produced).toBe(record.data.written);
  });

  it('stops every tracer within 2 s of the runner being interrupted', async () => {
    const probe = await MqttProbe.connect(broker.url);
    await probe.watch('scalpels/v1/runs/+/events/+');
    const dir = tempDir();
    const cli = startCli([
      'run',
      writeSleepScenario(dir, { name: 'faults', on: `${prefix}-*`, seconds: 30 }),
      '--broker',
      broker.url,
      '--store-dir',
      join(dir, 'store'),
      '--json',
    ]);
    await cli.waitOutput('step long: started');
    const t0 = Date.now();
    cli.child.kill('SIGINT');
    const r = await cli.done;
    expect(r.code).toBe(130);
    const stopped = probe.messages.filter((m) => m.message.type === 'event' && m.message.kind === 'stopped');
    expect(new Set(stopped.map((m) => m.topic.split('/').pop()))).toEqual(
      new Set([`${prefix}-a`, `${prefix}-b`]),
    );
    for (const m of stopped) expect(m.at - t0).toBeLessThan(2000);
    await probe.close();
  });

  it('stops tracers by itself when the runner vanishes and the lease expires', async () => {
    const probe = await MqttProbe.connect(broker.url);
    await probe.watch('scalpels/v1/runs/+/events/+');
    const dir = tempDir();
    const cli = startCli([
      'run',
      writeSleepScenario(dir, { name: 'faults', on: `${prefix}-*`, seconds: 60 }),
      '--broker',
      broker.url,
      '--store-dir',
      join(dir, 'store'),
      '--lease',
      '2s',
    ]);
    await cli.waitOutput('step long: started');
    const t0 = Date.now();
    cli.child.kill('SIGKILL');
    await cli.done;
    const expired = await probe.waitFor(
      (m) => m.message.type === 'event' && m.message.kind === 'lease-expired',
      8000,
    );
    expect(expired.at - t0).toBeLessThan(5000);
    await probe.waitFor(
      (m) =>
        m.message.type === 'event' && m.message.kind === 'lease-expired' && m.topic.endsWith(`${prefix}-b`),
      8000,
    );
    await probe.close();
  });
});

describe('signed commands', () => {
  let broker: PrivateMosquitto;
  let agent: AgentProcess;
  const secret = Buffer.from(randomBytes(24).toString('hex'));
  const name = `sig${randomBytes(3).toString('hex')}`;
  let probe: MqttProbe;
  const replyTo = `scalpels/v1/clients/test-${name}/reply`;

  beforeAll(async () => {
    broker = await PrivateMosquitto.start();
    const secretFile = join(tempDir(), 'secret');
    writeFileSync(secretFile, `${secret.toString()}\n`);
    agent = await startAgentProcess(name, broker.url, ['--secret-file', secretFile]);
    probe = await MqttProbe.connect(broker.url);
    await probe.watch(replyTo);
  });
  afterAll(async () => {
    await probe.close();
    await agent.stop();
    await broker.stop();
  });

  /** Publishes with the real mosquitto_pub, as an operator (or an attacker) would. */
  async function publish(payload: Buffer): Promise<ReplyMessage> {
    const id = JSON.parse(payload.toString()).id as string;
    execFileSync(
      'mosquitto_pub',
      ['-h', broker.host, '-p', String(broker.port), '-q', '1', '-t', `scalpels/v1/agents/${name}/cmd`, '-s'],
      {
        input: payload,
      },
    );
    const found = await probe.waitFor((m) => m.message.type === 'reply' && m.message.re === id, 5000);
    return found.message as ReplyMessage;
  }

  const ping = () => envelope<PingRequest>({ type: 'ping', replyTo });

  it('refuses unsigned, forged and replayed commands, and accepts signed ones', async () => {
    expect((await publish(encodeMessage(ping()))).error).toEqual({
      code: 'unauthorized',
      message: 'refused: unsigned request',
    });
    const forged = signRequest(ping(), Buffer.from('not the secret at all'));
    expect((await publish(encodeMessage(forged))).error?.message).toBe('refused: forged request');
    const signed = signRequest(ping(), secret);
    expect((await publish(encodeMessage(signed))).ok).toBe(true);
    // The same bytes again: a replay. The reply correlates by id, so clear the first one.
    probe.messages.length = 0;
    expect((await publish(encodeMessage(signed))).error?.message).toBe('refused: replayed request');
    const stale = signRequest({ ...ping(), ts: Date.now() - 120_000 }, secret);
    expect((await publish(encodeMessage(stale))).error?.message).toBe('refused: stale request');
  });

  const startRequest = (tracer: string, params: Record<string, unknown>) =>
    envelope<StartTracerRequest>({
      type: 'start',
      replyTo,
      run: '20261124-000000-beef',
      scenario: 's',
      step: null,
      stream: `run.0.${tracer}`,
      tracer,
      params,
      intervalMs: 1000,
      leaseMs: 5000,
    });

  it('answers an unknown tracer and bad parameters with error codes, and keeps running', async () => {
    const start = (tracer: string, params: Record<string, unknown>) =>
      signRequest(startRequest(tracer, params), secret);
    const unknown = await publish(encodeMessage(start('rm-rf', {})));
    expect(unknown.error).toEqual({
      code: 'unknown-tracer',
      message: `tracer "rm-rf" is not in agent ${name}'s catalog`,
    });
    const bad = await publish(encodeMessage(start('proc', { percpu: 'yes', command: 'sh' })));
    expect(bad.error?.code).toBe('invalid-params');
    expect(bad.error?.message).toMatch(/unknown parameter "command"/);
    // Garbage too: dropped, and the agent still answers.
    execFileSync('mosquitto_pub', [
      '-h',
      broker.host,
      '-p',
      String(broker.port),
      '-t',
      `scalpels/v1/agents/${name}/cmd`,
      '-m',
      '{"v":1,"type":',
    ]);
    expect((await publish(encodeMessage(signRequest(ping(), secret)))).ok).toBe(true);
    expect(agent.child.exitCode).toBeNull();
    // Refusals are logged once each, and never with the secret.
    expect(agent.logs()).not.toContain(secret.toString());
    expect(agent.logs().match(/"reason":"unsigned"/g)).toHaveLength(1);
  });

  it('refuses the command tracer unless the agent was started with --allow-commands', async () => {
    const r = await publish(encodeMessage(signRequest(startRequest('command', { name: 'vmstat' }), secret)));
    expect(r.error).toEqual({
      code: 'tracer-unavailable',
      message: `tracer "command" cannot run on ${name}: agent was not started with --allow-commands`,
    });
    // A command line never travels in a message: the schema has no room for one.
    const smuggled = await publish(
      encodeMessage(signRequest(startRequest('command', { name: 'x', argv: ['rm', '-rf', '/'] }), secret)),
    );
    expect(smuggled.error?.code).toMatch(/tracer-unavailable|invalid-params/);
  });

  it('refuses to start against a non-loopback broker without a secret', async () => {
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, '../../../bin/run.js'), 'agent', '--broker', 'mqtt://192.0.2.1:1883'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).toBe(2);
    expect(err).toMatch(
      /refusing to take commands from mqtt:\/\/192\.0\.2\.1:1883\/? without a shared secret/,
    );
  });
});
