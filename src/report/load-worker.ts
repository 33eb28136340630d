/**
 * Worker entry of loadRunsInWorkers: loads one run of a local store and hands its columns back
 * without copying them (the typed arrays' buffers are transferred).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LocalStore } from '../store/local/local-store.js';
import type { RunRecord } from '../store/run-record.js';
import { type LoadOptions, loadRunData, type RunData } from './run-data.js';

/** What the parent sends. */
export interface LoadJob {
  storeDir: string;
  record: RunRecord;
  options: LoadOptions;
}

/** The buffers of every typed array in a RunData, for a zero-copy postMessage. */
export function transferList(data: RunData): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const add = (a: { buffer: ArrayBufferLike }) => {
    if (a.buffer instanceof ArrayBuffer) out.add(a.buffer);
  };
  for (const d of [
    ...data.iterations.values(),
    ...[...data.actions.values()].flatMap((m) => [...m.values()]),
  ]) {
    add(d.start);
    add(d.duration);
    add(d.ok);
    add(d.okSorted);
  }
  for (const g of data.series) {
    add(g.t);
    add(g.step);
    for (const col of g.fields.values()) add(col);
  }
  return [...out];
}

if (parentPort && workerData) {
  const job = workerData as LoadJob;
  const port = parentPort;
  loadRunData(new LocalStore(job.storeDir), job.record, job.options).then(
    (data) => port.postMessage({ ok: true, data }, transferList(data)),
    (err: unknown) =>
      port.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
}
