import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import { realTracerContext } from '../../../src/tracers/context.js';
import { rabbitmqTracer } from '../../../src/tracers/rabbitmq/index.js';
import { parseVhostTracing } from '../../../src/tracers/rabbitmq/parse.js';
import { manifestMismatches } from '../../fixtures/proc/fixture-context.js';
import { increase } from '../../helpers/counters.js';
import { portOpen } from '../../helpers/net.js';
import { freePort } from '../helpers/private-mariadb.js';

const run = promisify(execFile);
const ctx = realTracerContext(silentLogger);
const AMQP = 'amqp://guest:guest@127.0.0.1:5672/';
const API = 'http://127.0.0.1:15672';
const oslo = (name: string) => fileURLToPath(new URL(`../../fixtures/oslo/${name}`, import.meta.url));
// Debian's interpreter: the python3 first on PATH may be another one without oslo.messaging.
const PYTHON = '/usr/bin/python3';
const id = `${process.pid}_${Date.now().toString(36)}`;

// Under CI a missing service is a failure (the tests run and fail to connect), never a skip.
const up = process.env.CI === 'true' || (await portOpen(5672));
// rabbitmqctl starts an Erlang VM per call (about 1 s idle, several seconds on a loaded 2-CPU
// machine) and importing oslo.messaging takes seconds cold: these tests get room beyond the default.
const SLOW = 180_000;
const sum = (samples: Sample[], field: string) =>
  samples.reduce((acc, s) => acc + ((s.fields[field] as bigint | undefined) ?? 0n), 0n);

/** Deletes what a test left on the shared broker (queues, exchanges), ignoring what is already gone. */
const leftovers = { queues: new Set<string>(), exchanges: new Set<string>() };
async function api(method: string, path: string): Promise<unknown> {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
  });
  return res.status === 200 ? res.json() : undefined;
}
afterAll(async () => {
  for (const q of leftovers.queues)
    await api('DELETE', `/api/queues/%2F/${encodeURIComponent(q)}`).catch(() => {});
  for (const x of leftovers.exchanges)
    await api('DELETE', `/api/exchanges/%2F/${encodeURIComponent(x)}`).catch(() => {});
});

async function tracingOn(): Promise<boolean> {
  const { stdout } = await run('rabbitmqctl', ['list_vhosts', '-q', '--no-table-headers', 'name', 'tracing']);
  return parseVhostTracing(stdout).get('/') === true;
}

