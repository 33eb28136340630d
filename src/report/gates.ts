/**
 * Comparison gates (`--gate`, `compare.gates`): a metric of DESIGN.md §9, an aggregation and a
 * tolerance. A gate fails only when the change is beyond the tolerance in the gate's direction
 * and, for distributions (iteration and action durations under avg, min, med, max or p(N)),
 * the Mann-Whitney test finds the candidate's values significantly on that side too.
 *
 * Gates are a CI check, so what cannot be judged never counts as passed: a step the candidate
 * lost is a failed check, a candidate that did not finish cannot pass (see gateProblems), and
 * gates that evaluate nothing, an unfinished baseline or runs of different scenarios are
 * invalid input.
 */
import { seriesCount } from '../core/counters.js';
import { InputError } from '../core/errors.js';
import { type Gate, MetricSyntaxError, parseGate } from '../core/metric.js';
import { aggregationIssue } from '../scenario/metrics.js';
import type { RunStatus } from '../store/run-record.js';
import { DEFAULT_ALPHA, matchSteps, relativeChangePct } from './compare.js';
import { resolveStoredSeries } from './counter-kinds.js';
import type { RunData } from './run-data.js';
import { fieldValues } from './series.js';
import { aggregate, mannWhitneyU } from './stats.js';

/** The outcome of one gate on one step of one candidate run. */
export interface GateResult {
  gate: string;
  step: string;
  baselineRun: string;
  candidateRun: string;
  status: 'pass' | 'fail' | 'skipped';
  baseline?: number;
  candidate?: number;
  /** In percent for relative gates, in the metric's unit otherwise. */
  change?: number;
  /** The unit of baseline and candidate: ms for durations, % for failure_rate, /s for rate. */
  unit: string;
  /** Mann-Whitney p-value, for distributions. */
  pValue?: number;
  /** One sentence: why it passed, failed or was skipped. */
  reason: string;
}

/** Gate evaluation settings. */
export interface GateOptions {
  /** Only these steps (all matched steps when absent or empty). */
  steps?: string[];
  alpha?: number;
  /** Compare runs of different scenarios by step name (refused by default: usually a wrong run id). */
  allowDifferentScenarios?: boolean;
}

/** Statuses of a run whose steps all ran: it passed, or failed an SLA or threshold. */
const FINISHED: ReadonlySet<RunStatus> = new Set<RunStatus>(['passed', 'failed']);

/** Whether a run finished (not error, interrupted or still running), so that gates can judge it. */
export function runFinished(run: RunData): boolean {
  return FINISHED.has(run.record.status);
}

/** Why a comparison's gates cannot pass besides a failed check: a candidate that did not finish. */
export interface GateProblem {
  run: string;
  status: RunStatus;
  message: string;
}

/**
 * The candidates that did not finish (error, interrupted, running). Their gates cannot pass,
 * whatever their checks say: a crashed or cut-short run proves nothing about performance, and
 * in CI it must not slip through the gate (exit 1, like a failed check).
 */
export function gateProblems(runs: RunData[]): GateProblem[] {
  return runs
    .slice(1)
    .filter((r) => !runFinished(r))
    .map((r) => ({
      run: r.record.id,
      status: r.record.status,
      message: `run ${r.record.id} did not finish (status ${r.record.status}): its gates cannot pass`,
    }));
}

/** Parses gates, turning a syntax error into invalid input (exit 2) that names where the gate came from. */
export function parseGates(texts: string[], source: string): Gate[] {
  return texts.map((t) => {
    try {
      return parseGate(t);
    } catch (err) {
      if (err instanceof MetricSyntaxError) throw new InputError(`${source}: ${err.message}`);
      throw err;
    }
  });
}

/**
 * The gates a stored run's scenario declares (`compare: { gates: [...] }`), read defensively:
 * anything that is not a list of strings is ignored.
 */
export function scenarioGates(run: { scenario?: { rendered?: unknown } }): string[] {
  const rendered = run.scenario?.rendered as { compare?: { gates?: unknown } } | undefined;
  const gates = rendered && typeof rendered === 'object' ? rendered.compare?.gates : undefined;
  return Array.isArray(gates) ? gates.filter((g): g is string => typeof g === 'string') : [];
}

interface MetricValues {
  values: ArrayLike<number>;
  /** One number per step (failure_rate, rate): compared with the tolerance only. */
  single: boolean;
  windowMs: number;
  unit: string;
}

