/**
 * Pure parts of the `rabbitmq` tracer's queue and exchange statistics: the management API's
 * JSON and `rabbitmqctl` output in, Telegraf's `rabbitmq_queue` / `rabbitmq_exchange` fields
 * out. No I/O, so unit tests feed them recorded answers (test/fixtures/rabbitmq/).
 */
import type { CounterMode } from '../../core/counters.js';
import type { FieldValue } from '../../core/sample.js';

/** The default exchange has an empty name, which cannot be a tag value: the management UI's name for it. */
export const DEFAULT_EXCHANGE = '(AMQP default)';

/** Queue counters: management API `message_stats` key → Telegraf field. */
export const QUEUE_COUNTERS = {
  publish: 'messages_publish',
  deliver_get: 'messages_deliver_get',
  deliver: 'messages_deliver',
  ack: 'messages_ack',
  redeliver: 'messages_redeliver',
} as const;

/** Queue levels: management API key → Telegraf field. */
export const QUEUE_GAUGES = {
  messages: 'messages',
  messages_ready: 'messages_ready',
  messages_unacknowledged: 'messages_unack',
  consumers: 'consumers',
  message_bytes: 'message_bytes',
  memory: 'memory',
} as const;

/** Exchange counters: management API `message_stats` key → Telegraf field. */
export const EXCHANGE_COUNTERS = {
  publish_in: 'messages_publish_in',
  publish_out: 'messages_publish_out',
} as const;

/** The columns the tracer asks for, so the broker does not serialise what is not used. */
export const QUEUE_COLUMNS = `name,vhost,node,${Object.keys(QUEUE_GAUGES).join(',')},message_stats`;
export const EXCHANGE_COLUMNS = 'name,vhost,type,message_stats';

/** One queue or exchange as read: its tags, running totals and levels. */
export interface ObjectReading {
  /** Identity across readings (vhost and name). */
  key: string;
  tags: Record<string, string>;
  /** Running totals, by Telegraf field name. */
  counters: Map<string, bigint>;
  /** Levels (and the broker's own rates, per second), by Telegraf field name. */
  gauges: Record<string, FieldValue>;
}

type Json = Record<string, unknown>;

const int = (v: unknown): bigint | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? BigInt(Math.trunc(v)) : undefined;

const rate = (stats: Json | undefined, key: string): number | undefined => {
  const details = stats?.[`${key}_details`] as Json | undefined;
  const r = details?.rate;
  return typeof r === 'number' && Number.isFinite(r) ? r : undefined;
};

/**
 * Reads `GET /api/queues/<vhost>`. A queue that never saw a message has no `message_stats`:
 * its counters are 0. `include` filters by queue name.
 */
export function parseQueues(body: unknown, include?: RegExp): ObjectReading[] {
  if (!Array.isArray(body)) throw new Error('management API: /api/queues did not answer with a list');
  const out: ObjectReading[] = [];
  for (const q of body as Json[]) {
    const name = String(q.name ?? '');
    if (include && !include.test(name)) continue;
    const vhost = String(q.vhost ?? '/');
    const stats = q.message_stats as Json | undefined;
    const counters = new Map<string, bigint>();
    const gauges: Record<string, FieldValue> = {};
    for (const [key, field] of Object.entries(QUEUE_COUNTERS)) {
      counters.set(field, int(stats?.[key]) ?? 0n);
      const r = rate(stats, key);
      if (r !== undefined && (key === 'publish' || key === 'deliver_get' || key === 'ack'))
        gauges[`${field}_rate`] = r;
    }
    for (const [key, field] of Object.entries(QUEUE_GAUGES)) {
      const v = int(q[key]);
      if (v !== undefined) gauges[field] = v;
    }
    const tags: Record<string, string> = { queue: name, vhost };
    if (typeof q.node === 'string' && q.node) tags.node = q.node;
    out.push({ key: `${vhost}\u0000${name}`, tags, counters, gauges });
  }
  return out;
}

/** Reads `GET /api/exchanges/<vhost>`; `include` filters by exchange name (the default one is ''). */
export function parseExchanges(body: unknown, include?: RegExp): ObjectReading[] {
  if (!Array.isArray(body)) throw new Error('management API: /api/exchanges did not answer with a list');
  const out: ObjectReading[] = [];
  for (const x of body as Json[]) {
    const name = String(x.name ?? '');
    if (include && !include.test(name)) continue;
    const vhost = String(x.vhost ?? '/');
    const stats = x.message_stats as Json | undefined;
    const counters = new Map<string, bigint>();
    const gauges: Record<string, FieldValue> = {};
    for (const [key, field] of Object.entries(EXCHANGE_COUNTERS)) {
      counters.set(field, int(stats?.[key]) ?? 0n);
      const r = rate(stats, key);
      if (r !== undefined) gauges[`${field}_rate`] = r;
    }
    const tags: Record<string, string> = { exchange: name || DEFAULT_EXCHANGE, vhost };
    if (typeof x.type === 'string' && x.type) tags.type = x.type;
    out.push({ key: `${vhost}\u0000${name}`, tags, counters, gauges });
  }
  return out;
}

/**
 * Reads `rabbitmqctl list_queues -q --no-table-headers name messages consumers` (tab-separated;
 * a queue name may contain spaces but not tabs). Depth and consumers only: rabbitmqctl has no
 * message rates.
 */
export function parseListQueues(text: string, vhost: string, include?: RegExp): ObjectReading[] {
  const out: ObjectReading[] = [];
  for (const line of text.split('\n')) {
    const cols = line.split('\t');
    if (cols.length < 3) continue;
    const [name, messages, consumers] = cols;
    if (!/^\d+$/.test(messages.trim()) || !/^\d+$/.test(consumers.trim())) continue;
    if (include && !include.test(name)) continue;
    out.push({
      key: `${vhost}\u0000${name}`,
      tags: { queue: name, vhost },
      counters: new Map(),
      gauges: { messages: BigInt(messages.trim()), consumers: BigInt(consumers.trim()) },
    });
  }
  return out;
}

/** Reads `rabbitmqctl list_vhosts -q --no-table-headers name tracing` into vhost → tracing on. */
export function parseVhostTracing(text: string): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const line of text.split('\n')) {
    const cols = line.split('\t');
    if (cols.length < 2) continue;
    out.set(cols[0], cols[1].trim() === 'true');
  }
  return out;
}

/**
 * Fields of one queue or exchange sample. Counters: in delta mode, the change since `prev`;
 * an object first seen after the baseline counts whole (it was created during the interval);
 * one whose counter went backwards was re-created (or its node restarted) and counts from zero.
 * At the baseline reading (`baseline`), delta mode writes the levels only.
 */
export function objectFields(
  prev: ObjectReading | undefined,
  cur: ObjectReading,
  mode: CounterMode,
  baseline: boolean,
): Record<string, FieldValue> {
  const fields: Record<string, FieldValue> = { ...cur.gauges };
  for (const [field, value] of cur.counters) {
    if (mode === 'cumulative') fields[field] = value;
    else if (!baseline) {
      const p = prev?.counters.get(field);
      fields[field] = p === undefined || value < p ? value : value - p;
    }
  }
  return fields;
}
