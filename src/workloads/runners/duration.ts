import { formatDuration, parseDuration } from '../../core/duration.js';
import { type CommonRunnerKeys, DEFAULT_GRACEFUL_STOP_MS, type RunnerPolicy } from './types.js';

export interface DurationSpec extends CommonRunnerKeys {
  type: 'duration';
  duration: string | number;
  concurrency?: number;
  graceful_stop?: string | number;
}

/**
 * Keeps `concurrency` iterations in flight for `duration` (k6's constant-vus): each worker
 * starts its next iteration as soon as its last one ends, until the time is up. Iterations
 * still running then get `graceful_stop` to finish, and are aborted after it.
 */
export const durationRunner: RunnerPolicy<DurationSpec> = {
  type: 'duration',
  planned: () => undefined,
  plannedDurationMs: (spec) => parseDuration(spec.duration),
  concurrency: (spec) => spec.concurrency ?? 1,
  describe: (spec) =>
    `duration ${formatDuration(parseDuration(spec.duration))}, concurrency ${spec.concurrency ?? 1}`,
  async run(spec, ctx) {
    const deadline = performance.now() + parseDuration(spec.duration);
    const graceMs =
      spec.graceful_stop === undefined ? DEFAULT_GRACEFUL_STOP_MS : parseDuration(spec.graceful_stop);
    // A flag rather than signal.aborted, a getter that validates its receiver, on every iteration.
    let stopped = ctx.signal.aborted;
    const stop = () => {
      stopped = true;
    };
    ctx.signal.addEventListener('abort', stop, { once: true });
    const worker = async (slot: number) => {
      while (!stopped && performance.now() < deadline) await ctx.runIteration(slot);
    };
    const workers = Promise.all(Array.from({ length: spec.concurrency ?? 1 }, (_, i) => worker(i)));
    const timer = setTimeout(
      () => ctx.cancelInFlight(`still running ${formatDuration(graceMs)} after the step's duration`),
      Math.max(0, deadline - performance.now()) + graceMs,
    );
    try {
      await workers;
    } finally {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', stop);
    }
  },
};
