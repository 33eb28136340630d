import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Client, Pool } from 'undici';
import { formatDuration, parseDuration } from '../../core/duration.js';
import { type FieldValue, nowNs } from '../../core/sample.js';
import type { ActionOutcome, IterationOutcome, ParamIssue, WorkloadDefinition } from '../types.js';
import { Connections } from './connections.js';
import { jsonEqual, type PathStep, parseJsonPath, selectJsonPath } from './json-path.js';

/** Expected status: a code, a class such as "2xx", or a list of them. */
type StatusSpec = number | string | (number | string)[];

/** Response checks, shared with the openstack workload. */
export interface Expect {
  status?: StatusSpec;
  /** JSON path → expected value. */
  json?: Record<string, unknown>;
  body_contains?: string;
  body_matches?: string;
}

export interface RequestParams {
  name?: string;
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  body?: string;
  json?: unknown;
  body_file?: string;
  expect?: Expect;
  timeout?: string | number;
}

export interface HttpParams extends RequestParams {
  base_url?: string;
  requests?: RequestParams[];
}

const DURATION = {
  type: ['string', 'number'],
  minimum: 0,
  pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)?\\s*$',
  'x-expect': 'a duration such as 500ms, 2s, 1m or a number of seconds',
};
const STATUS_ITEM = {
  oneOf: [
    { type: 'integer', minimum: 100, maximum: 599 },
    { type: 'string', pattern: '^[1-5]xx$', 'x-expect': 'a status class such as 2xx' },
  ],
};
const EXPECT = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: {
      description: 'Statuses that count as success: a code, a class ("2xx") or a list (default 200–399).',
      oneOf: [...STATUS_ITEM.oneOf, { type: 'array', minItems: 1, items: STATUS_ITEM }],
    },
    json: {
      type: 'object',
      description: 'JSON path ($.a.b[0]) → expected value; the body must be JSON.',
      propertyNames: { pattern: '^\\$' },
    },
    body_contains: { type: 'string', description: 'The body must contain this text.' },
    body_matches: { type: 'string', description: 'The body must match this regular expression.' },
  },
};
export const REQUEST_PROPS = {
  method: {
    type: 'string',
    enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    description: 'Default GET, or POST with a body.',
  },
  url: { type: 'string', minLength: 1, description: 'Absolute, or relative to base_url.' },
  headers: { type: 'object', additionalProperties: { type: 'string' } },
  body: { type: 'string', description: 'Request body as text.' },
  json: { description: 'Request body as JSON (sets content-type: application/json).' },
  body_file: {
    type: 'string',
    description: 'Request body read from a file, relative to the scenario; read once.',
  },
  expect: EXPECT,
  timeout: {
    ...DURATION,
    description: 'Longest wait for the response headers, then for each body chunk (default 30s).',
  },
};
const ACTION_NAME = '^[A-Za-z_][A-Za-z0-9_.-]*$';

/** A request with everything resolved once, before the first iteration. */
export interface PreparedRequest {
  name: string;
  method: string;
  origin: string;
  path: string;
  label: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  timeoutMs: number;
  statusOk: (status: number) => boolean;
  statusText: string;
  json: { text: string; path: PathStep[]; value: unknown }[];
  contains?: string;
  matches?: RegExp;
  /** The body is needed for a check; otherwise it is only counted. */
  readBody: boolean;
}

const DEFAULT_TIMEOUT_MS = 30_000;

function statusMatcher(spec: StatusSpec | undefined): { ok: (s: number) => boolean; text: string } {
  if (spec === undefined) return { ok: (s) => s >= 200 && s < 400, text: '200-399' };
  const items = Array.isArray(spec) ? spec : [spec];
  const tests = items.map((i) =>
    typeof i === 'number' ? (s: number) => s === i : (s: number) => Math.floor(s / 100) === Number(i[0]),
  );
  return { ok: (s) => tests.some((t) => t(s)), text: items.join(', ') };
}

