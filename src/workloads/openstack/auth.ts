import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { parse } from 'yaml';

/** Keystone v3 credentials: a password, or an application credential. */
export interface Credentials {
  auth_url: string;
  auth_type: 'password' | 'v3applicationcredential';
  username?: string;
  user_id?: string;
  password?: string;
  user_domain_name?: string;
  user_domain_id?: string;
  project_name?: string;
  project_id?: string;
  project_domain_name?: string;
  project_domain_id?: string;
  application_credential_id?: string;
  application_credential_name?: string;
  application_credential_secret?: string;
  region_name?: string;
  interface?: string;
}

/** Where credentials came from, said in messages (never the secrets themselves). */
export interface ResolvedCredentials {
  creds: Credentials;
  source: string;
}

/** openstacksdk's search path for clouds.yaml: current dir, user config, /etc. */
export function cloudsYamlPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  if (env.OS_CLIENT_CONFIG_FILE) out.push(env.OS_CLIENT_CONFIG_FILE);
  out.push(
    join(process.cwd(), 'clouds.yaml'),
    join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'openstack', 'clouds.yaml'),
    '/etc/openstack/clouds.yaml',
  );
  return out;
}

const ENV_KEYS: [keyof Credentials, string][] = [
  ['auth_url', 'OS_AUTH_URL'],
  ['username', 'OS_USERNAME'],
  ['user_id', 'OS_USER_ID'],
  ['password', 'OS_PASSWORD'],
  ['user_domain_name', 'OS_USER_DOMAIN_NAME'],
  ['user_domain_id', 'OS_USER_DOMAIN_ID'],
  ['project_name', 'OS_PROJECT_NAME'],
  ['project_id', 'OS_PROJECT_ID'],
  ['project_domain_name', 'OS_PROJECT_DOMAIN_NAME'],
  ['project_domain_id', 'OS_PROJECT_DOMAIN_ID'],
  ['application_credential_id', 'OS_APPLICATION_CREDENTIAL_ID'],
  ['application_credential_name', 'OS_APPLICATION_CREDENTIAL_NAME'],
  ['application_credential_secret', 'OS_APPLICATION_CREDENTIAL_SECRET'],
  ['region_name', 'OS_REGION_NAME'],
  ['interface', 'OS_INTERFACE'],
];

function normaliseAuthType(t: string | undefined, creds: Partial<Credentials>): Credentials['auth_type'] {
  const v = (t ?? '').replace(/^v3/, '').replace(/_/g, '').toLowerCase();
  if (v === 'applicationcredential' || (!t && creds.application_credential_secret))
    return 'v3applicationcredential';
  if (v === '' || v === 'password') return 'password';
  throw new Error(`auth_type "${t}" is not supported: use password or v3applicationcredential`);
}

/**
 * Credentials for a cloud: a `cloud:` name (or OS_CLOUD) is looked up in clouds.yaml
 * (`clouds_file`, then the standard search path) and merged with a secure.yaml next to it;
 * without a cloud name, the OS_* environment variables. Throws a sentence naming what is
 * missing; never one that contains a secret.
 */
export function resolveCredentials(
  opts: { cloud?: string; clouds_file?: string },
  env: NodeJS.ProcessEnv = process.env,
): ResolvedCredentials {
  const cloud = opts.cloud ?? env.OS_CLOUD;
  if (cloud) {
    const paths = opts.clouds_file ? [opts.clouds_file] : cloudsYamlPaths(env);
    const file = paths.find((p) => existsSync(p));
    if (!file) throw new Error(`cloud "${cloud}": no clouds.yaml found (looked in ${paths.join(', ')})`);
    const doc = (parse(readFileSync(file, 'utf8')) ?? {}) as {
      clouds?: Record<string, Record<string, unknown>>;
    };
    const entry = doc.clouds?.[cloud];
    if (!entry) throw new Error(`cloud "${cloud}" is not in ${file}`);
    const secureFile = join(file, '..', 'secure.yaml');
    const secure = existsSync(secureFile)
      ? (
          (parse(readFileSync(secureFile, 'utf8')) ?? {}) as {
            clouds?: Record<string, Record<string, unknown>>;
          }
        ).clouds?.[cloud]
      : undefined;
    const auth = {
      ...(entry.auth as Record<string, string> | undefined),
      ...(secure?.auth as Record<string, string> | undefined),
    };
    const partial: Partial<Credentials> = { ...auth } as Partial<Credentials>;
    partial.region_name = (entry.region_name as string | undefined) ?? undefined;
    partial.interface = (entry.interface as string | undefined) ?? undefined;
    const creds = finish(partial, entry.auth_type as string | undefined, `cloud "${cloud}" in ${file}`);
    return { creds, source: `cloud "${cloud}" in ${file}` };
  }
  const partial: Partial<Credentials> = {};
  for (const [k, e] of ENV_KEYS) if (env[e]) (partial as Record<string, string>)[k] = env[e]!;
  if (!partial.auth_url)
    throw new Error(
      'no credentials: set `cloud:` (or OS_CLOUD) to a clouds.yaml entry, or the OS_* variables',
    );
  return { creds: finish(partial, env.OS_AUTH_TYPE, 'OS_* variables'), source: 'OS_* variables' };
}

