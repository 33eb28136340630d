/**
 * Writes one run into InfluxDB without ever making the workload wait, and without losing a
 * sample when InfluxDB goes away.
 *
 * - `write()` encodes synchronously (the same encoder as every store) into a buffer and returns.
 *   The buffer becomes a batch at `batchSize` samples or after `flushIntervalMs`.
 * - Up to `concurrency` batches are in flight; a failed batch is retried with back-off
 *   (network errors, timeouts, 5xx).
 * - When retries run out, InfluxDB is marked down: that batch and every later one go to the
 *   spool on disk, in order, and a probe pings InfluxDB. When it answers, the spool is replayed
 *   oldest first, and batches go straight to InfluxDB again once the spool is empty.
 * - Batches waiting in memory are bounded (`maxPendingBatches`): past that, a slow InfluxDB
 *   makes batches spill to the spool rather than grow the heap.
 * - Credentials refused, or a database that is missing and may not be created: nothing will
 *   improve during the run, so every batch is spooled for `runs push` and the reason is logged once.
 */
import { errorMessage, RuntimeFailure } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Sample } from '../../core/sample.js';
import { encodeBatch } from '../line-protocol.js';
import type { RunRecord } from '../run-record.js';
import type { RunWriter, WriterStats } from '../store.js';
import type { InfluxHttp, WriteOutcome } from './http.js';
import { recordPoint } from './record-point.js';
import { DEFAULT_RETRY, type RetryPolicy, writeWithRetry } from './retry.js';
import { inspectBatch, type Spool } from './spool.js';

/** Tuning of an InfluxRunWriter; the defaults suit one runner and one InfluxDB. */
export interface InfluxWriterOptions {
  /** Samples per batch (InfluxDB's advice: 5 000 to 10 000 points per write). */
  batchSize?: number;
  /** A partial batch is sent after this many ms, so a quiet run still reaches InfluxDB promptly. */
  flushIntervalMs?: number;
  /** Batches in flight at once. */
  concurrency?: number;
  /** Batches waiting in memory before new ones spill to the spool. */
  maxPendingBatches?: number;
  retry?: RetryPolicy;
  /** First delay between pings while InfluxDB is down, ms (doubling up to 5 s). */
  probeIntervalMs?: number;
}

interface Batch {
  seq: number;
  text: string;
  /** Sample points in the batch (a record batch has none). */
  samples: number;
}

const DEFAULTS = {
  batchSize: 5_000,
  flushIntervalMs: 1_000,
  concurrency: 2,
  maxPendingBatches: 32,
  probeIntervalMs: 500,
};
const MAX_PROBE_MS = 5_000;

/** One run's writer into InfluxDB; created by InfluxStore.createRun. */
export class InfluxRunWriter implements RunWriter {
  private readonly opts: typeof DEFAULTS & { retry: RetryPolicy };
  private buf = '';
  private bufSamples = 0;
  private bufTimer?: NodeJS.Timeout;
  private nextSeq = 0;
  private readonly pending: Batch[] = [];
  private inflight = 0;
  /** Seqs not yet written, refused or durably spooled. */
  private readonly unsettled = new Set<number>();
  private readonly waiters = new Set<() => void>();
  /** Samples per spooled seq, for the accounting when it is replayed. */
  private readonly spooledSeqs = new Map<number, number>();
  private spoolChain: Promise<void> = Promise.resolve();
  private spoolWrites = 0;
  private down = false;
  /** Why batches are kept for later rather than sent (credentials, missing database). */
  private blocked?: string;
  private draining?: Promise<void>;
  private probeTimer?: NodeJS.Timeout;
  private probeDelay: number;
  private closed = false;
  private failure?: unknown;
  private warnedDown = false;

  private written = 0;
  private spooledSamples = 0;
  /** Samples InfluxDB refused (type conflicts, limits) or the spool could not take. */
  lost = 0;
  /** Samples left out because every field was NaN or Infinity. */
  dropped = 0;

  constructor(
    readonly runId: string,
    /** The redacted URL and run, for the summary. */
    readonly location: string,
    private readonly http: InfluxHttp,
    private readonly spool: Spool,
    private readonly log: Logger,
    options: InfluxWriterOptions = {},
    /** Start in the down state (InfluxDB did not answer when the run was created). */
    startDown?: string,
  ) {
    this.opts = {
      batchSize: options.batchSize ?? DEFAULTS.batchSize,
      flushIntervalMs: options.flushIntervalMs ?? DEFAULTS.flushIntervalMs,
      concurrency: options.concurrency ?? DEFAULTS.concurrency,
      maxPendingBatches: options.maxPendingBatches ?? DEFAULTS.maxPendingBatches,
      probeIntervalMs: options.probeIntervalMs ?? DEFAULTS.probeIntervalMs,
      retry: options.retry ?? DEFAULT_RETRY,
    };
    this.probeDelay = this.opts.probeIntervalMs;
    if (startDown !== undefined) this.markDown(startDown);
  }

