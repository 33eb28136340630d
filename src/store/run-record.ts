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
}

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
}

export interface AgentRecord {
  name: string;
  host: string;
  labels: Record<string, string>;
  version: string;
  /** Agent clock minus runner clock, in milliseconds, measured at the handshake. */
  clockOffsetMs: number;
  lost?: string;
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
}
