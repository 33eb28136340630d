import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { RuntimeFailure, systemErrorText } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import {
  type Draft,
  decodeMessage,
  encodeMessage,
  envelope,
  ProtocolError,
  type RequestDraft,
} from './codec.js';
import type { Message, ReplyMessage, Request } from './messages.js';
import { signRequest } from './signing.js';
import { topics } from './topics.js';

export interface BrokerOptions {
  /** mqtt://host:port or mqtts://host:port; credentials may be in the URL. */
  url: string;
  username?: string;
  password?: string;
  /** PEM contents, for mqtts. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface ClientOptions extends BrokerOptions {
  /** MQTT client id; also names this client's reply topic. */
  clientId: string;
  log: Logger;
  /** Published by the broker if this client vanishes (agents mark themselves offline with it). */
  will?: { topic: string; message: Message };
  /** Shared secret: requests sent by this client are signed with it. */
  secret?: Buffer;
  /** Keep the session across reconnects so QoS 1 messages queued meanwhile are delivered. */
  persistentSession?: boolean;
  keepaliveSeconds?: number;
}

type Handler = (message: Message, topic: string) => void;
/** Sees a message that failed validation on a subscribed topic; returns true if it answered it. */
type InvalidHandler = (error: ProtocolError, topic: string) => boolean;

/**
 * One MQTT connection speaking protocol v1: publishes envelopes, dispatches validated
 * messages to handlers, and does request/response with the reply topic and correlation id
 * carried inside the envelope (MQTT 3.1.1 has no response-topic property).
 */
export class ProtocolClient {
  /** Messages dropped because they failed to decode or validate. */
  droppedMessages = 0;
  private readonly handlers: { pattern: string; handler: Handler; onInvalid?: InvalidHandler }[] = [];
  private readonly pending = new Map<string, { resolve: (r: ReplyMessage) => void; timer: NodeJS.Timeout }>();
  readonly replyTopic: string;
  /** Set by close(): the connection going away is then expected, not a loss worth a warning. */
  private closing = false;

  private constructor(
    readonly mqtt: MqttClient,
    private readonly options: ClientOptions,
  ) {
    this.replyTopic = topics.replies(options.clientId);
    mqtt.on('message', (topic, payload) => this.dispatch(topic, payload));
  }

  static async connect(options: ClientOptions): Promise<ProtocolClient> {
    const mqttOptions: IClientOptions = {
      clientId: options.clientId,
      protocolVersion: 4,
      clean: !options.persistentSession,
      keepalive: options.keepaliveSeconds ?? 10,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      username: options.username,
      password: options.password,
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      will: options.will
        ? { topic: options.will.topic, payload: encodeMessage(options.will.message), qos: 1, retain: true }
        : undefined,
    };
    let client: MqttClient;
    try {
      client = await mqtt.connectAsync(options.url, mqttOptions);
    } catch (err) {
      // One sentence naming the broker, not Node's "connect ECONNREFUSED 127.0.0.1:1".
      throw new RuntimeFailure(
        `cannot reach the broker at ${redactUrl(options.url)}: ${systemErrorText(err)}`,
        {
          cause: err,
        },
      );
    }
    const pc = new ProtocolClient(client, options);
    client.on('error', (err) => options.log.warn('mqtt error', { error: err.message }));
    client.on('offline', () => {
      if (!pc.closing)
        options.log.warn('broker connection lost; reconnecting', { broker: redactUrl(options.url) });
    });
    // Exponential backoff between reconnection attempts (mqtt.js only has a fixed period),
    // so a fleet does not hammer a broker that is coming back up.
    client.on('reconnect', () => {
      client.options.reconnectPeriod = Math.min((client.options.reconnectPeriod ?? 1000) * 2, 30_000);
      options.log.debug('reconnecting to broker', { nextAttemptMs: client.options.reconnectPeriod });
    });
    client.on('connect', () => {
      client.options.reconnectPeriod = 1000;
      noDelay(client);
    });
    noDelay(client);
    await pc.subscribe(pc.replyTopic, (m) => pc.onReply(m));
    return pc;
  }

  get connected(): boolean {
    return this.mqtt.connected;
  }

  async publish(topic: string, message: Message, opts: { retain?: boolean } = {}): Promise<void> {
    await this.publishRaw(topic, encodeMessage(message), opts);
  }

