/**
 * The embedded store: plain files under a directory, so a fresh machine runs, reports and
 * compares with no database. Layout:
 *
 *   <dir>/runs/<run-id>/run.json        the RunRecord, pretty JSON, replaced atomically
 *   <dir>/runs/<run-id>/samples.lp      line protocol (or samples.lp.gz with `gzip: true`)
 *
 * Line protocol on disk is the same text InfluxDB ingests, so a run can be pushed to InfluxDB
 * later as is (`curl -XPOST 'http://influx:8086/write?db=scalpels' --data-binary @samples.lp`).
 */
import { createWriteStream, readFileSync, renameSync, type WriteStream, writeFileSync } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { createGunzip, createGzip, type Gzip, constants as zlibConstants } from 'node:zlib';
import { ExitCode, errorMessage, InputError, RuntimeFailure } from '../../core/errors.js';
import type { Sample } from '../../core/sample.js';
import { sampleMatcher } from '../filter.js';
import { decodeRecords, decodeStream, encodeBatch } from '../line-protocol.js';
import type { RecordReader, RecordView } from '../record-view.js';
import { compareRuns, moveTag, resolveRunRef, validateTag } from '../resolve-run.js';
import { validateRunId } from '../run-id.js';
import type { RunRecord } from '../run-record.js';
import type {
  EncodedRecords,
  EncodedSink,
  RunAdmin,
  RunWriter,
  SampleFilter,
  Store,
  SyncInterruptMarker,
  WriterStats,
} from '../store.js';

/** Where the local store lives when no directory is given, relative to the working directory. */
export const DEFAULT_STORE_DIR = '.scalpels';

const RECORD_FILE = 'run.json';
const SAMPLES_FILE = 'samples.lp';
const SAMPLES_GZ_FILE = 'samples.lp.gz';
/** run.json files read at once by listRuns, well under any open-file limit. */
const READ_CONCURRENCY = 32;
/**
 * Bytes read from a samples file at a time, and handed to the decoder at a time. Reads are
 * large because each costs a turn of the event loop (tens of µs on a VM) before its bytes can
 * be used; pieces are small because the decoder makes a string of each, and a string above
 * 128 KiB is allocated in fresh memory (V8's large-object space) every time.
 */
const READ_CHUNK = 512 * 1024;
const DECODE_PIECE = 64 * 1024;

/** Options of LocalStore. */
export interface LocalStoreOptions {
  /** Compress new runs' samples (samples.lp.gz). Readers accept either form regardless. */
  gzip?: boolean;
}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

