/**
 * run.json: everything about a run except its samples. Written at the start (status
 * `running`) and rewritten at the end, so an interrupted run still has a record.
 */
export type RunStatus = 'running' | 'passed' | 'failed' | 'interrupted' | 'error';

export interface DurationStats {
  count: number;
  min: number;
  mean: number;
  median: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  stddev: number;
}

export interface SlaResult {
  criterion: string;
  success: boolean;
  detail: string;
  /** What kind of check: a Rally SLA criterion (the default), a k6-style threshold, or an early stop (max_failures). */
  kind?: 'sla' | 'threshold' | 'stop';
  /** The measured value, in the metric's base unit (ms, %, /s), when there was one. */
  value?: number;
}

/** One run of a setup/teardown action or of a hook. */
export interface HookRecord {
  name: string;
  phase: 'setup' | 'teardown' | 'hook';
  /** What fired a hook: "iteration 50", "time 5s". */
  trigger?: string;
  startedAt: string;
  /** Start in epoch nanoseconds, as a decimal string. */
  startNs: string;
  /** Hooks: ms after the step's workload started. */
  offsetMs?: number;
  durationMs: number;
  ok: boolean;
  exitCode?: number | null;
  /** The last lines of stdout and stderr. */
  output: string;
  error?: string;
  /** A background action (kept running for its scope). */
  background?: boolean;
  /** The agent that ran it, for a `command:` action (one record per agent); absent for `exec:`. */
  host?: string;
}

/** Per atomic action: stats of its successful executions (null fields when none succeeded), and its failures. */
export type ActionStats = DurationStats & { failures: number };

export interface StepRecord {
  name: string;
  /** ISO timestamps, and the same instants in epoch nanoseconds (as decimal strings) for exact series alignment. */
  startedAt: string;
  endedAt?: string;
  startNs: string;
  endNs?: string;
  workload: string;
  runner: string;
  iterations: number;
  failures: number;
  /** Durations in milliseconds, of successful iterations. */
  duration?: DurationStats;
  sla: SlaResult[];
  /** Distinct error texts with their counts, most frequent first. */
  errors: { message: string; count: number }[];
  interrupted?: boolean;
  /** Per atomic action, by name. */
  actions?: Record<string, ActionStats>;
  /** Warmup iterations run before the measured ones (not in iterations, failures or statistics). */
  warmup?: number;
  /** Iterations cut short by a stop (Ctrl-C, abort, graceful stop over): recorded, left out of statistics. */
  interruptedIterations?: number;
  /** Rate runner: scheduled starts that could not start (max_concurrency in flight). */
  missed?: number;
  /** Measured iterations per second over the measured window. */
  throughput?: number;
  /** Why the step stopped before its runner was done (max_failures, an abort_on_fail threshold). */
  stoppedEarly?: string;
  /** Set when an abort_on_fail threshold failed: the run stops after this step. */
  aborted?: string;
  /** Results of the step's setup, teardown and hooks, in start order. */
  hooks?: HookRecord[];
}

export interface AgentRecord {
  name: string;
  host: string;
  labels: Record<string, string>;
  version: string;
  /** Agent clock minus runner clock, in milliseconds, measured at the handshake. */
  clockOffsetMs: number;
  /** When the agent went offline and did not come back before the run ended. */
  lost?: string;
  /** Every time the agent was offline during the run (a broker restart, a network cut), with when it came back. */
  outages?: { from: string; to?: string }[];
}

export interface StreamRecord {
  stream: string;
  tracer: string;
  agent: string;
  /** The step this stream belongs to, or null for a run-level tracer. */
  step: string | null;
  samples: number;
  batches: number;
  /** The agent's stop marker arrived and its count matched what was received. */
  complete: boolean;
  error?: string;
}

export interface DataAccounting {
  /** Samples the tracers and workload produced (as reported by their stop markers, plus iterations). */
  produced: number;
  /** Samples durably written to the store. */
  written: number;
  /** Samples waiting in a spool to be pushed to the store. */
  spooled: number;
  /** produced − written − spooled: 0 unless something went wrong, and then the summary says so. */
  lost: number;
}

export interface RunRecord {
  format: 1;
  id: string;
  status: RunStatus;
  exitCode: number;
  scenario: {
    name: string;
    file: string;
    /** The YAML as given. */
    source: string;
    /** After args were rendered into it. */
    rendered: unknown;
    args: Record<string, unknown>;
  };
  startedAt: string;
  endedAt?: string;
  scalpelsVersion: string;
  host: string;
  agents: AgentRecord[];
  steps: StepRecord[];
  streams: StreamRecord[];
  data: DataAccounting;
  tags: string[];
  /** The failure that ended the run, in one sentence. */
  error?: string;
  /** Results of the scenario's setup and teardown actions. */
  hooks?: HookRecord[];
  /**
   * `run --compare-to`: the comparison with the baseline and its gates, the object
   * `scalpels compare --json` prints. A failed gate makes a passed run `failed` (exit 1).
   */
  comparison?: RunComparison;
  /** Every time the runner lost its broker connection during the run (a broker restart), and when it was back. */
  brokerOutages?: BrokerOutage[];
}

/** What the store needs to know of a comparison; the rest is the report's business. */
export interface RunComparison {
  baseline: string;
  passed: boolean;
  failed: number;
  gates: unknown[];
}

export interface BrokerOutage {
  from: string;
  /** Absent when the connection was still down at the end of the run. */
  to?: string;
  durationMs?: number;
}
