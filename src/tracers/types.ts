import type { Logger } from '../core/logger.js';
import type { Sample } from '../core/sample.js';
import type { TracerManifest } from './manifest.js';
import type { OperatorCatalog } from './operator-catalog.js';

/**
 * I/O a tracer needs, injected so that unit tests feed fixtures and integration tests use
 * the real /proc and real child processes.
 */
export interface TracerContext {
  /** Reads a whole text file (for /proc and /sys). */
  readFile(path: string): Promise<string>;
  /** Lists a directory's entries (for /proc). */
  readdir(path: string): Promise<string[]>;
  /** Wall clock, nanoseconds since the epoch. */
  now(): bigint;
  log: Logger;
  /**
   * The agent's local catalog of operator-defined commands, present only when the agent was
   * started with --allow-commands; undefined means the `command` tracer refuses to run.
   */
  operatorCatalog?: OperatorCatalog;
}

/** Emits samples to whoever runs the tracer (the agent batches and publishes them). */
export type Emit = (samples: Sample[]) => void;

/** One running observation: created per (run, step, tracer, agent) stream. */
export interface TracerInstance {
  /** Starts observing. Resolves once the tracer is really running: the step barrier waits on it. */
  start(emit: Emit): Promise<void>;
  /** Stops observing and emits whatever is still buffered before it resolves. */
  stop(): Promise<void>;
  /**
   * Optional: takes a sample now, off the interval. The runner asks for one at every step
   * boundary, so a run-level tracer has samples inside every step, however short the step.
   */
  sampleNow?(): Promise<void>;
}

export interface TracerOptions {
  /** Sampling interval in milliseconds. */
  intervalMs: number;
}

/** A kind of observation. One folder under src/tracers/ and one manifest under tracers/. */
export interface TracerDefinition<P = Record<string, unknown>> {
  name: string;
  /** The manifest: docs, params JSON Schema, measurements, requirements. */
  manifest: TracerManifest;
  /** Why this tracer cannot run on this node (missing binary, file, privilege), or undefined when it can. */
  unavailableReason(ctx: TracerContext): Promise<string | undefined>;
  /** Creates an instance; `params` were already validated against `manifest.params`. */
  create(params: P, options: TracerOptions, ctx: TracerContext): TracerInstance;
}
