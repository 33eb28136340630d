/**
 * The InfluxDB store: samples and run records in an InfluxDB 1.x database (or InfluxDB 2.x/3.x
 * through their v1-compatible API), read back through the same interface as the local store.
 *
 * - Every point carries the tag `run`; a run's samples are `WHERE "run" = '<id>'`.
 * - Run records are points of `scalpels_run` (see record-point.ts), so listing runs needs
 *   nothing but the database.
 * - Reads select with InfluxQL (measurement, tags, time range) and return raw points; every
 *   statistic is computed by Scalpels from them, so both stores give the same numbers.
 * - Writes never wait on InfluxDB, and what cannot reach it is spooled under
 *   `<store-dir>/spool/<run-id>/` (see writer.ts and spool.ts).
 */
import { join, resolve } from 'node:path';
import { errorMessage, InputError, RuntimeFailure } from '../../core/errors.js';
import { type Logger, silentLogger } from '../../core/logger.js';
import type { Sample } from '../../core/sample.js';
import { encodeBatch } from '../line-protocol.js';
import { compareRuns, moveTag, resolveRunRef, validateTag } from '../resolve-run.js';
import type { RunRecord } from '../run-record.js';
import type { RunAdmin, SampleFilter, Store } from '../store.js';
import { type InfluxCredentials, type InfluxTarget, parseInfluxUrl } from './config.js';
import { InfluxHttp, InfluxQueryError, type WriteOutcome } from './http.js';
import { ident, literal, qualifier, whereClause } from './influxql.js';
import { type FieldTypes, fieldTypesOf, seriesSamples } from './query-result.js';
import { recordPoint } from './record-point.js';
import { DEFAULT_RETRY, type RetryPolicy, writeWithRetry } from './retry.js';
import { inspectBatch, RUN_MEASUREMENT, Spool } from './spool.js';
import { InfluxRunWriter, type InfluxWriterOptions } from './writer.js';

/** Options of InfluxStore. */
export interface InfluxStoreOptions {
  /** `http://host:8086/<database>[?rp=<retention policy>]`. */
  url: string;
  credentials?: InfluxCredentials;
  /** The local store directory: the spool lives in `<storeDir>/spool`. */
  storeDir: string;
  log?: Logger;
  /** Try `CREATE DATABASE` before the first run is written (default true). */
  createDatabase?: boolean;
  writer?: InfluxWriterOptions;
  /** Milliseconds before a request without a response fails (default 10 s). */
  requestTimeoutMs?: number;
}

/** What `runs push` delivered. */
export interface PushResult {
  samples: number;
  batches: number;
  /** Points InfluxDB refused (type conflicts, limits): stored nowhere now but in the local run, if any. */
  dropped: number;
}

/** A run waiting in the spool. */
export interface SpooledRun {
  runId: string;
  samples: number;
  batches: number;
  /** The newest record among its batches. */
  record?: RunRecord;
}

/** The InfluxDB store. */
export class InfluxStore implements Store, RunAdmin {
  readonly target: InfluxTarget;
  readonly http: InfluxHttp;
  /** `<store-dir>/spool`. */
  readonly spoolRoot: string;
  private readonly log: Logger;
  private prepared?: Promise<string | undefined>;

  constructor(private readonly options: InfluxStoreOptions) {
    this.target = parseInfluxUrl(options.url);
    this.http = new InfluxHttp(this.target, options.credentials ?? {}, {
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
    });
    this.spoolRoot = join(resolve(options.storeDir), 'spool');
    this.log = options.log ?? silentLogger;
  }

  /** The URL without credentials. */
  get url(): string {
    return this.target.display;
  }

  /** `<url> run <id>`: the URL never carries credentials. */
  location(runId: string): string {
    return `${this.target.display} (run ${runId})`;
  }