  /** Samples stored in InfluxDB, and samples waiting in the spool. */
  stats(): WriterStats {
    return { written: this.written, spooled: this.spooledSamples };
  }

  /**
   * Encodes and queues samples; returns at once. Samples without a `run` tag get this run's,
   * since InfluxDB has no other way to tell runs apart.
   *
   * @throws when a sample cannot be encoded exactly (a caller's bug) or the writer is closed.
   */
  write(samples: Sample[]): void {
    if (this.closed)
      throw new RuntimeFailure(`run ${this.runId} is closed; samples written after close are lost`);
    const runId = this.runId;
    const tagged = samples.every((s) => s.tags.run !== undefined)
      ? samples
      : samples.map((s) => (s.tags.run === undefined ? { ...s, tags: { ...s.tags, run: runId } } : s));
    // A large write is cut at batch boundaries, so no batch exceeds batchSize.
    for (let i = 0; i < tagged.length; ) {
      const room = this.opts.batchSize - this.bufSamples;
      const part = i === 0 && tagged.length <= room ? tagged : tagged.slice(i, i + room);
      i += part.length;
      const batch = encodeBatch(part);
      this.dropped += batch.dropped;
      this.buf += batch.text;
      this.bufSamples += batch.lines;
      if (this.bufSamples >= this.opts.batchSize) this.seal();
    }
    if (this.bufSamples > 0 && !this.bufTimer) {
      this.bufTimer = setTimeout(() => {
        this.bufTimer = undefined;
        this.seal();
      }, this.opts.flushIntervalMs);
      this.bufTimer.unref();
    }
  }

  /**
   * Resolves when everything written so far is in InfluxDB or in the spool. When batches are
   * spooled and InfluxDB answers again, they are replayed first, so the end of a run after a
   * short outage reports them written.
   *
   * @throws RuntimeFailure when samples could be neither stored nor spooled.
   */
  async flush(): Promise<void> {
    this.seal();
    await this.settled([...this.unsettled]);
    if (this.spooledSeqs.size > 0 && this.blocked === undefined) {
      if (this.down && (await this.http.ping().catch(() => false))) this.markUp();
      if (!this.down) await this.drain();
    }
    this.throwIfFailed();
  }

  /** Writes (or rewrites) the run's record point; durable (stored or spooled) when it resolves. */
  async saveRecord(record: RunRecord): Promise<void> {
    if (record.id !== this.runId)
      throw new Error(`record of run ${record.id} given to the writer of run ${this.runId}`);
    this.seal();
    const { text } = encodeBatch([recordPoint(record)]);
    const seq = this.enqueue(text, 0);
    await this.settled([seq]);
    this.throwIfFailed();
  }

  /**
   * Flushes and stops the probe. Batches still spooled stay on disk for `scalpels runs push`.
   * Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      clearTimeout(this.bufTimer);
      clearTimeout(this.probeTimer);
      if (this.spooledSeqs.size > 0) {
        this.log.warn(
          `${this.spooledSamples} samples of run ${this.runId} are spooled in ${this.spool.dir}; deliver them with: scalpels runs push ${this.runId} --influx ${this.http.target.display}`,
        );
      } else await this.spool.removeIfEmpty();
    }
  }

  private seal(): void {
    clearTimeout(this.bufTimer);
    this.bufTimer = undefined;
    if (this.bufSamples === 0) return;
    const text = this.buf;
    const samples = this.bufSamples;
    this.buf = '';
    this.bufSamples = 0;
    this.enqueue(text, samples);
  }

  private enqueue(text: string, samples: number): number {
    const batch: Batch = { seq: this.nextSeq++, text, samples };
    this.unsettled.add(batch.seq);
    // Once anything is spooled, later batches follow it there, so that replay keeps the order.
    if (
      this.down ||
      this.blocked !== undefined ||
      this.spooledSeqs.size > 0 ||
      this.pending.length >= this.opts.maxPendingBatches
    ) {
      this.toSpool(batch);
    } else {
      this.pending.push(batch);
      this.pump();
    }
    return batch.seq;
  }

  private pump(): void {
    while (
      !this.down &&
      this.blocked === undefined &&
      this.inflight < this.opts.concurrency &&
      this.pending.length > 0
    ) {
      void this.send(this.pending.shift()!);
    }
    if (
      !this.down &&
      this.blocked === undefined &&
      this.inflight === 0 &&
      this.pending.length === 0 &&
      this.spooledSeqs.size > 0
    ) {
      void this.drain();
    }
  }

  private async send(batch: Batch): Promise<void> {
    this.inflight++;
    try {
      const outcome = await writeWithRetry(
        this.http,
        batch.text,
        this.opts.retry,
        () => this.down || this.blocked !== undefined,
      );
      if (!this.account(outcome, batch.samples)) {
        this.fallBack(outcome);
        this.toSpool(batch);
        return;
      }
      this.settle(batch.seq);
    } finally {
      this.inflight--;
      this.pump();
    }
  }

  /** Counts a finished write; false when the batch must be kept (spooled) instead. */
  private account(outcome: WriteOutcome, samples: number): boolean {
    switch (outcome.kind) {
      case 'ok':
        this.written += samples - outcome.dropped;
        this.lost += outcome.dropped;
        if (outcome.error)
          this.log.warn(`InfluxDB dropped ${outcome.dropped} points of run ${this.runId}: ${outcome.error}`);
        return true;
      case 'refused':
        this.lost += samples;
        this.log.error(`${outcome.error} (${samples} samples of run ${this.runId} lost)`);
        return true;
      default:
        return false;
    }
  }