/** The values a gate's metric takes in one step of one run, or a reason there are none. */
export function metricValues(run: RunData, stepName: string, gate: Gate): MetricValues | string {
  const step = run.steps.find((s) => s.name === stepName);
  if (!step) return `run ${run.record.id} has no step ${stepName}`;
  const windowMs = Math.max(0, step.endMs - step.startMs);
  const m = gate.metric;
  const { step: onlyStep, ...tags } = m.tags;
  if (onlyStep !== undefined && onlyStep !== stepName) return `the gate is for step ${onlyStep}`;
  switch (m.kind) {
    case 'duration':
    case 'action': {
      if (Object.keys(tags).length)
        throw new InputError(`gate "${gate.text}": ${m.kind} accepts only a {step=...} filter`);
      const action = m.kind === 'action' ? m.action : undefined;
      const data =
        action === undefined ? run.iterations.get(stepName) : run.actions.get(stepName)?.get(action);
      if (!data) {
        return action === undefined
          ? `no iterations in step ${stepName} of run ${run.record.id}`
          : `no action ${action} in step ${stepName} of run ${run.record.id}`;
      }
      return { values: data.okSorted, single: false, windowMs, unit: 'ms' };
    }
    case 'failure_rate': {
      const data = run.iterations.get(stepName);
      if (!data || data.count === 0) return `no iterations in step ${stepName} of run ${run.record.id}`;
      return { values: [(data.failures / data.count) * 100], single: true, windowMs, unit: '%' };
    }
    case 'rate': {
      const data = run.iterations.get(stepName);
      if (!data || windowMs === 0) return `no iterations in step ${stepName} of run ${run.record.id}`;
      return { values: [data.count / (windowMs / 1000)], single: true, windowMs, unit: '/s' };
    }
    case 'series': {
      const agg = gate.aggregation;
      if (agg.kind === 'count' || agg.kind === 'rate') {
        // k6's Counter semantics, as thresholds: what a counter counted in the step, or that per second.
        const resolved = resolveStoredSeries(run.record, stepName, { ...m, tags });
        if (typeof resolved === 'string') return `${resolved} (run ${run.record.id}, step ${stepName})`;
        const issue = aggregationIssue(m, agg, resolved);
        if (issue) throw new InputError(`gate "${gate.text}": ${issue}`);
        if (resolved.counter) {
          const total = counterTotalOf(run, step.index, m.measurement, m.field, tags, resolved.counter);
          if (total === undefined) return `no ${m.text} samples in step ${stepName} of run ${run.record.id}`;
          if (agg.kind === 'count') return { values: [total], single: true, windowMs, unit: '' };
          if (windowMs === 0) return `step ${stepName} of run ${run.record.id} has no duration`;
          return { values: [total / (windowMs / 1000)], single: true, windowMs, unit: '/s' };
        }
      }
      const parts: Float64Array[] = [];
      for (const g of run.series) {
        if (g.measurement !== m.measurement || !g.fields.has(m.field)) continue;
        if (!Object.entries(tags).every(([k, v]) => g.tags[k] === v)) continue;
        parts.push(fieldValues(g, m.field, step.index));
      }
      const n = parts.reduce((a, p) => a + p.length, 0);
      if (n === 0) return `no ${m.text} samples in step ${stepName} of run ${run.record.id}`;
      const values = new Float64Array(n);
      let o = 0;
      for (const p of parts) {
        values.set(p, o);
        o += p.length;
      }
      return { values, single: false, windowMs, unit: '' };
    }
  }
}

/**
 * What a counter field counted in one step, summed over the run's series that match: the
 * increase of running totals (a decrease is a reset), or the sum of per-interval values.
 * Undefined when no series has a value in the step.
 */
function counterTotalOf(
  run: RunData,
  stepIndex: number,
  measurement: string,
  field: string,
  tags: Record<string, string>,
  kind: 'cumulative' | 'interval',
): number | undefined {
  let total = 0;
  let any = false;
  for (const g of run.series) {
    const col = g.fields.get(field);
    if (g.measurement !== measurement || !col) continue;
    if (!Object.entries(tags).every(([k, v]) => g.tags[k] === v)) continue;
    const t: number[] = [];
    const v: number[] = [];
    for (let i = 0; i < g.rows; i++) {
      if (g.step[i] !== stepIndex || Number.isNaN(col[i])) continue;
      t.push(g.t[i]);
      v.push(col[i]);
    }
    if (v.length === 0) continue;
    any = true;
    total += seriesCount(kind, t, v);
  }
  return any ? total : undefined;
}

