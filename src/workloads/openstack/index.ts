import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Pool } from 'undici';
import { parseDuration } from '../../core/duration.js';
import { elapsedMs, type FieldValue, perfToNs } from '../../core/sample.js';
import { parseJsonPath, selectJsonPath } from '../http/json-path.js';
import {
  check,
  describeError,
  duplicateRequestNames,
  type Expect,
  type PreparedRequest,
  prepare,
  REQUEST_PROPS,
  type RequestParams,
  responseFields,
} from '../http/request.js';
import type { ActionOutcome, IterationOutcome, ParamIssue, WorkloadDefinition } from '../types.js';
import {
  type Credentials,
  findEndpoint,
  identityRoot,
  issueToken,
  resolveCredentials,
  type Token,
  TokenManager,
} from './auth.js';
import { traceHeaders } from './profiler.js';

async function closePools(pools: Map<string, Pool>): Promise<void> {
  // destroy, not close: close waits for keep-alive sockets the server may hold open.
  await Promise.all([...pools.values()].map((p) => p.destroy().catch(() => {})));
}

/** One request of an `openstack` flow: an http request, plus where it goes in the cloud. */
export interface OpenstackRequest extends RequestParams {
  /** `request` (default): a call to a service; `token_issue`: a fresh token, timed on purpose. */
  kind?: 'request' | 'token_issue';
  /** Service type in the catalog (identity, compute, image, network…); default the workload's. */
  service?: string;
  interface?: string;
  /** API microversion, sent as OpenStack-API-Version (and the legacy header for compute). */
  microversion?: string;
  /** Variable name → JSON path in the response body, usable as `{name}` by later requests. */
  capture?: Record<string, string>;
}

/** The `with:` block of the `openstack` workload. */
export interface OpenstackParams extends OpenstackRequest {
  cloud?: string;
  clouds_file?: string;
  region?: string;
  /** Renew the shared token this long before it expires (default 2m). */
  renew_before?: string | number;
  osprofiler?: { hmac_key_file: string };
  requests?: OpenstackRequest[];
}

const ACTION_NAME = '^[A-Za-z_][A-Za-z0-9_.-]*$';
const OS_REQUEST_PROPS = {
  ...REQUEST_PROPS,
  url: {
    type: 'string',
    minLength: 1,
    description:
      'Path relative to the service endpoint (/v3/projects → <endpoint>/v3/projects), or an absolute URL.',
  },
  kind: {
    type: 'string',
    enum: ['request', 'token_issue'],
    description:
      'token_issue: issue a fresh token with the credentials, timed as the action (url is not used).',
  },
  service: {
    type: 'string',
    minLength: 1,
    description: 'Service type in the catalog (default: the workload-level service, else identity).',
  },
  interface: {
    type: 'string',
    enum: ['public', 'internal', 'admin'],
    description: "Endpoint interface (default public, or the cloud's).",
  },
  microversion: {
    type: 'string',
    pattern: '^(\\d+\\.\\d+|latest)$',
    'x-expect': 'a microversion such as 2.79',
  },
  capture: {
    type: 'object',
    description: 'Variable → JSON path ($.project.id) in the response; later requests use it as {variable}.',
    propertyNames: { pattern: '^[a-z_][a-z0-9_]*$' },
    additionalProperties: { type: 'string', pattern: '^\\$' },
  },
};

/** Names of the header a service reads its microversion from, besides OpenStack-API-Version. */
const MICROVERSION_SERVICE: Record<string, string> = {
  compute: 'compute',
  volumev3: 'volume',
  'block-storage': 'volume',
  volume: 'volume',
  placement: 'placement',
  'shared-file-system': 'shared-file-system',
  sharev2: 'shared-file-system',
};

