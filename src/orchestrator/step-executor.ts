import { setMaxListeners } from 'node:events';
import { dirname } from 'node:path';
import { formatDuration, parseDuration } from '../core/duration.js';
import { errorMessage, RuntimeFailure } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { checkParams } from '../core/params.js';
import { elapsedMs, nowNs, perfToNs } from '../core/sample.js';
import { durationStats } from '../report/stats.js';
import { type MetricLookups, stepMetricCatalog } from '../scenario/metrics.js';
import type { LoadedScenario, RunnerSpec, StepSpec } from '../scenario/types.js';
import type { ActionStats, SlaResult, StepRecord } from '../store/run-record.js';
import type { SampleSink } from '../store/store.js';
import { tracerRegistry } from '../tracers/index.js';
import { workloadRegistry } from '../workloads/index.js';
import { runnerPolicy } from '../workloads/runners/index.js';
import type { IterationOutcome, Workload } from '../workloads/types.js';
import { ActionScope, type AgentCommands, type HookEnv, HookSchedule } from './hooks.js';
import type { RunObserver } from './observer.js';
import { evaluateSla } from './sla.js';
import { StepPoints } from './step-points.js';
import {
  compileThresholds,
  evaluateThresholds,
  type SeriesSource,
  type SeriesTap,
  type SeriesWatch,
  type WorkloadData,
} from './thresholds.js';

export interface StepContext {
  loaded: LoadedScenario;
  runId: string;
  sink: SampleSink;
  log: Logger;
  observer: RunObserver;
  /** Aborted on Ctrl-C: start nothing new, kill what runs. */
  signal: AbortSignal;
  /** The tap on the collector's samples: thresholds on tracer metrics read their values from it. */
  tap?: SeriesTap;
  /**
   * Stops the step's tracers and waits for their last samples. Called before thresholds on
   * tracer metrics are evaluated, so they see the whole step; calling it again is harmless.
   */
  drainTracers?: () => Promise<void>;
  /**
   * Asks the run's tracers for a sample now. Called just after the step starts and just
   * before it ends, so run-level tracers have samples inside even a very short step.
   */
  markTracers?: () => Promise<void>;
  /** Runs the step's `command:` actions on agents (see agent-commands.ts). */
  agents?: AgentCommands;
  /** How to look up tracer measurements and workload actions (default: the built-in catalogs). */
  lookups?: MetricLookups;
}

const DEFAULT_RUNNER: RunnerSpec = { type: 'serial', times: 1 };
/** How often abort_on_fail thresholds are checked while the step runs (k6 checks every 2 s). */
const ABORT_CHECK_MS = 1000;
/** The longest wait, after a step, for run-level tracers' samples of its last moments. */
const SETTLE_MS = 3000;

/** The built-in catalogs: tracer manifests and workload definitions of this package. */
export const builtinLookups: MetricLookups = {
  measurements: (name) => tracerRegistry.get(name)?.manifest.measurements,
  actions: (name, params) => {
    const def = workloadRegistry.get(name);
    return def?.actions ? def.actions(params as never) : [];
  },
};

const EMPTY_STATS = {
  count: 0,
  min: Number.NaN,
  mean: Number.NaN,
  median: Number.NaN,
  p90: Number.NaN,
  p95: Number.NaN,
  p99: Number.NaN,
  max: Number.NaN,
  stddev: Number.NaN,
};

/**
 * Runs one step: setup, then the workload under its runner policy with hooks and
 * abort_on_fail thresholds watching, then SLA and thresholds, then teardown — which runs
 * whatever happened before it. Every iteration and atomic action is recorded as a point
 * (measurements `iteration` and `action`), so statistics and reports need nothing but the
 * store. Warmup iterations are recorded (field warmup=true) but left out of every statistic.
 */
