/**
 * The InfluxDB 1.x HTTP API (`/ping`, `/write`, `/query`), also served by InfluxDB 2.x and 3.x
 * as their v1-compatible API. Requests go through the `influx` package's Pool (host handling,
 * keep-alive, timeouts, error classes); retrying and spooling are decided by the caller, so the
 * Pool's own retries and host back-off are turned off here.
 */
import type { IncomingMessage } from 'node:http';
import { Pool, RequestError, ServiceNotAvailableError } from 'influx/lib/src/pool.js';
import { errorMessage } from '../../core/errors.js';
import type { InfluxCredentials, InfluxTarget } from './config.js';
import { redactSecrets } from './config.js';
import { ident } from './influxql.js';
import { parseQueryResponse, type QueryResponse, type StatementResult } from './query-result.js';

/** Never back off inside the Pool: a disabled host would fail every request for seconds, unseen. */
const noBackoff = {
  getDelay: () => 0,
  next() {
    return noBackoff;
  },
  reset() {
    return noBackoff;
  },
};

/** How a write ended. */
export type WriteOutcome =
  /** Every point stored; `dropped` points refused by InfluxDB (partial write: type conflicts, limits). */
  | { kind: 'ok'; dropped: number; error?: string }
  /** Worth trying again later: network errors, timeouts, 5xx. */
  | { kind: 'retry'; error: string }
  /** Will not succeed as is (auth, missing database, …), but the data is fine: keep it for later. */
  | { kind: 'keep'; error: string; status: number }
  /** InfluxDB refused the data itself: every point of the batch is lost. */
  | { kind: 'refused'; error: string };

/** An error of a query, with the HTTP status when there was a response. */
export class InfluxQueryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    /** True for network errors, timeouts and 5xx. */
    readonly transient = false,
  ) {
    super(message);
    this.name = 'InfluxQueryError';
  }
}

/** Options of InfluxHttp. */
export interface InfluxHttpOptions {
  /** Milliseconds before a request without a response fails. */
  requestTimeoutMs?: number;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ENETUNREACH',
]);

/** The HTTP client of one InfluxDB database. */
export class InfluxHttp {
  private readonly pool: Pool;
  private readonly auth?: string;

  constructor(
    readonly target: InfluxTarget,
    private readonly credentials: InfluxCredentials = {},
    options: InfluxHttpOptions = {},
  ) {
    this.pool = new Pool({
      maxRetries: 0,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      backoff: noBackoff,
    });
    const port = target.port;
    this.pool.addHost(
      `${target.protocol}//${target.hostname.includes(':') ? `[${target.hostname}]` : target.hostname}:${port}${target.prefix}`,
    );
    if (credentials.username !== undefined || credentials.password !== undefined) {
      this.auth = `${credentials.username ?? ''}:${credentials.password ?? ''}`;
    }
  }

  /** An error text with the credentials taken out. */
  redact(message: string): string {
    return redactSecrets(message, this.credentials);
  }

  /** True when InfluxDB answers `/ping` within `timeoutMs`. */
  async ping(timeoutMs = 2_000): Promise<boolean> {
    const [stats] = await this.pool.ping(timeoutMs, '/ping', this.auth);
    return stats?.online === true;
  }

  /** POSTs line protocol to `/write` (nanosecond precision) and classifies the outcome. */
  write(body: string | Buffer): Promise<WriteOutcome> {
    const query: Record<string, string> = { db: this.target.database, precision: 'ns' };
    if (this.target.retentionPolicy !== undefined) query.rp = this.target.retentionPolicy;
    // Encoded to UTF-8 once: given a string, the Pool would encode it twice (for
    // content-length, then to send it); a Buffer it only copies.
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    return new Promise((resolve) => {
      this.pool
        .discard({
          method: 'POST',
          path: '/write',
          query,
          body: bytes as unknown as string,
          auth: this.auth,
          headers: { 'content-type': 'text/plain; charset=utf-8' },
        })
        .then(
          () => resolve({ kind: 'ok', dropped: 0 }),
          (err: unknown) => resolve(this.classifyWriteError(err)),
        );
    });
  }

  private classifyWriteError(err: unknown): WriteOutcome {
    if (err instanceof RequestError) {
      const status = err.res.statusCode ?? 0;
      const text = this.redact(bodyError(err.message));
      if (status === 400 || status === 422) {
        // "partial write: … dropped=N": the rest of the batch is stored.
        const dropped = /dropped=(\d+)/.exec(text);
        if (/partial write/.test(text) && dropped)
          return { kind: 'ok', dropped: Number(dropped[1]), error: text };
        return { kind: 'refused', error: `InfluxDB refused the data: ${text}` };
      }
      if (status === 429) return { kind: 'retry', error: `InfluxDB is rate limiting writes: ${text}` };
      return { kind: 'keep', error: describeStatus(status, text, this.target.database), status };
    }
    return { kind: 'retry', error: this.redact(transportError(err)) };
  }

