import type { InfluxHttp, WriteOutcome } from './http.js';

/** How hard a write is tried before the caller falls back (spool, or an error for `runs push`). */
export interface RetryPolicy {
  /** Attempts after the first. */
  retries: number;
  /** Delay before the first retry, ms; doubled each time, with ±50 % jitter. */
  baseDelayMs: number;
  /** Cap on one delay, ms. */
  maxDelayMs: number;
}

/** The default: about 1.5 s of retries, enough for a restart-in-place or a brief network blip. */
export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 200, maxDelayMs: 5_000 };

/** The delay before retry number `attempt` (0-based). Jitter keeps many writers from retrying in step. */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const nominal = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(nominal * (0.5 + Math.random()));
}

/** Resolves after `ms`, without keeping the process alive for it. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Writes one batch, retrying network errors, timeouts and 5xx with exponential back-off. A
 * retried batch that had in fact been stored is stored again harmlessly: same series and
 * timestamp, same point. `giveUp()` is consulted before each retry (another batch found the
 * server down: stop waiting, spool).
 */
export async function writeWithRetry(
  http: InfluxHttp,
  body: string | Buffer,
  policy: RetryPolicy = DEFAULT_RETRY,
  giveUp: () => boolean = () => false,
): Promise<WriteOutcome> {
  let outcome = await http.write(body);
  for (let attempt = 0; outcome.kind === 'retry' && attempt < policy.retries && !giveUp(); attempt++) {
    await sleep(backoffDelay(policy, attempt));
    if (giveUp()) break;
    outcome = await http.write(body);
  }
  return outcome;
}
