import type { Logger } from '../core/logger.js';
import { WakeUp } from '../core/wake-up.js';
import type { ProtocolClient } from '../protocol/client.js';
import type { DataMessage, EndMessage, Message } from '../protocol/messages.js';
import { topics } from '../protocol/topics.js';
import { decodeLines } from '../store/line-protocol.js';
import type { SampleSink } from '../store/store.js';

interface StreamState {
  agent: string;
  stream: string;
  seen: Set<number>;
  samples: number;
  end?: EndMessage;
}

/** What the collector knows of one stream when the run ends. */
export interface StreamTally {
  agent: string;
  stream: string;
  samples: number;
  batches: number;
  /** The end marker arrived and every batch it counts was received. */
  complete: boolean;
  /** Samples the agent says it sent (from the end marker), when known. */
  sent?: number;
  error?: string;
}

/**
 * Receives every data batch of a run, de-duplicates by (agent, stream, seq) — QoS 1 may
 * deliver twice after a reconnect — moves timestamps onto the runner's clock, and writes
 * the samples to the store. The end markers let it prove each stream complete.
 */
export class Collector {
  private readonly streams = new Map<string, StreamState>();
  private readonly changed = new WakeUp();
  duplicates = 0;

  constructor(
    private readonly client: ProtocolClient,
    private readonly runId: string,
    private readonly sink: SampleSink,
    private readonly log: Logger,
    /** Agent clock minus runner clock, ms, per agent. */
    private readonly clockOffsetMs: Map<string, number>,
  ) {}

  async start(): Promise<void> {
    await this.client.subscribe(topics.allRunData(this.runId), (m, topic) => this.onMessage(m, topic));
  }

  async stop(): Promise<void> {
    await this.client.unsubscribe(topics.allRunData(this.runId));
  }

  private state(agent: string, stream: string): StreamState {
    const key = `${agent}/${stream}`;
    let s = this.streams.get(key);
    if (!s) {
      s = { agent, stream, seen: new Set(), samples: 0 };
      this.streams.set(key, s);
    }
    return s;
  }

  private onMessage(message: Message, topic: string): void {
    const agent = topic.split('/').pop()!;
    if (message.type === 'data') this.onData(agent, message);
    else if (message.type === 'end') {
      this.state(agent, message.stream).end = message;
      this.wake();
    }
  }

  private onData(agent: string, message: DataMessage): void {
    const s = this.state(agent, message.stream);
    if (s.seen.has(message.seq)) {
      this.duplicates++;
      return;
    }
    let samples: ReturnType<typeof decodeLines>;
    try {
      samples = decodeLines(message.lines);
    } catch (err) {
      this.log.warn('dropped an undecodable batch', {
        agent,
        stream: message.stream,
        seq: message.seq,
        error: String(err),
      });
      return;
    }
    s.seen.add(message.seq);
    const offsetNs = BigInt(Math.round((this.clockOffsetMs.get(agent) ?? 0) * 1e6));
    if (offsetNs !== 0n) for (const sample of samples) sample.time -= offsetNs;
    s.samples += samples.length;
    this.sink.write(samples);
    this.wake();
  }

  private wake(): void {
    this.changed.notify();
  }

  private isComplete(s: StreamState | undefined): boolean {
    if (!s?.end) return false;
    for (let i = 0; i < s.end.batches; i++) if (!s.seen.has(i)) return false;
    return true;
  }

  /** Waits until every named stream (agent/stream keys) is complete, or the timeout passes. */
  async waitComplete(keys: string[], timeoutMs: number): Promise<boolean> {
    return this.changed.until(() => keys.every((k) => this.isComplete(this.streams.get(k))), timeoutMs);
  }

  /**
   * Records a stream's totals from the agent's stop reply: if the end marker itself was
   * lost, the reply still tells how many batches to expect.
   */
  expect(agent: string, stream: string, totals: { batches?: number; samples?: number }): void {
    const s = this.state(agent, stream);
    if (s.end || totals.batches === undefined) return;
    s.end = {
      v: 1,
      id: 'stop-reply',
      ts: Date.now(),
      type: 'end',
      run: this.runId,
      stream,
      batches: totals.batches,
      samples: totals.samples ?? 0,
    };
    this.wake();
  }

  /** Sequence numbers of an ended stream that have not arrived. */
  missing(agent: string, stream: string): number[] {
    const s = this.streams.get(`${agent}/${stream}`);
    if (!s?.end) return [];
    const gaps: number[] = [];
    for (let i = 0; i < s.end.batches; i++) if (!s.seen.has(i)) gaps.push(i);
    return gaps;
  }

  tally(agent: string, stream: string): StreamTally {
    const s = this.streams.get(`${agent}/${stream}`);
    return {
      agent,
      stream,
      samples: s?.samples ?? 0,
      batches: s?.seen.size ?? 0,
      complete: this.isComplete(s),
      sent: s?.end?.samples,
      error: s?.end?.error ?? this.gapDescription(s),
    };
  }

  /** "missing batches 3, 7" for an ended stream with gaps; the end marker itself missing otherwise. */
  private gapDescription(s: StreamState | undefined): string | undefined {
    if (!s) return 'no data received';
    if (!s.end) return 'no end marker received';
    const missing: number[] = [];
    for (let i = 0; i < s.end.batches && missing.length < 20; i++) if (!s.seen.has(i)) missing.push(i);
    return missing.length ? `missing batches ${missing.join(', ')} of ${s.end.batches}` : undefined;
  }
}
