/**
 * Reports and gates from the command line: the flags `report`, `compare` and `run` share, the
 * text summary of a comparison, and what `scalpels run --report --compare-to REF --gate …`
 * checks before the run and does once the run is stored.
 */
import { Flags } from '@oclif/core';
import { ExitCode, InputError } from '../core/errors.js';
import { didYouMean } from '../core/registry.js';
import { compareLoaded, loadStored, renderReport, writeOutput } from '../report/api.js';
import type { CompareResult } from '../report/compare-result.js';
import { formatChange, formatP, parseGates } from '../report/gates.js';
import { renderJunit } from '../report/junit.js';
import { renderMarkdown } from '../report/markdown.js';
import { resolveRunRef } from '../store/resolve-run.js';
import type { RunRecord } from '../store/run-record.js';
import type { RunReader, Store } from '../store/store.js';
import { renderGateText } from './gate-text.js';
import { table } from './table.js';

/** Where the HTML report goes when no -o is given. */
export const DEFAULT_REPORT_FILE = 'scalpels-report.html';

/** Flags of the HTML report. */
export const htmlFlags = {
  templates: Flags.string({
    description:
      'Directory of templates laid out like templates/; its files replace the defaults of the same name.',
    helpValue: 'dir',
  }),
  tolerance: Flags.string({
    description: 'Tolerance for single numbers per step (tracer aggregates), in percent.',
    default: '10',
    helpValue: 'percent',
  }),
};

/** Flags of gates and their outputs. */
export const gateFlags = {
  gate: Flags.string({
    description:
      'Gate "<metric>:<aggregation>:<+|-><n>[%]", e.g. "duration:p(95):+10%". Repeatable. Default: the scenario\'s compare.gates.',
    multiple: true,
    helpValue: 'gate',
  }),
  step: Flags.string({
    description: 'Apply gates to this step only. Repeatable. Default: every step.',
    multiple: true,
    helpValue: 'name',
  }),
  junit: Flags.string({
    description: 'Write the gates as JUnit XML (one testcase per step × gate).',
    helpValue: 'file.xml',
  }),
  markdown: Flags.string({
    description: 'Write a Markdown summary (pull requests, CI job summaries).',
    helpValue: 'file.md',
  }),
  alpha: Flags.string({
    description: 'Significance level of the Mann-Whitney U test.',
    default: '0.05',
    helpValue: 'p',
  }),
};

/** Flags of `scalpels run` that act once the run is stored (reports, comparisons). */
export const afterRunFlags = {
  report: Flags.boolean({
    description: 'Write the HTML report of the run (with the --compare-to run as its baseline).',
  }),
  output: Flags.string({
    char: 'o',
    description: `HTML report file (implies --report). Default ./${DEFAULT_REPORT_FILE}.`,
    helpValue: 'file',
  }),
  'compare-to': Flags.string({
    description: 'Compare the run with this stored run (id, prefix, tag, latest~N) and apply the gates.',
    helpValue: 'run',
  }),
  ...gateFlags,
  templates: htmlFlags.templates,
};

/** Parses a number flag, refusing what is not one (exit 2). */
export function numberFlag(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new InputError(`--${name} ${value}: expected a number from ${min} to ${max}`);
  }
  return n;
}

const ms = (v: number | null | undefined) =>
  v === undefined || v === null || !Number.isFinite(v)
    ? '-'
    : v < 1000
      ? `${v.toFixed(v < 10 ? 2 : 1)}ms`
      : `${(v / 1000).toFixed(2)}s`;

/** The comparison as text for a terminal or a CI log. */
export function renderCompareText(result: CompareResult): string {
  const out: string[] = [
    `Baseline ${result.baseline} vs ${result.candidates.join(', ')} (scenario ${result.scenario})`,
    '',
  ];
  const rows: string[][] = [];
  for (const s of result.steps) {
    if (s.baseline)
      rows.push([
        s.name,
        `${result.baseline} (baseline)`,
        ms(s.baseline.median),
        ms(s.baseline.p95),
        '',
        '',
        '',
      ]);
    for (const c of s.candidates) {
      if (!c) continue;
      const change = Number.isFinite(c.medianChange)
        ? `${formatChange(c.medianChange * 100, true)}${Number.isFinite(c.ciLow) ? ` [${formatChange(c.ciLow * 100, true)}, ${formatChange(c.ciHigh * 100, true)}]` : ''}`
        : '-';
      rows.push([
        s.name,
        c.run,
        ms(c.median),
        ms(c.p95),
        change,
        Number.isFinite(c.pValue) ? formatP(c.pValue) : '-',
        c.verdict === 'same' ? '~' : c.verdict,
      ]);
    }
  }
  out.push(table(['Step', 'Run', 'Median', 'p95', 'Median change (95% CI)', 'p', 'Verdict'], rows));
  for (const u of result.unmatched) out.push(`Step ${u.name} is missing from ${u.missingFrom.join(', ')}.`);
  out.push(...renderGateText(result));
  return out.join('\n');
}

