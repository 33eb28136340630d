import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import { realTracerContext } from '../../../src/tracers/context.js';
import { mysqlTracer } from '../../../src/tracers/mysql/index.js';
import { manifestMismatches } from '../../fixtures/proc/fixture-context.js';
import { increase } from '../../helpers/counters.js';
import { portOpen } from '../../helpers/net.js';
import { freePort, type PrivateMariadb, startPrivateMariadb } from '../helpers/private-mariadb.js';

const ctx = realTracerContext(silentLogger);
const N = 25;

// Under CI a missing service is a failure (the tests run and fail to connect), never a skip.
const sharedUp = process.env.CI === 'true' || (await portOpen(3306));
const sum = (samples: Sample[], field: string) =>
  samples.reduce((acc, s) => acc + ((s.fields[field] as bigint | undefined) ?? 0n), 0n);

describe.skipIf(!sharedUp)('mysql tracer on the shared MariaDB (127.0.0.1:3306)', () => {
  it('counts the SELECTs run during the step', async () => {
    const samples: Sample[] = [];
    const tracer = mysqlTracer.create(
      { host: '127.0.0.1', port: 3306, user: 'root' },
      { intervalMs: 200 },
      ctx,
    );
    await tracer.start((s) => samples.push(...s));
    const client = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
    for (let i = 0; i < N; i++) await client.query('SELECT ? + 0 AS scalpels_probe', [i]);
    await client.end();
    await tracer.stop();
    const status = samples.filter((s) => s.measurement === 'mysql');
    expect(status.length).toBeGreaterThanOrEqual(2);
    // Running totals by default: what the step did is their increase. Other sessions may run
    // SELECTs too (the tracer runs one, SELECT @@performance_schema, once).
    expect(status[0].fields.com_select).toBeTypeOf('bigint');
    expect(increase(status, 'com_select')).toBeGreaterThanOrEqual(N);
    expect(increase(status, 'questions')).toBeGreaterThanOrEqual(N);
    expect(status.at(-1)!.fields.threads_connected as bigint).toBeGreaterThanOrEqual(1n);
    expect(manifestMismatches(samples, mysqlTracer.manifest)).toEqual([]);

    // The shared server runs with performance_schema OFF (the MariaDB default): said once, not a failure.
    const [[ps]] = (await (async () => {
      const c = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
      try {
        return await c.query('SELECT @@performance_schema AS on_');
      } finally {
        await c.end();
      }
    })()) as unknown as [[{ on_: number }]];
    const notices = samples.filter((s) => s.measurement === 'tracer_notice');
    if (Number(ps.on_) === 0) {
      expect(notices.map((n) => n.tags.code)).toEqual(['performance_schema_off']);
    } else {
      expect(notices).toEqual([]);
    }
  });
});

describe('mysql tracer on a private MariaDB with performance_schema ON', () => {
  let db: PrivateMariadb;
  let dir: string;
  let passwordFile: string;
  const password = `pw-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    db = await startPrivateMariadb();
    dir = await mkdtemp(join(tmpdir(), 'scalpels-mysql-it-'));
    passwordFile = join(dir, 'password');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    const admin = await mysql.createConnection({ socketPath: db.socket, user: 'root' });
    // A user of its own, with a password read from a file: the tracer's real authentication path.
    await admin.query(`CREATE USER 'scalpels'@'127.0.0.1' IDENTIFIED BY '${password}'`);
    await admin.query(`GRANT SELECT ON performance_schema.* TO 'scalpels'@'127.0.0.1'`);
    await admin.query('CREATE DATABASE shop');
    await admin.query('CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))');
    await admin.query("INSERT INTO shop.items VALUES (1, 'one'), (2, 'two'), (3, 'three')");
    await admin.end();
  });

  afterAll(async () => {
    await db?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("finds the step's statement among the top statements with its exact count, then closes its connection", async () => {
    const samples: Sample[] = [];
    const params = {
      host: '127.0.0.1',
      port: db.port,
      user: 'scalpels',
      password_file: passwordFile,
      top: 5,
    };
    const tracer = mysqlTracer.create(params, { intervalMs: 300 }, ctx);
    await tracer.start((s) => samples.push(...s));
    const client = await mysql.createConnection({ socketPath: db.socket, user: 'root', database: 'shop' });
    for (let i = 0; i < N; i++) await client.query('SELECT name FROM items WHERE id = ?', [(i % 3) + 1]);
    await client.query('SELECT SLEEP(0.05)');
    await tracer.stop();

    const statements = samples.filter((s) => s.measurement === 'mysql_statements');
    const probe = statements.filter((s) => s.fields.digest_text === 'SELECT NAME FROM `items` WHERE ID = ?');
    expect(probe.length).toBeGreaterThanOrEqual(1);
    expect(probe[0].tags.schema).toBe('shop');
    expect(probe[0].tags.digest).toMatch(/^[0-9a-f]{32}$/);
    expect(sum(probe, 'calls')).toBe(BigInt(N));
    expect(sum(probe, 'rows_sent')).toBe(BigInt(N));
    // The slowest statement of the step is there too (top by latency), with its latency.
    const sleep = statements.find((s) => String(s.fields.digest_text).startsWith('SELECT `SLEEP`'));
    expect(sleep?.fields.total_latency_ms as number).toBeGreaterThanOrEqual(45);
    // Its own statements are not.
    expect(
      statements.some((s) =>
        /events_statements_summary_by_digest|SHOW GLOBAL STATUS/.test(String(s.fields.digest_text)),
      ),
    ).toBe(false);
    expect(
      increase(
        samples.filter((s) => s.measurement === 'mysql'),
        'com_select',
      ),
    ).toBeGreaterThanOrEqual(N);
    expect(samples.filter((s) => s.measurement === 'tracer_notice')).toEqual([]);
    expect(manifestMismatches(samples, mysqlTracer.manifest)).toEqual([]);

    const [rows] = await client.query(
      "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE user = 'scalpels'",
    );
    expect(Number((rows as { n: number }[])[0].n)).toBe(0);
    await client.end();
  });

  it('fails to start with a sentence naming the server when the password is wrong', async () => {
    const wrong = join(dir, 'wrong');
    await writeFile(wrong, 'not-it');
    const tracer = mysqlTracer.create(
      { port: db.port, user: 'scalpels', password_file: wrong },
      { intervalMs: 300 },
      ctx,
    );
    const err = await tracer.start(() => {}).catch((e: Error) => e);
    expect(String(err)).toMatch(
      new RegExp(`mysql: cannot connect to 127\\.0\\.0\\.1:${db.port} as scalpels: Access denied`),
    );
    expect(String(err)).not.toContain('not-it');
    await tracer.stop();
  });
});

describe('mysql tracer without a server', () => {
  it('fails to start with a sentence naming host:port', async () => {
    const port = await freePort();
    const tracer = mysqlTracer.create({ host: '127.0.0.1', port }, { intervalMs: 300 }, ctx);
    await expect(tracer.start(() => {})).rejects.toThrow(
      `mysql: cannot connect to 127.0.0.1:${port} as root`,
    );
    await tracer.stop();
  });
});
