/**
 * How a user names a run, decided once for every store: the CLI, reports and CI gates accept
 * the same references whether the runs live in files, in memory or elsewhere.
 */
import { InputError } from '../core/errors.js';
import { isRunId } from './run-id.js';
import type { RunRecord } from './run-record.js';

const LATEST = /^latest(?:~(.*))?$/;
/** Ambiguity errors list at most this many candidates, so a one-letter prefix stays readable. */
const MAX_CANDIDATES = 10;

/**
 * Oldest first. Run ids sort by their start second; `startedAt` (milliseconds) orders runs
 * started within the same second, and the id breaks any remaining tie so the order is total.
 */
export function compareRuns(a: RunRecord, b: RunRecord): number {
  const ta = Date.parse(a.startedAt);
  const tb = Date.parse(b.startedAt);
  if (!Number.isNaN(ta) && !Number.isNaN(tb) && ta !== tb) return ta - tb;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Resolves a run reference against `runs` (oldest first), in this order:
 * an exact id; `latest` or `latest~N` (the N-th run before the latest); a tag (the newest run
 * carrying it); a unique id prefix. `where` names the store in error messages.
 *
 * @throws InputError when nothing matches, a prefix is ambiguous or `latest~N` is out of range.
 */
export function resolveRunRef(runs: readonly RunRecord[], ref: string, where: string): RunRecord {
  if (ref === '')
    throw new InputError(`a run reference is empty (use an id, id prefix, tag, latest or latest~N)`);

  const exact = runs.find((r) => r.id === ref);
  if (exact) return exact;

  const latest = LATEST.exec(ref);
  if (latest) {
    const back = latest[1] === undefined ? 0 : /^\d+$/.test(latest[1]) ? Number(latest[1]) : Number.NaN;
    if (!Number.isSafeInteger(back)) {
      throw new InputError(`run reference "${ref}": expected latest~N with N a whole number, e.g. latest~1`);
    }
    if (runs.length === 0) throw new InputError(`no runs in ${where} yet, so "${ref}" matches nothing`);
    if (back >= runs.length) {
      const count = runs.length === 1 ? '1 run' : `${runs.length} runs`;
      throw new InputError(`run reference "${ref}" goes back further than the ${count} in ${where}`);
    }
    return runs[runs.length - 1 - back];
  }

  for (let i = runs.length - 1; i >= 0; i--) {
    if (runs[i].tags?.includes(ref)) return runs[i];
  }

  const candidates = runs.filter((r) => r.id.startsWith(ref));
  if (candidates.length === 1) return candidates[0];
  if (candidates.length > 1) {
    const shown = candidates.slice(-MAX_CANDIDATES).map((r) => r.id);
    const more = candidates.length > shown.length ? ` and ${candidates.length - shown.length} older` : '';
    throw new InputError(
      `run reference "${ref}" is ambiguous in ${where}: it prefixes ${candidates.length} runs (${shown.join(', ')}${more}); give more of the id`,
    );
  }
  throw new InputError(`no run matches "${ref}" in ${where} (by id, id prefix, tag, latest or latest~N)`);
}

/**
 * Refuses tags that could never be resolved as tags: `latest…` and run ids win over tags when
 * resolving, and whitespace would not survive a shell or a comma-separated flag.
 *
 * @throws InputError naming the problem.
 */
export function validateTag(tag: string): void {
  if (tag === '') throw new InputError('a run tag is empty');
  if (/\s/.test(tag)) throw new InputError(`run tag "${tag}" contains whitespace`);
  if (LATEST.test(tag))
    throw new InputError(`run tag "${tag}" would be read as latest/latest~N, not as a tag`);
  if (isRunId(tag)) throw new InputError(`run tag "${tag}" looks like a run id, so it would be read as one`);
}

/**
 * Moves `tag` onto `target`: a tag such as `baseline` names one run. Returns copies of the
 * records that change (the target first, so a store that writes them in order never leaves
 * the tag on no run), leaving the inputs untouched.
 */
export function moveTag(runs: readonly RunRecord[], target: RunRecord, tag: string): RunRecord[] {
  validateTag(tag);
  const changed: RunRecord[] = [];
  const targetTags = target.tags ?? [];
  if (!targetTags.includes(tag)) changed.push({ ...target, tags: [...targetTags, tag] });
  for (const run of runs) {
    if (run.id !== target.id && run.tags?.includes(tag)) {
      changed.push({ ...run, tags: run.tags.filter((t) => t !== tag) });
    }
  }
  return changed;
}
