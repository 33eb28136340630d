import { formatDuration } from '../core/duration.js';
import type { RunRecord, SlaResult } from '../store/run-record.js';
import { table } from './table.js';

const dur = (ms: number | undefined) => (ms === undefined ? '-' : formatDuration(ms));

/**
 * What failed, for a verdict: "SLA", "thresholds", "SLA and thresholds". An abort_on_fail stop
 * is a threshold's doing; a max_failures stop is named as such.
 */
export function failedChecksName(failed: readonly SlaResult[]): string {
  const kinds = new Set<string>(
    failed.map((r) =>
      r.kind === 'threshold' || r.criterion === 'abort_on_fail'
        ? 'thresholds'
        : r.kind === 'stop'
          ? 'max_failures'
          : 'SLA',
    ),
  );
  return ['SLA', 'thresholds', 'max_failures'].filter((k) => kinds.has(k)).join(' and ');
}

/**
 * The scenario's steps that left no record: the one the run's error names failed (`error`),
 * the others never ran (`not run`), after an error, an abort or an interrupt.
 */
function unrecordedSteps(run: RunRecord): { name: string; verdict: string }[] {
  const planned = (run.scenario.rendered as { steps?: { name?: unknown }[] } | undefined)?.steps ?? [];
  const recorded = new Set(run.steps.map((s) => s.name));
  return planned
    .map((s) => String(s.name))
    .filter((name) => !recorded.has(name))
    .map((name) => ({
      name,
      verdict: run.status === 'error' && run.error?.startsWith(`step ${name}: `) ? 'error' : 'not run',
    }));
}

/** The end-of-run summary a person reads: steps, tracers, data accounting, verdict. */
export function renderSummary(run: RunRecord, location: string): string {
  const elapsed = run.endedAt ? Date.parse(run.endedAt) - Date.parse(run.startedAt) : undefined;
  const out: string[] = [];
  out.push(
    `Run ${run.id}  scenario ${run.scenario.name}  ${run.status.toUpperCase()}${elapsed !== undefined ? ` in ${dur(elapsed)}` : ''}`,
  );
  out.push('');
  out.push(
    table(
      ['Step', 'Iterations', 'Failures', 'Min', 'Median', 'p95', 'Max', 'SLA'],
      [
        ...run.steps.map((s) => [
          s.name,
          String(s.iterations),
          String(s.failures),
          dur(s.duration?.min),
          dur(s.duration?.median),
          dur(s.duration?.p95),
          dur(s.duration?.max),
          s.interrupted
            ? 'interrupted'
            : s.sla.length === 0
              ? '-'
              : s.sla.every((r) => r.success)
                ? 'pass'
                : 'FAIL',
        ]),
        ...unrecordedSteps(run).map((s) => [s.name, '-', '-', '-', '-', '-', '-', s.verdict]),
      ],
    ),
  );
  const slaFailures = run.steps.flatMap((s) =>
    s.sla.filter((r) => !r.success).map((r) => `  ${s.name}: ${r.criterion}: ${r.detail}`),
  );
  if (slaFailures.length) out.push('', 'Failed checks:', ...slaFailures);
  const errors = run.steps.flatMap((s) =>
    s.errors.slice(0, 3).map((e) => `  ${s.name}: ${e.count}× ${e.message}`),
  );
  if (errors.length) out.push('', 'Iteration errors (most frequent):', ...errors);
  if (run.streams.length) {
    out.push('');
    out.push(
      table(
        ['Tracer', 'Step', 'Agent', 'Samples', 'Complete'],
        run.streams.map((s) => [
          s.tracer,
          s.step ?? '(run)',
          s.agent,
          String(s.samples),
          s.complete ? 'yes' : `NO${s.error ? `: ${s.error}` : ''}`,
        ]),
      ),
    );
  }
  for (const a of run.agents) {
    if (a.lost) out.push(`Agent ${a.name} was lost at ${a.lost}: its series are incomplete.`);
    else if (a.outages?.length)
      out.push(
        `Agent ${a.name} was offline ${a.outages.length}× (${a.outages.map((o) => `${o.from} to ${o.to}`).join(', ')}) and came back; its data was resent.`,
      );
  }
  for (const o of run.brokerOutages ?? [])
    out.push(
      `Lost the broker from ${o.from} ${o.to ? `to ${o.to} (${formatDuration(o.durationMs ?? 0)})` : 'to the end of the run'}.`,
    );
  const d = run.data;
  out.push('');
  out.push(
    `Data: ${d.produced} samples produced, ${d.written} written, ${d.spooled} spooled, ${d.lost} lost.`,
  );
  if (run.error) out.push(`Error: ${run.error}`);
  out.push(`Stored in ${location}`);
  return out.join('\n');
}
