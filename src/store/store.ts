import type { Sample } from '../core/sample.js';
import type { EncodedBatch } from './line-protocol.js';
import type { RunRecord } from './run-record.js';

/**
 * Where samples and iteration records live. The runner writes through `SampleSink`; reports
 * read through `RunReader`. InfluxDB and the local store implement both, so every report
 * works from either.
 */
export interface SampleSink {
  /** Queues samples for writing. Never blocks the caller on I/O. */
  write(samples: Sample[]): void;
  /** Resolves when everything queued so far is durable (written or spooled). */
  flush(): Promise<void>;
}

/**
 * An optional ability of a sink that stores line protocol: it takes records already encoded
 * (by encodeSeriesKey and encodeRecord), so a producer whose series are fixed, such as the
 * runner's iteration points, encodes each series key once instead of once per point.
 */
export interface EncodedSink {
  /**
   * Queues newline-terminated records; `lines` of them count as written, `dropped` as dropped.
   * A batch of bytes is the sink's from then on: the producer never writes to it again.
   */
  writeEncoded(batch: EncodedRecords): void;
}

/**
 * Records encoded as line protocol (see EncodedBatch), as text or as its UTF-8 bytes (the
 * runner's points, see LineBytes); `text` keeps EncodedBatch's name for either.
 */
export interface EncodedRecords extends Omit<EncodedBatch, 'text'> {
  text: string | Buffer;
}

/** Whether a sink takes encoded records (EncodedSink). */
export function takesEncoded<S extends SampleSink>(sink: S): sink is S & EncodedSink {
  return typeof (sink as Partial<EncodedSink>).writeEncoded === 'function';
}

/**
 * An optional ability: marking a `running` run as interrupted synchronously, for a runner that
 * quits at once (a second Ctrl-C). A store on files has it; one behind a network cannot.
 */
export interface SyncInterruptMarker {
  markInterruptedSync(runId: string, reason: string): void;
}

export function marksInterruptedSync<S extends object>(store: S): store is S & SyncInterruptMarker {
  return typeof (store as Partial<SyncInterruptMarker>).markInterruptedSync === 'function';
}

export interface SampleFilter {
  measurement?: string;
  /** Exact tag matches. */
  tags?: Record<string, string>;
  /** Inclusive time range, nanoseconds. */
  from?: bigint;
  to?: bigint;
}

export interface RunReader {
  /** Every run, oldest first. */
  listRuns(): Promise<RunRecord[]>;
  /** Resolves an id, unique id prefix, `latest`, `latest~N` or a tag name. */
  resolveRun(ref: string): Promise<RunRecord>;
  /**
   * Streams a run's samples matching the filter. (A reader that folds a whole run may read it
   * without a Sample per record: readRecords in record-view.ts, native in the local store.)
   */
  readSamples(runId: string, filter?: SampleFilter): AsyncIterable<Sample>;
  /** Where a run lives, for people: a directory, or the store's URL (never with credentials) and the run. */
  location(runId: string): string;
}

/** What a writer has delivered so far, for the run's data accounting (RunRecord.data). */
export interface WriterStats {
  /** Samples durably in the store. */
  written: number;
  /** Samples waiting in a spool for `scalpels runs push`. */
  spooled: number;
}

/** A run being written: its samples, and its metadata once it is known. */
export interface RunWriter extends SampleSink {
  readonly runId: string;
  /** Where the run lives, for the summary (a directory or a URL). */
  readonly location: string;
  /** Writes (or rewrites) the run's metadata. */
  saveRecord(record: RunRecord): Promise<void>;
  /** Flushes and releases everything. */
  close(): Promise<void>;
  /** Counts so far; without it, everything given to write() counts as written. */
  stats?(): WriterStats;
}

export interface Store extends RunReader {
  /** Starts a new run. */
  createRun(runId: string): Promise<RunWriter>;
}

/** Optional abilities of a store: naming runs and removing them (`runs tag`, `runs rm`). */
export interface RunAdmin {
  /** Puts `tag` on the run `ref` names and takes it off every other run; returns the tagged record. */
  tagRun(ref: string, tag: string): Promise<RunRecord>;
  /** Deletes a run: its record and its samples. */
  removeRun(runId: string): Promise<void>;
}
