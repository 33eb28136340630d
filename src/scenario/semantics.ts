/**
 * Checks a scenario after its schema passed: what JSON Schema cannot say (a threshold's
 * metric exists for its step, a rate runner has an end, a hook's iteration is a whole
 * number, a gate parses). Every issue is placed at its line and column, like schema errors.
 */
import { dirname } from 'node:path';
import { parseDuration } from '../core/duration.js';
import { type MetricRef, MetricSyntaxError, parseGate, parseMetric, parseThreshold } from '../core/metric.js';
import { COMMAND_TIMEOUT_MS, INTERVAL_MS } from '../protocol/schema.js';
import type { LoadOptions } from './load.js';
import {
  aggregationIssue,
  type MetricCatalog,
  type MetricLookups,
  metricIssue,
  type ResolvedSeries,
  resolveSeries,
  stepMetricCatalog,
} from './metrics.js';
import type { PathSegment, ScenarioIssue, ScenarioSource } from './source.js';
import {
  type ActionSpec,
  type HookSpec,
  isAgentAction,
  type Scenario,
  type StepSpec,
  type TracerUse,
} from './types.js';

function lookupsOf(options: LoadOptions): MetricLookups {
  return {
    measurements: (name) => options.tracers.measurements?.(name),
    actions: (name, params) => options.workloads.actions?.(name, params) ?? [],
  };
}

export function checkSemantics(
  source: ScenarioSource,
  scenario: Scenario,
  options: LoadOptions,
): ScenarioIssue[] {
  const issues: ScenarioIssue[] = [];
  const at = (path: PathSegment[], message: string, key = false) =>
    issues.push(source.issue(path, message, { key }));
  const lookups = lookupsOf(options);
  const baseDir = dirname(source.file);
  const catalogs: MetricCatalog[] = [];

  checkTracers(scenario.tracers, ['tracers'], at);
  scenario.steps.forEach((step, i) => {
    const here: PathSegment[] = ['steps', i];
    checkTracers(step.tracers, [...here, 'tracers'], at);
    for (const p of options.workloads.check?.(step.workload.use, step.workload.with ?? {}, { baseDir }) ??
      []) {
      at([...here, 'workload', 'with', ...p.path], p.message);
    }
    checkRunner(step, here, at);
    for (const [h, hook] of (step.hooks ?? []).entries()) {
      checkHook(hook, [...here, 'hooks', h], at);
      checkAction(hook.action, [...here, 'hooks', h, 'action'], at);
    }
    for (const list of ['setup', 'teardown'] as const)
      for (const [a, action] of (step[list] ?? []).entries()) checkAction(action, [...here, list, a], at);
    const catalog = stepMetricCatalog(scenario.tracers, step, lookups);
    catalogs.push(catalog);
    for (const [metricText, list] of Object.entries(step.thresholds ?? {})) {
      const path = [...here, 'thresholds', metricText];
      let metric: MetricRef;
      try {
        metric = parseMetric(metricText);
      } catch (err) {
        at(path, (err as Error).message, true);
        continue;
      }
      const problem = metricIssue(metric, catalog);
      if (problem) {
        at(path, `threshold on "${metricText}": ${problem}`, true);
        continue;
      }
      // Resolved, so that an aggregation can depend on the field's counter kind (rate on a level).
      const series =
        metric.kind === 'series' ? (resolveSeries(metric, catalog) as ResolvedSeries) : undefined;
      list.forEach((item, j) => {
        const text = typeof item === 'string' ? item : item.threshold;
        const itemPath = typeof item === 'string' ? [...path, j] : [...path, j, 'threshold'];
        try {
          const t = parseThreshold(text);
          const aggProblem = aggregationIssue(metric, t.aggregation, series);
          if (aggProblem) at(itemPath, aggProblem);
        } catch (err) {
          if (err instanceof MetricSyntaxError) at(itemPath, err.message);
          else throw err;
        }
      });
    }
    const perAtomic = step.sla?.max_avg_duration_per_atomic;
    for (const action of Object.keys(perAtomic ?? {})) {
      const problem = metricIssue({ kind: 'action', action, tags: {}, text: `action.${action}` }, catalog);
      if (problem) at([...here, 'sla', 'max_avg_duration_per_atomic', action], problem, true);
    }
  });

  for (const list of ['setup', 'teardown'] as const)
    for (const [a, action] of (scenario[list] ?? []).entries()) checkAction(action, [list, a], at);

  for (const [g, gate] of (scenario.compare?.gates ?? []).entries()) {
    const path: PathSegment[] = ['compare', 'gates', g];
    try {
      const parsed = parseGate(gate);
      const aggProblem = aggregationIssue(parsed.metric, parsed.aggregation);
      if (aggProblem) {
        at(path, `gate "${gate}": ${aggProblem}`);
        continue;
      }
      // A gate compares a metric of the scenario's steps: some step must produce it.
      const problems = catalogs.map((c) => metricIssue(parsed.metric, c));
      if (problems.length > 0 && problems.every((p) => p !== undefined)) {
        at(path, `gate "${gate}": ${problems[0]}`);
        continue;
      }
      // And where it is a tracer field, the aggregation must fit its kind (rate on a level).
      const metric = parsed.metric;
      if (metric.kind === 'series') {
        const resolved = catalogs.map((c) => resolveSeries(metric, c)).filter((r) => typeof r !== 'string');
        const issue = resolved
          .map((r) => aggregationIssue(metric, parsed.aggregation, r))
          .find((i) => i !== undefined);
        if (issue) at(path, `gate "${gate}": ${issue}`);
      }
    } catch (err) {
      if (err instanceof MetricSyntaxError) at(path, err.message);
      else throw err;
    }
  }
  return issues.sort((a, b) => a.line - b.line || a.col - b.col);
}

