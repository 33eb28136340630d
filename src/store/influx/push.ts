/**
 * `scalpels runs push`: what is on this machine goes to InfluxDB. Two sources, one command:
 * runs of the local store (uploaded whole), and spools left by `scalpels run --influx` while
 * InfluxDB was unreachable (replayed in order). Both are safe to repeat.
 */
import { InputError } from '../../core/errors.js';
import type { LocalStore } from '../local/local-store.js';
import { compareRuns, resolveRunRef } from '../resolve-run.js';
import type { RunRecord } from '../run-record.js';
import type { InfluxStore, PushResult } from './influx-store.js';

/** What one run's push did. */
export interface RunPush {
  runId: string;
  /** The local run, uploaded. */
  uploaded?: PushResult;
  /** Its spool, replayed. */
  drained?: PushResult;
}

/**
 * Pushes the run `ref` names (resolved among local runs and spooled runs, with the usual
 * references: id, prefix, tag, latest, latest~N), or every spooled run when `ref` is undefined.
 *
 * @throws InputError when nothing matches; RuntimeFailure when InfluxDB fails (what was
 *   delivered stays delivered; running the command again continues).
 */
export async function pushRuns(
  local: LocalStore,
  influx: InfluxStore,
  ref: string | undefined,
): Promise<RunPush[]> {
  const spooled = await influx.spooledRuns();
  if (ref === undefined) {
    const out: RunPush[] = [];
    for (const run of spooled) out.push({ runId: run.runId, drained: await influx.drainSpool(run.runId) });
    return out;
  }
  const localRuns = await local.listRuns();
  const candidates: RunRecord[] = [...localRuns];
  const known = new Set(localRuns.map((r) => r.id));
  for (const run of spooled) {
    if (known.has(run.runId)) continue;
    // A spooled run whose record never made it to disk still has an id and a start time.
    candidates.push(run.record ? { ...run.record, id: run.runId } : placeholderRecord(run.runId));
  }
  candidates.sort(compareRuns);
  const target = resolveRunRef(candidates, ref, `${local.dir} (runs and spool)`);
  const result: RunPush = { runId: target.id };
  if (known.has(target.id)) {
    const record = localRuns.find((r) => r.id === target.id)!;
    result.uploaded = await influx.uploadRun(record, local.readSamples(record.id));
  }
  if (spooled.some((s) => s.runId === target.id)) result.drained = await influx.drainSpool(target.id);
  if (!result.uploaded && !result.drained) throw new InputError(`run ${target.id} has nothing to push`);
  return [result];
}

function placeholderRecord(runId: string): RunRecord {
  return {
    format: 1,
    id: runId,
    status: 'running',
    exitCode: 0,
    scenario: { name: '', file: '', source: '', rendered: null, args: {} },
    startedAt: '',
    scalpelsVersion: '',
    host: '',
    agents: [],
    steps: [],
    streams: [],
    data: { produced: 0, written: 0, spooled: 0, lost: 0 },
    tags: [],
  };
}