const DISTRIBUTION_AGGS = new Set(['avg', 'min', 'med', 'max', 'percentile']);

/**
 * Evaluates every gate on every step the runs share (or the steps asked for), for each run
 * after the first against the first. A gate scoped to a step (`duration{step=boot}`) is
 * evaluated on that step only.
 *
 * @throws InputError when a step asked for exists in no run, the baseline did not finish, the
 *   runs are of different scenarios (unless allowed), a gate matches no data at all, or no
 *   check at all could be evaluated on a finished candidate.
 */
export function evaluateGates(runs: RunData[], gates: Gate[], options: GateOptions = {}): GateResult[] {
  if (runs.length < 2 || gates.length === 0) return [];
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const matching = matchSteps(runs);
  const wanted = options.steps?.length ? options.steps : matching.names;
  for (const s of wanted) {
    if (!matching.index.has(s)) {
      throw new InputError(
        `no step named "${s}" in the compared runs (steps: ${matching.names.join(', ') || 'none'})`,
      );
    }
  }
  const [base, ...candidates] = runs;
  checkComparable(runs, options);
  const results: GateResult[] = [];
  // Only finished candidates can make the gates invalid input: an unfinished one fails them anyway.
  const judged = (r: GateResult) => candidates.some((c) => c.record.id === r.candidateRun && runFinished(c));
  const unevaluated: string[] = [];
  for (const gate of gates) {
    const before = results.length;
    const steps = gateSteps(gate, wanted, matching.names);
    if (steps.length === 0)
      unevaluated.push(`gate "${gate.text}" is for step ${gate.metric.tags.step}, not asked for`);
    for (const cand of candidates) {
      for (const stepName of steps) {
        results.push(evaluateOne(gate, stepName, base, cand, alpha));
      }
    }
    const mine = results.slice(before).filter(judged);
    if (mine.length > 0 && mine.every((r) => r.status === 'skipped' && r.reason.startsWith('no '))) {
      throw new InputError(`gate "${gate.text}" matches no data in any compared step (${mine[0].reason})`);
    }
  }
  const mine = results.filter(judged);
  if (candidates.some(runFinished) && !mine.some((r) => r.status !== 'skipped')) {
    const why = [...new Set([...unevaluated, ...mine.map((r) => `${r.step}: ${r.reason}`)])];
    throw new InputError(`no gate check could be evaluated: ${why.join('; ') || 'no step to compare'}`);
  }
  return results;
}

/** Refuses comparisons whose gates would mean nothing: an unfinished baseline, different scenarios. */
function checkComparable(runs: RunData[], options: GateOptions): void {
  const base = runs[0];
  if (!runFinished(base)) {
    throw new InputError(
      `the baseline run ${base.record.id} did not finish (status ${base.record.status}): gates need a finished baseline`,
    );
  }
  const other = runs.filter((r) => r.record.scenario.name !== base.record.scenario.name);
  if (other.length > 0 && !options.allowDifferentScenarios) {
    const names = other.map((r) => `${r.record.id} is of ${r.record.scenario.name}`).join(', ');
    throw new InputError(
      `the runs are of different scenarios (baseline ${base.record.id} is of ${base.record.scenario.name}, ${names}): gates compare runs of one scenario; if this is intended, use scalpels compare --allow-different-scenarios`,
    );
  }
}

/** The steps a gate applies to: its {step=...} filter, else every wanted step. */
function gateSteps(gate: Gate, wanted: string[], known: string[]): string[] {
  const only = gate.metric.tags.step;
  if (only === undefined) return wanted;
  if (!known.includes(only)) {
    throw new InputError(
      `gate "${gate.text}" is for step ${only}, which no compared run has (steps: ${known.join(', ') || 'none'})`,
    );
  }
  return wanted.includes(only) ? [only] : [];
}

