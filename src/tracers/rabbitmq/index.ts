import { setTimeout as sleep } from 'node:timers/promises';
import type { CounterMode } from '../../core/counters.js';
import { type DurationInput, parseDuration } from '../../core/duration.js';
import { errorMessage, InputError, RuntimeFailure } from '../../core/errors.js';
import type { Sample } from '../../core/sample.js';
import { loadTracerManifest } from '../manifest.js';
import { createSampler } from '../sampler.js';
import { readSecret, type SecretRef } from '../secret.js';
import type { TracerContext, TracerDefinition, TracerInstance, TracerOptions } from '../types.js';
import { FirehoseConsumer, FirehoseSwitch, type RabbitmqctlRunner, rabbitmqctl } from './firehose.js';
import { decodeOslo, RpcAggregator } from './oslo.js';
import {
  EXCHANGE_COLUMNS,
  type ObjectReading,
  objectFields,
  parseExchanges,
  parseListQueues,
  parseQueues,
  QUEUE_COLUMNS,
} from './parse.js';

/** The `with:` block of the `rabbitmq` tracer (see tracers/rabbitmq.yaml). */
export interface RabbitmqParams extends SecretRef {
  host?: string;
  amqp_port?: number;
  management_url?: string;
  user?: string;
  vhost?: string;
  /** Regular expression on queue names. */
  queues?: string;
  /** Regular expression on exchange names ('' is the default exchange). */
  exchanges?: string;
  stats?: boolean;
  source?: 'auto' | 'management' | 'rabbitmqctl';
  firehose?: boolean;
  settle?: DurationInput;
  rabbitmqctl?: string;
  counters?: CounterMode;
}

/** One reading of the broker's queue and exchange statistics. */
export interface StatsReading {
  queues: ObjectReading[];
  /** Absent with rabbitmqctl, which has no exchange statistics. */
  exchanges?: ObjectReading[];
}

/** Where statistics come from: the management HTTP API, or rabbitmqctl when it is not there. */
export interface StatsSource {
  kind: 'management' | 'rabbitmqctl';
  read(): Promise<StatsReading>;
}

const NOTICE = 'tracer_notice';

/** The settings a stream runs with, defaults applied and the password resolved. */
export interface RabbitmqSettings {
  host: string;
  amqpPort: number;
  managementUrl: string;
  user: string;
  password: string;
  vhost: string;
}

/** Applies defaults and reads the password; guest's well-known password is the only default one. */
export async function rabbitmqSettings(params: RabbitmqParams): Promise<RabbitmqSettings> {
  const host = params.host ?? '127.0.0.1';
  const user = params.user ?? 'guest';
  let password = await readSecret(params, `rabbitmq ${host}`);
  if (password === undefined) {
    // RabbitMQ's default account, which the broker only accepts from loopback: no secret to protect.
    if (user !== 'guest') throw new InputError(`rabbitmq: user ${user} needs password_file or password_env`);
    password = 'guest';
  }
  return {
    host,
    amqpPort: params.amqp_port ?? 5672,
    managementUrl: (
      params.management_url ?? `http://${host.includes(':') ? `[${host}]` : host}:15672`
    ).replace(/\/+$/, ''),
    user,
    password,
    vhost: params.vhost ?? '/',
  };
}

