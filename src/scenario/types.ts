import type { DurationInput } from '../core/duration.js';

/** A scenario after args were rendered and the schema validated it (schemas/scenario.schema.json). */
export interface Scenario {
  version: 1;
  name: string;
  description?: string;
  args?: Record<string, unknown>;
  tracers?: TracerUse[];
  steps: StepSpec[];
}

/** Agents a tracer runs on: a name or glob, a list of them, or labels that must all match. */
export type AgentSelector = string | string[] | Record<string, string>;

export interface TracerUse {
  use: string;
  with?: Record<string, unknown>;
  interval?: DurationInput;
  on?: AgentSelector;
}

export interface WorkloadUse {
  use: string;
  with?: Record<string, unknown>;
}

export type RunnerSpec =
  | { type: 'serial'; times?: number }
  | { type: 'constant'; times: number; concurrency?: number; timeout?: DurationInput };

export interface SlaSpec {
  failure_rate?: { min?: number; max?: number };
  max_avg_duration?: DurationInput;
  max_seconds_per_iteration?: number;
}

export interface StepSpec {
  name: string;
  description?: string;
  workload: WorkloadUse;
  runner?: RunnerSpec;
  tracers?: TracerUse[];
  sla?: SlaSpec;
}

/** A loaded scenario: what was given, what it became, and where it came from. */
export interface LoadedScenario {
  file: string;
  source: string;
  args: Record<string, unknown>;
  scenario: Scenario;
}