/** Writes the JUnit and Markdown files a comparison's flags ask for. */
export async function writeGateOutputs(
  result: CompareResult,
  flags: { junit?: string; markdown?: string },
): Promise<string[]> {
  const written: string[] = [];
  if (flags.junit) written.push(await writeOutput(flags.junit, renderJunit(result)));
  if (flags.markdown) written.push(await writeOutput(flags.markdown, renderMarkdown(result)));
  return written;
}

/**
 * Checks the after-run flags without touching the store (the syntax of gates and --alpha).
 *
 * @throws InputError for gates without a baseline, malformed gates, or a bad --alpha.
 */
export function checkAfterRunFlags(rawFlags: Record<string, unknown>): { alpha: number } {
  const flags = rawFlags as AfterRunFlagValues;
  if (!flags['compare-to'] && (flags.gate?.length || flags.junit || flags.markdown)) {
    throw new InputError('--gate, --junit and --markdown need --compare-to <run> (the baseline)');
  }
  if (flags.gate?.length) parseGates(flags.gate, '--gate');
  return { alpha: numberFlag('alpha', flags.alpha ?? '0.05', 0, 1) };
}

interface AfterRunFlagValues {
  report?: boolean;
  output?: string;
  'compare-to'?: string;
  gate?: string[];
  step?: string[];
  junit?: string;
  markdown?: string;
  alpha?: string;
  templates?: string;
}

/** What `scalpels run` settles before the run starts, so that a bad flag costs no run. */
export interface AfterRunPlan {
  alpha: number;
  /** The --compare-to run. */
  baseline?: RunRecord;
}

/**
 * Checks the after-run flags before the run: their syntax, the --step names against the
 * scenario's steps, and --compare-to among the runs stored so far. Those are the runs before
 * this one, so `latest` names the previous run, as it did when it was resolved after the run.
 *
 * @throws InputError naming the bad flag.
 */
export async function planAfterRun(
  rawFlags: Record<string, unknown>,
  store: RunReader,
  stepNames: readonly string[],
): Promise<AfterRunPlan> {
  const flags = rawFlags as AfterRunFlagValues;
  const { alpha } = checkAfterRunFlags(rawFlags);
  for (const step of flags.step ?? []) {
    if (!stepNames.includes(step))
      throw new InputError(
        `--step ${step}: the scenario has no such step${didYouMeanText(step, stepNames)} (steps: ${stepNames.join(', ')})`,
      );
  }
  const ref = flags['compare-to'];
  const baseline = ref ? resolveRunRef(await store.listRuns(), ref, 'the runs before this one') : undefined;
  return { alpha, baseline };
}

const didYouMeanText = (name: string, names: readonly string[]) => {
  const guess = didYouMean(name, names);
  return guess ? ` (did you mean ${guess}?)` : '';
};

/** What the after-run work decided. */
export interface AfterRunResult {
  /** Worse than the run's own exit code when a gate failed (1). */
  exitCode: number;
  comparison?: CompareResult;
}

/**
 * Work done after a run is stored: the comparison with the planned baseline and its gates,
 * and the report. Text (the comparison, the files written) goes to `write`.
 */
export async function afterRun(
  record: RunRecord,
  rawFlags: Record<string, unknown>,
  store: Store,
  plan: AfterRunPlan,
  write: (line: string) => void,
): Promise<AfterRunResult> {
  const flags = rawFlags as AfterRunFlagValues;
  const wantReport = Boolean(flags.report || flags.output);
  const { alpha, baseline } = plan;
  if (!baseline && !wantReport) return { exitCode: ExitCode.Ok };
  const runs = await loadStored(store, baseline ? [baseline, record] : [record]);
  let exitCode: number = ExitCode.Ok;
  let comparison: CompareResult | undefined;
  if (baseline) {
    comparison = compareLoaded(runs, { gates: flags.gate, steps: flags.step, alpha });
    write('');
    write(renderCompareText(comparison));
    for (const path of await writeGateOutputs(comparison, flags)) write(`Wrote ${path}`);
    if (!comparison.passed) exitCode = ExitCode.GateFailed;
  }
  if (wantReport) {
    const { html } = renderReport(runs, { templatesDir: flags.templates, alpha, gates: comparison?.gates });
    write(`Report: ${await writeOutput(flags.output ?? DEFAULT_REPORT_FILE, html)}`);
  }
  return { exitCode, comparison };
}
