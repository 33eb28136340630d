import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type CatalogService,
  findEndpoint,
  resolveCredentials,
  type Token,
  TokenManager,
  tokenRequestBody,
} from '../../../src/workloads/openstack/auth.js';
import { joinEndpoint, openstackWorkload, substitute } from '../../../src/workloads/openstack/index.js';
import { decodeTraceInfo, traceHeaders } from '../../../src/workloads/openstack/profiler.js';

describe('osprofiler trace headers', () => {
  it('signs the URL-safe base64 of {base_id, parent_id} with HMAC-SHA1, as osprofiler does', () => {
    const h = traceHeaders('SECRET_KEY', '5f2b0a1e-0000-4000-8000-000000000001');
    expect(decodeTraceInfo(h['x-trace-info'])).toEqual({
      base_id: '5f2b0a1e-0000-4000-8000-000000000001',
      parent_id: '5f2b0a1e-0000-4000-8000-000000000001',
    });
    expect(h['x-trace-info']).not.toMatch(/[+/]/);
    expect(h['x-trace-hmac']).toBe(createHmac('sha1', 'SECRET_KEY').update(h['x-trace-info']).digest('hex'));
  });
});

describe('credentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'os-unit-'));
  const clouds = join(dir, 'clouds.yaml');
  writeFileSync(
    clouds,
    'clouds:\n  c1:\n    region_name: R2\n    auth:\n      auth_url: http://k/v3\n      username: u\n      password: pw\n      project_name: p\n      user_domain_name: Default\n      project_domain_name: Default\n  ac:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: http://k\n      application_credential_id: id1\n      application_credential_secret: s3\n',
  );

  it('reads a cloud from clouds.yaml, by cloud: or OS_CLOUD', () => {
    const a = resolveCredentials({ cloud: 'c1', clouds_file: clouds }, {});
    expect(a.creds).toMatchObject({
      auth_url: 'http://k/v3',
      username: 'u',
      region_name: 'R2',
      auth_type: 'password',
    });
    const b = resolveCredentials({}, { OS_CLOUD: 'ac', OS_CLIENT_CONFIG_FILE: clouds });
    expect(b.creds.auth_type).toBe('v3applicationcredential');
    expect(tokenRequestBody(b.creds)).toEqual({
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: { id: 'id1', secret: 's3' },
        },
      },
    });
  });

  it('falls back to OS_* variables and builds a project-scoped password body', () => {
    const r = resolveCredentials(
      {},
      { OS_AUTH_URL: 'http://k/v3', OS_USERNAME: 'u', OS_PASSWORD: 'pw', OS_PROJECT_NAME: 'p' },
    );
    expect(tokenRequestBody(r.creds)).toEqual({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'u', domain: { id: 'default' }, password: 'pw' } },
        },
        scope: { project: { name: 'p', domain: { id: 'default' } } },
      },
    });
  });

  it('says what is missing without printing secrets', () => {
    expect(() => resolveCredentials({}, {})).toThrow(/OS_CLOUD/);
    expect(() => resolveCredentials({ cloud: 'nope', clouds_file: clouds }, {})).toThrow(/"nope" is not in/);
    try {
      resolveCredentials({}, { OS_AUTH_URL: 'http://k', OS_PASSWORD: 'hunter2' });
    } catch (err) {
      expect((err as Error).message).toMatch(/username/);
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});

describe('catalog and paths', () => {
  const catalog: CatalogService[] = [
    {
      type: 'compute',
      endpoints: [
        { interface: 'public', region_id: 'R1', url: 'http://n1/compute/v2.1' },
        { interface: 'public', region_id: 'R2', url: 'http://n2/compute/v2.1' },
        { interface: 'internal', region_id: 'R1', url: 'http://i1/v2.1' },
      ],
    },
  ];
  it('picks the endpoint by service type, interface and region', () => {
    expect(findEndpoint(catalog, 'compute', 'public', 'R2')).toBe('http://n2/compute/v2.1');
    expect(findEndpoint(catalog, 'compute', 'internal', undefined)).toBe('http://i1/v2.1');
    expect(() => findEndpoint(catalog, 'image', 'public', undefined)).toThrow(/has: compute/);
  });
  it('joins paths to the endpoint and substitutes captured variables', () => {
    expect(joinEndpoint('http://n/v3/', '/projects')).toBe('http://n/v3/projects');
    expect(substitute('/projects/%7Bproject_id%7D?x={a}&y={b}', { project_id: 'p1', a: '1' })).toBe(
      '/projects/p1?x=1&y={b}',
    );
    expect(substitute('{"name":"x"}', { name: 'no' })).toBe('{"name":"x"}');
  });
});

describe('token reuse', () => {
  it('issues once for concurrent callers and renews before expiry', async () => {
    let n = 0;
    let life = 3_600_000;
    const issue = async (): Promise<Token> => {
      n++;
      return { id: `t${n}`, expiresAt: Date.now() + life, catalog: [], issueMs: 1 };
    };
    const m = new TokenManager({ auth_url: 'x', auth_type: 'password' }, 60_000, issue);
    const [a, b] = await Promise.all([m.get(), m.get()]);
    expect(a.id).toBe('t1');
    expect(b.id).toBe('t1');
    expect((await m.get()).id).toBe('t1');
    life = 30_000; // the next one expires within renew_before: every get renews
    m.invalidate(a);
    expect((await m.get()).id).toBe('t2');
    expect((await m.get()).id).toBe('t3');
    expect(m.issued).toBe(3);
  });
});

describe('openstack workload definition', () => {
  it('names its actions and checks capture paths', () => {
    const params = {
      cloud: 'x',
      requests: [
        { name: 'create', url: '/projects', capture: { id: 'nope' } },
        { name: 'create', url: '/x' },
      ],
    };
    expect(openstackWorkload.actions?.(params)).toEqual(['create', 'create']);
    const issues = openstackWorkload.check?.(params, { baseDir: '.' }) ?? [];
    expect(issues.map((i) => i.path.join('.'))).toEqual(['requests.0.capture.id', 'requests.1.name']);
  });
});
