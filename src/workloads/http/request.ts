import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Dispatcher } from 'undici';
import { formatDuration, parseDuration } from '../../core/duration.js';
import type { FieldValue } from '../../core/sample.js';
import { jsonEqual, type PathStep, parseJsonPath, selectJsonPath } from './json-path.js';

/*
 * What the http and openstack workloads share: a request's parameters and their schema, the
 * request prepared once before the first iteration, the checks of its response, and the
 * point fields and error lines it leaves.
 */

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
    description: 'Longest a request may take, from its start to the end of its body (default 30s).',
  },
};

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
  /**
   * What the http workload gives undici for each request (see Connection), made once: undici
   * reads it without keeping or changing it, and a text body would otherwise be encoded
   * again for every request. The openstack workload sends its own requests and ignores it.
   */
  dispatch: Dispatcher.DispatchOptions;
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
  const timeoutMs = timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(timeout);
  const path = url.pathname + url.search;
  return {
    name: req.name ?? `request${index ?? 0}`,
    method,
    origin: url.origin,
    path,
    label: `${method} ${url.origin}${path}`,
    headers,
    body,
    timeoutMs,
    statusOk: status.ok,
    statusText: status.text,
    json,
    contains: expect.body_contains,
    matches: expect.body_matches === undefined ? undefined : new RegExp(expect.body_matches),
    readBody: json.length > 0 || expect.body_contains !== undefined || expect.body_matches !== undefined,
    dispatch: {
      method: method as Dispatcher.HttpMethod,
      path,
      headers,
      body: typeof body === 'string' ? Buffer.from(body) : body,
      // undici's own timeouts are a backstop only (see Connection).
      headersTimeout: timeoutMs + 1000,
      bodyTimeout: timeoutMs + 1000,
    },
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
