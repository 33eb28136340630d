import { createHmac, randomUUID } from 'node:crypto';

/** The two headers that ask an osprofiler-enabled service to trace a request. */
export interface TraceHeaders {
  'x-trace-info': string;
  'x-trace-hmac': string;
}

/**
 * osprofiler's `_utils.signed_pack`: `X-Trace-Info` is the URL-safe base64 of the JSON
 * `{"base_id", "parent_id"}`, `X-Trace-HMAC` the hex HMAC-SHA1 of that base64 text keyed
 * with one of the service's `[profiler] hmac_keys`. A client starting a trace uses the same
 * id for both (osprofiler's `init()` does), and the service stores its events under
 * `osprofiler_opt:<base_id>` in Redis.
 */
export function traceHeaders(hmacKey: string, baseId: string = randomUUID()): TraceHeaders {
  const info = Buffer.from(JSON.stringify({ base_id: baseId, parent_id: baseId })).toString('base64url');
  // osprofiler decodes with urlsafe_b64decode after re-padding; padding is kept as Python emits it.
  const padded = info + '='.repeat((4 - (info.length % 4)) % 4);
  const hmac = createHmac('sha1', hmacKey).update(padded).digest('hex');
  return { 'x-trace-info': padded, 'x-trace-hmac': hmac };
}

/** The base_id carried by an X-Trace-Info value (for tests and logs). */
export function decodeTraceInfo(info: string): { base_id: string; parent_id: string } {
  return JSON.parse(Buffer.from(info, 'base64url').toString('utf8'));
}