  private fallBack(outcome: WriteOutcome): void {
    if (outcome.kind === 'keep') {
      if (this.blocked === undefined) {
        this.blocked = outcome.error;
        this.log.error(`${outcome.error}; spooling to ${this.spool.dir}`);
      }
      this.spillPending();
    } else if (outcome.kind === 'retry') this.markDown(outcome.error);
  }

  private markDown(reason: string): void {
    if (!this.down) {
      this.down = true;
      if (!this.warnedDown) {
        this.warnedDown = true;
        this.log.warn(`${reason}; spooling run ${this.runId} to ${this.spool.dir} until it answers`);
      } else this.log.debug('InfluxDB down again', { reason });
    }
    this.spillPending();
    this.scheduleProbe();
  }

  private markUp(): void {
    if (!this.down) return;
    this.down = false;
    this.probeDelay = this.opts.probeIntervalMs;
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.log.info(`InfluxDB answers again; replaying the spool of run ${this.runId}`);
    this.pump();
  }

  /** Batches waiting in memory follow the failed one to disk: durable, and memory stays bounded. */
  private spillPending(): void {
    for (const batch of this.pending.splice(0)) this.toSpool(batch);
  }

  private scheduleProbe(): void {
    if (this.probeTimer || this.closed) return;
    this.probeTimer = setTimeout(async () => {
      this.probeTimer = undefined;
      if (!this.down || this.closed) return;
      if (await this.http.ping().catch(() => false)) this.markUp();
      else {
        this.probeDelay = Math.min(MAX_PROBE_MS, this.probeDelay * 2);
        this.scheduleProbe();
      }
    }, this.probeDelay);
    this.probeTimer.unref();
  }

  private toSpool(batch: Batch): void {
    this.spooledSeqs.set(batch.seq, batch.samples);
    this.spooledSamples += batch.samples;
    this.spoolWrites++;
    this.spoolChain = this.spoolChain
      .then(() => this.spool.append(batch.seq, batch.text))
      .then(
        () => this.settle(batch.seq),
        (err: unknown) => {
          // Neither stored nor spooled: the one case where samples are lost (exit code 3).
          this.spooledSeqs.delete(batch.seq);
          this.spooledSamples -= batch.samples;
          this.lost += batch.samples;
          this.failure ??= err;
          this.log.error(`${errorMessage(err)}; ${batch.samples} samples of run ${this.runId} lost`);
          this.settle(batch.seq);
        },
      )
      .finally(() => {
        this.spoolWrites--;
      });
  }

  /** Replays the spool oldest first, while InfluxDB answers. One replay at a time. */
  private drain(): Promise<void> {
    this.draining ??= this.replay().finally(() => {
      this.draining = undefined;
      this.pump();
    });
    return this.draining;
  }

  private async replay(): Promise<void> {
    for (;;) {
      await this.spoolChain;
      const files = await this.spool.files();
      if (files.length === 0) {
        if (this.spoolWrites > 0) continue;
        if (this.spooledSeqs.size > 0) {
          // Files removed behind our back: they cannot be replayed, and must not be waited for.
          this.log.error(
            `${this.spooledSamples} spooled samples of run ${this.runId} vanished from ${this.spool.dir}`,
          );
          this.lost += this.spooledSamples;
          this.spooledSeqs.clear();
          this.spooledSamples = 0;
        }
        return;
      }
      for (const file of files) {
        if (this.down || this.blocked !== undefined) return;
        const text = await this.spool.read(file.path);
        const samples = this.spooledSeqs.get(file.seq) ?? inspectBatch(text).samples;
        const outcome = await writeWithRetry(this.http, text, this.opts.retry);
        if (!this.account(outcome, samples)) {
          this.fallBack(outcome);
          return;
        }
        await this.spool.remove(file.path);
        if (this.spooledSeqs.delete(file.seq)) this.spooledSamples -= samples;
      }
    }
  }

  private settle(seq: number): void {
    this.unsettled.delete(seq);
    for (const wake of [...this.waiters]) wake();
  }

  private settled(seqs: number[]): Promise<void> {
    const open = () => seqs.some((s) => this.unsettled.has(s));
    if (!open()) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        if (open()) return;
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
    });
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) {
      throw new RuntimeFailure(
        `samples of run ${this.runId} could be neither stored in InfluxDB nor spooled: ${errorMessage(this.failure)}`,
        {
          cause: this.failure,
        },
      );
    }
  }
}
