import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import { realTracerContext } from '../../../src/tracers/context.js';
import { postgresTracer } from '../../../src/tracers/postgres/index.js';
import { manifestMismatches } from '../../fixtures/proc/fixture-context.js';
import { increase } from '../../helpers/counters.js';
import { portOpen } from '../../helpers/net.js';
import { freePort } from '../helpers/private-mariadb.js';
import { type PrivatePostgres, startPrivatePostgres } from '../helpers/private-postgres.js';

const ctx = realTracerContext(silentLogger);
const N = 25;

// Under CI a missing service is a failure (the tests run and fail to connect), never a skip.
const sharedUp = process.env.CI === 'true' || (await portOpen(5432));
const sum = (samples: Sample[], field: string) =>
  samples.reduce((acc, s) => acc + ((s.fields[field] as bigint | undefined) ?? 0n), 0n);

/** Runs N one-statement transactions in a session of its own, then closes it: closing publishes its statistics at once. */
async function workload(config: pg.ClientConfig, sql: string): Promise<void> {
  const client = new pg.Client(config);
  await client.connect();
  // Ids 0..9 exist in the private cluster's table: every query returns one row.
  for (let i = 0; i < N; i++) await client.query(sql, [i % 10]);
  await client.end();
}

describe.skipIf(!sharedUp)('postgres tracer on the shared PostgreSQL (127.0.0.1:5432)', () => {
  it('counts the transactions committed during the step', async () => {
    const samples: Sample[] = [];
    const tracer = postgresTracer.create(
      { host: '127.0.0.1', port: 5432, user: 'postgres', databases: ['test'], database: 'postgres' },
      { intervalMs: 200 },
      ctx,
    );
    await tracer.start((s) => samples.push(...s));
    await workload(
      { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' },
      'SELECT $1::int AS scalpels_probe',
    );
    // A backend that exits publishes its counters; give the server a moment to process the exit.
    await sleep(500);
    await tracer.stop();
    const db = samples.filter((s) => s.measurement === 'postgresql');
    expect(new Set(db.map((s) => s.tags.db))).toEqual(new Set(['test']));
    // Running totals by default: what the step did is their increase.
    expect(increase(db, 'xact_commit')).toBeGreaterThanOrEqual(N);
    expect(increase(db, 'sessions')).toBeGreaterThanOrEqual(1);
    expect(manifestMismatches(samples, postgresTracer.manifest)).toEqual([]);
  });
});

describe('postgres tracer on a private cluster with pg_stat_statements', () => {
  let cluster: PrivatePostgres;
  let dir: string;
  let passwordFile: string;

  beforeAll(async () => {
    cluster = await startPrivatePostgres();
    dir = await mkdtemp(join(tmpdir(), 'scalpels-pg-it-'));
    passwordFile = join(dir, 'password');
    await writeFile(passwordFile, `${cluster.password}\n`, { mode: 0o600 });
    const admin = new pg.Client({
      host: cluster.socketDir,
      port: cluster.port,
      user: 'postgres',
      database: 'postgres',
    });
    await admin.connect();
    await admin.query('CREATE EXTENSION pg_stat_statements');
    await admin.query('CREATE DATABASE noext');
    await admin.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
    await admin.query("INSERT INTO items SELECT g, 'n' || g FROM generate_series(0, 9) g");
    await admin.end();
  });

  afterAll(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("finds the step's statement with its exact count, authenticating with password_file, then closes its connection", async () => {
    const samples: Sample[] = [];
    const tracer = postgresTracer.create(
      { host: '127.0.0.1', port: cluster.port, user: 'postgres', password_file: passwordFile, top: 5 },
      { intervalMs: 300 },
      ctx,
    );
    await tracer.start((s) => samples.push(...s));
    await workload(
      { host: cluster.socketDir, port: cluster.port, user: 'postgres', database: 'postgres' },
      'SELECT name FROM items WHERE id = $1',
    );
    await sleep(300);
    await tracer.stop();

    const statements = samples.filter((s) => s.measurement === 'postgresql_statements');
    const probe = statements.filter((s) => s.fields.query === 'SELECT name FROM items WHERE id = $1');
    expect(probe.length).toBeGreaterThanOrEqual(1);
    expect(probe[0].tags).toMatchObject({ db: 'postgres', user: 'postgres', toplevel: 'true' });
    expect(sum(probe, 'calls')).toBe(BigInt(N));
    expect(sum(probe, 'rows')).toBe(BigInt(N));
    // Its own queries are not tracked at all (it connects as a superuser).
    expect(statements.some((s) => /pg_stat_(statements|database)/.test(String(s.fields.query)))).toBe(false);
    const db = samples.filter((s) => s.measurement === 'postgresql' && s.tags.db === 'postgres');
    expect(increase(db, 'xact_commit')).toBeGreaterThanOrEqual(N);
    expect(samples.filter((s) => s.measurement === 'tracer_notice')).toEqual([]);
    expect(manifestMismatches(samples, postgresTracer.manifest)).toEqual([]);

    const check = new pg.Client({
      host: cluster.socketDir,
      port: cluster.port,
      user: 'postgres',
      database: 'postgres',
    });
    await check.connect();
    const { rows } = await check.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'scalpels'",
    );
    await check.end();
    expect(rows[0].n).toBe(0);
  });

  it('says once that pg_stat_statements is missing in the database it connects to, and goes on', async () => {
    const samples: Sample[] = [];
    const tracer = postgresTracer.create(
      { socket: cluster.socketDir, port: cluster.port, user: 'postgres', database: 'noext' },
      { intervalMs: 200 },
      ctx,
    );
    await tracer.start((s) => samples.push(...s));
    await sleep(450);
    await tracer.stop();
    const notices = samples.filter((s) => s.measurement === 'tracer_notice');
    expect(notices.map((n) => n.tags)).toEqual([
      { server: `${cluster.socketDir}:${cluster.port}`, code: 'pg_stat_statements_missing' },
    ]);
    expect(samples.filter((s) => s.measurement === 'postgresql').length).toBeGreaterThanOrEqual(3);
  });

  it('fails to start with a sentence naming the server when the password is wrong', async () => {
    const wrong = join(dir, 'wrong');
    await writeFile(wrong, 'not-it');
    const tracer = postgresTracer.create(
      { port: cluster.port, password_file: wrong },
      { intervalMs: 300 },
      ctx,
    );
    const err = await tracer.start(() => {}).catch((e: Error) => e);
    expect(String(err)).toMatch(
      new RegExp(
        `postgres: cannot connect to 127\\.0\\.0\\.1:${cluster.port} as postgres: password authentication failed`,
      ),
    );
    expect(String(err)).not.toContain('not-it');
    await tracer.stop();
  });
});

describe('postgres tracer without a server', () => {
  it('fails to start with a sentence naming host:port', async () => {
    const port = await freePort();
    const tracer = postgresTracer.create({ host: '127.0.0.1', port }, { intervalMs: 300 }, ctx);
    await expect(tracer.start(() => {})).rejects.toThrow(
      `postgres: cannot connect to 127.0.0.1:${port} as postgres`,
    );
    await tracer.stop();
  });
});