/** Replaces a JSON file atomically: readers see the old content or the new, never half of it. */
async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(16).slice(2, 10)}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(value, null, 2) + '\n');
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new RuntimeFailure(`cannot write ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * A samples file being read: its text, and how far into the file the reading is. Plain text is
 * read into one buffer over and over (each chunk is valid until the next is asked for, which
 * is all the line-protocol decoders need): a fresh buffer per chunk, as a read stream
 * allocates, costs page faults that show at hundreds of megabytes.
 */
class SamplesFile {
  readonly text: AsyncIterable<Uint8Array>;
  private bytesRead = 0;
  private readonly closers: (() => unknown)[] = [];

  constructor(
    readonly path: string,
    handle: FileHandle,
    private readonly size: number,
    gzipped: boolean,
  ) {
    if (!gzipped) {
      this.text = this.chunks(handle);
      this.closers.push(() => handle.close());
      return;
    }
    const file = handle.createReadStream();
    // A sync-flush finish lets a gzip stream cut off by a crash yield what it holds instead of failing.
    const gunzip = createGunzip({ finishFlush: zlibConstants.Z_SYNC_FLUSH });
    file.on('error', (err) => gunzip.destroy(err));
    file.on('data', (chunk) => {
      this.bytesRead += chunk.length;
    });
    this.text = file.pipe(gunzip);
    this.closers.push(
      () => gunzip.destroy(),
      () => file.destroy(),
    );
  }

  /** The share of the file read so far, 0–1. */
  progress(): number {
    return this.size > 0 ? Math.min(1, this.bytesRead / this.size) : 1;
  }

  async close(): Promise<void> {
    for (const close of this.closers) await close();
  }

  /**
   * The file's bytes in pieces, reading one chunk ahead: the next read runs on libuv's thread
   * pool while the caller decodes this one (a quarter of a report's load was spent waiting on
   * reads). Two buffers take turns; the caller copies a piece before asking for the next (see
   * decodeRecords), so the buffer it came from is free again when its turn comes.
   */
  private async *chunks(handle: FileHandle): AsyncGenerator<Uint8Array> {
    let current = Buffer.allocUnsafe(READ_CHUNK);
    let spare = Buffer.allocUnsafe(READ_CHUNK);
    let pending = handle.read(current, 0, READ_CHUNK, null);
    try {
      for (;;) {
        const { bytesRead } = await pending;
        if (bytesRead === 0) return;
        const chunk = current;
        pending = handle.read(spare, 0, READ_CHUNK, null);
        [current, spare] = [spare, current];
        for (let at = 0; at < bytesRead; at += DECODE_PIECE) {
          const piece = chunk.subarray(at, Math.min(at + DECODE_PIECE, bytesRead));
          // Counted as handed on, so that progress() is the share decoded, not the share read ahead.
          this.bytesRead += piece.length;
          yield piece;
        }
      }
    } finally {
      // A caller that stops early leaves a read in flight: let it end before the file closes.
      await pending.catch(() => {});
    }
  }
}

/** The store: one directory per run. */
export class LocalStore implements Store, RunAdmin, RecordReader, SyncInterruptMarker {
  /** The store directory, absolute. */
  readonly dir: string;
  private readonly gzip: boolean;

  constructor(dir: string = DEFAULT_STORE_DIR, options: LocalStoreOptions = {}) {
    this.dir = resolve(dir);
    this.gzip = options.gzip ?? false;
  }

  /** The directory of a run (whether or not it exists). */
  runDir(runId: string): string {
    validateRunId(runId);
    return join(this.dir, 'runs', runId);
  }

  /** Where a run lives, for people: its directory. */
  location(runId: string): string {
    return this.runDir(runId);
  }

  /**
   * Deletes a run's directory (record and samples).
   *
   * @throws InputError when there is no such run.
   */
  async removeRun(runId: string): Promise<void> {
    const dir = this.runDir(runId);
    try {
      await stat(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new InputError(`no run ${runId} in ${this.dir}`);
      throw new RuntimeFailure(`cannot read ${dir}: ${errorMessage(err)}`, { cause: err });
    }
    // run.json goes first: a removal cut short leaves a directory listRuns skips, not a half run.
    await rm(join(dir, RECORD_FILE), { force: true });
    await rm(dir, { recursive: true, force: true });
  }

  /** Creates the run's directory; samples are written lazily, on the first write. */
  async createRun(runId: string): Promise<LocalRunWriter> {
    const dir = this.runDir(runId);
    try {
      await mkdir(join(this.dir, 'runs'), { recursive: true });
      await mkdir(dir);
    } catch (err) {
      if (isErrno(err, 'EEXIST')) throw new InputError(`run ${runId} already exists in ${this.dir}`);
      throw new RuntimeFailure(`cannot create ${dir}: ${errorMessage(err)}`, { cause: err });
    }
    return new LocalRunWriter(runId, dir, this.gzip);
  }

  /**
   * Every run with a readable run.json, oldest first. Directories without one (a run that
   * crashed before its first save, or anything else) are skipped. The directory name is the
   * run's id, even if a copied run.json says otherwise, so that reads find its samples.
   */
  async listRuns(): Promise<RunRecord[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, 'runs'));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw new RuntimeFailure(`cannot list the runs in ${this.dir}: ${errorMessage(err)}`, { cause: err });
    }
    const records: RunRecord[] = [];
    for (let i = 0; i < names.length; i += READ_CONCURRENCY) {
      const batch = await Promise.all(
        names.slice(i, i + READ_CONCURRENCY).map((name) => this.readRecord(name)),
      );
      for (const record of batch) if (record) records.push(record);
    }
    return records.sort(compareRuns);
  }

  private async readRecord(name: string): Promise<RunRecord | undefined> {
    try {
      validateRunId(name);
      const record = JSON.parse(
        await readFile(join(this.dir, 'runs', name, RECORD_FILE), 'utf8'),
      ) as RunRecord;
      if (typeof record !== 'object' || record === null || typeof record.id !== 'string') return undefined;
      if (!Array.isArray(record.tags)) record.tags = [];
      record.id = name;
      return record;
    } catch {
      return undefined;
    }
  }

  /** Resolves an id, `latest`, `latest~N`, a tag or a unique id prefix (see resolveRunRef). */
  async resolveRun(ref: string): Promise<RunRecord> {
    return resolveRunRef(await this.listRuns(), ref, this.dir);
  }

  /**
   * Puts `tag` on the run `ref` names and takes it off every other run, so that a tag such as
   * `baseline` always names one run. Returns the tagged run's record.
   */
  async tagRun(ref: string, tag: string): Promise<RunRecord> {
    validateTag(tag);
    const runs = await this.listRuns();
    const target = resolveRunRef(runs, ref, this.dir);
    const changed = moveTag(runs, target, tag);
    // The target is first: if this stops half-way, the tag is on two runs (the newest wins), never on none.
    for (const record of changed) await writeJsonAtomic(join(this.runDir(record.id), RECORD_FILE), record);
    return changed[0]?.id === target.id ? changed[0] : target;
  }

  /** Rewrites a stored run's record (run --compare-to adds the comparison once the run is stored). */
  async writeRecord(record: RunRecord): Promise<void> {
    await writeJsonAtomic(join(this.runDir(record.id), RECORD_FILE), record);
  }

  /**
   * Marks a run still `running` as interrupted, synchronously: for a runner that quits at once
   * (a second Ctrl-C) and has no time left for asynchronous writes. Best effort: a runner
   * that quits has nowhere to report a failure.
   */
  markInterruptedSync(runId: string, reason: string): void {
    try {
      const file = join(this.runDir(runId), RECORD_FILE);
      const record = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
      if (record.status !== 'running') return;
      record.status = 'interrupted';
      record.exitCode = ExitCode.Interrupted;
      record.error ??= reason;
      record.endedAt ??= new Date().toISOString();
      const tmp = `${file}.${process.pid}.quit.tmp`;
      writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n');
      renameSync(tmp, file);
    } catch {
      // Nothing left to do: the process is exiting.
    }
  }

  /**
   * Streams a run's samples that match `filter`, in the order they were written. Samples still
   * queued in a writer are not seen until it flushes. A last record cut off by a crash is skipped.
   */
  async *readSamples(runId: string, filter?: SampleFilter): AsyncGenerator<Sample> {
    const match = sampleMatcher(filter);
    for await (const { path, text } of this.sampleFiles(runId)) {
      try {
        for await (const sample of decodeStream(text, { allowTruncatedEnd: true })) {
          if (match(sample)) yield sample;
        }
      } catch (err) {
        throw new RuntimeFailure(`cannot read ${path}: ${errorMessage(err)}`, { cause: err });
      }
    }
  }

  /**
   * Reads a run's records straight into a RecordView, as readSamples reads them but without a
   * Sample per record: what the report loader folds into columns. The view's `progress` is the
   * share of the file read.
   */
  async readRecords(runId: string, visit: (record: RecordView) => void): Promise<number> {
    let records = 0;
    for await (const file of this.sampleFiles(runId)) {
      const withProgress = (record: RecordView) => {
        record.progress = file.progress();
        visit(record);
      };
      try {
        records += await decodeRecords(file.text, withProgress, { allowTruncatedEnd: true });
      } catch (err) {
        throw new RuntimeFailure(`cannot read ${file.path}: ${errorMessage(err)}`, { cause: err });
      }
    }
    return records;
  }

  /** A run's samples file(s), plain or gzipped, each open while the caller reads it. */
  private async *sampleFiles(runId: string): AsyncGenerator<SamplesFile> {
    const dir = this.runDir(runId);
    try {
      await stat(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new InputError(`no run ${runId} in ${this.dir}`);
      throw new RuntimeFailure(`cannot read ${dir}: ${errorMessage(err)}`, { cause: err });
    }
    for (const [name, gzipped] of [
      [SAMPLES_FILE, false],
      [SAMPLES_GZ_FILE, true],
    ] as const) {
      const path = join(dir, name);
      let handle: FileHandle;
      let size: number;
      try {
        handle = await open(path, 'r');
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw new RuntimeFailure(`cannot read ${path}: ${errorMessage(err)}`, { cause: err });
      }
      try {
        size = (await handle.stat()).size;
      } catch (err) {
        await handle.close();
        throw new RuntimeFailure(`cannot read ${path}: ${errorMessage(err)}`, { cause: err });
      }
      const file = new SamplesFile(path, handle, size, gzipped);
      try {
        yield file;
      } finally {
        await file.close();
      }
    }
  }
}

/**
 * Writes one run. `write()` encodes synchronously and hands the text to a WriteStream without
 * waiting: the stream buffers in memory, so producers never block on the disk (a disk slower
 * than the tracers shows up as memory, and flush() takes longer). Write errors are remembered
 * and thrown from flush() and close(), where a caller is waiting for durability.
 */
export class LocalRunWriter implements RunWriter, EncodedSink {
  /** Samples encoded so far. */
  samplesWritten = 0;
  /** Samples left out because every field was NaN or Infinity. */
  samplesDropped = 0;
  private file?: WriteStream;
  private gzip?: Gzip;
  private lastWrite: Promise<void> = Promise.resolve();
  private error: unknown;
  private closing?: Promise<void>;
  private readonly samplesPath: string;

  constructor(
    readonly runId: string,
    /** The run's directory. */
    readonly location: string,
    private readonly compress: boolean,
  ) {
    this.samplesPath = join(location, compress ? SAMPLES_GZ_FILE : SAMPLES_FILE);
  }

  /**
   * Queues samples. Throws at once if a sample cannot be encoded (a caller's bug, not an I/O
   * failure) or if the writer is closed.
   */
  write(samples: Sample[]): void {
    this.throwIfClosed();
    this.writeEncoded(encodeBatch(samples));
  }

  /** Queues records already encoded (see EncodedSink); throws if the writer is closed. */
  writeEncoded(batch: EncodedRecords): void {
    this.throwIfClosed();
    this.samplesWritten += batch.lines;
    this.samplesDropped += batch.dropped;
    if (batch.text.length === 0) return;
    if (this.compress) this.compressor().write(batch.text);
    else this.append(batch.text);
  }

  /**
   * Resolves when everything written so far has been handed to the operating system. It does
   * not fsync: surviving a process crash is the goal; surviving a power cut is not worth an
   * fsync per flush on the hot path.
   *
   * @throws RuntimeFailure if any write failed.
   */
  async flush(): Promise<void> {
    const gzip = this.gzip;
    if (gzip && !this.closing) {
      // A sync flush makes everything compressed so far decodable by a reader right now.
      await new Promise<void>((done) => gzip.flush(zlibConstants.Z_SYNC_FLUSH, () => done()));
      // The flushed bytes may be emitted on a later tick; let them reach append() first.
      await new Promise<void>((done) => setImmediate(done));
    }
    await this.lastWrite;
    this.throwIfFailed();
  }

  /** Everything encoded is written (there is no spool), unless a write failed. */
  stats(): WriterStats {
    return { written: this.error === undefined ? this.samplesWritten : 0, spooled: 0 };
  }

  /** Writes (or rewrites) run.json atomically. */
  async saveRecord(record: RunRecord): Promise<void> {
    if (record.id !== this.runId) {
      throw new Error(`record of run ${record.id} given to the writer of run ${this.runId}`);
    }
    await writeJsonAtomic(join(this.location, RECORD_FILE), record);
  }

  /**
   * Flushes, finishes the gzip stream if any, and closes the file. Safe to call twice.
   *
   * @throws RuntimeFailure if any write failed.
   */
  close(): Promise<void> {
    this.closing ??= this.finish();
    return this.closing;
  }

  private async finish(): Promise<void> {
    if (this.gzip) {
      const gzip = this.gzip;
      gzip.end();
      await finished(gzip).catch((err) => this.remember(err));
    }
    await this.lastWrite;
    if (this.file) {
      const file = this.file;
      file.end();
      await finished(file).catch((err) => this.remember(err));
    }
    this.throwIfFailed();
  }

  private compressor(): Gzip {
    if (!this.gzip) {
      // Bytes come out of zlib in its own time; append() takes them in order as they do.
      const gzip = createGzip();
      gzip.on('data', (chunk: Buffer) => this.append(chunk));
      gzip.on('error', (err) => this.remember(err));
      this.gzip = gzip;
    }
    return this.gzip;
  }

  private append(chunk: string | Buffer): void {
    if (!this.file) {
      this.file = createWriteStream(this.samplesPath, { flags: 'a' });
      this.file.on('error', (err) => this.remember(err));
    }
    const file = this.file;
    this.lastWrite = new Promise((done) => {
      file.write(chunk, (err) => {
        if (err) this.remember(err);
        done();
      });
    });
  }

  private throwIfClosed(): void {
    if (this.closing)
      throw new RuntimeFailure(`run ${this.runId} is closed; samples written after close are lost`);
  }

  private remember(err: unknown): void {
    this.error ??= err;
  }

  private throwIfFailed(): void {
    if (this.error !== undefined) {
      throw new RuntimeFailure(
        `cannot write the samples of run ${this.runId} to ${this.samplesPath}: ${errorMessage(this.error)}`,
        {
          cause: this.error,
        },
      );
    }
  }
}
