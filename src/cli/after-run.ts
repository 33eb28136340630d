import type { RunRecord } from '../store/run-record.js';
import type { Store } from '../store/store.js';

/** Flags of `scalpels run` that act once the run is stored (reports, comparisons). */
export const afterRunFlags = {};

/**
 * Work done after a run is stored: reports and gates. Returns an exit code that overrides
 * the run's when it is worse (a failed gate turns a passed run into exit 1).
 */
export async function afterRun(_record: RunRecord, _flags: Record<string, unknown>, _store: Store): Promise<number | undefined> {
  return undefined;
}
