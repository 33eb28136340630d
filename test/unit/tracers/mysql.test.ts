import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../../src/core/sample.js';
import { type MysqlConnection, mysqlCollector, mysqlTracer } from '../../../src/tracers/mysql/index.js';
import {
  boundText,
  counterDelta,
  type DigestRow,
  type DigestTotals,
  digestDeltas,
  parseStatusRows,
  statusFields,
  topN,
} from '../../../src/tracers/mysql/parse.js';
import { fixtureContext, manifestMismatches } from '../../fixtures/proc/fixture-context.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixture = <T>(name: string): T =>
  JSON.parse(readFileSync(join(here, '../../fixtures/mysql', name), 'utf8')) as T;
type Row = Record<string, unknown>;

/** A stand-in server that answers with the recorded result sets of snapshot t0, then t1. */
function fakeServer(opts: { performanceSchema?: 0 | 1; digestConsumer?: 'YES' | 'NO' } = {}) {
  let snapshot = 't0';
  const queries: { sql: string; values?: unknown[] }[] = [];
  let closed = 0;
  const conn: MysqlConnection = {
    async query(sql, values) {
      queries.push({ sql, values });
      if (sql.startsWith('SHOW GLOBAL STATUS')) return fixture<Row[]>(`status-${snapshot}.json`);
      if (sql.includes('@@performance_schema')) return [{ on_: opts.performanceSchema ?? 1 }];
      if (sql.includes('setup_consumers')) return [{ enabled: opts.digestConsumer ?? 'YES' }];
      if (sql.includes('events_statements_summary_by_digest'))
        return fixture<Row[]>(`digests-${snapshot}.json`);
      throw new Error(`unexpected query ${sql}`);
    },
    async close() {
      closed++;
    },
  };
  return {
    conn,
    queries,
    use: (s: string) => {
      snapshot = s;
    },
    closed: () => closed,
  };
}

const find = (samples: Sample[], measurement: string) => samples.filter((s) => s.measurement === measurement);