  /**
   * Starts a run. InfluxDB being unreachable does not stop a run: the writer starts spooling,
   * and replays as soon as InfluxDB answers.
   *
   * @throws InputError when the run id exists already (in InfluxDB or in the spool).
   */
  async createRun(runId: string): Promise<InfluxRunWriter> {
    const spool = new Spool(this.spoolRoot, runId);
    if (await spool.exists()) throw new InputError(`run ${runId} already exists in the spool ${spool.dir}`);
    const down = await this.prepare();
    if (down === undefined && (await this.runExists(runId).catch(() => false))) {
      throw new InputError(`run ${runId} already exists in ${this.url}`);
    }
    return new InfluxRunWriter(
      runId,
      this.location(runId),
      this.http,
      spool,
      this.log,
      this.options.writer,
      down,
    );
  }

  /** Pings, and creates the database when allowed. Returns why InfluxDB is unusable, or undefined. */
  private prepare(): Promise<string | undefined> {
    this.prepared ??= (async () => {
      if (!(await this.http.ping().catch(() => false))) return `cannot reach InfluxDB at ${this.url}`;
      if (this.options.createDatabase !== false) {
        const refused = await this.http.createDatabase().catch((err: unknown) => errorMessage(err));
        // Not allowed (no admin rights, InfluxDB 2.x/3.x): the database may exist anyway; writes will say.
        if (refused !== undefined) this.log.debug('CREATE DATABASE not possible', { reason: refused });
      }
      return undefined;
    })();
    return this.prepared.then((down) => {
      // A failed ping is not remembered: the next run tries again.
      if (down !== undefined) this.prepared = undefined;
      return down;
    });
  }

  private from(measurement: string): string {
    return qualifier(this.target.database, this.target.retentionPolicy) + ident(measurement);
  }

  private async runExists(runId: string): Promise<boolean> {
    const [result] = await this.queryOrEmpty(
      `SELECT count("status") FROM ${this.from(RUN_MEASUREMENT)} WHERE ${ident('run')} = ${literal(runId)}`,
    );
    return (result?.series?.length ?? 0) > 0;
  }

  /** True when the run has a record or any series (a run whose record never arrived). */
  private async hasRun(runId: string): Promise<boolean> {
    if (await this.runExists(runId)) return true;
    const [shown] = await this.queryOrEmpty(
      `SHOW MEASUREMENTS WHERE ${ident('run')} = ${literal(runId)} LIMIT 1`,
    );
    return (shown?.series?.length ?? 0) > 0;
  }

  /** Runs a query; a database that does not exist yet reads as empty, like a fresh local store. */
  private async queryOrEmpty(q: string) {
    try {
      return await this.http.queryAll(q);
    } catch (err) {
      if (err instanceof InfluxQueryError && /database not found/i.test(err.message)) return [];
      throw this.readError(err);
    }
  }

  private readError(err: unknown): Error {
    if (err instanceof InfluxQueryError)
      return new RuntimeFailure(`${this.url}: ${err.message}`, { cause: err });
    return err as Error;
  }

  /**
   * Every run with a record, oldest first. The `run` tag is the run's id (as the directory
   * name is in the local store), whatever the stored JSON says.
   */
  async listRuns(): Promise<RunRecord[]> {
    const results = await this.queryOrEmpty(
      `SELECT "record" FROM ${this.from(RUN_MEASUREMENT)} GROUP BY "run"`,
    );
    const byId = new Map<string, RunRecord>();
    for (const series of results[0]?.series ?? []) {
      const id = series.tags?.run;
      if (!id) continue;
      for (const row of series.values ?? []) {
        if (typeof row[1] !== 'string') continue;
        try {
          const record = JSON.parse(row[1]) as RunRecord;
          if (typeof record !== 'object' || record === null) continue;
          if (!Array.isArray(record.tags)) record.tags = [];
          record.id = id;
          // Rows come oldest first: a record rewritten at another timestamp leaves the newest.
          byId.set(id, record);
        } catch {
          // an unreadable record is skipped, as a broken run.json is in the local store
        }
      }
    }
    return [...byId.values()].sort(compareRuns);
  }

  /** Resolves an id, `latest`, `latest~N`, a tag or a unique id prefix (see resolveRunRef). */
  async resolveRun(ref: string): Promise<RunRecord> {
    return resolveRunRef(await this.listRuns(), ref, this.url);
  }