  /** Publishes an already-encoded message with QoS 1; resolves on the broker's PUBACK. */
  async publishRaw(topic: string, payload: Buffer, opts: { retain?: boolean } = {}): Promise<void> {
    await this.mqtt.publishAsync(topic, payload, { qos: 1, retain: opts.retain ?? false });
  }

  /** Subscribes with QoS 1; `pattern` may hold MQTT wildcards. */
  async subscribe(pattern: string, handler: Handler, onInvalid?: InvalidHandler): Promise<void> {
    this.handlers.push({ pattern, handler, onInvalid });
    await this.mqtt.subscribeAsync(pattern, { qos: 1 });
  }

  async unsubscribe(pattern: string): Promise<void> {
    const i = this.handlers.findIndex((h) => h.pattern === pattern);
    if (i >= 0) this.handlers.splice(i, 1);
    await this.mqtt.unsubscribeAsync(pattern);
  }

  /** Sends a request and resolves with its reply, or rejects after `timeoutMs`. */
  request(topic: string, draft: RequestDraft, timeoutMs: number): Promise<ReplyMessage> {
    let request = envelope<Request>({ ...draft, replyTo: this.replyTopic } as Draft<Request>);
    if (this.options.secret) request = signRequest(request, this.options.secret);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(request.id);
        reject(new Error(`no reply to ${request.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(request.id, { resolve, timer });
      this.publish(topic, request).catch((err) => {
        clearTimeout(timer);
        this.pending.delete(request.id);
        reject(err);
      });
    });
  }

  async reply(request: Request, draft: Omit<Draft<ReplyMessage>, 're' | 'type'>): Promise<void> {
    await this.publish(request.replyTo, envelope<ReplyMessage>({ type: 'reply', re: request.id, ...draft }));
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const { timer } of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    // A persistent session outlives the connection: drop its subscriptions first so the
    // broker does not queue messages for a client that is gone for good.
    if (this.options.persistentSession && this.mqtt.connected) {
      const patterns = [...new Set(this.handlers.map((h) => h.pattern))];
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.mqtt.unsubscribeAsync(patterns).catch(() => {}),
        new Promise((r) => (timer = setTimeout(r, 1000))),
      ]);
      clearTimeout(timer); // left pending, it held a stopping agent's process for its full second
    }
    await this.mqtt.endAsync();
  }

  /** Ends the connection without a DISCONNECT, so the broker publishes the last will (for tests). */
  destroy(): void {
    this.mqtt.end(true);
    (this.mqtt.stream as unknown as { destroy?: () => void })?.destroy?.();
  }

  private onReply(message: Message): void {
    if (message.type !== 'reply') return;
    const p = this.pending.get(message.re);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(message.re);
    p.resolve(message);
  }

  private answeredInvalid(err: ProtocolError, topic: string): boolean {
    return this.handlers.some(
      (h) => h.onInvalid && topicMatches(h.pattern, topic) && h.onInvalid(err, topic),
    );
  }

  private dispatch(topic: string, payload: Buffer): void {
    let message: Message;
    try {
      message = decodeMessage(payload);
    } catch (err) {
      if (err instanceof ProtocolError && this.answeredInvalid(err, topic)) return;
      this.droppedMessages++;
      const detail = err instanceof ProtocolError ? err.message : String(err);
      this.options.log.warn('dropped a message', { topic, reason: detail });
      return;
    }
    for (const { pattern, handler } of this.handlers) {
      if (!topicMatches(pattern, topic)) continue;
      try {
        handler(message, topic);
      } catch (err) {
        this.options.log.error('message handler failed', { topic, error: String(err) });
      }
    }
  }
}

/**
 * Disables Nagle's algorithm on the client's socket: a request, its PUBACK and the reply
 * are small writes, and Nagle with delayed ACKs added ~40 ms to every round trip.
 */
function noDelay(client: MqttClient): void {
  (client.stream as unknown as { setNoDelay?: (on: boolean) => void })?.setNoDelay?.(true);
}

/** MQTT wildcard matching (`+` one level, `#` the rest). */
export function topicMatches(pattern: string, topic: string): boolean {
  const p = pattern.split('/');
  const t = topic.split('/');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '#') return true;
    if (i >= t.length) return false;
    if (p[i] !== '+' && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

/** A broker URL with its password removed, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

export function uniqueClientId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
