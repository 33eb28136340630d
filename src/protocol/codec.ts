import { randomUUID } from 'node:crypto';
import { Ajv } from 'ajv';
import type { Message, Request } from './messages.js';
import { messageSchema } from './schema.js';
import { PROTOCOL_VERSION } from './topics.js';

/** Larger payloads are refused before parsing: a data batch is far smaller (see the agent's batching). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export class ProtocolError extends Error {
  constructor(
    message: string,
    readonly code: 'malformed' | 'too-large' | 'unsupported-version' | 'invalid',
    /** With `invalid`: the parsed object, so that a request can still be answered (see Agent). */
    readonly value?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const ajv = new Ajv({ discriminator: true, allErrors: false, strict: false });
const validate = ajv.compile(messageSchema);

/** A message without its envelope fields; `envelope()` fills them in. */
export type Draft<M extends Message> = M extends Message ? Omit<M, 'v' | 'id' | 'ts' | 'sig'> : never;

/** A request without its envelope fields and reply topic; the client fills them in. */
export type RequestDraft = Request extends infer R
  ? R extends Request
    ? Omit<R, 'v' | 'id' | 'ts' | 'sig' | 'replyTo'>
    : never
  : never;

export function envelope<M extends Message>(draft: Draft<M>, now = Date.now()): M {
  return { v: PROTOCOL_VERSION, id: randomUUID(), ts: now, ...draft } as unknown as M;
}

export function encodeMessage(message: Message): Buffer {
  return Buffer.from(JSON.stringify(message));
}

/**
 * Parses and validates a payload. Throws ProtocolError (never anything else) so that callers
 * can log and drop bad input with one catch.
 */
export function decodeMessage(payload: Buffer | string): Message {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > MAX_MESSAGE_BYTES)
    throw new ProtocolError(`message of ${size} bytes exceeds ${MAX_MESSAGE_BYTES}`, 'too-large');
  let value: unknown;
  try {
    value = JSON.parse(payload.toString());
  } catch {
    throw new ProtocolError('message is not JSON', 'malformed');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError('message is not a JSON object', 'malformed');
  }
  const v = (value as { v?: unknown }).v;
  if (v !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      `unsupported protocol version ${JSON.stringify(v)}: this side speaks v${PROTOCOL_VERSION}; upgrade the older of runner and agent`,
      'unsupported-version',
    );
  }
  if (!validate(value)) {
    const e = validate.errors?.[0];
    throw new ProtocolError(
      `invalid ${String((value as { type?: unknown }).type)} message: ${e?.instancePath || '/'} ${e?.message}`,
      'invalid',
      value as Record<string, unknown>,
    );
  }
  return value as unknown as Message;
}