/** Statistics from the management plugin's HTTP API. */
export function managementSource(s: RabbitmqSettings, queues?: RegExp, exchanges?: RegExp): StatsSource {
  const auth = `Basic ${Buffer.from(`${s.user}:${s.password}`).toString('base64')}`;
  const vhost = encodeURIComponent(s.vhost);
  const get = async (path: string): Promise<unknown> => {
    const res = await fetch(`${s.managementUrl}${path}`, {
      headers: { authorization: auth },
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw new RuntimeFailure(
        `management API ${s.managementUrl}${path.split('?')[0]} answered ${res.status} ${res.statusText}`,
      );
    }
    return res.json();
  };
  return {
    kind: 'management',
    async read() {
      const [q, x] = await Promise.all([
        get(`/api/queues/${vhost}?columns=${QUEUE_COLUMNS}`),
        get(`/api/exchanges/${vhost}?columns=${EXCHANGE_COLUMNS}`),
      ]);
      return { queues: parseQueues(q, queues), exchanges: parseExchanges(x, exchanges) };
    },
  };
}

/** Depth and consumers from `rabbitmqctl list_queues`, for brokers without the management plugin. */
export function rabbitmqctlSource(vhost: string, ctl: RabbitmqctlRunner, queues?: RegExp): StatsSource {
  return {
    kind: 'rabbitmqctl',
    async read() {
      const out = await ctl([
        'list_queues',
        '-p',
        vhost,
        '-q',
        '--no-table-headers',
        'name',
        'messages',
        'consumers',
      ]);
      return { queues: parseListQueues(out, vhost, queues) };
    },
  };
}

/** Probes the management API: undefined when it answers, else why not (a 401 is an error, not a fallback). */
async function probeManagement(s: RabbitmqSettings): Promise<string | undefined> {
  let res: Response;
  try {
    res = await fetch(`${s.managementUrl}/api/overview?columns=rabbitmq_version`, {
      headers: { authorization: `Basic ${Buffer.from(`${s.user}:${s.password}`).toString('base64')}` },
      signal: AbortSignal.timeout(5000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return `${s.managementUrl} unreachable (${cause ?? errorMessage(err)})`;
  }
  await res.body?.cancel();
  if (res.status === 401 || res.status === 403) {
    throw new RuntimeFailure(
      `rabbitmq: the management API at ${s.managementUrl} refused user ${s.user} (${res.status})`,
    );
  }
  return res.ok ? undefined : `${s.managementUrl} answered ${res.status}`;
}

const compile = (pattern: string | undefined, what: string): RegExp | undefined => {
  if (pattern === undefined) return undefined;
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new InputError(`rabbitmq: invalid ${what} pattern: ${errorMessage(err)}`);
  }
};

/**
 * RabbitMQ: per-queue and per-exchange message counts and queue depth from the management
 * API (Telegraf's `rabbitmq_queue` and `rabbitmq_exchange`), falling back to `rabbitmqctl
 * list_queues` for depth and consumers; with `firehose: true`, oslo.messaging calls, casts,
 * replies and notifications per target and method (`rpc_calls`) from the broker's firehose.
 *
 * Availability: the management API may be on another node and `rabbitmqctl` may be absent
 * where the API answers, so which source works is known only for a stream's `with:` block:
 * `unavailableReason` is always undefined and `start()` rejects with a sentence naming the
 * URL, the AMQP address or the rabbitmqctl failure when nothing can be read.
 */
export const rabbitmqTracer: TracerDefinition<RabbitmqParams> = {
  name: 'rabbitmq',
  manifest: loadTracerManifest('rabbitmq'),

  async unavailableReason(): Promise<string | undefined> {
    return undefined;
  },

  create(params: RabbitmqParams, options: TracerOptions, ctx: TracerContext): TracerInstance {
    return new RabbitmqInstance(params, options, ctx);
  },
};

/** One stream of the `rabbitmq` tracer. */
export class RabbitmqInstance implements TracerInstance {
  private source?: StatsSource;
  private prev = new Map<string, ObjectReading>();
  private baseline = true;
  private notices: Sample[] = [];
  private readonly rpc = new RpcAggregator();
  private firehoseSwitch?: FirehoseSwitch;
  private consumer?: FirehoseConsumer;
  private sampler?: TracerInstance;
  /** host:port of the broker, the `broker` tag (rpc_calls' `server` is the oslo.messaging server). */
  private broker = '';
  private readonly ctl: RabbitmqctlRunner;

  constructor(
    private readonly params: RabbitmqParams,
    private readonly options: TracerOptions,
    private readonly ctx: TracerContext,
    deps: { ctl?: RabbitmqctlRunner; source?: StatsSource } = {},
  ) {
    this.ctl = deps.ctl ?? rabbitmqctl(params.rabbitmqctl);
    this.source = deps.source;
  }

  private notice(code: string, message: string): void {
    this.ctx.log.warn(`rabbitmq ${this.broker}: ${message}`);
    this.notices.push({
      measurement: NOTICE,
      tags: { broker: this.broker, code },
      fields: { message },
      time: this.ctx.now(),
    });
  }

  private async chooseSource(s: RabbitmqSettings): Promise<StatsSource> {
    const queues = compile(this.params.queues, 'queues');
    const exchanges = compile(this.params.exchanges, 'exchanges');
    const wanted = this.params.source ?? 'auto';
    if (wanted === 'rabbitmqctl') return rabbitmqctlSource(s.vhost, this.ctl, queues);
    const why = await probeManagement(s);
    if (why === undefined) return managementSource(s, queues, exchanges);
    if (wanted === 'management') throw new RuntimeFailure(`rabbitmq: management API ${why}`);
    const fallback = rabbitmqctlSource(s.vhost, this.ctl, queues);
    try {
      await fallback.read();
    } catch (err) {
      throw new RuntimeFailure(`rabbitmq: management API ${why}, and ${errorMessage(err)}`);
    }
    this.notice(
      'management_unavailable',
      `management API ${why}: falling back to rabbitmqctl list_queues (queue depth and consumers only; rabbitmq-plugins enable rabbitmq_management for message counts)`,
    );
    return fallback;
  }

  private async collect(): Promise<Sample[]> {
    const reading = this.source ? await this.source.read() : undefined;
    const time = this.ctx.now();
    const samples: Sample[] = this.notices.splice(0);
    const mode = this.params.counters ?? 'cumulative';
    if (reading) {
      const next = new Map<string, ObjectReading>();
      const emit = (measurement: string, objects: ObjectReading[], prefix: string) => {
        for (const o of objects) {
          const key = prefix + o.key;
          next.set(key, o);
          const fields = objectFields(this.prev.get(key), o, mode, this.baseline);
          if (Object.keys(fields).length > 0) {
            samples.push({ measurement, tags: { broker: this.broker, ...o.tags }, fields, time });
          }
        }
      };
      emit('rabbitmq_queue', reading.queues, 'q:');
      if (reading.exchanges) emit('rabbitmq_exchange', reading.exchanges, 'x:');
      this.prev = next;
      this.baseline = false;
    }
    samples.push(...this.rpc.drain(time, { broker: this.broker }));
    return samples;
  }

  async start(emit: (samples: Sample[]) => void): Promise<void> {
    const s = await rabbitmqSettings(this.params);
    this.broker = `${s.host}:${s.amqpPort}`;
    try {
      if (this.params.stats !== false) this.source ??= await this.chooseSource(s);
      if (this.params.firehose) await this.startFirehose(s);
      this.sampler = createSampler(() => this.collect(), this.options, this.ctx);
      await this.sampler.start(emit);
    } catch (err) {
      // Restore the broker and release the connection now: a caller may never stop a stream that did not start.
      await this.stopFirehose().catch(() => {});
      await this.consumer?.close();
      this.consumer = undefined;
      throw err;
    }
  }

  private async startFirehose(s: RabbitmqSettings): Promise<void> {
    this.consumer = new FirehoseConsumer(
      { host: s.host, port: s.amqpPort, user: s.user, password: s.password, vhost: s.vhost },
      (m) => this.rpc.add(decodeOslo(m.exchange, m.routingKey, m.body), m.body.length, performance.now()),
    );
    // Bound before tracing is turned on, so the first traced message has somewhere to go.
    await this.consumer.open();
    this.firehoseSwitch = new FirehoseSwitch(s.vhost, this.ctl);
    try {
      await this.firehoseSwitch.acquire();
    } catch (err) {
      throw new RuntimeFailure(
        `rabbitmq: cannot turn the firehose on for vhost ${s.vhost}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
  }

  /** Restores the broker's tracing state, then waits for the traces already queued. */
  private async stopFirehose(): Promise<void> {
    try {
      await this.firehoseSwitch?.release();
    } finally {
      this.firehoseSwitch = undefined;
      await this.consumer?.drain().catch(() => {});
    }
  }

  async stop(): Promise<void> {
    let restoreFailure: unknown;
    try {
      // The management plugin refreshes its statistics every collect_statistics_interval (5 s by
      // default): without this wait the step's last seconds of traffic would never be counted.
      const settleMs = parseDuration(this.params.settle ?? '5s');
      if (this.sampler && this.source?.kind === 'management' && settleMs > 0) await sleep(settleMs);
      const vhost = this.params.vhost ?? '/';
      await this.stopFirehose().catch((err) => {
        restoreFailure = new RuntimeFailure(
          `rabbitmq: could not turn the firehose off again (run: rabbitmqctl trace_off -p ${vhost}): ${errorMessage(err)}`,
          { cause: err },
        );
      });
      await this.sampler?.stop();
    } finally {
      await this.consumer?.close();
      this.consumer = undefined;
    }
    if (restoreFailure) throw restoreFailure;
  }
}