/** `<endpoint>/<path>`, one slash between; an absolute URL is kept as it is. */
export function joinEndpoint(endpoint: string, path: string): string {
  if (/^https?:\/\//.test(path)) return path;
  return `${endpoint.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** Replaces `{name}` (also URL-encoded as %7Bname%7D) by the iteration's variables. */
export function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\{([a-z_][a-z0-9_]*)\}|%7B([a-z_][a-z0-9_]*)%7D/gi, (all, a, b) => {
    const v = vars[(a ?? b) as string];
    return v === undefined ? all : v;
  });
}

interface Prepared {
  def: OpenstackRequest;
  name: string;
  http?: PreparedRequest;
  capture: { name: string; path: ReturnType<typeof parseJsonPath> }[];
}

/**
 * Requests to an OpenStack cloud, authenticated with Keystone v3 (password or application
 * credential) from clouds.yaml or OS_* variables. One token is shared by all iterations and
 * renewed before it expires, so token issuance is not part of the measured requests (unless a
 * request of kind token_issue measures it). Paths are relative to the catalog endpoint of the
 * request's service type; each request of a flow is an atomic action. With `osprofiler`, each
 * request carries osprofiler's signed trace headers, and its trace id is a field of its action.
 */
export const openstackWorkload: WorkloadDefinition<OpenstackParams> = {
  name: 'openstack',
  summary:
    'Call OpenStack APIs (endpoints from the Keystone catalog, token shared and renewed), each request an atomic action; optionally traced by osprofiler.',
  params: {
    type: 'object',
    additionalProperties: false,
    oneOf: [
      { required: ['requests'], not: { anyOf: [{ required: ['url'] }, { required: ['kind'] }] } },
      { anyOf: [{ required: ['url'] }, { required: ['kind'] }], not: { required: ['requests'] } },
    ],
    properties: {
      ...OS_REQUEST_PROPS,
      cloud: {
        type: 'string',
        minLength: 1,
        description: 'Cloud name in clouds.yaml (default OS_CLOUD; without either, the OS_* variables).',
      },
      clouds_file: {
        type: 'string',
        minLength: 1,
        description: 'clouds.yaml to read instead of the standard search path.',
      },
      region: {
        type: 'string',
        minLength: 1,
        description: "Region of the endpoints (default the cloud's region_name).",
      },
      renew_before: {
        type: ['string', 'number'],
        pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)?\\s*$',
        description: 'Renew the shared token this long before it expires (default 2m).',
      },
      osprofiler: {
        type: 'object',
        additionalProperties: false,
        required: ['hmac_key_file'],
        properties: {
          hmac_key_file: {
            type: 'string',
            minLength: 1,
            description: "File holding one of the services' [profiler] hmac_keys.",
          },
        },
      },
      requests: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          anyOf: [
            { required: ['url'] },
            { required: ['kind'], properties: { kind: { const: 'token_issue' } } },
          ],
          properties: {
            name: {
              type: 'string',
              pattern: ACTION_NAME,
              'x-expect': 'an action name of letters, digits, _, . and -',
            },
            ...OS_REQUEST_PROPS,
          },
        },
      },
    },
  },
  example: {
    use: 'openstack',
    with: {
      cloud: 'devstack-admin',
      service: 'identity',
      requests: [{ name: 'list_projects', url: '/v3/projects', expect: { status: 200 } }],
    },
  },
  check(params) {
    const issues: ParamIssue[] = [];
    const one = (r: OpenstackRequest, at: (string | number)[]) => {
      for (const [k, p] of Object.entries(r.capture ?? {})) {
        try {
          parseJsonPath(p);
        } catch (err) {
          issues.push({ path: [...at, 'capture', k], message: (err as Error).message });
        }
      }
      for (const p of Object.keys(r.expect?.json ?? {})) {
        try {
          parseJsonPath(p);
        } catch (err) {
          issues.push({ path: [...at, 'expect', 'json', p], message: (err as Error).message });
        }
      }
      if (r.expect?.body_matches !== undefined) {
        try {
          new RegExp(r.expect.body_matches);
        } catch (err) {
          issues.push({
            path: [...at, 'expect', 'body_matches'],
            message: `invalid regular expression: ${(err as Error).message}`,
          });
        }
      }
      const bodies = ['body', 'json', 'body_file'].filter(
        (k) => (r as Record<string, unknown>)[k] !== undefined,
      );
      if (bodies.length > 1)
        issues.push({
          path: [...at, bodies[1]],
          message: `give one of body, json or body_file, not ${bodies.join(' and ')}`,
        });
    };
    one(params, []);
    for (const [i, r] of (params.requests ?? []).entries()) one(r, ['requests', i]);
    issues.push(...duplicateRequestNames(params.requests));
    return issues;
  },
  actions: (params) => (params.requests ? params.requests.map((r) => r.name ?? 'request') : []),
  create(params, ctx) {
    const defs: OpenstackRequest[] = params.requests ?? [{ ...params, name: params.name ?? 'request' }];
    const pools = new Map<string, Pool>();
    const poolFor = (origin: string) => {
      let p = pools.get(origin);
      if (!p) {
        p = new Pool(origin, { connections: Math.max(1, ctx.concurrency), pipelining: 1 });
        pools.set(origin, p);
      }
      return p;
    };
    let creds: Credentials | undefined;
    let tokens: TokenManager | undefined;
    let hmacKey: string | undefined;
    let prepared: Prepared[] = [];
    const defaults = { headers: params.headers, expect: params.expect, timeout: params.timeout };

    const init = async (): Promise<void> => {
      const resolved = resolveCredentials({
        cloud: params.cloud,
        clouds_file: params.clouds_file ? resolve(ctx.baseDir, params.clouds_file) : undefined,
      });
      creds = resolved.creds;
      if (params.osprofiler)
        hmacKey = readFileSync(resolve(ctx.baseDir, params.osprofiler.hmac_key_file), 'utf8').trim();
      const renew = params.renew_before === undefined ? 120_000 : parseDuration(params.renew_before);
      tokens = new TokenManager(creds, renew);
      // The first token is issued here, before the first iteration: it is not part of any.
      const token = await tokens.get();
      ctx.log.info('openstack: authenticated', {
        source: resolved.source,
        auth_url: creds.auth_url,
        issue_ms: Math.round(token.issueMs),
      });
      const region = params.region ?? creds.region_name;
      prepared = defs.map((def, i) => {
        const name = def.name ?? `request${i}`;
        const capture = Object.entries(def.capture ?? {}).map(([n, p]) => ({
          name: n,
          path: parseJsonPath(p),
        }));
        if (def.kind === 'token_issue') return { def, name, capture };
        const service = def.service ?? params.service ?? 'identity';
        const iface = def.interface ?? params.interface ?? creds!.interface ?? 'public';
        const endpoint =
          service === 'identity' && !token.catalog.some((s) => s.type === 'identity')
            ? identityRoot(creds!.auth_url)
            : findEndpoint(token.catalog, service, iface, region);
        const headers: Record<string, string> = { accept: 'application/json', ...def.headers };
        const mv = def.microversion ?? (def === params ? undefined : params.microversion);
        if (mv) {
          const svc = MICROVERSION_SERVICE[service] ?? service;
          headers['OpenStack-API-Version'] = `${svc} ${mv}`;
          if (svc === 'compute') headers['X-OpenStack-Nova-API-Version'] = mv;
        }
        const http = prepare(
          { ...def, headers, url: joinEndpoint(endpoint, def.url!) },
          defaults,
          ctx.baseDir,
          i,
        );
        // Captures need the body even when no check does.
        if (capture.length > 0) http.readBody = true;
        return { def, name, capture, http };
      });
    };

    const send = async (
      p: PreparedRequest,
      vars: Record<string, string>,
      extra: Record<string, string>,
      signal: AbortSignal,
    ): Promise<{ status?: number; bytes: number; text?: string; error?: string }> => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(p.headers)) headers[k] = substitute(v, vars);
      Object.assign(headers, extra);
      const body = typeof p.body === 'string' ? substitute(p.body, vars) : p.body;
      const path = substitute(p.path, vars);
      try {
        const res = await poolFor(p.origin).request({
          method: p.method as 'GET',
          path,
          headers,
          body,
          signal: AbortSignal.any([signal, AbortSignal.timeout(p.timeoutMs)]),
          headersTimeout: p.timeoutMs + 1000,
          bodyTimeout: p.timeoutMs + 1000,
        });
        const buf = Buffer.from(await res.body.arrayBuffer());
        const text = buf.toString('utf8');
        const error = check(p, res.statusCode, p.readBody ? text : undefined);
        return { status: res.statusCode, bytes: buf.length, text, error };
      } catch (err) {
        const e = err as { name?: string };
        if (e.name === 'TimeoutError')
          return { bytes: 0, error: `${p.label}: timed out after ${p.timeoutMs} ms` };
        return { bytes: 0, error: describeError(err, p) };
      }
    };

    const runOne = async (
      p: Prepared,
      vars: Record<string, string>,
      signal: AbortSignal,
    ): Promise<ActionOutcome & { text?: string }> => {
      const t0 = performance.now();
      const startNs = perfToNs(t0);
      const trace = hmacKey ? traceHeaders(hmacKey) : undefined;
      const fields: Record<string, FieldValue> = {};
      if (trace)
        fields.trace_id = JSON.parse(Buffer.from(trace['x-trace-info'], 'base64url').toString()).base_id;
      if (p.def.kind === 'token_issue') {
        try {
          await issueToken(creds!, { signal, headers: trace ? { ...trace } : undefined });
          return {
            name: p.name,
            durationMs: elapsedMs(t0),
            ok: true,
            startNs,
            fields: { ...fields, status: 201n },
          };
        } catch (err) {
          return {
            name: p.name,
            durationMs: elapsedMs(t0),
            ok: false,
            error: (err as Error).message,
            startNs,
            fields,
          };
        }
      }
      let token: Token = await tokens!.get();
      const auth = () => ({ 'x-auth-token': token.id, ...(trace ?? {}) });
      let r = await send(p.http!, { ...vars, token: token.id }, auth(), signal);
      if (r.status === 401) {
        // Revoked or expired early: renew once and retry, as the OpenStack clients do.
        tokens!.invalidate(token);
        token = await tokens!.get();
        r = await send(p.http!, { ...vars, token: token.id }, auth(), signal);
      }
      const durationMs = elapsedMs(t0);
      Object.assign(fields, responseFields(r.status, r.bytes));
      if (!r.error && p.capture.length > 0) {
        try {
          const doc = JSON.parse(r.text ?? '');
          for (const c of p.capture) {
            const v = selectJsonPath(doc, c.path);
            if (v === undefined) throw new Error(`capture ${c.name}: nothing at that path`);
            vars[c.name] = String(v);
          }
        } catch (err) {
          r.error = `${p.name}: ${(err as Error).message}`;
        }
      }
      return { name: p.name, durationMs, ok: !r.error, error: r.error, startNs, fields, text: r.text };
    };

    return {
      init,
      async iterate({ iteration, worker, signal }): Promise<IterationOutcome> {
        const vars: Record<string, string> = {
          uuid: randomUUID(),
          iteration: String(iteration),
          worker: String(worker),
        };
        const actions: ActionOutcome[] = [];
        let status: FieldValue | undefined;
        for (const p of prepared) {
          const { text: _text, ...a } = await runOne(p, vars, signal);
          actions.push(a);
          status = a.fields?.status;
          if (!a.ok) {
            return params.requests
              ? {
                  ok: false,
                  error: `${a.name}: ${a.error}`,
                  actions,
                  fields: status === undefined ? {} : { status },
                }
              : { ok: false, error: a.error, fields: a.fields };
          }
        }
        if (!params.requests) return { ok: true, fields: actions[0].fields };
        return { ok: true, actions, fields: status === undefined ? {} : { status } };
      },
      close: () => closePools(pools),
    };
  },
};

export type { Expect };
