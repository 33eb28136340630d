/**
 * Message types of protocol v1, as one discriminated union on `type`. Every message is a
 * JSON envelope (`v`, `type`, `id`, `ts`); requests also carry `replyTo`, replies carry `re`
 * (the request's id). This keeps request/response inside the payload, so the protocol works
 * over MQTT 3.1.1 (the embedded aedes 1.x refuses MQTT 5).
 */

export interface Envelope {
  /** Protocol version. */
  v: number;
  /** Unique message id (also the correlation id of a request). */
  id: string;
  /** Sender's clock, epoch milliseconds. */
  ts: number;
  /** Present on signed requests: see signing.ts. */
  sig?: Signature;
}

export interface Signature {
  nonce: string;
  /** Hex HMAC-SHA256 over `${ts}.${nonce}.${canonical body}`. */
  hmac: string;
}

export interface TracerAvailability {
  name: string;
  available: boolean;
  reason?: string;
}

export interface AgentInfo {
  name: string;
  host: string;
  labels: Record<string, string>;
  version: string;
  protocol: number;
  tracers: TracerAvailability[];
}

/** Retained on the agent's status topic. */
export interface StatusMessage extends Envelope {
  type: 'status';
  online: boolean;
  agent: AgentInfo;
}

interface RequestBase extends Envelope {
  /** Topic the reply goes to. */
  replyTo: string;
}

/** Clock and liveness probe; the reply carries the agent's clock. */
export interface PingRequest extends RequestBase {
  type: 'ping';
}

export interface StartTracerRequest extends RequestBase {
  type: 'start';
  run: string;
  scenario: string;
  /** null for a run-level tracer. */
  step: string | null;
  /** Stream id: unique per (run, step, tracer entry, agent). */
  stream: string;
  tracer: string;
  params: Record<string, unknown>;
  intervalMs: number;
  /** Milliseconds after which the agent stops the tracer by itself unless the lease is renewed. */
  leaseMs: number;
}

export interface StopTracerRequest extends RequestBase {
  type: 'stop';
  run: string;
  stream: string;
}

/** Stops every stream of a run: sent when the runner is interrupted. */
export interface StopRunRequest extends RequestBase {
  type: 'stop-run';
  run: string;
}

/** Extends the lease of every stream of a run. */
export interface RenewLeaseRequest extends RequestBase {
  type: 'renew';
  run: string;
  leaseMs: number;
}

/**
 * Asks for batches again: the runner proves completeness end to end, so a batch lost
 * anywhere between agent and runner (a broker restart, a session that expired) is fetched
 * again from the agent's archive of the stream.
 */
export interface ResendRequest extends RequestBase {
  type: 'resend';
  run: string;
  stream: string;
  seqs: number[];
}

/** Every stream of the run that can takes a sample now: sent at step boundaries. */
export interface MarkRequest extends RequestBase {
  type: 'mark';
  run: string;
}

/**
 * Runs an entry of the agent's own command catalog to completion (a hook, setup or teardown
 * action on agents). The request names the entry; its argv, env and cwd are the agent's.
 * Only an agent started with --allow-commands has a catalog.
 */
export interface RunCommandRequest extends RequestBase {
  type: 'run-command';
  run: string;
  /** The entry's name in the agent's catalog. */
  command: string;
  /** The agent kills the command's process group after this long. */
  timeoutMs: number;
}

export type Request =
  | MarkRequest
  | RunCommandRequest
  | PingRequest
  | StartTracerRequest
  | StopTracerRequest
  | StopRunRequest
  | RenewLeaseRequest
  | ResendRequest;

export const ERROR_CODES = [
  'bad-request',
  'unknown-tracer',
  'tracer-unavailable',
  'invalid-params',
  'start-failed',
  'unknown-stream',
  'unauthorized',
  'unsupported-version',
  'commands-disabled',
  'unknown-command',
  'command-timeout',
  'command-failed',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ReplyResult {
  samples?: number;
  batches?: number;
  /** The command's exit status; null when a signal ended it. */
  exitCode?: number | null;
  /** The signal that ended it (SIGKILL at the timeout). */
  signal?: string;
  durationMs?: number;
  /** The last lines of its stdout and stderr. */
  output?: string;
}

export interface ReplyMessage extends Envelope {
  type: 'reply';
  /** The request's id. */
  re: string;
  ok: boolean;
  /** Agent clock at reply time (epoch ms), for clock-offset estimation. */
  agentTs?: number;
  /** On `stop`: the stream's final count. On `run-command`: how the command ended (also with `command-timeout`). */
  result?: ReplyResult;
  error?: { code: ErrorCode; message: string };
}

/** A batch of a stream's samples, as line protocol. */
export interface DataMessage extends Envelope {
  type: 'data';
  run: string;
  stream: string;
  /** Per-stream batch sequence number, from 0. */
  seq: number;
  /** Number of lines in `lines`. */
  count: number;
  lines: string;
}

/** The last message of a stream: how many batches and samples were sent in all. */
export interface EndMessage extends Envelope {
  type: 'end';
  run: string;
  stream: string;
  batches: number;
  samples: number;
  error?: string;
}

export interface EventMessage extends Envelope {
  type: 'event';
  run: string;
  stream?: string;
  kind: 'started' | 'stopped' | 'failed' | 'lease-expired';
  message?: string;
}

export type Message = StatusMessage | Request | ReplyMessage | DataMessage | EndMessage | EventMessage;
export type MessageType = Message['type'];
