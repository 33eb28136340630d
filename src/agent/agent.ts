import { hostname } from 'node:os';
import type { Logger } from '../core/logger.js';
import { checkParams, describeAjvError } from '../core/params.js';
import { Registry } from '../core/registry.js';
import { scalpelsVersion } from '../core/version.js';
import { type BrokerOptions, ProtocolClient } from '../protocol/client.js';
import { encodeMessage, envelope, type ProtocolError } from '../protocol/codec.js';
import type {
  AgentInfo,
  DataMessage,
  EndMessage,
  ErrorCode,
  EventMessage,
  Message,
  ReplyResult,
  Request,
  RunCommandRequest,
  StartTracerRequest,
  StatusMessage,
  TracerAvailability,
} from '../protocol/messages.js';
import { RequestVerifier, type VerifyFailure } from '../protocol/signing.js';
import { PROTOCOL_VERSION, topics } from '../protocol/topics.js';
import { COMMANDS_NOT_ALLOWED, resolveCommand } from '../tracers/command/index.js';
import type { TracerContext, TracerDefinition } from '../tracers/types.js';
import { BatchArchive } from './archive.js';
import { runCatalogCommand } from './catalog-command.js';
import { Outbox } from './outbox.js';
import { TracerStream } from './stream.js';

export interface AgentOptions {
  name: string;
  labels?: Record<string, string>;
  broker: BrokerOptions;
  /** The tracers this agent may run: its own catalog, nothing else. */
  tracers: readonly TracerDefinition[];
  ctx: TracerContext;
  log: Logger;
  /** When set, requests must be signed with it. */
  secret?: Buffer;
  /** Where data spills while the broker is unreachable (see Outbox). */
  spoolDir?: string;
  /** Data messages held in memory before spilling. */
  outboxMemoryLimit?: number;
}

/**
 * An invalid message that can still be answered: it has the correlation id and reply topic
 * of a request, within what a reply may carry (an id of up to 64 characters, a topic to
 * publish to, so no wildcard).
 */
function answerable(err: ProtocolError): Request | undefined {
  if (err.code !== 'invalid') return undefined;
  const { id, replyTo } = err.value ?? {};
  if (typeof id !== 'string' || id.length === 0 || id.length > 64) return undefined;
  if (typeof replyTo !== 'string' || replyTo.length === 0 || replyTo.length > 4096 || /[+#\0]/.test(replyTo))
    return undefined;
  return err.value as unknown as Request;
}

/** Stream ids repeat across runs (`run.0.proc`): an agent keys its streams by run and stream. */
function streamKey(run: string, stream: string): string {
  return `${run}/${stream}`;
}

class RequestError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Sent with the error: how far a command got before it failed. */
    readonly result?: ReplyResult,
  ) {
    super(message);
  }
}

/**
 * The agent: announces itself (retained status, last will for offline), runs tracer
 * instances on command, streams their samples, and refuses anything outside its catalog.
 */
export class Agent {
  private client?: ProtocolClient;
  private outbox?: Outbox;
  /** Sent batches by stream key (run/stream), for `resend`. */
  private readonly archive = new BatchArchive();
  private readonly catalog: Registry<TracerDefinition>;
  private readonly streams = new Map<string, TracerStream>();
  /** Catalog commands running for `run-command` requests, by the run that asked. */
  private readonly commands = new Map<AbortController, { run: string; done: Promise<unknown> }>();
  private readonly verifier?: RequestVerifier;
  private availability: TracerAvailability[] = [];
  private readonly refusalsLogged = new Set<string>();

  constructor(private readonly options: AgentOptions) {
    this.catalog = new Registry('tracer', options.tracers);
    if (options.secret) this.verifier = new RequestVerifier(options.secret);
  }

  get name(): string {
    return this.options.name;
  }

  info(): AgentInfo {
    return {
      name: this.options.name,
      host: hostname(),
      labels: this.options.labels ?? {},
      version: scalpelsVersion,
      protocol: PROTOCOL_VERSION,
      tracers: this.availability,
    };
  }

