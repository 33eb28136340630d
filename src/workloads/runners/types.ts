/**
 * A runner policy decides when iterations start (how many, how many at once); the step
 * executor does the rest (numbering, timing, recording). Policies are core, not plugins:
 * `runner: { type: constant, times: 10, concurrency: 2 }`.
 */
export interface RunnerContext {
  /** Runs one iteration on the given worker slot and resolves when it ends (never rejects). */
  runIteration(worker: number): Promise<void>;
  /** Aborted on Ctrl-C or an early stop: start nothing new. */
  signal: AbortSignal;
}

export interface RunnerPolicy<S = Record<string, unknown>> {
  type: string;
  /** How many iterations the policy will start, when known in advance (for progress). */
  planned(spec: S): number | undefined;
  /** One line for the summary, e.g. "constant ×20, concurrency 2". */
  describe(spec: S): string;
  run(spec: S, ctx: RunnerContext): Promise<void>;
}
