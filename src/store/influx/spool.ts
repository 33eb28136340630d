/**
 * The spool: line-protocol batches that could not reach InfluxDB, kept on disk in the order
 * they were made and replayed in that order once it answers again.
 *
 *   <store-dir>/spool/<run-id>/000000.lp, 000001.lp, …
 *
 * Each file is one batch, written to a temporary name and renamed, so a crash never leaves a
 * half batch under a `.lp` name. Replaying a file twice (a crash between the write and the
 * delete) is harmless: a point is identified by its series and timestamp, so InfluxDB stores
 * it once. The run's record (measurement `scalpels_run`) travels through the spool like any
 * point, so a run spooled entirely is still listed once pushed.
 */
import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, InputError, RuntimeFailure } from '../../core/errors.js';
import { decodeLines } from '../line-protocol.js';
import type { RunRecord } from '../run-record.js';

/** The measurement that holds run records (see docs/data-model.md). */
export const RUN_MEASUREMENT = 'scalpels_run';

const FILE = /^(\d{6,})\.lp$/;
/** Run ids become directory names: the same rule as the local store's. */
const SAFE_RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

/** What a spool file holds. */
export interface SpoolContent {
  /** Sample points (everything but run records). */
  samples: number;
  /** The last run record in the file, if any. */
  record?: RunRecord;
}

/** Counts a batch's samples and finds the run record in it. */
export function inspectBatch(text: string): SpoolContent {
  let samples = 0;
  let record: RunRecord | undefined;
  for (const sample of decodeLines(text)) {
    if (sample.measurement !== RUN_MEASUREMENT) samples++;
    else if (typeof sample.fields.record === 'string') {
      try {
        record = JSON.parse(sample.fields.record) as RunRecord;
      } catch {
        // a damaged record is pushed as is; the run is then listed from the next good one
      }
    }
  }
  return { samples, record };
}

/** One run's spool directory. */
export class Spool {
  /** The run's spool directory. */
  readonly dir: string;

  constructor(
    /** `<store-dir>/spool`. */
    readonly root: string,
    readonly runId: string,
  ) {
    if (!SAFE_RUN_ID.test(runId)) {
      throw new InputError(`"${runId}" is not a valid run id (letters, digits, ".", "_" and "-" only)`);
    }
    this.dir = join(root, runId);
  }

  /** Run ids with a spool directory under `root`, sorted. */
  static async runs(root: string): Promise<string[]> {
    try {
      const names = await readdir(root);
      return names.filter((n) => SAFE_RUN_ID.test(n)).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw new RuntimeFailure(`cannot list the spool ${root}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** The file name of batch `seq`. */
  static fileName(seq: number): string {
    return `${String(seq).padStart(6, '0')}.lp`;
  }

  /** Writes batch `seq`; durable (renamed into place) when the promise resolves. */
  async append(seq: number, text: string): Promise<void> {
    const path = join(this.dir, Spool.fileName(seq));
    const tmp = `${path}.tmp`;
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFile(tmp, text);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      throw new RuntimeFailure(`cannot spool to ${path}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** The batches waiting, oldest first, as `{ seq, path }`. */
  async files(): Promise<{ seq: number; path: string }[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw new RuntimeFailure(`cannot list the spool ${this.dir}: ${errorMessage(err)}`, { cause: err });
    }
    const out: { seq: number; path: string }[] = [];
    for (const name of names) {
      const m = FILE.exec(name);
      if (m) out.push({ seq: Number(m[1]), path: join(this.dir, name) });
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Reads one batch. */
  async read(path: string): Promise<string> {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new RuntimeFailure(`cannot read the spooled batch ${path}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Deletes a delivered batch, and the run's directory once it is empty. */
  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  /** Removes the directory when no batch is left (a stray temporary file is removed too). */
  async removeIfEmpty(): Promise<void> {
    if ((await this.files()).length > 0) return;
    try {
      const rest = await readdir(this.dir);
      for (const name of rest) if (name.endsWith('.tmp')) await rm(join(this.dir, name), { force: true });
      await rmdir(this.dir);
    } catch {
      // already gone, or something else is in it: leave it
    }
  }

  /** True when the directory exists (a run of this id was spooled before). */
  async exists(): Promise<boolean> {
    try {
      await readdir(this.dir);
      return true;
    } catch {
      return false;
    }
  }

  /** Samples waiting and the newest run record among the batches (for `runs push` and `runs list`). */
  async inspect(): Promise<SpoolContent & { batches: number }> {
    const files = await this.files();
    let samples = 0;
    let record: RunRecord | undefined;
    for (const file of files) {
      const content = inspectBatch(await this.read(file.path));
      samples += content.samples;
      if (content.record) record = content.record;
    }
    return { samples, record, batches: files.length };
  }
}