  async start(): Promise<void> {
    this.availability = await Promise.all(
      this.catalog.all().map(async (t) => {
        const reason = await t.unavailableReason(this.options.ctx);
        return reason ? { name: t.name, available: false, reason } : { name: t.name, available: true };
      }),
    );
    const statusTopic = topics.agentStatus(this.options.name);
    this.client = await ProtocolClient.connect({
      ...this.options.broker,
      clientId: `agent-${this.options.name}`,
      log: this.options.log,
      persistentSession: true,
      will: { topic: statusTopic, message: this.status(false) },
    });
    const client = this.client;
    this.outbox = new Outbox(
      {
        get connected() {
          return client.connected;
        },
        send: (topic, payload) => client.publishRaw(topic, payload),
        onConnect: (listener) => client.mqtt.on('connect', listener),
      },
      { spoolDir: this.options.spoolDir, memoryLimit: this.options.outboxMemoryLimit, log: this.options.log },
    );
    await this.client.subscribe(
      topics.agentCommands(this.options.name),
      (m) => this.onCommand(m),
      (err) => this.onInvalidCommand(err),
    );
    // Re-announce after every reconnect: a broker restarted without persistence forgets retained messages.
    this.client.mqtt.on('connect', () => void this.announce().catch(() => {}));
    await this.announce();
    this.options.log.info('agent online', { agent: this.options.name, tracers: this.availability.length });
  }

