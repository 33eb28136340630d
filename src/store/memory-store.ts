/**
 * A store in memory, shipped for tests of the runner, the collector and the reports (as
 * OpenTelemetry ships in-memory exporters). Samples go through the line-protocol codec and
 * records through resolveRunRef, exactly as in LocalStore, so a test that passes here sees
 * the same refusals, dropped NaN fields and run references as a real run.
 */
import { InputError, RuntimeFailure } from '../core/errors.js';
import type { Sample } from '../core/sample.js';
import { sampleMatcher } from './filter.js';
import { decodeLines, encodeBatch } from './line-protocol.js';
import { compareRuns, moveTag, resolveRunRef, validateTag } from './resolve-run.js';
import { validateRunId } from './run-id.js';
import type { RunRecord } from './run-record.js';
import type { RunAdmin, RunWriter, SampleFilter, Store, WriterStats } from './store.js';

const WHERE = 'the in-memory store';

interface MemoryRun {
  record?: RunRecord;
  /** Encoded batches, decoded again on read. */
  batches: string[];
}

/** The in-memory store. Records are copied in and out, so callers cannot change stored state by accident. */
export class MemoryStore implements Store, RunAdmin {
  private readonly runs = new Map<string, MemoryRun>();

  async createRun(runId: string): Promise<MemoryRunWriter> {
    validateRunId(runId);
    if (this.runs.has(runId)) throw new InputError(`run ${runId} already exists in ${WHERE}`);
    const run: MemoryRun = { batches: [] };
    this.runs.set(runId, run);
    return new MemoryRunWriter(runId, run);
  }

  /** `memory:<run-id>`. */
  location(runId: string): string {
    return `memory:${runId}`;
  }

  /** Forgets a run. */
  async removeRun(runId: string): Promise<void> {
    if (!this.runs.delete(runId)) throw new InputError(`no run ${runId} in ${WHERE}`);
  }

  /** Runs with a saved record, oldest first; a run never saved is not listed, as in LocalStore. */
  async listRuns(): Promise<RunRecord[]> {
    const records: RunRecord[] = [];
    for (const run of this.runs.values()) if (run.record) records.push(structuredClone(run.record));
    return records.sort(compareRuns);
  }

  /** Resolves an id, `latest`, `latest~N`, a tag or a unique id prefix (see resolveRunRef). */
  async resolveRun(ref: string): Promise<RunRecord> {
    return resolveRunRef(await this.listRuns(), ref, WHERE);
  }

  /** Puts `tag` on the run `ref` names and takes it off every other run; returns the tagged record. */
  async tagRun(ref: string, tag: string): Promise<RunRecord> {
    validateTag(tag);
    const runs = await this.listRuns();
    const target = resolveRunRef(runs, ref, WHERE);
    const changed = moveTag(runs, target, tag);
    for (const record of changed) this.runs.get(record.id)!.record = structuredClone(record);
    return changed[0]?.id === target.id ? changed[0] : target;
  }

  /** A run's samples matching `filter`, in write order. */
  async *readSamples(runId: string, filter?: SampleFilter): AsyncGenerator<Sample> {
    const run = this.runs.get(runId);
    if (!run) throw new InputError(`no run ${runId} in ${WHERE}`);
    const match = sampleMatcher(filter);
    // Snapshot: a writer appending during the read does not extend this iteration.
    for (const batch of run.batches.slice()) {
      for (const sample of decodeLines(batch)) if (match(sample)) yield sample;
    }
  }
}

/** Writes one run of a MemoryStore. Samples are visible to readers as soon as they are written. */
export class MemoryRunWriter implements RunWriter {
  readonly location: string;
  /** Samples encoded so far. */
  samplesWritten = 0;
  /** Samples left out because every field was NaN or Infinity. */
  samplesDropped = 0;
  private closed = false;

  constructor(
    readonly runId: string,
    private readonly run: MemoryRun,
  ) {
    this.location = `memory:${runId}`;
  }

  /** Queues samples; throws at once for a sample that cannot be encoded or after close(). */
  write(samples: Sample[]): void {
    if (this.closed)
      throw new RuntimeFailure(`run ${this.runId} is closed; samples written after close are lost`);
    const batch = encodeBatch(samples);
    this.samplesWritten += batch.lines;
    this.samplesDropped += batch.dropped;
    if (batch.text !== '') this.run.batches.push(batch.text);
  }

  /** Everything encoded is written; there is no spool. */
  stats(): WriterStats {
    return { written: this.samplesWritten, spooled: 0 };
  }

  /** Nothing to wait for: memory is as durable as this store gets. */
  async flush(): Promise<void> {}

  /** Stores a copy of the record. */
  async saveRecord(record: RunRecord): Promise<void> {
    if (record.id !== this.runId) {
      throw new Error(`record of run ${record.id} given to the writer of run ${this.runId}`);
    }
    this.run.record = structuredClone({ ...record, tags: record.tags ?? [] });
  }

  /** Refuses further writes; the run stays readable. */
  async close(): Promise<void> {
    this.closed = true;
  }
}
