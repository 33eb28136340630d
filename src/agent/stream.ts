import type { Sample } from '../core/sample.js';
import { encodeBatch } from '../store/line-protocol.js';
import type { TracerInstance } from '../tracers/types.js';

/** What a stream needs to publish its batches; the agent passes its protocol client in. */
export interface StreamPublisher {
  publishData(batch: { seq: number; count: number; lines: string }): Promise<void>;
  publishEnd(end: { batches: number; samples: number; error?: string }): Promise<void>;
}

export interface StreamOptions {
  id: string;
  run: string;
  tracer: string;
  /** Tags added to every sample: run, scenario, step, host, tracer. */
  tags: Record<string, string>;
  /** A batch is sent when it holds this many lines… */
  maxBatchLines?: number;
  /** …or when its oldest line is this old. */
  maxBatchDelayMs?: number;
  /** Called when a batch could not be handed to the MQTT client (it only fails once the client is closed). */
  onPublishError?: (err: unknown, seq: number) => void;
}

/**
 * One tracer instance on one agent, and the stream of its samples: tags them, encodes them
 * as line protocol, batches them and numbers the batches, so the runner can prove it got
 * them all (the end marker carries the totals).
 */
export class TracerStream {
  private buffer: string[] = [];
  private timer?: NodeJS.Timeout;
  private seq = 0;
  private samples = 0;
  private sending: Promise<void> = Promise.resolve();
  private stopped?: Promise<{ batches: number; samples: number }>;
  leaseTimer?: NodeJS.Timeout;

  constructor(
    readonly options: StreamOptions,
    private readonly instance: TracerInstance,
    private readonly publisher: StreamPublisher,
  ) {}

  get id(): string {
    return this.options.id;
  }

  async start(): Promise<void> {
    await this.instance.start((samples) => this.accept(samples));
  }

  /** Takes a sample now, where the tracer can (see TracerInstance.sampleNow). */
  async sampleNow(): Promise<void> {
    if (!this.stopped) await this.instance.sampleNow?.();
  }

  /** Stops the tracer, sends what it flushed, then the end marker. Idempotent. */
  stop(error?: string): Promise<{ batches: number; samples: number }> {
    this.stopped ??= (async () => {
      clearTimeout(this.leaseTimer);
      let failure = error;
      try {
        await this.instance.stop();
      } catch (err) {
        failure ??= `tracer failed to stop cleanly: ${String(err)}`;
      }
      this.sendBatch();
      await this.sending;
      const totals = { batches: this.seq, samples: this.samples };
      await this.publisher.publishEnd({ ...totals, error: failure });
      return totals;
    })();
    return this.stopped;
  }

  private accept(samples: Sample[]): void {
    const tagged = samples.map((s) => ({ ...s, tags: { ...s.tags, ...this.options.tags } }));
    const { text } = encodeBatch(tagged);
    if (!text) return;
    for (const line of text.split('\n')) if (line) this.buffer.push(line);
    if (this.buffer.length >= (this.options.maxBatchLines ?? 1000)) this.sendBatch();
    else this.timer ??= setTimeout(() => this.sendBatch(), this.options.maxBatchDelayMs ?? 250);
  }

  private sendBatch(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0) return;
    const lines = this.buffer.join('\n');
    const batch = { seq: this.seq++, count: this.buffer.length, lines };
    this.samples += this.buffer.length;
    this.buffer = [];
    // Batches are sent one after another so that they leave in sequence order.
    this.sending = this.sending
      .then(() => this.publisher.publishData(batch))
      .catch((err) => this.options.onPublishError?.(err, batch.seq));
  }
}
