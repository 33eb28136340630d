import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Signature } from './messages.js';

/**
 * Command signing: with a shared secret, every request carries an HMAC-SHA256 over its
 * timestamp, a nonce and its canonical body. Agents refuse unsigned, forged, stale and
 * replayed requests. The body is canonicalised (sorted keys) so that re-serialisation by a
 * broker or a tool cannot break a valid signature.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function mac(secret: Buffer, request: Omit<Request, 'sig'>, nonce: string): string {
  return createHmac('sha256', secret)
    .update(`${request.ts}.${nonce}.${canonicalJson(request)}`)
    .digest('hex');
}

export function signRequest<R extends Request>(request: R, secret: Buffer): R {
  const { sig: _ignored, ...body } = request;
  const nonce = randomBytes(12).toString('hex');
  const sig: Signature = { nonce, hmac: mac(secret, body, nonce) };
  return { ...request, sig };
}

export type VerifyFailure = 'unsigned' | 'forged' | 'stale' | 'replayed';

/**
 * Verifies signatures and remembers nonces for the freshness window, so a captured command
 * cannot be replayed while it would still be accepted as fresh.
 */
export class RequestVerifier {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly secret: Buffer,
    private readonly windowMs = 30_000,
  ) {}

  verify(request: Request, now = Date.now()): VerifyFailure | undefined {
    const { sig, ...body } = request;
    if (!sig) return 'unsigned';
    const expected = Buffer.from(mac(this.secret, body, sig.nonce), 'hex');
    const given = Buffer.from(sig.hmac, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'forged';
    if (Math.abs(now - request.ts) > this.windowMs) return 'stale';
    this.expire(now);
    if (this.seen.has(sig.nonce)) return 'replayed';
    this.seen.set(sig.nonce, request.ts);
    return undefined;
  }

  private expire(now: number): void {
    for (const [nonce, ts] of this.seen) if (Math.abs(now - ts) > this.windowMs) this.seen.delete(nonce);
  }
}
