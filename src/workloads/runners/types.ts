/**
 * A runner policy decides when iterations start (how many, how many at once); the step
 * executor does the rest (numbering, timing, warmup, recording, early stops). Policies are
 * core, not plugins: `runner: { type: constant, times: 10, concurrency: 2 }`.
 */
export interface RunnerContext {
  /** Runs one iteration on the given worker slot and resolves when it ends (never rejects). */
  runIteration(worker: number): Promise<void>;
  /** Aborted on Ctrl-C or an early stop (max_failures, abort_on_fail): start nothing new. */
  signal: AbortSignal;
  /** The rate runner could not start `count` scheduled iterations: max_concurrency were in flight. */
  missed(count: number): void;
  /** Aborts the iterations still running: a duration is over and so is its graceful stop. */
  cancelInFlight(reason: string): void;
}

export interface RunnerPolicy<S = Record<string, unknown>> {
  type: string;
  /** How many iterations the policy will start, when known in advance (for progress). */
  planned(spec: S): number | undefined;
  /** How long the policy runs, when it is bounded by time (for progress). */
  plannedDurationMs?(spec: S): number | undefined;
  /** The most iterations in flight at once: connection pools are sized to it. */
  concurrency(spec: S): number;
  /** One line for the summary, e.g. "constant ×20, concurrency 2". */
  describe(spec: S): string;
  run(spec: S, ctx: RunnerContext): Promise<void>;
}

/** Keys every runner accepts; the executor applies them, not the policy. */
export interface CommonRunnerKeys {
  /** The first N iterations run but are left out of statistics, SLA and thresholds. */
  warmup?: number;
  /** Stop starting iterations once this many have failed. */
  max_failures?: number;
  /** Abort an iteration that runs longer than this. */
  timeout?: string | number;
}

/** Waits `ms`, or less when `signal` aborts first. Removes its listener, as signals are long-lived. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** How long iterations still running at the end of a time-bound step may finish, as k6's gracefulStop. */
export const DEFAULT_GRACEFUL_STOP_MS = 30_000;