describe('mysql parsers', () => {
  it('reads SHOW GLOBAL STATUS rows, integers only', () => {
    const m = parseStatusRows([
      { Variable_name: 'Com_select', Value: '42' },
      { Variable_name: 'Uptime_since_flush_status', Value: 'abc' },
      { variable_name: 'Questions', value: '7' },
    ]);
    expect([...m]).toEqual([
      ['Com_select', 42n],
      ['Questions', 7n],
    ]);
  });

  it('treats a counter that went backwards as a restart', () => {
    expect(counterDelta(10n, 25n)).toBe(15n);
    expect(counterDelta(100n, 3n)).toBe(3n);
    expect(counterDelta(undefined, 3n)).toBe(3n);
  });

  it('writes gauges only at the first delta reading, and lowercased Telegraf names', () => {
    const cur = new Map([
      ['Com_select', 20n],
      ['Threads_running', 3n],
    ]);
    expect(statusFields(undefined, cur, 'delta')).toEqual({ threads_running: 3n });
    expect(statusFields(new Map([['Com_select', 5n]]), cur, 'delta')).toEqual({
      com_select: 15n,
      threads_running: 3n,
    });
    expect(statusFields(undefined, cur, 'cumulative')).toEqual({ com_select: 20n, threads_running: 3n });
  });

  it('differences digests, counting new ones whole and reset ones from zero', () => {
    const row = (
      digest: string,
      calls: number,
      timer: number,
      schema: string | null = 'shop',
    ): DigestRow => ({
      SCHEMA_NAME: schema,
      DIGEST: digest,
      DIGEST_TEXT: `SELECT ${digest}`,
      COUNT_STAR: String(calls),
      SUM_TIMER_WAIT: String(timer),
      SUM_LOCK_TIME: '0',
      SUM_ERRORS: '0',
      SUM_WARNINGS: '0',
      SUM_ROWS_AFFECTED: '0',
      SUM_ROWS_SENT: String(calls),
      SUM_ROWS_EXAMINED: String(calls * 10),
      SUM_CREATED_TMP_DISK_TABLES: '0',
      SUM_NO_INDEX_USED: '0',
      LAST_SEEN: '2026-01-01 00:00:00',
    });
    const known = new Map<string, DigestTotals>();
    expect(digestDeltas(known, [row('a', 5, 1000), row('b', 50, 9000)], true)).toEqual([]);
    const d = digestDeltas(
      known,
      [row('a', 8, 4000), row('b', 2, 500), row('c', 1, 7), row('a', 3, 3, null)],
      false,
    );
    expect(d.map((x) => [x.schema, x.digest, x.calls, x.timerWait, x.rowsExamined])).toEqual([
      ['shop', 'a', 3n, 3000n, 30n],
      ['shop', 'b', 2n, 500n, 20n],
      ['shop', 'c', 1n, 7n, 10n],
      [null, 'a', 3n, 3n, 30n],
    ]);
    // Unchanged since: nothing to write.
    expect(digestDeltas(known, [row('a', 8, 4000)], false)).toEqual([]);
  });

  it('keeps the union of the top by calls and the top by latency', () => {
    const items = [
      { id: 'a', calls: 100n, time: 1n },
      { id: 'b', calls: 50n, time: 500n },
      { id: 'c', calls: 10n, time: 900n },
      { id: 'd', calls: 1n, time: 2n },
    ];
    const pick = (n: number) =>
      topN(
        items,
        n,
        (x) => x.calls,
        (x) => x.time,
        (x) => x.id,
      ).map((x) => x.id);
    expect(pick(1)).toEqual(['a', 'c']);
    expect(pick(2)).toEqual(['a', 'b', 'c']);
    expect(pick(10)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('bounds digest texts', () => {
    expect(boundText('SELECT 1 ', 100)).toBe('SELECT 1');
    expect(boundText('x'.repeat(20), 10)).toBe(`${'x'.repeat(9)}…`);
  });
});

describe('mysql collector on recorded MariaDB 10.11 result sets', () => {
  it('writes the running totals by default, as Telegraf (the manifest declares them cumulative)', async () => {
    const server = fakeServer();
    const collector = mysqlCollector(
      { port: 3306, statements: false },
      fixtureContext('t0'),
      async () => server.conn,
    );
    const first = find(await collector.collect(), 'mysql')[0].fields;
    server.use('t1');
    const second = find(await collector.collect(), 'mysql')[0].fields;
    expect([first.com_select, first.questions, first.threads_running]).toEqual([0n, 4n, 1n]);
    expect([second.com_select, second.questions]).toEqual([14n, 24n]);
    await collector.close();
  });

  it('writes counter deltas with counters: delta, and the top statements, leaving out its own', async () => {
    const server = fakeServer();
    const ctx = fixtureContext('t0');
    const collector = mysqlCollector({ port: 3306, top: 1, counters: 'delta' }, ctx, async () => server.conn);
    const first = await collector.collect();
    expect(find(first, 'mysql')).toHaveLength(1);
    expect(find(first, 'mysql')[0].tags).toEqual({ server: '127.0.0.1:3306' });
    expect(find(first, 'mysql')[0].fields).toEqual({
      threads_running: 1n,
      threads_connected: 1n,
      innodb_row_lock_current_waits: 0n,
    });
    expect(find(first, 'mysql_statements')).toEqual([]);

    server.use('t1');
    const second = await collector.collect();
    const mysql = find(second, 'mysql')[0].fields;
    expect(mysql.com_select).toBe(14n);
    expect(mysql.com_insert).toBe(5n);
    expect(mysql.questions).toBe(20n);
    expect(mysql.bytes_sent).toBe(4503n);
    expect(mysql.threads_running).toBe(1n);

    const statements = find(second, 'mysql_statements');
    // top 1 by calls (the 12 point SELECTs) and top 1 by latency (the 5 INSERTs, 54.8 ms).
    expect(statements.map((s) => s.fields.digest_text)).toEqual([
      'SELECT NAME FROM `shop` . `items` WHERE ID = ?',
      'INSERT INTO `shop` . `items` VALUES (...)',
    ]);
    expect(statements[0].tags).toEqual({
      server: '127.0.0.1:3306',
      digest: '5f379799605c306d5e377d25fc3d9b2e',
    });
    expect(statements[0].fields.calls).toBe(12n);
    expect(statements[0].fields.rows_examined).toBe(12n);
    expect(statements[1].fields.total_latency_ms).toBeCloseTo(54.774568, 6);
    expect(statements[1].fields.avg_latency_ms).toBeCloseTo(54.774568 / 5, 6);

    // The second digest read asks only for rows seen since the newest LAST_SEEN of the first.
    const digestQueries = server.queries.filter((q) => q.sql.includes('events_statements_summary_by_digest'));
    expect(digestQueries[1].sql).toMatch(/WHERE LAST_SEEN >= \? - INTERVAL 1 SECOND$/);
    expect(digestQueries[1].values).toEqual(['2026-11-25 00:04:56']);

    expect(manifestMismatches([...first, ...second], mysqlTracer.manifest)).toEqual([]);
    await collector.close();
    expect(server.closed()).toBe(1);
  });

  it('says once that performance_schema is off, and keeps the counters', async () => {
    const server = fakeServer({ performanceSchema: 0 });
    const ctx = fixtureContext('t0');
    const collector = mysqlCollector({ socket: '/run/mysqld/mysqld.sock' }, ctx, async () => server.conn);
    const first = await collector.collect();
    server.use('t1');
    const second = await collector.collect();
    const notices = find([...first, ...second], 'tracer_notice');
    expect(notices).toHaveLength(1);
    expect(notices[0].tags).toEqual({ server: '/run/mysqld/mysqld.sock', code: 'performance_schema_off' });
    expect(notices[0].fields.message).toMatch(/performance_schema is OFF/);
    expect(ctx.logged.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      'mysql /run/mysqld/mysqld.sock: performance_schema is OFF: top statements are not collected (start the server with --performance-schema=ON)',
    ]);
    expect(find(second, 'mysql')[0].fields.com_select).toBe(14n);
    expect(find(second, 'mysql_statements')).toEqual([]);
    expect(server.queries.some((q) => q.sql.includes('events_statements_summary_by_digest'))).toBe(false);
    expect(manifestMismatches([...first, ...second], mysqlTracer.manifest)).toEqual([]);
  });

  it('says so when the statements_digest consumer is disabled', async () => {
    const server = fakeServer({ digestConsumer: 'NO' });
    const collector = mysqlCollector({}, fixtureContext('t0'), async () => server.conn);
    const samples = await collector.collect();
    expect(find(samples, 'tracer_notice')[0].tags.code).toBe('statements_digest_disabled');
  });

  it('reopens the connection after a failed tick', async () => {
    let connects = 0;
    let fail = true;
    const server = fakeServer();
    const flaky: MysqlConnection = {
      query: (sql, values) =>
        fail && sql.startsWith('SHOW')
          ? Promise.reject(new Error('read ECONNRESET'))
          : server.conn.query(sql, values),
      close: server.conn.close,
    };
    const collector = mysqlCollector({ host: 'db', port: 3307 }, fixtureContext('t0'), async () => {
      connects++;
      return flaky;
    });
    await expect(collector.collect()).rejects.toThrow('mysql db:3307: read ECONNRESET');
    fail = false;
    await collector.collect();
    expect(connects).toBe(2);
    expect(server.closed()).toBe(1);
  });
});

describe('mysql manifest', () => {
  const ajv = new Ajv({ useDefaults: true, strict: false });
  const validate = ajv.compile(mysqlTracer.manifest.params);

  it('accepts its example and fills defaults', () => {
    const params = structuredClone(mysqlTracer.manifest.example.with) as Record<string, unknown>;
    expect(validate(params), JSON.stringify(validate.errors)).toBe(true);
    expect(params).toMatchObject({ statements: true, counters: 'cumulative', digest_text_max: 1024 });
  });

  it('refuses a password written in the scenario', () => {
    expect(validate({ user: 'root', password: 'secret' })).toBe(false);
    expect(validate({ password_env: 'not a name' })).toBe(false);
  });

  it('is available wherever the agent runs: connection problems are reported by start()', async () => {
    expect(await mysqlTracer.unavailableReason(fixtureContext('t0'))).toBeUndefined();
  });
});
