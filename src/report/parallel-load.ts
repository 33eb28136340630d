/**
 * Loads the runs of a local store in worker threads, one run per core at a time. Decoding line
 * protocol is CPU-bound and each run is independent, so on a two-core machine a comparison of
 * two large runs loads in about half the time. When workers cannot start (a test runner that
 * transpiles in process), it falls back to loading in this thread.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { RuntimeFailure } from '../core/errors.js';
import type { RunRecord } from '../store/run-record.js';
import type { RunReader } from '../store/store.js';
import type { LoadJob } from './load-worker.js';
import { type LoadOptions, loadRunData, type RunData } from './run-data.js';

function workerUrl(): URL {
  // From dist/ the worker is compiled JavaScript; from src/ (tsx) it is TypeScript, which the
  // worker can run only when this process was started with a TypeScript loader (inherited execArgv).
  const ext = fileURLToPath(import.meta.url).endsWith('.ts') ? 'ts' : 'js';
  return new URL(`./load-worker.${ext}`, import.meta.url);
}

function loadInWorker(job: LoadJob): Promise<RunData> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerUrl(), { workerData: job });
    let settled = false;
    worker.once('message', (msg: { ok: true; data: RunData } | { ok: false; error: string }) => {
      settled = true;
      void worker.terminate();
      if (msg.ok) resolve(msg.data);
      else reject(new RuntimeFailure(`cannot read run ${job.record.id}: ${msg.error}`));
    });
    worker.once('error', (err) => {
      if (!settled) reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`the loader of run ${job.record.id} exited with code ${code}`));
    });
  });
}

/**
 * Loads `records` from the local store at `storeDir`, in parallel, in the given order. A run
 * whose worker fails to start is loaded in this thread through `reader`; a store error in a
 * worker is thrown as it would be in process.
 */
export async function loadRunsInWorkers(
  storeDir: string,
  reader: RunReader,
  records: RunRecord[],
  options: LoadOptions = {},
): Promise<RunData[]> {
  if (records.length < 2) return Promise.all(records.map((r) => loadRunData(reader, r, options)));
  const slots = Math.max(1, Math.min(records.length, availableParallelism()));
  const out: RunData[] = new Array(records.length);
  let next = 0;
  const lane = async () => {
    while (next < records.length) {
      const i = next++;
      try {
        out[i] = await loadInWorker({ storeDir, record: records[i], options });
      } catch (err) {
        if (err instanceof RuntimeFailure) throw err;
        out[i] = await loadRunData(reader, records[i], options);
      }
    }
  };
  await Promise.all(Array.from({ length: slots }, lane));
  return out;
}