type At = (path: PathSegment[], message: string, key?: boolean) => void;

function checkRunner(step: StepSpec, here: PathSegment[], at: At): void {
  const r = step.runner;
  if (!r) return;
  const path = [...here, 'runner'];
  if (r.type === 'rate' && r.times === undefined && r.duration === undefined) {
    at(path, 'a rate runner needs times or duration (or both: whichever comes first ends the step)');
  }
  if (r.type === 'rate' && typeof r.rps === 'object' && r.rps.start === 0 && r.rps.end === 0) {
    at([...path, 'rps'], 'a ramp from 0 to 0 starts no iteration');
  }
  const times =
    r.type === 'serial'
      ? (r.times ?? 1)
      : r.type === 'constant'
        ? r.times
        : r.type === 'rate'
          ? r.times
          : undefined;
  if (r.warmup !== undefined && times !== undefined && r.warmup >= times) {
    at(
      [...path, 'warmup'],
      `warmup ${r.warmup} leaves no measured iteration of ${times}: warmup iterations count within times`,
    );
  }
}

/**
 * A duration the protocol bounds: outside them an agent would refuse the request, so the
 * scenario is refused first, at its line.
 */
function checkBounds(
  value: string | number | undefined,
  bounds: { minimum: number; maximum: number },
  path: PathSegment[],
  at: At,
): void {
  const ms = parseDurationSafe(value);
  if (ms === undefined) return; // absent, or a malformed duration the schema reports
  if (ms < bounds.minimum) at(path, `must be at least ${asWritten(bounds.minimum)}`);
  else if (ms > bounds.maximum) at(path, `must be at most ${asWritten(bounds.maximum)}`);
}

/** A bound as a scenario would write it: 10ms, 24h. */
function asWritten(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function checkTracers(list: readonly TracerUse[] | undefined, path: PathSegment[], at: At): void {
  for (const [i, use] of (list ?? []).entries())
    checkBounds(use.interval, INTERVAL_MS, [...path, i, 'interval'], at);
}

/**
 * Keys that belong to one kind of action. A `command` runs what the agent's catalog entry
 * says — its argv, env and cwd live on the agent, so the scenario cannot set them — and
 * `on:` only means something for an action on agents.
 */
const EXEC_ONLY = ['env', 'cwd', 'background', 'ready'] as const;

function checkAction(action: ActionSpec, path: PathSegment[], at: At): void {
  if (isAgentAction(action)) {
    checkBounds(action.timeout, COMMAND_TIMEOUT_MS, [...path, 'timeout'], at);
    for (const key of EXEC_ONLY) {
      if (key in action)
        at(
          [...path, key],
          `"${key}" is for exec actions; a command runs as its entry in the agent's catalog says`,
          true,
        );
    }
  } else if ('on' in action) {
    at([...path, 'on'], '"on" selects agents for a command action; exec runs on the runner\'s node', true);
  }
}

function checkHook(hook: HookSpec, path: PathSegment[], at: At): void {
  const trigger = hook.trigger as Record<
    string,
    { unit: string; at?: unknown[]; step?: unknown; start?: unknown; end?: unknown }
  >;
  const kind = 'event' in trigger ? 'event' : 'periodic';
  const t = trigger[kind];
  const base = [...path, 'trigger', kind];
  const check = (value: unknown, p: PathSegment[], allowZero: boolean) => {
    if (t.unit === 'iteration') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
        at(
          p,
          `expected an iteration number (a whole number${allowZero ? '' : ' from 1'}), got ${JSON.stringify(value)}`,
        );
      }
    } else {
      try {
        parseDuration(value as string | number);
      } catch (err) {
        at(p, (err as Error).message);
      }
    }
  };
  if (kind === 'event') {
    for (const [i, v] of (t.at ?? []).entries()) check(v, [...base, 'at', i], t.unit === 'time');
  } else {
    check(t.step, [...base, 'step'], false);
    if (t.unit === 'time' && parseDurationSafe(t.step) === 0)
      at([...base, 'step'], 'a periodic step must be longer than 0');
    if (t.start !== undefined) check(t.start, [...base, 'start'], true);
    if (t.end !== undefined) check(t.end, [...base, 'end'], true);
  }
}

function parseDurationSafe(v: unknown): number | undefined {
  try {
    return parseDuration(v as string | number);
  } catch {
    return undefined;
  }
}
