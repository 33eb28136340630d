import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, RuntimeFailure } from '../../core/errors.js';
import { parseVhostTracing } from './parse.js';

/** Runs `rabbitmqctl` with arguments and resolves with its stdout; injected so tests can stand in. */
export type RabbitmqctlRunner = (args: string[]) => Promise<string>;

/** The real rabbitmqctl (it starts an Erlang VM: about a second per call). */
export function rabbitmqctl(binary = 'rabbitmqctl'): RabbitmqctlRunner {
  return (args) =>
    new Promise((resolve, reject) => {
      execFile(binary, args, { timeout: 30_000 }, (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          const why =
            code === 'ENOENT'
              ? `${binary} not found on PATH`
              : (stderr.trim() || errorMessage(err)).split('\n')[0];
          reject(new RuntimeFailure(`rabbitmqctl ${args.join(' ')}: ${why}`, { cause: err }));
        } else resolve(stdout);
      });
    });
}

/**
 * Who holds the firehose of a vhost in this process, so that two streams on the same vhost
 * (two tracers, or overlapping steps) do not turn it off under each other: the last one out
 * restores what the first one in found.
 */
const holders = new Map<string, { count: number; wasOn: boolean }>();

/**
 * Turns RabbitMQ's firehose (tracing) on for a vhost for the life of a stream and restores it:
 * `acquire()` records whether tracing was on and turns it on if not; `release()` turns it off
 * again only if it was off before the first holder in this process came. A broker that had
 * tracing on keeps it.
 */
export class FirehoseSwitch {
  private held = false;

  constructor(
    private readonly vhost: string,
    private readonly ctl: RabbitmqctlRunner,
    private readonly table: Map<string, { count: number; wasOn: boolean }> = holders,
  ) {}

  /** Whether tracing is on for the vhost now, as the broker says. */
  async isOn(): Promise<boolean> {
    const out = await this.ctl(['list_vhosts', '-q', '--no-table-headers', 'name', 'tracing']);
    const state = parseVhostTracing(out).get(this.vhost);
    if (state === undefined) throw new RuntimeFailure(`rabbitmq: vhost ${this.vhost} does not exist`);
    return state;
  }

  async acquire(): Promise<void> {
    if (this.held) return;
    const entry = this.table.get(this.vhost);
    if (entry) {
      entry.count++;
    } else {
      // Claim the slot before the first await so that a concurrent acquire counts on it.
      const claim = { count: 1, wasOn: true };
      this.table.set(this.vhost, claim);
      try {
        claim.wasOn = await this.isOn();
        if (!claim.wasOn) await this.ctl(['trace_on', '-p', this.vhost]);
      } catch (err) {
        this.table.delete(this.vhost);
        throw err;
      }
    }
    this.held = true;
  }

  async release(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    const entry = this.table.get(this.vhost);
    if (!entry) return;
    entry.count--;
    if (entry.count > 0) return;
    this.table.delete(this.vhost);
    if (!entry.wasOn) await this.ctl(['trace_off', '-p', this.vhost]);
  }
}

/** One message the firehose showed: where it was published, and its body. */
export interface TracedMessage {
  exchange: string;
  routingKey: string;
  body: Buffer;
}

/** Where the consumer connects: amqp://user:password@host:port/vhost. */
export interface AmqpTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  vhost: string;
}

/**
 * Consumes the firehose of one vhost: an exclusive, server-named queue bound to
 * `amq.rabbitmq.trace` with `publish.#`, so every publication is seen once (the `deliver.*`
 * copies are not bound: they would count each message again per consumer). Messages are
 * consumed without acks; the queue is capped so that a consumer that falls behind costs the
 * broker bounded memory (the oldest traces are dropped).
 */
export class FirehoseConsumer {
  private conn?: import('amqplib').ChannelModel;
  private channel?: import('amqplib').Channel;
  private queue?: string;

  constructor(
    private readonly target: AmqpTarget,
    private readonly onMessage: (m: TracedMessage) => void,
  ) {}

  async open(): Promise<void> {
    const amqp = await import('amqplib');
    const t = this.target;
    const url = `amqp://${encodeURIComponent(t.user)}:${encodeURIComponent(t.password)}@${t.host}:${t.port}/${encodeURIComponent(t.vhost)}`;
    try {
      this.conn = await amqp.connect(url, { timeout: 5000 });
    } catch (err) {
      throw new RuntimeFailure(
        `rabbitmq: cannot connect to amqp://${t.host}:${t.port} as ${t.user}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    // A broker that goes away mid-step must not crash the agent; the step's data says what was seen.
    this.conn.on('error', () => {});
    this.channel = await this.conn.createChannel();
    this.channel.on('error', () => {});
    const q = await this.channel.assertQueue('', {
      exclusive: true,
      autoDelete: true,
      arguments: { 'x-max-length': 200_000 },
    });
    this.queue = q.queue;
    await this.channel.bindQueue(q.queue, 'amq.rabbitmq.trace', 'publish.#');
    await this.channel.consume(
      q.queue,
      (msg) => {
        if (!msg) return;
        const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
        const keys = headers.routing_keys;
        const routingKey = Array.isArray(keys) && keys.length > 0 ? String(keys[0]) : '';
        const exchange =
          typeof headers.exchange_name === 'string'
            ? headers.exchange_name
            : msg.fields.routingKey.replace(/^publish\./, '');
        this.onMessage({ exchange, routingKey, body: msg.content });
      },
      { noAck: true },
    );
  }

  /**
   * Waits until the broker has handed over every trace already queued (the queue is empty),
   * then a little longer for those on the wire; at most `timeoutMs`.
   */
  async drain(timeoutMs = 3000): Promise<void> {
    if (!this.channel || !this.queue) return;
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const { messageCount } = await this.channel.checkQueue(this.queue);
      if (messageCount === 0) break;
      await sleep(20);
    }
    await sleep(50);
  }

  async close(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    this.channel = undefined;
    await conn?.close().catch(() => {});
  }
}