export function prepare(
  req: RequestParams,
  defaults: HttpParams,
  baseDir: string,
  index: number | undefined,
): PreparedRequest {
  const raw = req.url!;
  let url: URL;
  try {
    url = defaults.base_url ? new URL(raw, defaults.base_url) : new URL(raw);
  } catch {
    throw new Error(
      `invalid URL "${raw}"${defaults.base_url ? ` (base ${defaults.base_url})` : ''}: expected http(s)://host[:port]/path`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`unsupported URL scheme in "${raw}": expected http or https`);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...defaults.headers, ...req.headers })) headers[k.toLowerCase()] = v;
  let body: string | Buffer | undefined;
  if (req.json !== undefined) {
    body = JSON.stringify(req.json);
    headers['content-type'] ??= 'application/json';
  } else if (req.body !== undefined) body = req.body;
  else if (req.body_file !== undefined) body = readFileSync(resolve(baseDir, req.body_file));
  const method = req.method ?? (body === undefined ? 'GET' : 'POST');
  const expect = req.expect ?? defaults.expect ?? {};
  const status = statusMatcher(expect.status);
  const json = Object.entries(expect.json ?? {}).map(([text, value]) => ({
    text,
    path: parseJsonPath(text),
    value,
  }));
  const timeout = req.timeout ?? defaults.timeout;
  const path = url.pathname + url.search;
  return {
    name: req.name ?? `request${index ?? 0}`,
    method,
    origin: url.origin,
    path,
    label: `${method} ${url.origin}${path}`,
    headers,
    body,
    timeoutMs: timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(timeout),
    statusOk: status.ok,
    statusText: status.text,
    json,
    contains: expect.body_contains,
    matches: expect.body_matches === undefined ? undefined : new RegExp(expect.body_matches),
    readBody: json.length > 0 || expect.body_contains !== undefined || expect.body_matches !== undefined,
  };
}

/** Why a response fails its checks, or undefined when it passes them. */
export function check(req: PreparedRequest, status: number, text: string | undefined): string | undefined {
  if (!req.statusOk(status)) return `status ${status} (expected ${req.statusText})`;
  if (text === undefined) return undefined;
  if (req.contains !== undefined && !text.includes(req.contains))
    return `body does not contain ${JSON.stringify(req.contains)}`;
  if (req.matches && !req.matches.test(text)) return `body does not match /${req.matches.source}/`;
  if (req.json.length > 0) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return 'body is not JSON';
    }
    for (const c of req.json) {
      const actual = selectJsonPath(doc, c.path);
      if (!jsonEqual(actual, c.value)) {
        return `${c.text} is ${actual === undefined ? 'missing' : JSON.stringify(actual).slice(0, 80)} (expected ${JSON.stringify(c.value).slice(0, 80)})`;
      }
    }
  }
  return undefined;
}

export function describeError(err: unknown, req: PreparedRequest): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
    return `${req.label}: timed out after ${formatDuration(req.timeoutMs)}`;
  if (code === 'UND_ERR_ABORTED' || (err as Error)?.name === 'AbortError') return `${req.label}: interrupted`;
  const message = e.message || e.cause?.message || String(err);
  return `${req.label}: ${code && !message.includes(code) ? `${code} ` : ''}${message}`;
}

/**
 * HTTP requests over keep-alive connections (undici Clients, see Connections): per origin, as
 * many as the requests in flight at once, so no iteration waits for a connection another one
 * holds. A single request per iteration (`url`), or a flow (`requests`): each request an
 * atomic action, the first failure ending the iteration.
 */
