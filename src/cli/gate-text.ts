/**
 * The gates of a comparison as text for a terminal or a CI log: one aligned row per check, the
 * runs that did not finish, and the one-sentence verdict (shared by `compare` and `run --compare-to`).
 */
import { type CompareResult, gateSummary } from '../report/compare-result.js';
import { table } from './table.js';

const STATUS = { fail: 'FAIL', pass: 'pass', skipped: 'skip' } as const;

/** The lines that follow the comparison table: notes on the runs, the gates, the verdict. */
export function renderGateText(result: CompareResult): string[] {
  const out: string[] = [];
  if (result.scenarios.length > 1) {
    out.push(
      '',
      `Note: the runs are of different scenarios (${result.scenarios.join(', ')}); steps are matched by name.`,
    );
  }
  if (result.gates.length === 0) return [...out, '', gateSummary(result)];
  const rows = result.gates.map((g) => [STATUS[g.status], g.step, g.gate, `${g.candidateRun}:`, g.reason]);
  const lines = table(['', 'Step', 'Gate', 'Run', 'Why'], rows).split('\n');
  out.push('', 'Gates:', ...lines.slice(1).map((l) => `  ${l}`));
  return [...out, '', gateSummary(result)];
}
