import type { Logger } from '../core/logger.js';

/** The outcome of one iteration; the runner measures its duration around `iterate`. */
export interface IterationOutcome {
  ok: boolean;
  /** Why it failed, in one line (the last lines of stderr, the HTTP status…). */
  error?: string;
}

export interface IterationContext {
  /** 0-based iteration number within the step. */
  iteration: number;
  /** Aborted when the step is interrupted or times out: stop promptly. */
  signal: AbortSignal;
}

/** A ready-to-run workload of one step. */
export interface Workload {
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
}

/** A kind of load. One folder under src/workloads/ per definition. */
export interface WorkloadDefinition<P = Record<string, unknown>> {
  name: string;
  summary: string;
  /** JSON Schema of the `with:` block. */
  params: Record<string, unknown>;
  /** A runnable `workload:` entry, for docs and the registry test. */
  example: Record<string, unknown>;
  create(params: P, ctx: WorkloadContext): Workload;
}
