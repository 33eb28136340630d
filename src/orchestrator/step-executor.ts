import { formatDuration, parseDuration } from '../core/duration.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { nowNs, type Sample } from '../core/sample.js';
import { checkParams } from '../agent/params.js';
import { durationStats } from '../report/stats.js';
import type { LoadedScenario, RunnerSpec, StepSpec } from '../scenario/types.js';
import type { StepRecord } from '../store/run-record.js';
import type { SampleSink } from '../store/store.js';
import { workloadRegistry } from '../workloads/index.js';
import { runnerPolicy } from '../workloads/runners/index.js';
import type { RunObserver } from './observer.js';
import { evaluateSla } from './sla.js';

export interface StepContext {
  loaded: LoadedScenario;
  runId: string;
  sink: SampleSink;
  log: Logger;
  observer: RunObserver;
  /** Aborted on Ctrl-C: start nothing new, kill what runs. */
  signal: AbortSignal;
}

const DEFAULT_RUNNER: RunnerSpec = { type: 'serial', times: 1 };

/**
 * Runs one step's workload under its runner policy and records every iteration as a point
 * (measurement `iteration`), so statistics and reports need nothing but the store.
 */
export async function executeStep(step: StepSpec, index: number, ctx: StepContext): Promise<StepRecord> {
  const definition = workloadRegistry.get(step.workload.use)!;
  const checked = checkParams(definition.params, step.workload.with);
  if (!checked.ok) throw new Error(`step ${step.name}: workload params became invalid after defaults`);
  const baseDir = ctx.loaded.file.includes('/') ? ctx.loaded.file.slice(0, ctx.loaded.file.lastIndexOf('/')) : '.';
  const workload = definition.create(checked.value as never, { log: ctx.log, args: ctx.loaded.args, baseDir });
  const runner = step.runner ?? DEFAULT_RUNNER;
  const policy = runnerPolicy(runner.type);
  const timeoutMs = 'timeout' in runner && runner.timeout !== undefined ? parseDuration(runner.timeout) : undefined;
  const tags = { run: ctx.runId, scenario: ctx.loaded.scenario.name, step: step.name };

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
  ctx.sink.write([{ measurement: 'step', tags: { ...tags, phase: 'start' }, fields: { index: BigInt(index) }, time: started }]);
  ctx.observer.stepStarted?.({ name: step.name, index, planned: policy.planned(runner as never), runner: record.runner });

  const durations: number[] = [];
  const errors = new Map<string, number>();
  let iteration = 0;
  const runIteration = async (worker: number) => {
    const n = iteration++;
    const signal = timeoutMs === undefined ? ctx.signal : AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
    const time = nowNs();
    const t0 = performance.now();
    let outcome: { ok: boolean; error?: string };
    try {
      outcome = await workload.iterate({ iteration: n, signal });
    } catch (err) {
      outcome = { ok: false, error: errorMessage(err) };
    }
    const durationMs = performance.now() - t0;
    if (!outcome.ok && timeoutMs !== undefined && !ctx.signal.aborted && signal.aborted) {
      outcome = { ok: false, error: `timed out after ${formatDuration(timeoutMs)}` };
    }
    record.iterations++;
    const sample: Sample = {
      measurement: 'iteration',
      tags: { ...tags, worker: String(worker) },
      fields: { duration: durationMs, ok: outcome.ok, iteration: BigInt(n) },
      time,
    };
    if (outcome.ok) durations.push(durationMs);
    else {
      record.failures++;
      const message = outcome.error ?? 'failed';
      sample.fields.error = message;
      errors.set(message, (errors.get(message) ?? 0) + 1);
    }
    ctx.sink.write([sample]);
    ctx.observer.iterationEnded?.({ step: step.name, done: record.iterations, failures: record.failures, durationMs, ok: outcome.ok });
  };

  try {
    await policy.run(runner as never, { runIteration, signal: ctx.signal });
  } finally {
    await workload.close?.();
  }
  const ended = nowNs();
  ctx.sink.write([{ measurement: 'step', tags: { ...tags, phase: 'end' }, fields: { index: BigInt(index) }, time: ended }]);
  record.endedAt = new Date().toISOString();
  record.endNs = ended.toString();
  record.duration = durationStats(durations);
  record.errors = [...errors].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count);
  if (ctx.signal.aborted) record.interrupted = true;
  else record.sla = evaluateSla(step.sla, record);
  ctx.observer.stepEnded?.(record);
  return record;
}
