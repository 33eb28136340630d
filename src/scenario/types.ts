import type { DurationInput } from '../core/duration.js';

/** A scenario after args were rendered and the schema validated it (schemas/scenario.schema.json). */
export interface Scenario {
  version: 1;
  name: string;
  description?: string;
  args?: Record<string, unknown>;
  tracers?: TracerUse[];
  /** Run on the runner's node before the run's tracers start. */
  setup?: ActionSpec[];
  /** Run after the last step — always: after failures, aborts and Ctrl-C too. */
  teardown?: ActionSpec[];
  steps: StepSpec[];
  /** How `scalpels report`/`--gate` compare this scenario's runs (the gates' grammar is in core/metric.ts). */
  compare?: CompareSpec;
}

export interface CompareSpec {
  /** Gate strings, e.g. `duration:p(95):+10%`. */
  gates?: string[];
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

/** Keys every runner takes; the step executor applies them. */
export interface RunnerCommon {
  /** The first N iterations are run but left out of statistics, SLA and thresholds. */
  warmup?: number;
  /** Stop the step once this many iterations have failed (the step then fails). */
  max_failures?: number;
  /** Abort an iteration that runs longer than this. */
  timeout?: DurationInput;
}

/** A linear ramp of the rate runner's arrival rate. */
export interface RampSpec {
  start: number;
  end: number;
  duration: DurationInput;
}

export type RunnerSpec = RunnerCommon &
  (
    | { type: 'serial'; times?: number }
    | { type: 'constant'; times: number; concurrency?: number }
    | { type: 'duration'; duration: DurationInput; concurrency?: number; graceful_stop?: DurationInput }
    | {
        type: 'rate';
        rps: number | RampSpec;
        times?: number;
        duration?: DurationInput;
        max_concurrency?: number;
        graceful_stop?: DurationInput;
      }
  );

/** Rally's SLA criteria. Failure rates and degradation in percent; seconds as numbers, as in Rally. */
export interface SlaSpec {
  failure_rate?: { min?: number; max?: number };
  max_avg_duration?: DurationInput;
  max_seconds_per_iteration?: number;
  /** Atomic action name → the longest average allowed. */
  max_avg_duration_per_atomic?: Record<string, DurationInput>;
  outliers?: { max?: number; min_iterations?: number; sigmas?: number };
  performance_degradation?: { max_degradation: number };
}

/** One threshold: `"p(95) < 2s"`, or the long form with k6's abort options. */
export type ThresholdSpec =
  | string
  | { threshold: string; abort_on_fail?: boolean; delay_abort_eval?: DurationInput };

/** What every action takes, whichever kind it is. */
interface ActionCommon {
  /** Names the action in the record and on timelines. */
  name?: string;
  /** Kill it after this long (default 60s; for a background action: how long to wait for `ready`). */
  timeout?: DurationInput;
  /** A failure is recorded but does not stop the run. */
  ignore_errors?: boolean;
}

/** A command on the runner's node. */
export interface ExecAction extends ActionCommon {
  /** A shell command line (/bin/sh -c), or an argv run without a shell. */
  exec: string | string[];
  env?: Record<string, string>;
  /** Relative to the scenario file. */
  cwd?: string;
  /** Keep it running for the scope (the step, or the run), killed after its teardown. */
  background?: boolean;
  /** A background action is ready once this answers: `tcp://host:port` or an http(s) URL. */
  ready?: string;
}

/**
 * An entry of the selected agents' own command catalogs (an agent started with
 * --allow-commands): the scenario names the entry; its argv, env and cwd live on the agent.
 */
export interface AgentAction extends ActionCommon {
  /** The entry's name in each selected agent's catalog. */
  command: string;
  /** Which agents, as for tracers (default: every agent). */
  on?: AgentSelector;
}

/**
 * What a setup/teardown entry or a hook does: a mapping keyed by its kind, `exec` (on the
 * runner's node) or `command` (on agents).
 */
export type ActionSpec = ExecAction | AgentAction;

/** Does this action run on agents? */
export function isAgentAction(spec: ActionSpec): spec is AgentAction {
  return 'command' in spec;
}

/** Rally's triggers: at given points, or every `step` units. */
export type TriggerSpec =
  | { event: { unit: 'iteration'; at: number[] } | { unit: 'time'; at: DurationInput[] } }
  | {
      periodic:
        | { unit: 'iteration'; step: number; start?: number; end?: number }
        | { unit: 'time'; step: DurationInput; start?: DurationInput; end?: DurationInput };
    };

export interface HookSpec {
  name?: string;
  description?: string;
  trigger: TriggerSpec;
  action: ActionSpec;
}

export interface StepSpec {
  name: string;
  description?: string;
  workload: WorkloadUse;
  runner?: RunnerSpec;
  tracers?: TracerUse[];
  sla?: SlaSpec;
  /** Metric (duration, failure_rate, rate, action.<name>, <measurement>.<field>{tags}) → thresholds. */
  thresholds?: Record<string, ThresholdSpec[]>;
  setup?: ActionSpec[];
  teardown?: ActionSpec[];
  hooks?: HookSpec[];
}

/** A loaded scenario: what was given, what it became, and where it came from. */
export interface LoadedScenario {
  file: string;
  source: string;
  args: Record<string, unknown>;
  scenario: Scenario;
}
