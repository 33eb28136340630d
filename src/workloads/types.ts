import type { Logger } from '../core/logger.js';
import type { FieldValue } from '../core/sample.js';

/**
 * One atomic action of an iteration (a request of an HTTP flow, a `ctx.time()` block of a
 * module): timed on its own and reported per action, as in Rally.
 */
export interface ActionOutcome {
  /** Action name; usable in thresholds as `action.<name>`. */
  name: string;
  durationMs: number;
  ok: boolean;
  error?: string;
  /** When the action started, epoch nanoseconds; the iteration's start when absent. */
  startNs?: bigint;
  /** Extra fields for the action's point (HTTP status, bytes…). */
  fields?: Record<string, FieldValue>;
}

/** The outcome of one iteration; the runner measures its duration around `iterate`. */
export interface IterationOutcome {
  ok: boolean;
  /** Why it failed, in one line (the last lines of stderr, the HTTP status…). */
  error?: string;
  /** Atomic actions, in the order they ran. */
  actions?: ActionOutcome[];
  /** Extra fields for the iteration's point (HTTP `status` and `bytes`…); integers as bigint. */
  fields?: Record<string, FieldValue>;
}

export interface IterationContext {
  /** 0-based iteration number within the step (warmup iterations included). */
  iteration: number;
  /** The runner's worker slot that runs it (0-based). */
  worker: number;
  /** Aborted when the step is interrupted, stopped early, or the iteration times out: stop promptly. */
  signal: AbortSignal;
}

/** A ready-to-run workload of one step. */
export interface Workload {
  /** Optional one-time preparation before the first iteration (a module's `setup` export). */
  init?(): Promise<void>;
  iterate(ctx: IterationContext): Promise<IterationOutcome>;
  /** Releases pools, connections, temp files. */
  close?(): Promise<void>;
}

export interface WorkloadContext {
  log: Logger;
  /** Scenario args, for workloads that pass them on (module). */
  args: Record<string, unknown>;
  /** Directory of the scenario file: relative paths in `with:` resolve from here. */
  baseDir: string;
  /** The most iterations the runner will have in flight at once: pools are sized to it. */
  concurrency: number;
}

/** A problem in a workload's `with:` block, at a path relative to it. */
export interface ParamIssue {
  path: (string | number)[];
  message: string;
}

/** A kind of load. One folder under src/workloads/ per definition. */
export interface WorkloadDefinition<P = Record<string, unknown>> {
  name: string;
  summary: string;
  /** JSON Schema of the `with:` block. */
  params: Record<string, unknown>;
  /** A runnable `workload:` entry, for docs and the registry test. */
  example: Record<string, unknown>;
  /**
   * The atomic actions the workload reports with these params: a list of names when known
   * before the run (an HTTP flow), `'any'` when only the run knows (a module's `ctx.time`).
   * Absent: no atomic actions, so a threshold on `action.<name>` is a validation error.
   */
  actions?(params: P): string[] | 'any';
  /**
   * Checks the schema cannot express (a regex that compiles, a file that exists), run at
   * load time after the schema passed, so errors point at the scenario's line and column.
   */
  check?(params: P, ctx: { baseDir: string }): ParamIssue[];
  create(params: P, ctx: WorkloadContext): Workload;
}
