import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage, envelope } from '../../../src/protocol/codec.js';
import type {
  DataMessage,
  EndMessage,
  ReplyMessage,
  Request,
  StartTracerRequest,
  StopTracerRequest,
} from '../../../src/protocol/messages.js';
import { signRequest } from '../../../src/protocol/signing.js';
import { topics } from '../../../src/protocol/topics.js';
import { tempDir } from '../../helpers/cli.js';
import { startAgentProcess } from '../helpers/agent-process.js';
import { MqttProbe } from '../helpers/mqtt-probe.js';
import { PrivateMosquitto } from '../helpers/private-mosquitto.js';

const RUN = '20261125-000000-a4a4';

describe('an agent process on a private Mosquitto', () => {
  let broker: PrivateMosquitto;
  let probe: MqttProbe;
  const replyTo = `scalpels/v1/clients/test-${randomBytes(3).toString('hex')}/reply`;

  beforeAll(async () => {
    broker = await PrivateMosquitto.start();
    probe = await MqttProbe.connect(broker.url);
    await probe.watch(replyTo);
    await probe.watch(`scalpels/v1/runs/${RUN}/data/+`);
  });
  afterAll(async () => {
    await probe.close();
    await broker.stop();
  });

  /** Sends a request as any client would, and waits for its reply. */
  async function send(agent: string, request: Request, timeoutMs = 5000): Promise<ReplyMessage> {
    await probe.client.publishAsync(topics.agentCommands(agent), encodeMessage(request), { qos: 1 });
    const found = await probe.waitFor(
      (m) => m.message.type === 'reply' && m.message.re === request.id,
      timeoutMs,
    );
    return found.message as ReplyMessage;
  }

  const start = (stream: string, intervalMs: number) =>
    envelope<StartTracerRequest>({
      type: 'start',
      replyTo,
      run: RUN,
      scenario: 's',
      step: null,
      stream,
      tracer: 'proc',
      params: {},
      intervalMs,
      leaseMs: 30_000,
    });
  const stop = (stream: string) => envelope<StopTracerRequest>({ type: 'stop', replyTo, run: RUN, stream });

  it('answers a request the schema refuses with bad-request and the reason, at once', async () => {
    const agent = await startAgentProcess(`a4-${randomBytes(3).toString('hex')}`, broker.url);
    try {
      const t0 = Date.now();
      const reply = await send(agent.name, start('run.0.proc', 1));
      expect(reply.ok).toBe(false);
      expect(reply.error).toEqual({
        code: 'bad-request',
        message: 'invalid start message: /intervalMs must be >= 10',
      });
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(agent.logs()).toMatch(/"msg":"refused an invalid request".*"type":"start"/);
      // And it still works.
      expect((await send(agent.name, start('run.0.proc', 50))).ok).toBe(true);
    } finally {
      await agent.stop();
    }
  });

  it('logs each tracer it starts and stops at info level, with the run, stream and sample count', async () => {
    const agent = await startAgentProcess(`log-${randomBytes(3).toString('hex')}`, broker.url);
    try {
      expect((await send(agent.name, start('run.1.proc', 50))).ok).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      const stopped = await send(agent.name, stop('run.1.proc'));
      expect(stopped.ok).toBe(true);
      const lines = agent
        .logs()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l));
      expect(lines.find((l) => l.msg === 'started tracer')).toMatchObject({
        level: 'info',
        run: RUN,
        stream: 'run.1.proc',
        tracer: 'proc',
        intervalMs: 50,
      });
      expect(lines.find((l) => l.msg === 'stopped tracer')).toMatchObject({
        level: 'info',
        run: RUN,
        stream: 'run.1.proc',
        tracer: 'proc',
        samples: stopped.result?.samples,
      });
      expect(stopped.result?.samples).toBeGreaterThan(0);
    } finally {
      await agent.stop();
    }
  });

  it('with a secret, checks the signature before the schema', async () => {
    const secret = Buffer.from(randomBytes(24).toString('hex'));
    const secretFile = join(tempDir(), 'secret');
    writeFileSync(secretFile, `${secret.toString()}\n`);
    const agent = await startAgentProcess(`sig-${randomBytes(3).toString('hex')}`, broker.url, [
      '--secret-file',
      secretFile,
    ]);
    try {
      const invalid = () => start('run.2.proc', 0);
      expect((await send(agent.name, invalid())).error).toEqual({
        code: 'unauthorized',
        message: 'refused: unsigned request',
      });
      const forged = signRequest(invalid(), Buffer.from('not the secret'));
      expect((await send(agent.name, forged)).error?.message).toBe('refused: forged request');
      const malformedSig = { ...invalid(), sig: { nonce: 'n', hmac: 'zz' } } as Request;
      expect((await send(agent.name, malformedSig)).error?.code).toBe('unauthorized');
      expect((await send(agent.name, signRequest(invalid(), secret))).error).toEqual({
        code: 'bad-request',
        message: 'invalid start message: /intervalMs must be >= 10',
      });
    } finally {
      await agent.stop();
    }
  });

  it('stops promptly on SIGTERM when idle, and sends every sample first when busy', async () => {
    const idle = await startAgentProcess(`idle-${randomBytes(3).toString('hex')}`, broker.url);
    let t0 = Date.now();
    await idle.stop();
    const idleMs = Date.now() - t0;
    expect(idle.child.exitCode).toBe(0);
    expect(idleMs).toBeLessThan(1500);

    const busy = await startAgentProcess(`busy-${randomBytes(3).toString('hex')}`, broker.url);
    expect((await send(busy.name, start('run.3.proc', 20))).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    t0 = Date.now();
    await busy.stop();
    const busyMs = Date.now() - t0;
    expect(busy.child.exitCode).toBe(0);
    const mine = (type: string) =>
      probe.messages
        .map((m) => m.message)
        .filter((m) => m.type === type && (m as DataMessage).stream === 'run.3.proc');
    const end = (await probe.waitFor((m) => m.message.type === 'end' && m.message.stream === 'run.3.proc'))
      .message as EndMessage;
    const batches = mine('data') as DataMessage[];
    expect(end.samples).toBeGreaterThan(0);
    expect(new Set(batches.map((b) => b.seq)).size).toBe(end.batches);
    expect(batches.reduce((n, b) => n + b.count, 0)).toBe(end.samples);
    console.log(`SIGTERM to exit: idle ${idleMs} ms, busy ${busyMs} ms`);
  });
});