export async function executeStep(step: StepSpec, index: number, ctx: StepContext): Promise<StepRecord> {
  const definition = workloadRegistry.get(step.workload.use)!;
  const checked = checkParams(definition.params, step.workload.with);
  if (!checked.ok) throw new Error(`step ${step.name}: workload params became invalid after defaults`);
  const baseDir = dirname(ctx.loaded.file);
  const runner = step.runner ?? DEFAULT_RUNNER;
  const policy = runnerPolicy(runner.type);
  const warmup = runner.warmup ?? 0;
  const maxFailures = runner.max_failures;
  const timeoutMs = runner.timeout !== undefined ? parseDuration(runner.timeout) : undefined;
  const tags = { run: ctx.runId, scenario: ctx.loaded.scenario.name, step: step.name };
  const env: HookEnv = {
    runId: ctx.runId,
    scenario: ctx.loaded.scenario.name,
    step: step.name,
    sink: ctx.sink,
    log: ctx.log,
    observer: ctx.observer,
    baseDir,
    agents: ctx.agents,
  };
  const catalog = stepMetricCatalog(ctx.loaded.scenario.tracers, step, ctx.lookups ?? builtinLookups);
  const thresholds = compileThresholds(step.thresholds, catalog);
  const seriesRefs = thresholds.flatMap((t) => (t.series ? [t.series] : []));

  const started = nowNs();
  const record: StepRecord = {
    name: step.name,
    startedAt: new Date().toISOString(),
    startNs: started.toString(),
    workload: step.workload.use,
    runner: policy.describe(runner as never),
    iterations: 0,
    failures: 0,
    sla: [],
    errors: [],
  };
  ctx.sink.write([
    {
      measurement: 'step',
      tags: { ...tags, phase: 'start' },
      fields: { index: BigInt(index) },
      time: started,
    },
  ]);

  await ctx.markTracers?.();

  // stop: start nothing new (max_failures, abort_on_fail). cancel: abort the iterations in flight too.
  const stop = new AbortController();
  const cancel = new AbortController();
  const startSignal = AbortSignal.any([ctx.signal, stop.signal]);
  const inFlightSignal = AbortSignal.any([ctx.signal, cancel.signal]);
  // Every iteration in flight listens on these (a per-iteration timeout, an HTTP request):
  // with a concurrency above 10, Node's leak warning would be a false alarm.
  setMaxListeners(0, startSignal, inFlightSignal);
  const scope = new ActionScope(env);
  const hooks = new HookSchedule(step.hooks, env, ctx.signal);

  const data: WorkloadData = {
    durations: [],
    iterations: 0,
    failures: 0,
    completions: [],
    windowMs: 0,
    actions: new Map(),
  };
  /** Per action, its durations within successful iterations (Rally's per-atomic SLA). */
  const atomicOk = new Map<string, number[]>();
  const errors = new Map<string, number>();
  let maxAnyDurationMs: number | undefined;
  let measuredStart: number | undefined;
  let workloadStart = 0;
  let nextIteration = 0;
  let done = 0;
  let allFailures = 0;
  let warmupDone = 0;
  let interrupted = 0;
  let missed = 0;
  let workload: Workload | undefined;
  let watch: SeriesWatch | undefined;
  let abortTimer: NodeJS.Timeout | undefined;
  let failure: unknown;

  const points = new StepPoints(ctx.sink, tags);

  const runIteration = async (worker: number) => {
    const n = nextIteration++;
    const warm = n < warmup;
    const signal =
      timeoutMs === undefined
        ? inFlightSignal
        : AbortSignal.any([inFlightSignal, AbortSignal.timeout(timeoutMs)]);
    const t0 = performance.now();
    hooks.onIteration(n + 1);
    if (!warm && measuredStart === undefined) measuredStart = t0;
    let outcome: IterationOutcome;
    try {
      outcome = await workload!.iterate({ iteration: n, worker, signal });
    } catch (err) {
      outcome = { ok: false, error: errorMessage(err) };
    }
    const end = performance.now();
    const durationMs = elapsedMs(t0, end);
    // Cut short by a stop, not failed by the system: recorded, but in no statistic.
    const cut = !outcome.ok && inFlightSignal.aborted;
    if (!outcome.ok && !cut && timeoutMs !== undefined && signal.aborted) {
      outcome = { ...outcome, ok: false, error: `timed out after ${formatDuration(timeoutMs)}` };
    }
    done++;
    points.iteration(
      worker,
      {
        iteration: n,
        durationMs,
        ok: outcome.ok,
        fields: outcome.fields,
        warmup: warm,
        interrupted: cut,
        error: outcome.ok ? undefined : (outcome.error ?? 'failed'),
      },
      t0,
    );
    // Not `outcome.actions ?? []`: an array and an iterator per iteration for a workload without actions.
    const actions = outcome.actions;
    if (actions)
      for (const a of actions) {
        const facts = {
          iteration: n,
          durationMs: a.durationMs,
          ok: a.ok,
          fields: a.fields,
          warmup: warm,
          error: a.ok ? undefined : (a.error ?? 'failed'),
        };
        points.action(worker, a.name, facts, a.startNs ?? perfToNs(t0));
      }

    if (warm) warmupDone++;
    else if (cut) interrupted++;
    else {
      data.iterations++;
      data.completions.push(end - measuredStart!);
      if (maxAnyDurationMs === undefined || durationMs > maxAnyDurationMs) maxAnyDurationMs = durationMs;
      if (outcome.ok) data.durations.push(durationMs);
      else {
        data.failures++;
        const message = outcome.error ?? 'failed';
        errors.set(message, (errors.get(message) ?? 0) + 1);
      }
      if (actions)
        for (const a of actions) {
          let stats = data.actions.get(a.name);
          if (!stats) {
            stats = { durations: [], failures: 0 };
            data.actions.set(a.name, stats);
          }
          if (a.ok) stats.durations.push(a.durationMs);
          else stats.failures++;
          if (outcome.ok) {
            let list = atomicOk.get(a.name);
            if (!list) {
              list = [];
              atomicOk.set(a.name, list);
            }
            list.push(a.durationMs);
          }
        }
    }
    if (!outcome.ok && !cut) {
      allFailures++;
      if (maxFailures !== undefined && allFailures >= maxFailures && !stop.signal.aborted) {
        record.stoppedEarly = `max_failures: ${allFailures} iterations failed (max_failures ${maxFailures})`;
        stop.abort();
      }
    }
    ctx.observer.iterationEnded?.({
      step: step.name,
      done,
      failures: allFailures,
      durationMs,
      ok: outcome.ok,
      warmup: warm,
      missed,
    });
  };

  const snapshot = (): WorkloadData => ({
    ...data,
    windowMs: measuredStart === undefined ? 0 : performance.now() - measuredStart,
  });
  const seriesOf: SeriesSource = {
    values: (ref) => watch?.values(ref) ?? [],
    windowMs: () => watch?.windowMs() ?? 0,
  };
  const abortable = thresholds.filter((t) => t.abortOnFail);
  const checkAbort = () => {
    const elapsed = performance.now() - workloadStart;
    const due = abortable.filter((t) => elapsed >= t.delayMs);
    if (due.length === 0 || stop.signal.aborted) return;
    // A threshold with no data yet is not a failure while the step runs.
    const failed = evaluateThresholds(due, snapshot(), seriesOf).find(
      (r) => !r.success && r.value !== undefined,
    );
    if (!failed) return;
    record.aborted = `${failed.criterion} failed after ${formatDuration(elapsed)} (${failed.detail})`;
    record.stoppedEarly = `abort_on_fail: ${record.aborted}`;
    stop.abort();
    cancel.abort();
  };

  try {
    await scope.setup(step.setup, ctx.signal);
    if (ctx.signal.aborted) throw new RuntimeFailure('interrupted during setup');
    workload = definition.create(checked.value as never, {
      log: ctx.log,
      args: ctx.loaded.args,
      baseDir,
      concurrency: policy.concurrency(runner as never),
    });
    try {
      await workload.init?.();
    } catch (err) {
      throw new RuntimeFailure(`step ${step.name}: ${errorMessage(err)}`);
    }
    // Only thresholds on tracer metrics need the tap (and the wait for the last samples).
    if (seriesRefs.length > 0) watch = ctx.tap?.watch(step.name, seriesRefs, nowNs());
    ctx.observer.stepStarted?.({
      name: step.name,
      index,
      planned: policy.planned(runner as never),
      durationMs: policy.plannedDurationMs?.(runner as never),
      runner: record.runner,
    });
    workloadStart = performance.now();
    hooks.start();
    if (abortable.length > 0) abortTimer = setInterval(checkAbort, ABORT_CHECK_MS);
    await policy.run(runner as never, {
      runIteration,
      signal: startSignal,
      missed: (count) => {
        missed += count;
      },
      cancelInFlight: (reason) => {
        record.stoppedEarly ??= reason;
        cancel.abort();
      },
    });
  } catch (err) {
    failure = err;
  } finally {
    clearInterval(abortTimer);
    await hooks.stop();
    await workload
      ?.close?.()
      .catch((err) =>
        ctx.log.warn(`step ${step.name}: closing the workload failed`, { error: errorMessage(err) }),
      );
  }

  points.flush();
  await ctx.markTracers?.();
  const ended = nowNs();
  const endPerf = performance.now();
  ctx.sink.write([
    { measurement: 'step', tags: { ...tags, phase: 'end' }, fields: { index: BigInt(index) }, time: ended },
  ]);
  record.endedAt = new Date().toISOString();
  record.endNs = ended.toString();
  data.windowMs = measuredStart === undefined ? 0 : endPerf - measuredStart;
  record.iterations = data.iterations;
  record.failures = data.failures;
  record.duration = durationStats(data.durations);
  record.errors = [...errors]
    .map(([message, count]) => ({ message, count }))
    .sort((a, b) => b.count - a.count);
  if (warmupDone > 0) record.warmup = warmupDone;
  if (interrupted > 0) record.interruptedIterations = interrupted;
  if (runner.type === 'rate') record.missed = missed;
  if (data.windowMs > 0) record.throughput = data.iterations / (data.windowMs / 1000);
  if (data.actions.size > 0) record.actions = actionStats(data.actions);

  try {
    if (failure === undefined && ctx.signal.aborted) record.interrupted = true;
    else if (failure === undefined) {
      if (watch) {
        watch.toNs = ended;
        await ctx.drainTracers?.();
        await ctx.tap?.settle(ended, SETTLE_MS);
      }
      record.sla = [
        ...evaluateSla(step.sla, {
          iterations: data.iterations,
          failures: data.failures,
          duration: record.duration,
          successDurations: data.durations,
          maxAnyDurationMs,
          atomic: atomicOk,
        }),
        ...evaluateThresholds(thresholds, data, seriesOf),
        ...stopResults(record),
      ];
    }
  } finally {
    await scope.teardown(step.teardown);
    if (watch) ctx.tap?.unwatch(watch);
    const hookRecords = [...scope.records, ...hooks.records].sort((a, b) =>
      BigInt(a.startNs) < BigInt(b.startNs) ? -1 : 1,
    );
    if (hookRecords.length > 0) record.hooks = hookRecords;
  }
  if (failure !== undefined) throw failure;
  ctx.observer.stepEnded?.(record);
  return record;
}

/** An early stop is a failed check of its own, so the step fails with its reason named. */
function stopResults(record: StepRecord): SlaResult[] {
  if (record.aborted)
    return [
      {
        criterion: 'abort_on_fail',
        success: false,
        detail: `${record.aborted}; the run stops`,
        kind: 'stop',
      },
    ];
  if (record.stoppedEarly?.startsWith('max_failures'))
    return [{ criterion: 'max_failures', success: false, detail: record.stoppedEarly, kind: 'stop' }];
  return [];
}

function actionStats(actions: WorkloadData['actions']): Record<string, ActionStats> {
  const out: Record<string, ActionStats> = {};
  for (const [name, a] of actions)
    out[name] = { ...(durationStats(a.durations) ?? EMPTY_STATS), failures: a.failures };
  return out;
}
