/**
 * A run as one file, to hand to a colleague or move between stores (`runs export` /
 * `runs import`): a gzipped tar of the local store's own layout,
 *
 *   <run-id>/run.json
 *   <run-id>/samples.lp   (or samples.lp.gz, as the run was stored)
 *
 * so an archive unpacked into `<store-dir>/runs/` is a run, and any other tool reads it
 * (`tar xzf`, then `curl --data-binary @samples.lp` into InfluxDB).
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { create as createTar, extract as extractTar } from 'tar';
import { errorMessage, InputError, RuntimeFailure } from '../../core/errors.js';
import type { Sample } from '../../core/sample.js';
import { encodeBatch } from '../line-protocol.js';
import type { RunRecord } from '../run-record.js';
import type { RunReader } from '../store.js';
import { LocalStore } from './local-store.js';

const ENCODE_CHUNK = 5_000;

/**
 * Writes `record`'s run to a .tar.gz. From a LocalStore the run's files are packed as they
 * are; from another store (InfluxDB) its samples are read and written as line protocol.
 */
export async function exportRun(
  reader: RunReader,
  record: RunRecord,
  outFile: string,
): Promise<{ samples?: number }> {
  const out = resolve(outFile);
  if (reader instanceof LocalStore) {
    await packDir(join(reader.dir, 'runs'), record.id, out);
    return {};
  }
  const tmp = await mkdtemp(join(resolve(out, '..'), '.scalpels-export-'));
  try {
    const dir = join(tmp, record.id);
    await mkdir(dir);
    await writeFile(join(dir, 'run.json'), JSON.stringify(record, null, 2) + '\n');
    const file = createWriteStream(join(dir, 'samples.lp'));
    let samples = 0;
    let chunk: Sample[] = [];
    const drain = async () => {
      const { text, lines } = encodeBatch(chunk);
      chunk = [];
      samples += lines;
      if (!file.write(text)) await new Promise<void>((done) => file.once('drain', () => done()));
    };
    for await (const sample of reader.readSamples(record.id)) {
      chunk.push(sample);
      if (chunk.length >= ENCODE_CHUNK) await drain();
    }
    await drain();
    file.end();
    await finished(file);
    await packDir(tmp, record.id, out);
    return { samples };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function packDir(cwd: string, runId: string, out: string): Promise<void> {
  try {
    await createTar({ gzip: true, file: out, cwd, portable: true }, [runId]);
  } catch (err) {
    throw new RuntimeFailure(`cannot write ${out}: ${errorMessage(err)}`, { cause: err });
  }
}

/** An unpacked archive: a LocalStore over a temp dir holding the one run, to read or move. */
export interface UnpackedRun {
  store: LocalStore;
  record: RunRecord;
  /** Deletes the temp dir (after the run was moved or uploaded). */
  cleanup(): Promise<void>;
}

/**
 * Unpacks a run archive under `workDir` (a temp dir inside it), checking that it holds
 * exactly one run directory with a readable run.json. Paths are confined to the temp dir
 * (tar refuses absolute paths and `..` by default).
 *
 * @throws InputError when the file is not a run archive.
 */
export async function unpackRun(archive: string, workDir: string): Promise<UnpackedRun> {
  try {
    await stat(archive);
  } catch (err) {
    throw new InputError(`cannot read ${archive}: ${errorMessage(err)}`);
  }
  await mkdir(workDir, { recursive: true });
  const tmp = await mkdtemp(join(workDir, '.import-'));
  const cleanup = () => rm(tmp, { recursive: true, force: true });
  try {
    const runs = join(tmp, 'runs');
    await mkdir(runs);
    try {
      // Only plain files and directories: an archive has no business carrying links or devices.
      await extractTar({
        file: archive,
        cwd: runs,
        strict: true,
        filter: (_path, entry) =>
          'type' in entry ? entry.type === 'File' || entry.type === 'Directory' : true,
      });
    } catch (err) {
      throw new InputError(`${archive} is not a run archive (.tar.gz): ${errorMessage(err)}`);
    }
    const entries = await readdir(runs);
    if (entries.length !== 1) {
      throw new InputError(
        `${archive} holds ${entries.length} top-level entries; a run archive holds one run directory`,
      );
    }
    const store = new LocalStore(tmp);
    let text: string;
    try {
      text = await readFile(join(runs, entries[0], 'run.json'), 'utf8');
    } catch {
      throw new InputError(`${archive} has no ${entries[0]}/run.json: not a run archive`);
    }
    let record: RunRecord;
    try {
      record = JSON.parse(text) as RunRecord;
    } catch (err) {
      throw new InputError(`${archive}: ${entries[0]}/run.json is not JSON: ${errorMessage(err)}`);
    }
    if (typeof record !== 'object' || record === null || typeof record.startedAt !== 'string') {
      throw new InputError(`${archive}: ${entries[0]}/run.json is not a run record`);
    }
    store.runDir(entries[0]); // refuses an unsafe directory name
    record.id = basename(entries[0]);
    if (!Array.isArray(record.tags)) record.tags = [];
    return { store, record, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * Moves an unpacked run into a local store. Tags are dropped: a tag names one run per store,
 * and the archive's `baseline` is not this store's.
 *
 * @throws InputError when the store has a run of that id already.
 */
export async function adoptRun(unpacked: UnpackedRun, into: LocalStore): Promise<RunRecord> {
  const target = into.runDir(unpacked.record.id);
  try {
    await stat(target);
    throw new InputError(`run ${unpacked.record.id} already exists in ${into.dir}`);
  } catch (err) {
    if (err instanceof InputError) throw err;
  }
  const source = unpacked.store.runDir(unpacked.record.id);
  const record = { ...unpacked.record, tags: [] };
  await writeFile(join(source, 'run.json'), JSON.stringify(record, null, 2) + '\n');
  await mkdir(join(into.dir, 'runs'), { recursive: true });
  try {
    await rename(source, target);
  } catch (err) {
    throw new RuntimeFailure(`cannot move the run into ${into.dir}: ${errorMessage(err)}`, { cause: err });
  }
  return record;
}