export const httpWorkload: WorkloadDefinition<HttpParams> = {
  name: 'http',
  summary:
    'Send an HTTP request (or a flow of requests, each an atomic action) each iteration over keep-alive connections.',
  params: {
    type: 'object',
    additionalProperties: false,
    oneOf: [
      { required: ['url'], not: { required: ['requests'] } },
      { required: ['requests'], not: { required: ['url'] } },
    ],
    properties: {
      ...REQUEST_PROPS,
      base_url: { type: 'string', description: 'Base for relative URLs.' },
      requests: {
        type: 'array',
        minItems: 1,
        description:
          'A flow: requests run in order as one iteration, each timed as an atomic action named by `name`.',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'url'],
          properties: {
            name: {
              type: 'string',
              pattern: ACTION_NAME,
              'x-expect': 'an action name of letters, digits, _, . and -',
            },
            ...REQUEST_PROPS,
          },
        },
      },
    },
  },
  example: {
    use: 'http',
    with: { url: 'http://127.0.0.1:8080/healthz', timeout: '2s', expect: { status: 200 } },
  },
  check(params) {
    const issues: ParamIssue[] = [];
    const one = (req: RequestParams, at: (string | number)[]) => {
      if (req.url !== undefined) {
        try {
          const url = params.base_url ? new URL(req.url, params.base_url) : new URL(req.url);
          if (url.protocol !== 'http:' && url.protocol !== 'https:')
            issues.push({
              path: [...at, 'url'],
              message: `unsupported URL scheme ${url.protocol}: expected http or https`,
            });
        } catch {
          issues.push({
            path: [...at, 'url'],
            message: `invalid URL "${req.url}"${params.base_url ? '' : ': expected an absolute http(s):// URL, or set base_url'}`,
          });
        }
      }
      const bodies = ['body', 'json', 'body_file'].filter(
        (k) => (req as Record<string, unknown>)[k] !== undefined,
      );
      if (bodies.length > 1)
        issues.push({
          path: [...at, bodies[1]],
          message: `give one of body, json or body_file, not ${bodies.join(' and ')}`,
        });
      if (req.expect?.body_matches !== undefined) {
        try {
          new RegExp(req.expect.body_matches);
        } catch (err) {
          issues.push({
            path: [...at, 'expect', 'body_matches'],
            message: `invalid regular expression: ${(err as Error).message}`,
          });
        }
      }
      for (const path of Object.keys(req.expect?.json ?? {})) {
        try {
          parseJsonPath(path);
        } catch (err) {
          issues.push({ path: [...at, 'expect', 'json', path], message: (err as Error).message });
        }
      }
    };
    one(params, []);
    for (const [i, r] of (params.requests ?? []).entries()) one(r, ['requests', i]);
    issues.push(...duplicateRequestNames(params.requests));
    return issues;
  },
  actions: (params) => (params.requests ? params.requests.map((r, i) => r.name ?? `request${i}`) : []),
  create(params, ctx) {
    const flow = params.requests
      ? params.requests.map((r, i) => prepare(r, params, ctx.baseDir, i))
      : [prepare(params, params, ctx.baseDir, undefined)];
    const origins = new Map<string, Connections>();
    const watchers = new AbortWatchers();
    for (const r of flow) if (!origins.has(r.origin)) origins.set(r.origin, new Connections(r.origin));
    const close = () => Promise.all([...origins.values()].map((c) => c.destroy())).then(() => {});

    /** One request: never throws; the outcome says what happened (see InFlight). */
    const send = (req: PreparedRequest, signal: AbortSignal) =>
      new Promise<SendResult>((resolve) =>
        new InFlight(req, signal, watchers, resolve).start(origins.get(req.origin)!),
      );

    if (!params.requests) {
      const req = flow[0];
      return {
        async iterate({ signal }): Promise<IterationOutcome> {
          const r = await send(req, signal);
          const fields = responseFields(r.status, r.bytes);
          return r.error ? { ok: false, error: r.error, fields } : { ok: true, fields };
        },
        close,
      };
    }
    return {
      async iterate({ signal }): Promise<IterationOutcome> {
        const actions: ActionOutcome[] = [];
        let bytes = 0;
        let status: number | undefined;
        for (const req of flow) {
          const startNs = nowNs();
          const t0 = performance.now();
          const r = await send(req, signal);
          const durationMs = performance.now() - t0;
          bytes += r.bytes;
          status = r.status;
          const fields = responseFields(r.status, r.bytes);
          actions.push({ name: req.name, durationMs, ok: !r.error, error: r.error, startNs, fields });
          if (r.error) {
            return {
              ok: false,
              error: `${req.name}: ${r.error}`,
              actions,
              fields: responseFields(status, bytes),
            };
          }
        }
        return { ok: true, actions, fields: responseFields(status, bytes) };
      },
      close,
    };
  },
};

/** What a request came to: its status (absent when no response came), body size and error. */
interface SendResult {
  status?: number;
  bytes: number;
  error?: string;
}

/** Something that stops when a signal aborts. */
interface Abortable {
  abortNow(): void;
}

/**
 * One abort listener per signal, however many requests wait on it: the step's signal is
 * shared by every iteration, and an EventTarget listener added and removed per request
 * costs more than the rest of the bookkeeping of a request.
 */
class AbortWatchers {
  private readonly bySignal = new WeakMap<AbortSignal, Set<Abortable>>();

  add(signal: AbortSignal, request: Abortable): void {
    let set = this.bySignal.get(signal);
    if (!set) {
      const requests = new Set<Abortable>();
      set = requests;
      this.bySignal.set(signal, requests);
      signal.addEventListener(
        'abort',
        () => {
          for (const r of [...requests]) r.abortNow();
        },
        { once: true },
      );
    }
    set.add(request);
  }

  delete(signal: AbortSignal, request: Abortable): void {
    this.bySignal.get(signal)?.delete(request);
  }
}

/** Timer callback of InFlight: a module-level function, so no closure is made per request. */
function timeOut(request: InFlight): void {
  request.stop('timeout');
}

/**
 * One request in flight, dispatched with undici's handler API rather than `request()`: no
 * response stream per request, the body counted (and kept only when a check needs it) chunk
 * by chunk — the difference is a large part of the client's cost at thousands of requests
 * per second. The object is its own undici handler, abort watcher and timer argument, so a
 * request costs one object rather than a closure for each of those. The timeout is a plain
 * timer aborting the request: undici's own headers/body timeouts tick at a coarse
 * resolution (up to a second late), so they are kept only as a backstop.
 */
