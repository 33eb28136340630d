/**
 * Decoding of oslo.messaging traffic as RabbitMQ's firehose shows it, and its aggregation into
 * per-interval `rpc_calls` samples. Pure: the firehose consumer feeds it what the broker traced.
 *
 * What oslo.messaging (rabbit driver) publishes, as read in its amqpdriver.py / impl_rabbit.py:
 * - call: to the topic exchange `<control_exchange>` (default `openstack`), routing key `topic`
 *   or `topic.server`; the message has `method`, `args`, `_msg_id` and `_reply_q`.
 * - cast: the same without `_msg_id`; a fanout cast goes to exchange `<topic>_fanout`.
 * - reply: to the default exchange, routing key = the caller's `_reply_q`, with `result`,
 *   `failure`, `ending` and the call's `_msg_id`. A reply with `ending: false` and neither result
 *   nor failure is a heartbeat (sent while a call with call_monitor_timeout runs).
 * - notification: to the control exchange, routing key `<topic>.<priority>`, with `event_type`.
 * With the 2.0 envelope the body is `{"oslo.version": "2.0", "oslo.message": "<json string>"}`.
 */
import type { FieldValue, Sample } from '../../core/sample.js';
import { DEFAULT_EXCHANGE } from './parse.js';

export type RpcKind = 'call' | 'cast' | 'reply' | 'heartbeat' | 'notification' | 'other';

/** One traced publication, decoded. */
export interface RpcMessage {
  kind: RpcKind;
  exchange: string;
  topic?: string;
  server?: string;
  /** RPC method, or the notification's event_type. */
  method?: string;
  /** The call's id, on calls and replies. */
  msgId?: string;
  /** A reply carrying a failure (the remote method raised). */
  failed?: boolean;
}

type Json = Record<string, unknown>;