  /**
   * Runs InfluxQL and yields each statement result as it arrives (`chunked=true`, so a large
   * read streams instead of being held whole, and no server row limit applies). Timestamps are
   * requested in nanoseconds. Statement errors throw.
   */
  async *query(
    q: string,
    options: { post?: boolean; chunkSize?: number } = {},
  ): AsyncGenerator<StatementResult> {
    const params: Record<string, string> = {
      db: this.target.database,
      q,
      epoch: 'ns',
      chunked: 'true',
      chunk_size: String(options.chunkSize ?? 10_000),
    };
    if (this.target.retentionPolicy !== undefined) params.rp = this.target.retentionPolicy;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      this.pool.stream(
        { method: options.post ? 'POST' : 'GET', path: '/query', query: params, auth: this.auth },
        (err, res) => {
          if (err) reject(this.queryError(err));
          else resolve(res);
        },
      );
    });
    let buf = '';
    try {
      for await (const chunk of res) {
        buf += chunk as string;
        let nl = buf.indexOf('\n');
        while (nl !== -1) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim() !== '') yield* this.results(parseQueryResponse(line));
          nl = buf.indexOf('\n');
        }
      }
    } catch (err) {
      if (err instanceof InfluxQueryError) throw err;
      throw new InfluxQueryError(
        `reading an InfluxDB response failed: ${this.redact(errorMessage(err))}`,
        undefined,
        true,
      );
    } finally {
      res.destroy();
    }
    if (buf.trim() !== '') yield* this.results(parseQueryResponse(buf));
  }

  /** Runs InfluxQL and returns every statement result, merged across chunks. */
  async queryAll(q: string, options: { post?: boolean } = {}): Promise<StatementResult[]> {
    const out: StatementResult[] = [];
    for await (const result of this.query(q, options)) {
      const last = out[out.length - 1];
      // A chunked answer splits one statement across documents: merge them back.
      if (last && last.statement_id === result.statement_id) {
        last.series = [...(last.series ?? []), ...(result.series ?? [])];
      } else out.push({ ...result, series: result.series ? [...result.series] : undefined });
    }
    return out;
  }

  /**
   * `CREATE DATABASE` (a no-op when it exists). Returns the error text when it is not allowed
   * (no admin rights; InfluxDB 2.x/3.x, where databases are buckets mapped by DBRP).
   */
  async createDatabase(): Promise<string | undefined> {
    try {
      await this.queryAll(`CREATE DATABASE ${ident(this.target.database)}`, { post: true });
      return undefined;
    } catch (err) {
      if (err instanceof InfluxQueryError && err.transient) throw err;
      return errorMessage(err);
    }
  }

  private *results(response: QueryResponse): Generator<StatementResult> {
    if (response.error !== undefined) throw new InfluxQueryError(`InfluxDB: ${this.redact(response.error)}`);
    for (const result of response.results ?? []) {
      if (result.error !== undefined) throw new InfluxQueryError(`InfluxDB: ${this.redact(result.error)}`);
      yield result;
    }
  }

  private queryError(err: unknown): InfluxQueryError {
    if (err instanceof RequestError) {
      const status = err.res.statusCode ?? 0;
      return new InfluxQueryError(
        describeStatus(status, this.redact(bodyError(err.message)), this.target.database),
        status,
      );
    }
    return new InfluxQueryError(this.redact(transportError(err)), undefined, true);
  }
}

/** The `error` of InfluxDB's JSON error body inside the Pool's "A 400 Bad Request error occurred: {...}". */
function bodyError(message: string): string {
  const brace = message.indexOf('{');
  if (brace !== -1) {
    try {
      const parsed = JSON.parse(message.slice(brace)) as { error?: unknown };
      if (typeof parsed.error === 'string') return parsed.error;
    } catch {
      // not JSON: keep the whole text
    }
  }
  return message;
}

function describeStatus(status: number, text: string, database: string): string {
  if (status === 401 || status === 403) {
    return `InfluxDB refused the credentials (HTTP ${status}: ${text}); check --influx-username/--influx-password-file or SCALPELS_INFLUX_USERNAME/SCALPELS_INFLUX_PASSWORD`;
  }
  if (status === 404 && /database not found/i.test(text)) {
    return `InfluxDB has no database "${database}" and Scalpels may not create it (${text}); create it, or on InfluxDB 2.x/3.x map it to a bucket (DBRP)`;
  }
  return `InfluxDB answered HTTP ${status}: ${text}`;
}

function transportError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (err instanceof ServiceNotAvailableError) {
    return err.message === 'Request timed out'
      ? 'InfluxDB did not answer in time'
      : `InfluxDB is unavailable (${err.message || 'HTTP 5xx'})`;
  }
  if (code !== undefined && NETWORK_CODES.has(code)) return `cannot reach InfluxDB (${code})`;
  return `cannot reach InfluxDB: ${errorMessage(err)}`;
}