describe.skipIf(!up)('rabbitmq tracer on the shared RabbitMQ (127.0.0.1:5672)', () => {
  it(
    'counts messages published, delivered and acked on a queue, and its depth, from the management API',
    async () => {
      const queue = `scalpels-it-${id}`;
      leftovers.queues.add(queue);
      const N = 30;
      const conn = await amqp.connect(AMQP);
      const ch = await conn.createChannel();
      await ch.assertQueue(queue, { durable: false });
      const samples: Sample[] = [];
      // Default settle (5 s): the management statistics refresh every 5 s.
      const tracer = rabbitmqTracer.create(
        { queues: `^${queue}$`, exchanges: '^$' },
        { intervalMs: 1000 },
        ctx,
      );
      await tracer.start((s) => samples.push(...s));
      for (let i = 0; i < N; i++) ch.sendToQueue(queue, Buffer.from(`message ${i}`));
      // Depth shows once the broker refreshed its statistics (every 5 s; allow for a loaded machine).
      const depth = () =>
        samples.filter((s) => s.measurement === 'rabbitmq_queue').map((s) => s.fields.messages);
      for (let i = 0; i < 300 && !depth().includes(BigInt(N)); i++) await sleep(100);
      expect(depth()).toContain(BigInt(N));
      await ch.consume(queue, (m) => m && ch.ack(m));
      for (let i = 0; i < 50 && (await ch.checkQueue(queue)).messageCount > 0; i++) await sleep(50);
      await tracer.stop();
      await conn.close();

      const q = samples.filter((s) => s.measurement === 'rabbitmq_queue');
      expect(new Set(q.map((s) => s.tags.queue))).toEqual(new Set([queue]));
      // Running totals by default, from 0 (a queue without traffic yet): the step's counts are their increase.
      expect(q[0].fields.messages_publish).toBe(0n);
      expect(q.at(-1)!.fields.messages_publish).toBe(BigInt(N));
      expect(increase(q, 'messages_publish')).toBe(N);
      expect(increase(q, 'messages_deliver_get')).toBe(N);
      expect(increase(q, 'messages_ack')).toBe(N);
      expect(q.at(-1)!.fields.messages).toBe(0n);
      expect(manifestMismatches(samples, rabbitmqTracer.manifest)).toEqual([]);
    },
    SLOW,
  );

  it(
    'falls back to rabbitmqctl for depth and consumers when the management API does not answer',
    async () => {
      const queue = `scalpels-it-ctl-${id}`;
      leftovers.queues.add(queue);
      const conn = await amqp.connect(AMQP);
      const ch = await conn.createChannel();
      await ch.assertQueue(queue, { durable: false });
      for (let i = 0; i < 7; i++) ch.sendToQueue(queue, Buffer.from('x'));
      await ch.checkQueue(queue);
      const samples: Sample[] = [];
      const closed = await freePort();
      const tracer = rabbitmqTracer.create(
        { queues: `^${queue}$`, management_url: `http://127.0.0.1:${closed}` },
        { intervalMs: 60_000 },
        ctx,
      );
      await tracer.start((s) => samples.push(...s));
      await tracer.stop();
      await ch.deleteQueue(queue);
      await conn.close();
      const notices = samples.filter((s) => s.measurement === 'tracer_notice');
      expect(notices.map((n) => n.tags.code)).toEqual(['management_unavailable']);
      expect(notices[0].fields.message).toContain(`http://127.0.0.1:${closed} unreachable (ECONNREFUSED)`);
      const q = samples.filter((s) => s.measurement === 'rabbitmq_queue');
      expect(q.length).toBe(2);
      expect(q[0].fields).toEqual({ messages: 7n, consumers: 0n });
    },
    SLOW,
  );

  it(
    'counts oslo.messaging calls per method from the firehose, and turns the firehose off again',
    async () => {
      const wasOn = await tracingOn();
      const exchange = `scalpels-it-${id}`;
      const topic = `scalpels_it_${id}`;
      leftovers.exchanges.add(exchange);
      leftovers.exchanges.add(`${topic}_fanout`);
      for (const q of [topic, `${topic}.node-1`]) leftovers.queues.add(q);
      const target = ['--exchange', exchange, '--topic', topic, '--server', 'node-1'];
      const server: ChildProcess = spawn(PYTHON, [oslo('rpc_server.py'), ...target], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      try {
        let stderr = '';
        server.stderr?.on('data', (d) => {
          stderr += d;
        });
        await new Promise<void>((resolve, reject) => {
          server.stdout?.on('data', (d: Buffer) => d.toString().includes('READY') && resolve());
          server.once('exit', (code) => reject(new Error(`rpc_server.py exited ${code}: ${stderr}`)));
        });

        const samples: Sample[] = [];
        const tracer = rabbitmqTracer.create({ firehose: true, stats: false }, { intervalMs: 500 }, ctx);
        await tracer.start((s) => samples.push(...s));
        expect(await tracingOn()).toBe(true);
        const N = 15;
        const { stdout } = await run(PYTHON, [
          oslo('rpc_client.py'),
          ...target,
          '--method',
          'add',
          '--calls',
          String(N),
          '--casts',
          '3',
        ]);
        const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
        if (result.reply_q) leftovers.queues.add(result.reply_q);
        expect(result).toMatchObject({ calls: N, casts: 3, errors: 0 });
        await tracer.stop();
        expect(await tracingOn()).toBe(wasOn);

        const rpc = samples.filter((s) => s.measurement === 'rpc_calls' && s.tags.exchange === exchange);
        const of = (kind: string, method: string) =>
          rpc.filter((s) => s.tags.kind === kind && s.tags.method === method);
        expect(sum(of('call', 'add'), 'count')).toBe(BigInt(N));
        expect(of('call', 'add')[0].tags).toMatchObject({ topic, server: 'node-1' });
        expect(sum(of('call', 'add'), 'bytes')).toBeGreaterThan(BigInt(N * 100));
        expect(sum(of('reply', 'add'), 'count')).toBe(BigInt(N));
        expect(sum(of('reply', 'add'), 'matched')).toBe(BigInt(N));
        expect(sum(of('reply', 'add'), 'errors')).toBe(0n);
        expect(
          rpc.filter((s) => s.tags.kind === 'reply').every((s) => (s.fields.latency_ms_max as number) >= 0),
        ).toBe(true);
        expect(sum(of('cast', 'record'), 'count')).toBe(3n);
        expect(manifestMismatches(samples, rabbitmqTracer.manifest)).toEqual([]);
      } finally {
        server.kill('SIGTERM');
        if (server.exitCode === null) await new Promise((r) => server.once('exit', r));
      }
    },
    SLOW,
  );
});

describe('rabbitmq tracer without a broker', () => {
  it('fails to start with a sentence naming the AMQP address when the firehose cannot connect', async () => {
    const port = await freePort();
    const tracer = rabbitmqTracer.create(
      { firehose: true, stats: false, amqp_port: port },
      { intervalMs: 500 },
      ctx,
    );
    await expect(tracer.start(() => {})).rejects.toThrow(
      `rabbitmq: cannot connect to amqp://127.0.0.1:${port} as guest`,
    );
    await tracer.stop();
  });

  it(
    'fails to start naming the management URL and rabbitmqctl when neither answers',
    async () => {
      const port = await freePort();
      const tracer = rabbitmqTracer.create(
        { management_url: `http://127.0.0.1:${port}`, rabbitmqctl: '/nonexistent/rabbitmqctl' },
        { intervalMs: 500 },
        ctx,
      );
      await expect(tracer.start(() => {})).rejects.toThrow(
        `rabbitmq: management API http://127.0.0.1:${port} unreachable (ECONNREFUSED), and rabbitmqctl list_queues`,
      );
      await tracer.stop();
    },
    SLOW,
  );
});