function parseJson(body: Buffer | string): unknown {
  try {
    return JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The oslo message inside a body: the 2.0 envelope's inner JSON, or the body itself (1.0, unenveloped). */
export function unwrapOslo(body: Buffer | string): Json | undefined {
  const outer = parseJson(body);
  if (!outer || typeof outer !== 'object' || Array.isArray(outer)) return undefined;
  const o = outer as Json;
  if (typeof o['oslo.message'] === 'string') {
    const inner = parseJson(o['oslo.message']);
    return inner && typeof inner === 'object' && !Array.isArray(inner) ? (inner as Json) : undefined;
  }
  return o;
}

/** `topic` or `topic.server`: topics have no dots in oslo.messaging, host names may. */
export function splitTarget(routingKey: string): { topic: string; server?: string } {
  const dot = routingKey.indexOf('.');
  return dot < 0
    ? { topic: routingKey }
    : { topic: routingKey.slice(0, dot), server: routingKey.slice(dot + 1) };
}

/**
 * Classifies one message published to `exchange` with `routingKey`. Anything that is not
 * oslo.messaging JSON is `other` (tagged by exchange only, to keep cardinality bounded).
 */
export function decodeOslo(exchange: string, routingKey: string, body: Buffer | string): RpcMessage {
  const ex = exchange || DEFAULT_EXCHANGE;
  const m = unwrapOslo(body);
  if (!m) return { kind: 'other', exchange: ex };
  const msgId = typeof m._msg_id === 'string' ? m._msg_id : undefined;
  if (typeof m.method === 'string') {
    const kind: RpcKind = msgId ? 'call' : 'cast';
    if (exchange.endsWith('_fanout')) {
      return { kind, exchange: ex, topic: exchange.slice(0, -'_fanout'.length), method: m.method, msgId };
    }
    return { kind, exchange: ex, ...splitTarget(routingKey), method: m.method, msgId };
  }
  if (typeof m.event_type === 'string') {
    return { kind: 'notification', exchange: ex, topic: routingKey, method: m.event_type };
  }
  if (msgId && ('result' in m || 'failure' in m || 'ending' in m)) {
    const failed = m.failure !== undefined && m.failure !== null;
    const empty = (m.result === undefined || m.result === null) && !failed;
    const kind: RpcKind = m.ending === false && empty ? 'heartbeat' : 'reply';
    return { kind, exchange: ex, msgId, failed };
  }
  return { kind: 'other', exchange: ex };
}

interface Series {
  tags: Record<string, string>;
  count: bigint;
  bytes: bigint;
  errors: bigint;
  matched: bigint;
  latencySum: number;
  latencyMax: number;
}

interface PendingCall {
  at: number;
  exchange: string;
  topic?: string;
  server?: string;
  method?: string;
}

/** Calls remembered for matching replies; the oldest are forgotten beyond this. */
const MAX_PENDING = 100_000;

/**
 * Sums decoded messages per (kind, exchange, topic, server, method) until drained. Replies are
 * matched to their call by `_msg_id` and take the call's exchange, topic, server and method, so
 * that a method's calls and replies are one series each; the time between the two publications
 * (as the broker saw them) is the call's latency. A reply whose call was published before the
 * firehose was on is counted with method `(unknown)`.
 */
export class RpcAggregator {
  private series = new Map<string, Series>();
  private pending = new Map<string, PendingCall>();

  /** Adds one message of `bytes` payload bytes, received at `atMs` (a monotonic clock, ms). */
  add(msg: RpcMessage, bytes: number, atMs: number): void {
    let tags: Record<string, string>;
    let latency: number | undefined;
    if (msg.kind === 'reply' || msg.kind === 'heartbeat') {
      const call = msg.msgId ? this.pending.get(msg.msgId) : undefined;
      if (call && msg.kind === 'reply') {
        this.pending.delete(msg.msgId!);
        latency = atMs - call.at;
      }
      tags = this.tagsOf(
        msg.kind,
        call?.exchange ?? msg.exchange,
        call?.topic,
        call?.server,
        call?.method ?? '(unknown)',
      );
    } else {
      if (msg.kind === 'call' && msg.msgId) {
        if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value!);
        this.pending.set(msg.msgId, {
          at: atMs,
          exchange: msg.exchange,
          topic: msg.topic,
          server: msg.server,
          method: msg.method,
        });
      }
      tags =
        msg.kind === 'other'
          ? { kind: 'other', exchange: msg.exchange }
          : this.tagsOf(msg.kind, msg.exchange, msg.topic, msg.server, msg.method);
    }
    const key = JSON.stringify(tags);
    let s = this.series.get(key);
    if (!s) {
      s = { tags, count: 0n, bytes: 0n, errors: 0n, matched: 0n, latencySum: 0, latencyMax: 0 };
      this.series.set(key, s);
    }
    s.count++;
    s.bytes += BigInt(bytes);
    if (msg.failed) s.errors++;
    if (latency !== undefined) {
      s.matched++;
      s.latencySum += latency;
      s.latencyMax = Math.max(s.latencyMax, latency);
    }
  }

  private tagsOf(
    kind: RpcKind,
    exchange: string,
    topic?: string,
    server?: string,
    method?: string,
  ): Record<string, string> {
    const tags: Record<string, string> = { kind, exchange };
    if (topic) tags.topic = topic;
    if (server) tags.server = server;
    if (method) tags.method = method;
    return tags;
  }

  /** Calls published and not (yet) answered. */
  get pendingCalls(): number {
    return this.pending.size;
  }

  /** The `rpc_calls` samples of everything added since the previous drain, stamped `time`. */
  drain(time: bigint, extraTags: Record<string, string> = {}): Sample[] {
    const out: Sample[] = [];
    for (const s of this.series.values()) {
      const fields: Record<string, FieldValue> = { count: s.count, bytes: s.bytes };
      if (s.tags.kind === 'reply') {
        fields.errors = s.errors;
        fields.matched = s.matched;
        if (s.matched > 0n) {
          fields.latency_ms_sum = s.latencySum;
          fields.latency_ms_max = s.latencyMax;
        }
      }
      out.push({ measurement: 'rpc_calls', tags: { ...extraTags, ...s.tags }, fields, time });
    }
    this.series.clear();
    return out;
  }
}