function evaluateOne(gate: Gate, stepName: string, base: RunData, cand: RunData, alpha: number): GateResult {
  const head = { gate: gate.text, step: stepName, baselineRun: base.record.id, candidateRun: cand.record.id };
  const inBase = base.steps.some((s) => s.name === stepName);
  const inCand = cand.steps.some((s) => s.name === stepName);
  // A step that disappeared is a regression (it crashed, or was dropped), never a skip.
  if (inBase && !inCand) {
    return {
      ...head,
      status: 'fail',
      unit: '',
      reason: `step ${stepName} is missing from run ${cand.record.id} (the baseline has it)`,
    };
  }
  if (!inBase) {
    return {
      ...head,
      status: 'skipped',
      unit: '',
      reason: `step ${stepName} is new: the baseline has no such step`,
    };
  }
  const b = metricValues(base, stepName, gate);
  const c = metricValues(cand, stepName, gate);
  if (typeof b === 'string' || typeof c === 'string') {
    return { ...head, status: 'skipped', unit: '', reason: typeof b === 'string' ? b : (c as string) };
  }
  const agg = gate.aggregation;
  const bv = b.single ? b.values[0] : aggregate(b.values, agg, b.windowMs);
  const cv = c.single ? c.values[0] : aggregate(c.values, agg, c.windowMs);
  const unit = agg.kind === 'count' ? '' : agg.kind === 'rate' ? '/s' : b.unit;
  const change = gate.relative ? relativeChangePct(bv, cv) : cv - bv;
  const limit = gate.relative
    ? `${gate.direction}${gate.tolerance}%`
    : withUnit(`${gate.direction}${gate.tolerance}`, unit);
  const shown = gate.relative ? formatChange(change, true) : withUnit(formatChange(change, false), unit);
  const beyond = gate.direction === '+' ? change > gate.tolerance : change < -gate.tolerance;
  const result: GateResult = {
    ...head,
    status: 'pass',
    baseline: bv,
    candidate: cv,
    change,
    unit,
    reason: '',
  };
  const distribution = gate.metric.kind === 'duration' || gate.metric.kind === 'action';
  if (!b.single && distribution && DISTRIBUTION_AGGS.has(agg.kind)) {
    const mwu = mannWhitneyU(b.values, c.values);
    result.pValue = mwu.pValue;
    // U counts baseline-above-candidate pairs: below its mean, the candidate tends to be higher.
    const higher = mwu.u < (mwu.n1 * mwu.n2) / 2;
    const sameSide = gate.direction === '+' ? higher : !higher;
    const significant = mwu.pValue < alpha && sameSide;
    const p = `p=${formatP(mwu.pValue)}`;
    if (beyond && significant) {
      result.status = 'fail';
      result.reason = `${agg.text} changed ${shown}, beyond ${limit}, and the change is significant (${p} < ${alpha})`;
    } else if (beyond) {
      result.reason = `${agg.text} changed ${shown}, beyond ${limit}, but not significantly (${p}, alpha ${alpha}): noise`;
    } else {
      result.reason = `${agg.text} changed ${shown}, within ${limit} (${p})`;
    }
    return result;
  }
  if (beyond) {
    result.status = 'fail';
    result.reason = `${agg.text} changed ${shown}, beyond ${limit} (one number per step: tolerance only, no significance test)`;
  } else {
    result.reason = `${agg.text} changed ${shown}, within ${limit} (one number per step: tolerance only)`;
  }
  if (b.single) result.reason = result.reason.replace(agg.text, gate.metric.kind);
  return result;
}

/** `+12.3%` or `+4.56`. */
export function formatChange(change: number, relative: boolean): string {
  if (Number.isNaN(change)) return 'n/a';
  if (!Number.isFinite(change)) return change > 0 ? '+∞%' : '−∞%';
  const digits = Math.abs(change) >= 100 ? 0 : Math.abs(change) >= 10 ? 1 : 2;
  return `${change >= 0 ? '+' : ''}${change.toFixed(digits)}${relative ? '%' : ''}`;
}

/** `+3.02 ms`, `+1.5/s`, or the number alone when there is no unit. */
function withUnit(text: string, unit: string): string {
  if (!unit || text === 'n/a') return text;
  return unit.startsWith('/') ? `${text}${unit}` : `${text} ${unit}`;
}

/** A gate's value for people: `2.00 s`, `31.2 ms`, `12.5 %`, `3.40/s`, or `–` when missing. */
export function formatGateValue(v: number | undefined, unit: string): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  if (unit === 'ms') {
    if (Math.abs(v) < 1) return `${(v * 1000).toFixed(0)} µs`;
    if (Math.abs(v) < 1000) return `${v.toFixed(Math.abs(v) < 10 ? 2 : 1)} ms`;
    return `${(v / 1000).toFixed(2)} s`;
  }
  const text = Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(3);
  return withUnit(text, unit);
}

/** A p-value in 3 significant digits, or `<1e-300`. */
export function formatP(p: number): string {
  if (Number.isNaN(p)) return 'n/a';
  if (p === 0) return '<1e-300';
  return p < 0.001 ? p.toExponential(1) : p.toPrecision(2);
}