function finish(p: Partial<Credentials>, authType: string | undefined, where: string): Credentials {
  if (!p.auth_url) throw new Error(`${where}: auth_url is missing`);
  const auth_type = normaliseAuthType(authType, p);
  if (auth_type === 'password') {
    if (!p.password) throw new Error(`${where}: password is missing`);
    if (!p.username && !p.user_id) throw new Error(`${where}: username or user_id is missing`);
  } else {
    if (!p.application_credential_secret)
      throw new Error(`${where}: application_credential_secret is missing`);
    if (!p.application_credential_id && !(p.application_credential_name && (p.username || p.user_id)))
      throw new Error(`${where}: application_credential_id (or its name with the user) is missing`);
  }
  return { ...p, auth_url: p.auth_url, auth_type };
}

/** The Keystone v3 body of POST /v3/auth/tokens for these credentials. */
export function tokenRequestBody(c: Credentials): unknown {
  const domain = (name?: string, id?: string) => (id ? { id } : name ? { name } : { id: 'default' });
  const user = c.user_id
    ? { id: c.user_id }
    : { name: c.username, domain: domain(c.user_domain_name, c.user_domain_id) };
  if (c.auth_type === 'v3applicationcredential') {
    const appcred = c.application_credential_id
      ? { id: c.application_credential_id, secret: c.application_credential_secret }
      : { name: c.application_credential_name, user, secret: c.application_credential_secret };
    // An application credential carries its own scope: none may be given.
    return { auth: { identity: { methods: ['application_credential'], application_credential: appcred } } };
  }
  const scope =
    c.project_id || c.project_name
      ? {
          project: c.project_id
            ? { id: c.project_id }
            : { name: c.project_name, domain: domain(c.project_domain_name, c.project_domain_id) },
        }
      : undefined;
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { ...user, password: c.password } } },
      ...(scope ? { scope } : {}),
    },
  };
}

/** One catalog entry, as Keystone returns it in a token. */
export interface CatalogService {
  type: string;
  name?: string;
  endpoints: { interface: string; region?: string; region_id?: string; url: string }[];
}

/** A Keystone token with what the workload uses of it. */
export interface Token {
  id: string;
  expiresAt: number;
  catalog: CatalogService[];
  /** How long issuing it took, ms. */
  issueMs: number;
}

/** The identity v3 root of an auth_url (with or without /v3). */
export function identityRoot(authUrl: string): string {
  const u = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(u) ? u : `${u}/v3`;
}

/**
 * Issues a token (POST /v3/auth/tokens). Rejects with the status and Keystone's message,
 * never with the request body (it holds the secret).
 */
export async function issueToken(
  creds: Credentials,
  opts: { signal?: AbortSignal; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Token> {
  const t0 = performance.now();
  const res = await request(`${identityRoot(creds.auth_url)}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...opts.headers },
    body: JSON.stringify(tokenRequestBody(creds)),
    signal: opts.signal,
    headersTimeout: opts.timeoutMs ?? 30_000,
    bodyTimeout: opts.timeoutMs ?? 30_000,
  });
  const text = await res.body.text();
  const issueMs = performance.now() - t0;
  if (res.statusCode !== 201) {
    let msg = '';
    try {
      msg = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? '';
    } catch {
      msg = text.slice(0, 200);
    }
    throw new Error(
      `token issue at ${creds.auth_url} failed: status ${res.statusCode}${msg ? ` (${msg})` : ''}`,
    );
  }
  const id = res.headers['x-subject-token'];
  if (typeof id !== 'string') throw new Error('token issue: no X-Subject-Token header in the response');
  const body = JSON.parse(text) as { token: { expires_at: string; catalog?: CatalogService[] } };
  return { id, expiresAt: Date.parse(body.token.expires_at), catalog: body.token.catalog ?? [], issueMs };
}

/** The endpoint URL of a service type for an interface and region, from a token's catalog. */
export function findEndpoint(
  catalog: CatalogService[],
  type: string,
  iface: string,
  region: string | undefined,
): string {
  const service = catalog.find((s) => s.type === type);
  if (!service) {
    const types = catalog.map((s) => s.type).join(', ') || 'none';
    throw new Error(`service type "${type}" is not in the catalog (it has: ${types})`);
  }
  const wanted = iface.replace(/URL$/, '');
  const ep = service.endpoints.find(
    (e) => e.interface === wanted && (!region || e.region_id === region || e.region === region),
  );
  if (!ep)
    throw new Error(
      `service "${type}" has no ${wanted} endpoint${region ? ` in region ${region}` : ''} (it has: ${service.endpoints
        .map((e) => `${e.interface}@${e.region_id ?? e.region ?? '-'}`)
        .join(', ')})`,
    );
  return ep.url;
}

/**
 * Keeps one token for all iterations and renews it `renewBeforeMs` before it expires; the
 * renewal is shared by every iteration that needs it at that moment (one request, not one
 * per worker). `invalidate()` forces the next `get()` to renew (after a 401).
 */
export class TokenManager {
  private current?: Token;
  private pending?: Promise<Token>;
  /** Tokens issued so far (the first included). */
  issued = 0;

  constructor(
    private readonly creds: Credentials,
    private readonly renewBeforeMs: number,
    private readonly issue: (c: Credentials) => Promise<Token> = issueToken,
  ) {}

  async get(): Promise<Token> {
    if (this.current && Date.now() < this.current.expiresAt - this.renewBeforeMs) return this.current;
    this.pending ??= this.issue(this.creds)
      .then((t) => {
        this.issued++;
        this.current = t;
        return t;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  invalidate(token: Token): void {
    if (this.current === token) this.current = undefined;
  }
}
