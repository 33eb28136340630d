import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../../src/core/sample.js';
import { FirehoseSwitch } from '../../../src/tracers/rabbitmq/firehose.js';
import {
  RabbitmqInstance,
  rabbitmqSettings,
  rabbitmqTracer,
  type StatsSource,
} from '../../../src/tracers/rabbitmq/index.js';
import { decodeOslo, RpcAggregator, splitTarget, unwrapOslo } from '../../../src/tracers/rabbitmq/oslo.js';
import {
  objectFields,
  parseExchanges,
  parseListQueues,
  parseQueues,
  parseVhostTracing,
} from '../../../src/tracers/rabbitmq/parse.js';
import { fixtureContext, manifestMismatches } from '../../fixtures/proc/fixture-context.js';

const here = dirname(fileURLToPath(import.meta.url));
const text = (name: string) => readFileSync(join(here, '../../fixtures/rabbitmq', name), 'utf8');
const json = (name: string): unknown => JSON.parse(text(name));
/** Messages recorded from the firehose while test/fixtures/oslo/ made 2 add calls and 1 cast, 1 failing call, and 1 notification. */
const traced = json('firehose-oslo.json') as { exchange: string; routingKey: string; body: string }[];

describe('management API and rabbitmqctl parsers', () => {
  it('reads queues with Telegraf field names, counters 0 before any traffic', () => {
    const [q0] = parseQueues(json('queues-t0.json'));
    expect(q0.tags).toEqual({ queue: 'scalpels-fixture', vhost: '/', node: 'rabbit@localhost' });
    expect(q0.counters.get('messages_publish')).toBe(0n);
    const [q1] = parseQueues(json('queues-t1.json'));
    expect(Object.fromEntries(q1.counters)).toEqual({
      messages_publish: 10n,
      messages_deliver_get: 4n,
      messages_deliver: 0n,
      messages_ack: 4n,
      messages_redeliver: 0n,
    });
    expect(q1.gauges).toMatchObject({ consumers: 0n, messages_publish_rate: 0 });
    expect(parseQueues(json('queues-t1.json'), /^nova/)).toEqual([]);
    expect(() => parseQueues({ error: 'x' })).toThrow(/did not answer with a list/);
  });

  it('reads exchanges, naming the default one as the UI does', () => {
    const x = parseExchanges(json('exchanges-t1.json'));
    expect(x[0].tags).toEqual({ exchange: '(AMQP default)', vhost: '/', type: 'direct' });
    const mine = x.find((e) => e.tags.exchange === 'scalpels-fixture-x')!;
    expect(mine.counters.get('messages_publish_in')).toBe(10n);
    expect(parseExchanges(json('exchanges-t1.json'), /^amq\./).map((e) => e.tags.exchange)).toHaveLength(6);
  });

  it('differences counters, counts a new object whole, writes levels only at the baseline', () => {
    const [q0] = parseQueues(json('queues-t0.json'));
    const [q1] = parseQueues(json('queues-t1.json'));
    expect(objectFields(undefined, q0, 'delta', true)).not.toHaveProperty('messages_publish');
    expect(objectFields(q0, q1, 'delta', false)).toMatchObject({
      messages_publish: 10n,
      messages_ack: 4n,
      messages: 0n,
    });
    expect(objectFields(undefined, q1, 'delta', false)).toMatchObject({ messages_publish: 10n });
    expect(objectFields(q1, q0, 'delta', false)).toMatchObject({ messages_publish: 0n });
    expect(objectFields(q0, q1, 'cumulative', false)).toMatchObject({ messages_publish: 10n });
  });

  it('reads rabbitmqctl list_queues and list_vhosts output', () => {
    const queues = parseListQueues(text('list-queues.txt'), '/');
    expect(queues.map((q) => [q.tags, q.gauges])).toEqual([
      [
        { queue: 'scalpels-fixture', vhost: '/' },
        { messages: 6n, consumers: 0n },
      ],
    ]);
    expect(parseListQueues('name with space\t3\t1\nTimeout: 60.0 seconds ...\n', 'v')[0].tags.queue).toBe(
      'name with space',
    );
    expect(parseVhostTracing(text('list-vhosts.txt'))).toEqual(new Map([['/', false]]));
    expect(parseVhostTracing('/\ttrue\nnova\tfalse\n').get('/')).toBe(true);
  });
});