  /**
   * Streams a run's samples matching `filter`: measurement by measurement, series by series,
   * oldest first within a series (InfluxDB's order, not the order they were written in).
   * Field types are restored from `SHOW FIELD KEYS`, timestamps and integers exactly.
   *
   * @throws InputError when the run has neither samples nor a record.
   */
  async *readSamples(runId: string, filter: SampleFilter = {}): AsyncGenerator<Sample> {
    const where = whereClause(runId, filter);
    let measurements: string[];
    if (filter.measurement !== undefined) measurements = [filter.measurement];
    else {
      const [shown] = await this.queryOrEmpty(`SHOW MEASUREMENTS WHERE ${ident('run')} = ${literal(runId)}`);
      measurements = (shown?.series?.[0]?.values ?? []).map((row) => String(row[0]));
    }
    // The record is not a sample: the local store keeps it apart too.
    measurements = measurements.filter((m) => m !== RUN_MEASUREMENT);
    let any = false;
    if (where !== undefined && measurements.length > 0) {
      const types: FieldTypes = new Map();
      for (const result of await this.queryOrEmpty(
        measurements.map((m) => `SHOW FIELD KEYS FROM ${this.from(m)}`).join('; '),
      )) {
        fieldTypesOf(result, types);
      }
      for (const measurement of measurements) {
        const q = `SELECT * FROM ${this.from(measurement)} WHERE ${where} GROUP BY *`;
        try {
          for await (const result of this.http.query(q)) {
            for (const series of result.series ?? []) {
              for (const sample of seriesSamples(series, types)) {
                any = true;
                yield sample;
              }
            }
          }
        } catch (err) {
          if (err instanceof InfluxQueryError && /database not found/i.test(err.message)) break;
          throw this.readError(err);
        }
      }
    }
    if (!any && !(await this.hasRun(runId))) throw new InputError(`no run ${runId} in ${this.url}`);
  }

  /** Puts `tag` on the run `ref` names and takes it off every other run; returns the tagged record. */
  async tagRun(ref: string, tag: string): Promise<RunRecord> {
    validateTag(tag);
    const runs = await this.listRuns();
    const target = resolveRunRef(runs, ref, this.url);
    const changed = moveTag(runs, target, tag);
    // The target first: if this stops half-way, the tag is on two runs (the newest wins), never on none.
    for (const record of changed) await this.writeRecord(record);
    return changed[0]?.id === target.id ? changed[0] : target;
  }

  /** Writes (or rewrites) a run's record point directly. */
  async writeRecord(record: RunRecord): Promise<void> {
    this.expectStored(
      await writeWithRetry(this.http, encodeBatch([recordPoint(record)]).text),
      `the record of run ${record.id}`,
    );
  }

  /**
   * Deletes a run: every series tagged with its id, in every measurement (its record included).
   *
   * @throws InputError when there is no such run.
   */
  async removeRun(runId: string): Promise<void> {
    if (!(await this.hasRun(runId))) throw new InputError(`no run ${runId} in ${this.url}`);
    try {
      await this.http.queryAll(`DROP SERIES WHERE ${ident('run')} = ${literal(runId)}`, { post: true });
    } catch (err) {
      throw this.readError(err);
    }
  }

