import type { Sample } from '../core/sample.js';
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
  /** Streams a run's samples matching the filter. */
  readSamples(runId: string, filter?: SampleFilter): AsyncIterable<Sample>;
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
}

export interface Store extends RunReader {
  /** Starts a new run. */
  createRun(runId: string): Promise<RunWriter>;
}