describe('oslo.messaging decoding of recorded firehose messages', () => {
  it('classifies calls, casts, replies and notifications', () => {
    const decoded = traced.map((m) => decodeOslo(m.exchange, m.routingKey, m.body));
    expect(decoded.map((d) => [d.kind, d.exchange, d.topic, d.server, d.method])).toEqual([
      ['call', 'scalpels-test', 'scalpels_test', 'node-1', 'add'],
      ['reply', '(AMQP default)', undefined, undefined, undefined],
      ['call', 'scalpels-test', 'scalpels_test', 'node-1', 'add'],
      ['reply', '(AMQP default)', undefined, undefined, undefined],
      ['cast', 'scalpels-test', 'scalpels_test', 'node-1', 'record'],
      ['call', 'scalpels-test', 'scalpels_test', 'node-1', 'fail'],
      ['reply', '(AMQP default)', undefined, undefined, undefined],
      ['notification', 'openstack', 'scalpels_notifications.info', undefined, 'compute.instance.create.end'],
    ]);
    expect(decoded[6].failed).toBe(true);
    expect(decoded[1].failed).toBe(false);
    expect(decoded[0].msgId).toBe(decoded[1].msgId);
  });

  it('handles the unenveloped format, fanout casts, heartbeats and non-oslo bodies', () => {
    expect(unwrapOslo('{"method":"ping","args":{}}')).toEqual({ method: 'ping', args: {} });
    expect(
      decodeOslo(
        'q-agent-notifier-port-update_fanout',
        'q-agent-notifier-port-update',
        '{"method":"port_update"}',
      ),
    ).toEqual({
      kind: 'cast',
      exchange: 'q-agent-notifier-port-update_fanout',
      topic: 'q-agent-notifier-port-update',
      method: 'port_update',
    });
    const hb = JSON.stringify({
      'oslo.version': '2.0',
      'oslo.message': JSON.stringify({ result: null, failure: null, ending: false, _msg_id: 'm1' }),
    });
    expect(decodeOslo('', 'reply_x', hb).kind).toBe('heartbeat');
    expect(decodeOslo('logs', 'app', 'not json').kind).toBe('other');
    expect(decodeOslo('logs', 'app', '[1,2]').kind).toBe('other');
    expect(splitTarget('compute.host-1.example.org')).toEqual({
      topic: 'compute',
      server: 'host-1.example.org',
    });
    expect(splitTarget('conductor')).toEqual({ topic: 'conductor' });
  });

  it("sums per target and method, and gives replies their call's method and latency", () => {
    const agg = new RpcAggregator();
    traced.forEach((m, i) => {
      agg.add(decodeOslo(m.exchange, m.routingKey, m.body), Buffer.byteLength(m.body), 1000 + i * 10);
    });
    const samples = agg.drain(5n, { broker: 'b:5672' });
    const by = (kind: string, method: string) =>
      samples.find((s) => s.tags.kind === kind && s.tags.method === method)!;
    expect(by('call', 'add').fields.count).toBe(2n);
    expect(by('call', 'add').fields.bytes).toBe(
      BigInt(Buffer.byteLength(traced[0].body) + Buffer.byteLength(traced[2].body)),
    );
    expect(by('call', 'add').tags).toEqual({
      broker: 'b:5672',
      kind: 'call',
      exchange: 'scalpels-test',
      topic: 'scalpels_test',
      server: 'node-1',
      method: 'add',
    });
    expect(by('reply', 'add').tags.exchange).toBe('scalpels-test');
    expect(by('reply', 'add').fields).toMatchObject({
      count: 2n,
      errors: 0n,
      matched: 2n,
      latency_ms_sum: 20,
      latency_ms_max: 10,
    });
    expect(by('reply', 'fail').fields).toMatchObject({ count: 1n, errors: 1n, matched: 1n });
    expect(by('cast', 'record').fields).toEqual({
      count: 1n,
      bytes: BigInt(Buffer.byteLength(traced[4].body)),
    });
    expect(by('notification', 'compute.instance.create.end').fields.count).toBe(1n);
    expect(agg.pendingCalls).toBe(0);
    expect(agg.drain(6n)).toEqual([]);
    expect(manifestMismatches(samples, rabbitmqTracer.manifest)).toEqual([]);
  });

  it('counts a reply whose call it never saw under (unknown)', () => {
    const agg = new RpcAggregator();
    agg.add(decodeOslo(traced[1].exchange, traced[1].routingKey, traced[1].body), 10, 0);
    const [s] = agg.drain(1n);
    expect(s.tags).toEqual({ kind: 'reply', exchange: '(AMQP default)', method: '(unknown)' });
    expect(s.fields).toEqual({ count: 1n, bytes: 10n, errors: 0n, matched: 0n });
  });
});