  /**
   * Uploads a run kept elsewhere (a local run, an imported archive): its samples in batches,
   * then its record, so that `runs list` shows it only once its samples are in. Pushing again
   * is harmless (same series and timestamps). Nothing is spooled: a failure is an error, and
   * the run's own files are still there to push again.
   *
   * @throws RuntimeFailure naming how far it got.
   */
  async uploadRun(
    record: RunRecord,
    samples: AsyncIterable<Sample>,
    options: UploadOptions = {},
  ): Promise<PushResult> {
    await this.prepare();
    const batchSize = options.batchSize ?? 5_000;
    const concurrency = options.concurrency ?? 2;
    const retry = options.retry ?? DEFAULT_RETRY;
    const result: PushResult = { samples: 0, batches: 0, dropped: 0 };
    const inflight = new Set<Promise<void>>();
    let failure: unknown;
    const send = (text: string, count: number) => {
      const p = writeWithRetry(this.http, text, retry, () => failure !== undefined).then((outcome) => {
        try {
          const dropped = this.expectStored(outcome, `run ${record.id}`);
          result.samples += count - dropped;
          result.dropped += dropped;
          result.batches++;
        } catch (err) {
          failure ??= err;
        }
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    };
    let chunk: Sample[] = [];
    const runId = record.id;
    for await (const sample of samples) {
      chunk.push(
        sample.tags.run === undefined ? { ...sample, tags: { ...sample.tags, run: runId } } : sample,
      );
      if (chunk.length < batchSize) continue;
      const batch = encodeBatch(chunk);
      chunk = [];
      if (batch.lines > 0) send(batch.text, batch.lines);
      while (inflight.size >= concurrency) await Promise.race(inflight);
      if (failure !== undefined) break;
    }
    if (failure === undefined && chunk.length > 0) {
      const batch = encodeBatch(chunk);
      if (batch.lines > 0) send(batch.text, batch.lines);
    }
    await Promise.all(inflight);
    if (failure !== undefined) {
      throw new RuntimeFailure(
        `${errorMessage(failure)} (${result.samples} samples of run ${record.id} pushed before that; pushing again is safe)`,
        {
          cause: failure,
        },
      );
    }
    await this.writeRecord(record);
    return result;
  }

  /** Runs with batches waiting in the spool, oldest id first. */
  async spooledRuns(): Promise<SpooledRun[]> {
    const out: SpooledRun[] = [];
    for (const runId of await Spool.runs(this.spoolRoot)) {
      const content = await new Spool(this.spoolRoot, runId).inspect();
      if (content.batches > 0) out.push({ runId, ...content });
    }
    return out;
  }

  /**
   * Replays a run's spool into InfluxDB, oldest batch first, deleting each once stored; then
   * rewrites the run's record so that its accounting says the samples are written, not spooled.
   *
   * @throws RuntimeFailure when InfluxDB refuses or cannot be reached (what was delivered stays delivered).
   */
  async drainSpool(runId: string, options: { retry?: RetryPolicy } = {}): Promise<PushResult> {
    const spool = new Spool(this.spoolRoot, runId);
    const result: PushResult = { samples: 0, batches: 0, dropped: 0 };
    let record: RunRecord | undefined;
    await this.prepare();
    for (const file of await spool.files()) {
      const text = await spool.read(file.path);
      const content = inspectBatch(text);
      const outcome = await writeWithRetry(this.http, text, options.retry ?? DEFAULT_RETRY);
      let dropped: number;
      try {
        dropped = this.expectStored(outcome, `the spool of run ${runId}`);
      } catch (err) {
        throw new RuntimeFailure(
          `${errorMessage(err)} (${result.batches} batches of ${spool.dir} delivered before that; the rest stays spooled)`,
          { cause: err },
        );
      }
      await spool.remove(file.path);
      result.samples += content.samples - dropped;
      result.dropped += dropped;
      result.batches++;
      if (content.record) record = content.record;
    }
    await spool.removeIfEmpty();
    if (record?.data) {
      // The record was written while these samples were spooled: it is true again only now.
      const delivered = Math.min(record.data.spooled, result.samples + result.dropped);
      record.data = {
        ...record.data,
        written: record.data.written + delivered - result.dropped,
        spooled: record.data.spooled - delivered,
        lost: record.data.lost + result.dropped,
      };
      await this.writeRecord(record);
    }
    return result;
  }

  /** Points InfluxDB dropped of a stored batch; throws when the batch was not stored. */
  private expectStored(outcome: WriteOutcome, what: string): number {
    if (outcome.kind === 'ok') {
      if (outcome.dropped > 0)
        this.log.warn(`InfluxDB dropped ${outcome.dropped} points of ${what}: ${outcome.error}`);
      return outcome.dropped;
    }
    throw new RuntimeFailure(`cannot write ${what} to ${this.url}: ${outcome.error}`);
  }
}

/** Options of InfluxStore.uploadRun. */
export interface UploadOptions {
  batchSize?: number;
  concurrency?: number;
  retry?: RetryPolicy;
}
