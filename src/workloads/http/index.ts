import { elapsedMs, perfToNs } from '../../core/sample.js';
import type { ActionOutcome, IterationOutcome, ParamIssue, WorkloadDefinition } from '../types.js';
import { Connections } from './connections.js';
import { parseJsonPath } from './json-path.js';
import {
  duplicateRequestNames,
  type HttpParams,
  type PreparedRequest,
  prepare,
  REQUEST_PROPS,
  type RequestParams,
  responseFields,
} from './request.js';

const ACTION_NAME = '^[A-Za-z_][A-Za-z0-9_.-]*$';

/**
 * HTTP requests over keep-alive connections (undici Clients, see Connection): per origin, as
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
    for (const r of flow) if (!origins.has(r.origin)) origins.set(r.origin, new Connections(r.origin));
    const close = () => Promise.all([...origins.values()].map((c) => c.destroy())).then(() => {});
    /** One request: never rejects; the response says what happened (see Connection). */
    const send = (req: PreparedRequest, signal: AbortSignal) => origins.get(req.origin)!.send(req, signal);

    if (!params.requests) {
      const req = flow[0];
      return {
        // The response is the iteration's outcome as it is: no promise of its own per iteration.
        iterate: ({ signal }) => send(req, signal),
        close,
      };
    }
    return {
      async iterate({ signal }): Promise<IterationOutcome> {
        const actions: ActionOutcome[] = [];
        let bytes = 0;
        let status: number | undefined;
        for (const req of flow) {
          const t0 = performance.now();
          const startNs = perfToNs(t0);
          const r = await send(req, signal);
          const durationMs = elapsedMs(t0);
          bytes += r.bytes;
          status = r.status;
          actions.push({ name: req.name, durationMs, ok: r.ok, error: r.error, startNs, fields: r.fields });
          if (!r.ok) {
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