describe('firehose switch', () => {
  function fakeCtl(initiallyOn: boolean) {
    let on = initiallyOn;
    const calls: string[] = [];
    const ctl = async (args: string[]) => {
      calls.push(args.join(' '));
      if (args[0] === 'list_vhosts') return `/\t${on}\nother\tfalse\n`;
      if (args[0] === 'trace_on') on = true;
      if (args[0] === 'trace_off') on = false;
      return '';
    };
    return { ctl, calls, isOn: () => on };
  }

  it('turns tracing on and off again when it was off', async () => {
    const f = fakeCtl(false);
    const sw = new FirehoseSwitch('/', f.ctl, new Map());
    await sw.acquire();
    expect(f.isOn()).toBe(true);
    await sw.release();
    expect(f.isOn()).toBe(false);
    expect(f.calls).toEqual([
      'list_vhosts -q --no-table-headers name tracing',
      'trace_on -p /',
      'trace_off -p /',
    ]);
  });

  it('leaves tracing on when it was on before', async () => {
    const f = fakeCtl(true);
    const sw = new FirehoseSwitch('/', f.ctl, new Map());
    await sw.acquire();
    await sw.release();
    expect(f.isOn()).toBe(true);
    expect(f.calls).toEqual(['list_vhosts -q --no-table-headers name tracing']);
  });

  it('turns it off only when the last of two streams releases it', async () => {
    const f = fakeCtl(false);
    const table = new Map();
    const a = new FirehoseSwitch('/', f.ctl, table);
    const b = new FirehoseSwitch('/', f.ctl, table);
    await Promise.all([a.acquire(), b.acquire()]);
    await a.release();
    expect(f.isOn()).toBe(true);
    await b.release();
    expect(f.isOn()).toBe(false);
    expect(f.calls.filter((c) => c.startsWith('trace_'))).toEqual(['trace_on -p /', 'trace_off -p /']);
  });

  it('names a vhost that does not exist', async () => {
    const f = fakeCtl(false);
    await expect(new FirehoseSwitch('nova', f.ctl, new Map()).acquire()).rejects.toThrow(
      'rabbitmq: vhost nova does not exist',
    );
  });
});

describe('rabbitmq instance over a stand-in statistics source', () => {
  it('writes levels first, then per-interval changes with counters: delta, and a new queue counts whole', async () => {
    let reading = 0;
    const source: StatsSource = {
      kind: 'rabbitmqctl',
      async read() {
        reading++;
        return reading === 1
          ? {
              queues: parseQueues(json('queues-t0.json')),
              exchanges: parseExchanges(json('exchanges-t0.json')),
            }
          : {
              queues: parseQueues(json('queues-t1.json')),
              exchanges: parseExchanges(json('exchanges-t1.json')),
            };
      },
    };
    const samples: Sample[] = [];
    const instance = new RabbitmqInstance(
      { counters: 'delta' },
      { intervalMs: 60_000 },
      fixtureContext('t0'),
      {
        source,
      },
    );
    await instance.start((s) => samples.push(...s));
    await instance.stop();
    const queue = samples.filter((s) => s.measurement === 'rabbitmq_queue');
    expect(queue).toHaveLength(2);
    expect(queue[0].fields).not.toHaveProperty('messages_publish');
    expect(queue[1].fields).toMatchObject({
      messages_publish: 10n,
      messages_deliver_get: 4n,
      messages_ack: 4n,
    });
    expect(queue[1].tags.broker).toBe('127.0.0.1:5672');
    const x = samples.filter(
      (s) => s.measurement === 'rabbitmq_exchange' && s.tags.exchange === 'scalpels-fixture-x',
    );
    // At the baseline an exchange without traffic has no level to write: its first sample is the change.
    expect(x.map((s) => s.fields.messages_publish_in)).toEqual([10n]);
    expect(manifestMismatches(samples, rabbitmqTracer.manifest)).toEqual([]);
  });

  it("writes the broker's running totals by default, as Telegraf (the manifest declares them cumulative)", async () => {
    let reading = 0;
    const source: StatsSource = {
      kind: 'rabbitmqctl',
      async read() {
        const t = ++reading === 1 ? 't0' : 't1';
        return {
          queues: parseQueues(json(`queues-${t}.json`)),
          exchanges: parseExchanges(json(`exchanges-${t}.json`)),
        };
      },
    };
    const samples: Sample[] = [];
    const instance = new RabbitmqInstance({}, { intervalMs: 60_000 }, fixtureContext('t0'), { source });
    await instance.start((s) => samples.push(...s));
    await instance.stop();
    const queue = samples.filter((s) => s.measurement === 'rabbitmq_queue');
    expect(queue).toHaveLength(2);
    const [a, b] = queue.map((s) => s.fields.messages_publish as bigint);
    expect(typeof a).toBe('bigint');
    expect(b - a).toBe(10n);
    expect(manifestMismatches(samples, rabbitmqTracer.manifest)).toEqual([]);
  });

  it("uses guest's well-known password only for guest", async () => {
    expect((await rabbitmqSettings({})).password).toBe('guest');
    await expect(rabbitmqSettings({ user: 'monitor' })).rejects.toThrow(
      'rabbitmq: user monitor needs password_file or password_env',
    );
    const s = await rabbitmqSettings({ host: 'mq-1', vhost: 'nova' });
    expect(s.managementUrl).toBe('http://mq-1:15672');
    expect(s.vhost).toBe('nova');
  });
});

describe('rabbitmq manifest', () => {
  const validate = new Ajv({ useDefaults: true, strict: false }).compile(rabbitmqTracer.manifest.params);
  it('accepts its example, fills defaults, refuses a password', () => {
    const p = structuredClone(rabbitmqTracer.manifest.example.with) as Record<string, unknown>;
    expect(validate(p), JSON.stringify(validate.errors)).toBe(true);
    expect(p).toMatchObject({ settle: '5s', source: 'auto', counters: 'cumulative', vhost: '/' });
    expect(validate({ password: 'guest' })).toBe(false);
    expect(validate({ settle: 'soon' })).toBe(false);
  });
});
