import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/logger.js';

/** What the outbox sends through: the agent's MQTT connection. */
export interface OutboxTransport {
  readonly connected: boolean;
  send(topic: string, payload: Buffer): Promise<void>;
  /** Registers a callback for every (re)connection. */
  onConnect(listener: () => void): void;
}

export interface OutboxOptions {
  /** Messages kept in memory before spilling to disk. */
  memoryLimit?: number;
  /** Where spilled messages go; without it, the memory limit is a hard bound and the oldest are dropped (and counted). */
  spoolDir?: string;
  /** Messages per spool file. */
  chunkSize?: number;
  log: Logger;
}

interface Item {
  topic: string;
  payload: Buffer;
}

/**
 * An ordered, bounded outbox for data messages. While the broker is unreachable messages
 * queue in memory up to a limit, then spill to disk in chunks; when the connection comes
 * back they are sent in their original order, one acknowledged QoS 1 publish at a time.
 * Nothing is dropped while there is disk; the runner de-duplicates what a reconnect resends.
 */
export class Outbox {
  private memory: Item[] = [];
  private spooled = 0;
  private nextChunk = 0;
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  /** Messages dropped because there was neither memory nor a spool dir. */
  dropped = 0;
  sent = 0;

  constructor(
    private readonly transport: OutboxTransport,
    private readonly options: OutboxOptions,
  ) {
    transport.onConnect(() => void this.drain());
    if (options.spoolDir) {
      mkdirSync(options.spoolDir, { recursive: true });
      // Chunks left by a previous life of this agent are sent first: they are older.
      const left = this.chunks();
      this.spooled = left.reduce((n, f) => n + this.readChunk(f).length, 0);
      this.nextChunk = left.length ? Number(left[left.length - 1].split('.')[0]) + 1 : 0;
    }
  }

  /** Messages waiting to be sent (memory and disk). */
  get pending(): number {
    return this.memory.length + this.spooled;
  }

  enqueue(topic: string, payload: Buffer): void {
    const limit = this.options.memoryLimit ?? 10_000;
    if (this.spooled > 0 || this.memory.length >= limit) {
      if (this.options.spoolDir) this.spill({ topic, payload });
      else {
        this.memory.shift();
        this.dropped++;
        this.memory.push({ topic, payload });
      }
    } else this.memory.push({ topic, payload });
    void this.drain();
  }

  /** Resolves when everything queued so far has been acknowledged by the broker. */
  idle(): Promise<void> {
    if (this.pending === 0 && !this.draining) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private chunkFile?: string;
  private chunkCount = 0;

  private spill(item: Item): void {
    if (!this.chunkFile || this.chunkCount >= (this.options.chunkSize ?? 500)) {
      this.chunkFile = `${String(this.nextChunk++).padStart(9, '0')}.jsonl`;
      this.chunkCount = 0;
    }
    appendFileSync(
      join(this.options.spoolDir!, this.chunkFile),
      JSON.stringify({ t: item.topic, p: item.payload.toString('base64') }) + '\n',
    );
    this.chunkCount++;
    this.spooled++;
  }

  private chunks(): string[] {
    return readdirSync(this.options.spoolDir!)
      .filter((f) => /^\d{9}\.jsonl$/.test(f))
      .sort();
  }

  private readChunk(file: string): Item[] {
    return readFileSync(join(this.options.spoolDir!, file), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const o = JSON.parse(l) as { t: string; p: string };
        return { topic: o.t, payload: Buffer.from(o.p, 'base64') };
      });
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.transport.connected) {
        if (this.memory.length === 0 && this.spooled > 0) {
          const [oldest] = this.chunks();
          const items = this.readChunk(oldest);
          rmSync(join(this.options.spoolDir!, oldest));
          // Never append to a chunk that has been read back.
          if (oldest === this.chunkFile) this.chunkFile = undefined;
          this.spooled -= items.length;
          this.memory.push(...items);
        }
        const item = this.memory[0];
        if (!item) break;
        try {
          await this.transport.send(item.topic, item.payload);
        } catch (err) {
          // The client is closing: keep the message (and its order) for the next connection.
          this.options.log.debug('publish failed; will retry on reconnect', { error: String(err) });
          break;
        }
        this.memory.shift();
        this.sent++;
      }
    } finally {
      this.draining = false;
      if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}
