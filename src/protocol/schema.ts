/**
 * JSON Schemas of the v1 messages, checked on receipt at both ends: a message that does not
 * match is never acted upon. It is dropped with a log line, except a request an agent can
 * answer (a readable id and reply topic): that gets a `bad-request` reply with the reason.
 */
import { ERROR_CODES } from './messages.js';

/** The shortest lease agents accept: a shorter one would expire between two renewals. */
export const MIN_LEASE_MS = 1000;
/**
 * Bounds on values that come from a scenario (a tracer's interval, a command action's name
 * and timeout). Exported so that the scenario's checks are exactly as strict as the
 * protocol: a scenario that validates never yields a request an agent must refuse.
 */
export const INTERVAL_MS = { minimum: 10, maximum: 86_400_000 } as const;
export const COMMAND_TIMEOUT_MS = { minimum: 1, maximum: 86_400_000 } as const;
export const COMMAND_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$';

const name = { type: 'string', pattern: '^[A-Za-z0-9_.:@-]{1,128}$' };
const str = { type: 'string', maxLength: 4096 };
const count = { type: 'integer', minimum: 0 };

const envelope = {
  v: { type: 'integer' },
  id: { type: 'string', minLength: 1, maxLength: 64 },
  ts: { type: 'number' },
  sig: {
    type: 'object',
    additionalProperties: false,
    required: ['nonce', 'hmac'],
    properties: {
      nonce: { type: 'string', maxLength: 64 },
      hmac: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    },
  },
};

function message(type: string, required: string[], properties: Record<string, unknown>) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['v', 'type', 'id', 'ts', ...required],
    properties: { ...envelope, type: { const: type }, ...properties },
  };
}

const request = (type: string, required: string[], properties: Record<string, unknown>) =>
  message(type, ['replyTo', ...required], { replyTo: str, ...properties });

export const messageSchema = {
  type: 'object',
  required: ['type'],
  discriminator: { propertyName: 'type' },
  oneOf: [
    message('status', ['online', 'agent'], {
      online: { type: 'boolean' },
      agent: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'host', 'labels', 'version', 'protocol', 'tracers'],
        properties: {
          name,
          host: str,
          labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 256 } },
          version: str,
          protocol: { type: 'integer' },
          tracers: {
            type: 'array',
            maxItems: 1000,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['name', 'available'],
              properties: { name, available: { type: 'boolean' }, reason: str },
            },
          },
        },
      },
    }),
    request('ping', [], {}),
    request('start', ['run', 'scenario', 'step', 'stream', 'tracer', 'params', 'intervalMs', 'leaseMs'], {
      run: name,
      scenario: str,
      step: { type: ['string', 'null'], maxLength: 256 },
      stream: name,
      tracer: name,
      params: { type: 'object' },
      intervalMs: { type: 'number', ...INTERVAL_MS },
      leaseMs: { type: 'number', minimum: MIN_LEASE_MS },
    }),
    request('stop', ['run', 'stream'], { run: name, stream: name }),
    request('stop-run', ['run'], { run: name }),
    request('mark', ['run'], { run: name }),
    request('renew', ['run', 'leaseMs'], { run: name, leaseMs: { type: 'number', minimum: MIN_LEASE_MS } }),
    request('resend', ['run', 'stream', 'seqs'], {
      run: name,
      stream: name,
      seqs: { type: 'array', maxItems: 10_000, items: count },
    }),
    request('run-command', ['run', 'command', 'timeoutMs'], {
      run: name,
      command: { type: 'string', pattern: COMMAND_NAME_PATTERN },
      timeoutMs: { type: 'number', ...COMMAND_TIMEOUT_MS },
    }),
    message('reply', ['re', 'ok'], {
      re: { type: 'string', maxLength: 64 },
      ok: { type: 'boolean' },
      agentTs: { type: 'number' },
      result: {
        type: 'object',
        additionalProperties: false,
        properties: {
          samples: count,
          batches: count,
          exitCode: { type: ['integer', 'null'] },
          signal: { type: 'string', maxLength: 32 },
          durationMs: { type: 'number', minimum: 0 },
          output: str,
        },
      },
      error: {
        type: 'object',
        additionalProperties: false,
        required: ['code', 'message'],
        properties: { code: { enum: [...ERROR_CODES] }, message: str },
      },
    }),
    message('data', ['run', 'stream', 'seq', 'count', 'lines'], {
      run: name,
      stream: name,
      seq: count,
      count,
      lines: { type: 'string' },
    }),
    message('end', ['run', 'stream', 'batches', 'samples'], {
      run: name,
      stream: name,
      batches: count,
      samples: count,
      error: str,
    }),
    message('event', ['run', 'kind'], {
      run: name,
      stream: name,
      kind: { enum: ['started', 'stopped', 'failed', 'lease-expired'] },
      message: str,
    }),
  ],
} as const;