class InFlight implements Abortable {
  private status: number | undefined;
  private bytes = 0;
  private readonly chunks: Buffer[] | undefined;
  private controller: { abort(reason: Error): void } | undefined;
  private settled = false;
  private stopped: 'timeout' | 'abort' | undefined;
  private timer: NodeJS.Timeout | undefined;
  private connections: Connections | undefined;
  private client: Client | undefined;

  constructor(
    private readonly req: PreparedRequest,
    private readonly signal: AbortSignal,
    private readonly watchers: AbortWatchers,
    private readonly resolve: (result: SendResult) => void,
  ) {
    this.chunks = req.readBody ? [] : undefined;
  }

  start(connections: Connections): void {
    const req = this.req;
    this.timer = setTimeout(timeOut, req.timeoutMs, this);
    if (this.signal.aborted) {
      this.stop('abort');
      return;
    }
    this.watchers.add(this.signal, this);
    this.connections = connections;
    this.client = connections.take();
    try {
      this.client.dispatch(
        {
          method: req.method as 'GET',
          path: req.path,
          headers: req.headers,
          body: req.body,
          headersTimeout: req.timeoutMs + 1000,
          bodyTimeout: req.timeoutMs + 1000,
        },
        this,
      );
    } catch (err) {
      this.release();
      this.finish(describeError(err, req));
    }
  }

  /**
   * The connection is free again once undici is done with the request (not when the request
   * settles: a timed-out request still holds its connection until undici has aborted it).
   */
  private release(): void {
    if (this.client === undefined) return;
    this.connections!.give(this.client);
    this.client = undefined;
  }

  abortNow(): void {
    this.stop('abort');
  }

  stop(why: 'timeout' | 'abort'): void {
    this.stopped ??= why;
    // Settle first: the abort reports an error of its own, which is then ignored.
    this.finish(
      why === 'timeout'
        ? `${this.req.label}: timed out after ${formatDuration(this.req.timeoutMs)}`
        : `${this.req.label}: interrupted`,
    );
    this.controller?.abort(new Error(why));
  }

  onRequestStart(controller: { abort(reason: Error): void }): void {
    this.controller = controller;
    if (this.stopped) controller.abort(new Error(this.stopped));
  }

  onResponseStart(_controller: unknown, statusCode: number): void {
    this.status = statusCode;
  }

  onResponseData(_controller: unknown, chunk: Buffer): void {
    this.bytes += chunk.length;
    this.chunks?.push(chunk);
  }

  onResponseEnd(): void {
    this.release();
    this.finish();
  }

  onResponseError(_controller: unknown, err: Error): void {
    this.release();
    this.status = undefined;
    this.finish(describeError(err, this.req));
  }

  private finish(error?: string): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.watchers.delete(this.signal, this);
    const status = this.status;
    if (!error && status !== undefined) {
      const text = this.chunks ? Buffer.concat(this.chunks).toString('utf8') : undefined;
      error = check(this.req, status, text);
    }
    this.resolve({ status: error && status === undefined ? undefined : status, bytes: this.bytes, error });
  }
}

/** Point fields: the status (absent when no response came) and the body's size, as integers. */
export function responseFields(status: number | undefined, bytes: number): Record<string, FieldValue> {
  const fields: Record<string, FieldValue> = { bytes: smallBigInt(bytes) };
  if (status !== undefined) fields.status = smallBigInt(status);
  return fields;
}

/**
 * BigInt(n), made once for the small values that recur on every request (a status, the size
 * of a fixed body): each BigInt is an allocation, and at tens of thousands of requests a
 * second the young generation's collections are a large part of the client's cost.
 */
const SMALL_BIGINTS = new Map<number, bigint>();
const SMALL_LIMIT = 1 << 16;
function smallBigInt(n: number): bigint {
  if (n >= SMALL_LIMIT || n < 0 || !Number.isInteger(n)) return BigInt(n);
  let b = SMALL_BIGINTS.get(n);
  if (b === undefined) {
    b = BigInt(n);
    SMALL_BIGINTS.set(n, b);
  }
  return b;
}

export async function closePools(pools: Map<string, Pool>): Promise<void> {
  // destroy, not close: close waits for keep-alive sockets the server may hold open.
  await Promise.all([...pools.values()].map((p) => p.destroy().catch(() => {})));
}

/** Each request of a flow names an atomic action, so two with one name would be merged. */
export function duplicateRequestNames(
  requests: { name?: string }[] | undefined,
): { path: (string | number)[]; message: string }[] {
  const names = requests?.map((r) => r.name) ?? [];
  return names.flatMap((n, i) =>
    names.indexOf(n) !== i
      ? [
          {
            path: ['requests', i, 'name'],
            message: `duplicate request name "${n}": each names an atomic action`,
          },
        ]
      : [],
  );
}