  /** Stops every stream (flushing their data), marks the agent offline and disconnects. */
  async stop(): Promise<void> {
    // Killed commands end within moments (their process groups get SIGKILL): wait for them, so
    // none outlives the agent and their replies go out before it disconnects.
    const commands = [...this.commands.values()].map((c) => c.done);
    this.killCommands(() => true, 'the agent is stopping');
    await Promise.allSettled([
      ...commands,
      ...[...this.streams.values()].map((s) => this.stopStream(s, 'agent shutting down')),
    ]);
    this.streams.clear();
    // Give queued data a moment to reach the broker; what remains stays in the spool. The
    // timer is cleared once the outbox is idle: left pending, it held the process 5 s.
    if (this.outbox && this.client?.connected) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.outbox.idle(), new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
    }
    if (this.client) {
      await this.client
        .publish(topics.agentStatus(this.options.name), this.status(false), { retain: true })
        .catch(() => {});
      await this.client.close();
    }
  }

  /** Drops the connection without a goodbye, as a crash would (for tests of the last will). */
  crash(): void {
    this.client?.destroy();
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  private status(online: boolean): StatusMessage {
    return envelope<StatusMessage>({ type: 'status', online, agent: this.info() });
  }

  private async announce(): Promise<void> {
    await this.client?.publish(topics.agentStatus(this.options.name), this.status(true), { retain: true });
  }

  private onCommand(message: Message): void {
    if (!('replyTo' in message)) return;
    const request = message as Request;
    if (this.refusedUnverified(request)) return;
    void this.handle(request).then(
      (result) => this.client?.reply(request, { ok: true, agentTs: Date.now(), ...result }),
      (err) => {
        const code: ErrorCode = err instanceof RequestError ? err.code : 'internal';
        const result = err instanceof RequestError ? err.result : undefined;
        this.options.log.warn('request failed', { type: request.type, code, error: err.message });
        return this.client?.reply(request, {
          ok: false,
          agentTs: Date.now(),
          error: { code, message: err.message },
          ...(result ? { result } : {}),
        });
      },
    );
  }

  /**
   * A request that fails the message schema (an interval under 10 ms, a lease under 1 s) is
   * answered `bad-request` with the reason, so the runner fails at once with the agent's
   * sentence instead of waiting out its ack timeout. The signature is checked first, as for
   * any request: without the secret, a sender learns nothing but the refusal.
   */
  private onInvalidCommand(err: ProtocolError): boolean {
    const request = answerable(err);
    if (!request) return false;
    if (this.refusedUnverified(request)) return true;
    const reason = err.message.slice(0, 1000);
    this.options.log.warn('refused an invalid request', { type: String(request.type), reason });
    void this.client
      ?.reply(request, { ok: false, agentTs: Date.now(), error: { code: 'bad-request', message: reason } })
      .catch(() => {});
    return true;
  }

  /** With a secret: refuses (and answers) an unsigned, forged, stale or replayed request. */
  private refusedUnverified(request: Request): boolean {
    if (!this.verifier) return false;
    let failure: VerifyFailure | undefined;
    try {
      failure = this.verifier.verify(request);
    } catch {
      failure = 'forged'; // a signature of the wrong shape (only an invalid request can have one)
    }
    if (!failure) return false;
    this.logRefusalOnce(failure, request);
    void this.client
      ?.reply(request, { ok: false, error: { code: 'unauthorized', message: `refused: ${failure} request` } })
      .catch(() => {});
    return true;
  }

  private logRefusalOnce(failure: string, request: Request): void {
    // An invalid request can carry any type: cap the set, so a flood of made-up types cannot grow it.
    const key = `${failure}:${String(request.type).slice(0, 32)}`;
    if (this.refusalsLogged.has(key) || this.refusalsLogged.size >= 100) return;
    this.refusalsLogged.add(key);
    this.options.log.warn('refused a command', { reason: failure, type: request.type });
  }

  private async handle(request: Request): Promise<{ result?: ReplyResult } | undefined> {
    switch (request.type) {
      case 'ping':
        return undefined;
      case 'start':
        await this.startStream(request);
        return undefined;
      case 'stop': {
        const stream = this.streams.get(streamKey(request.run, request.stream));
        if (!stream)
          throw new RequestError('unknown-stream', `no stream "${request.stream}" on agent ${this.name}`);
        const totals = await this.stopStream(stream);
        this.streams.delete(streamKey(request.run, request.stream));
        void this.event(request.run, { kind: 'stopped', stream: request.stream });
        return { result: totals };
      }
      case 'mark': {
        const mine = [...this.streams.values()].filter((s) => s.options.run === request.run);
        await Promise.allSettled(mine.map((s) => s.sampleNow()));
        return undefined;
      }
      case 'run-command':
        return { result: await this.runCommand(request) };
      case 'stop-run': {
        this.killCommands((run) => run === request.run, 'the run was stopped');
        const mine = [...this.streams.values()].filter((s) => s.options.run === request.run);
        await Promise.allSettled(mine.map((s) => this.stopStream(s, 'run stopped')));
        for (const s of mine) {
          this.streams.delete(streamKey(s.options.run, s.id));
          void this.event(request.run, { kind: 'stopped', stream: s.id });
        }
        return undefined;
      }
      case 'renew':
        for (const s of this.streams.values())
          if (s.options.run === request.run) this.armLease(s, request.leaseMs);
        return undefined;
      case 'resend': {
        const key = streamKey(request.run, request.stream);
        const missing = request.seqs.filter((seq) => !this.archive.get(key, seq));
        for (const seq of request.seqs) {
          const payload = this.archive.get(key, seq);
          if (payload) this.outbox!.enqueue(topics.runData(request.run, this.name), payload);
        }
        if (missing.length) {
          throw new RequestError(
            'unknown-stream',
            `batches ${missing.slice(0, 20).join(', ')} of ${request.stream} are no longer archived`,
          );
        }
        return undefined;
      }
    }
  }

  private async startStream(req: StartTracerRequest): Promise<void> {
    if (this.streams.has(streamKey(req.run, req.stream)))
      throw new RequestError('bad-request', `stream "${req.stream}" is already running`);
    const definition = this.catalog.get(req.tracer);
    if (!definition)
      throw new RequestError(
        'unknown-tracer',
        `tracer "${req.tracer}" is not in agent ${this.name}'s catalog`,
      );
    const available = this.availability.find((a) => a.name === req.tracer);
    if (available && !available.available) {
      throw new RequestError(
        'tracer-unavailable',
        `tracer "${req.tracer}" cannot run on ${this.name}: ${available.reason}`,
      );
    }
    const checked = checkParams(definition.manifest.params, req.params);
    if (!checked.ok) {
      throw new RequestError(
        'invalid-params',
        `tracer "${req.tracer}": ${checked.errors.map(describeAjvError).join('; ')}`,
      );
    }
    const tags: Record<string, string> = {
      run: req.run,
      scenario: req.scenario,
      host: this.name,
      tracer: req.tracer,
    };
    if (req.step !== null) tags.step = req.step;
    const instance = definition.create(checked.value, { intervalMs: req.intervalMs }, this.options.ctx);
    const outbox = this.outbox!;
    const dataTopic = topics.runData(req.run, this.name);
    const archiveKey = streamKey(req.run, req.stream);
    const stream = new TracerStream(
      {
        id: req.stream,
        run: req.run,
        tracer: req.tracer,
        tags,
        onPublishError: (err, seq) =>
          this.options.log.error('could not send a batch', { stream: req.stream, seq, error: String(err) }),
      },
      instance,
      {
        publishData: async (batch) => {
          const payload = encodeMessage(
            envelope<DataMessage>({ type: 'data', run: req.run, stream: req.stream, ...batch }),
          );
          this.archive.keep(archiveKey, batch.seq, payload);
          outbox.enqueue(dataTopic, payload);
        },
        publishEnd: async (end) => {
          this.archive.markEnded(archiveKey);
          outbox.enqueue(
            dataTopic,
            encodeMessage(envelope<EndMessage>({ type: 'end', run: req.run, stream: req.stream, ...end })),
          );
        },
      },
    );
    try {
      await stream.start();
    } catch (err) {
      throw new RequestError(
        'start-failed',
        `tracer "${req.tracer}" failed to start on ${this.name}: ${(err as Error).message}`,
      );
    }
    this.streams.set(streamKey(req.run, req.stream), stream);
    this.armLease(stream, req.leaseMs);
    this.options.log.info('started tracer', {
      run: req.run,
      stream: req.stream,
      tracer: req.tracer,
      intervalMs: req.intervalMs,
    });
    void this.event(req.run, { kind: 'started', stream: req.stream });
  }

  /** Stops a stream and logs its total, so that an operator reading the journal sees each run come and go. */
  private async stopStream(
    stream: TracerStream,
    why?: string,
  ): Promise<{ batches: number; samples: number }> {
    const totals = await stream.stop(why);
    this.options.log.info('stopped tracer', {
      run: stream.options.run,
      stream: stream.id,
      tracer: stream.options.tracer,
      samples: totals.samples,
      ...(why ? { reason: why } : {}),
    });
    return totals;
  }

  /**
   * Runs an entry of the operator catalog to its end. The request only names it: an agent
   * without --allow-commands has no catalog and refuses, and a name not in the catalog is
   * refused — nothing else can be run.
   */
  private async runCommand(req: RunCommandRequest): Promise<ReplyResult> {
    const catalog = this.options.ctx.operatorCatalog;
    if (!catalog)
      throw new RequestError(
        'commands-disabled',
        `command "${req.command}" refused: ${COMMANDS_NOT_ALLOWED}`,
      );
    let entry: ReturnType<typeof resolveCommand>;
    try {
      entry = resolveCommand(req.command, catalog);
    } catch (err) {
      throw new RequestError('unknown-command', (err as Error).message);
    }
    this.options.log.info('running a catalog command', { command: entry.name, run: req.run });
    const abort = new AbortController();
    const running = runCatalogCommand(entry, req.timeoutMs, abort.signal).finally(() =>
      this.commands.delete(abort),
    );
    this.commands.set(abort, { run: req.run, done: running });
    const r = await running;
    const result: ReplyResult = { exitCode: r.exitCode, durationMs: r.durationMs, output: r.output };
    if (r.signal) result.signal = r.signal;
    if (r.failure) {
      const code: ErrorCode = r.failure.kind === 'timeout' ? 'command-timeout' : 'command-failed';
      throw new RequestError(code, r.failure.message, result);
    }
    return result;
  }

  private killCommands(which: (run: string) => boolean, reason: string): void {
    for (const [abort, { run }] of this.commands) if (which(run)) abort.abort(reason);
  }

  /** A runner that vanishes never sends "stop": the lease makes the agent stop by itself. */
  private armLease(stream: TracerStream, leaseMs: number): void {
    clearTimeout(stream.leaseTimer);
    stream.leaseTimer = setTimeout(() => {
      this.options.log.warn('run lease expired; stopping tracer', { stream: stream.id });
      this.streams.delete(streamKey(stream.options.run, stream.id));
      void this.stopStream(stream, 'lease expired: the runner stopped renewing').then(() =>
        this.event(stream.options.run, { kind: 'lease-expired', stream: stream.id }),
      );
    }, leaseMs);
    stream.leaseTimer.unref();
  }

  private async event(
    run: string,
    e: { kind: EventMessage['kind']; stream?: string; message?: string },
  ): Promise<void> {
    await this.client
      ?.publish(topics.runEvents(run, this.name), envelope<EventMessage>({ type: 'event', run, ...e }))
      .catch(() => {});
  }
}
