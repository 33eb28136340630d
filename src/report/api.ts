/**
 * What the commands call: resolve runs, load them once, and produce a report, a comparison or
 * trends. Each function takes the store's read side only (DESIGN.md §8: report/ reads the store).
 */
import { writeFile } from 'node:fs/promises';
import { errorMessage, RuntimeFailure } from '../core/errors.js';
import { prepareOutputFile } from '../core/paths.js';
import { LocalStore } from '../store/local/local-store.js';
import type { RunRecord } from '../store/run-record.js';
import type { RunReader } from '../store/store.js';
import { DEFAULT_ALPHA } from './compare.js';
import { buildCompareResult, type CompareResult } from './compare-result.js';
import { evaluateGates, type GateResult, parseGates, scenarioGates } from './gates.js';
import { renderTemplate, type TemplateOptions } from './html/render.js';
import { buildReportModel, type ReportModel } from './model.js';
import { loadRunsInWorkers } from './parallel-load.js';
import { type LoadOptions, loadRunData, loadRuns, type RunData } from './run-data.js';
import {
  buildTrendsModel,
  checkTrendMetrics,
  DEFAULT_TREND_METRICS,
  parseTrendMetric,
  TrendInventory,
  type TrendMetric,
  type TrendsModel,
  trendPoint,
} from './trends.js';

/** Resolves run references (id, prefix, tag, latest, latest~N) in order. */
export async function resolveRecords(reader: RunReader, refs: string[]): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  for (const ref of refs) out.push(await reader.resolveRun(ref));
  return out;
}

/**
 * Loads runs for a report or a comparison: in parallel worker threads from a local store (the
 * decoding is CPU-bound and each run independent), one after another from any other store.
 */
export function loadStored(
  reader: RunReader,
  records: RunRecord[],
  options?: LoadOptions,
): Promise<RunData[]> {
  if (reader instanceof LocalStore) return loadRunsInWorkers(reader.dir, reader, records, options);
  return loadRuns(reader, records, options);
}

/** Options shared by the HTML report and comparisons. */
export interface ReportOptions extends TemplateOptions {
  /** Tolerance of single numbers per step, percent. */
  tolerancePct?: number;
  alpha?: number;
  /** Gate results to show in the report. */
  gates?: GateResult[];
  /** Fixed "generated at" (reproducible output). */
  now?: Date;
}

/** Renders loaded runs into the HTML report; returns the HTML and its model. */
export function renderReport(
  runs: RunData[],
  options: ReportOptions = {},
): { html: string; model: ReportModel } {
  const model = buildReportModel(runs, options);
  return { html: renderTemplate('report', model, options), model };
}

/** Options of a comparison. */
export interface CompareOptions {
  /** Gate texts; when absent or empty, the gates of the candidates' scenarios (`compare.gates`). */
  gates?: string[];
  steps?: string[];
  alpha?: number;
  /** Gate runs of different scenarios (refused by default). */
  allowDifferentScenarios?: boolean;
}

/**
 * The gates to apply: those given, else those the candidates' scenarios declare (the run
 * under test states its own acceptance criteria), else the baseline's.
 */
export function chooseGates(
  records: RunRecord[],
  given: string[] | undefined,
): { texts: string[]; source: string } {
  if (given && given.length > 0) return { texts: given, source: '--gate' };
  const fromCandidates = [...new Set(records.slice(1).flatMap((r) => scenarioGates(r)))];
  if (fromCandidates.length) return { texts: fromCandidates, source: 'the scenario (compare.gates)' };
  return { texts: scenarioGates(records[0] ?? {}), source: 'the baseline scenario (compare.gates)' };
}

/** Evaluates gates and classifies every step over loaded runs (the first is the baseline). */
export function compareLoaded(runs: RunData[], options: CompareOptions = {}): CompareResult {
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const { texts, source } = chooseGates(
    runs.map((r) => r.record),
    options.gates,
  );
  const gates = evaluateGates(runs, parseGates(texts, source), {
    steps: options.steps,
    alpha,
    allowDifferentScenarios: options.allowDifferentScenarios,
  });
  return buildCompareResult(runs, gates, alpha);
}

/** Loads runs and compares them. */
export async function compareStored(
  reader: RunReader,
  records: RunRecord[],
  options: CompareOptions = {},
): Promise<{ result: CompareResult; runs: RunData[] }> {
  const runs = await loadStored(reader, records);
  return { result: compareLoaded(runs, options), runs };
}

/** Options of trends. */
export interface TrendsOptions extends TemplateOptions {
  /**
   * `<metric>:<aggregation>` texts; each must match data in some run. When absent or empty,
   * DEFAULT_TREND_METRICS, shown only where the runs have them.
   */
  metrics?: string[];
  /** Writes each run's report and returns its link (relative to the trends page), or undefined to skip. */
  runReport?: (data: RunData) => Promise<string | undefined>;
  now?: Date;
}

/** Builds the trends page over `records` (oldest first), loading one run at a time. */
export async function renderTrends(
  reader: RunReader,
  scenario: string,
  records: RunRecord[],
  options: TrendsOptions,
): Promise<{ html: string; model: TrendsModel }> {
  const given = options.metrics ?? [];
  const metrics: TrendMetric[] = (given.length ? given : DEFAULT_TREND_METRICS).map(parseTrendMetric);
  const inventory = new TrendInventory();
  const points = [];
  for (const record of records) {
    const needSeries = options.runReport !== undefined || metrics.some((m) => m.metric.kind === 'series');
    const data = await loadRunData(reader, record, { series: needSeries });
    inventory.add(data);
    const link = options.runReport ? await options.runReport(data) : undefined;
    points.push(trendPoint(data, metrics, link));
  }
  if (given.length) checkTrendMetrics(metrics, points, inventory);
  const model = buildTrendsModel(scenario, points, metrics, options.now);
  return { html: renderTemplate('trends', model, options), model };
}

/** Writes a text file, creating its directory; returns the absolute path. */
export async function writeOutput(path: string, text: string): Promise<string> {
  const abs = await prepareOutputFile(path);
  try {
    await writeFile(abs, text);
  } catch (err) {
    throw new RuntimeFailure(`cannot write ${abs}: ${errorMessage(err)}`, { cause: err });
  }
  return abs;
}
