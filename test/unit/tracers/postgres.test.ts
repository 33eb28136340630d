import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../../src/core/sample.js';
import {
  type PostgresConnection,
  postgresCollector,
  postgresTracer,
} from '../../../src/tracers/postgres/index.js';
import {
  boundQuery,
  databaseFields,
  parseDatabaseRows,
  type StatementTotals,
  statementDeltas,
  statementTotals,
  topStatements,
} from '../../../src/tracers/postgres/parse.js';
import { fixtureContext, manifestMismatches } from '../../fixtures/proc/fixture-context.js';

const here = dirname(fileURLToPath(import.meta.url));
type Row = Record<string, unknown>;
const fixture = (name: string): Row[] =>
  JSON.parse(readFileSync(join(here, '../../fixtures/postgres', name), 'utf8'));

/** A stand-in PostgreSQL 15 answering with the recorded rows of snapshot t0, then t1. */
function fakeServer(opts: { extension?: boolean; notLoaded?: boolean } = {}) {
  let snapshot = 't0';
  const queries: string[] = [];
  const conn: PostgresConnection = {
    async query(sql, values) {
      queries.push(sql);
      if (sql.startsWith('SET pg_stat_statements.track')) return [];
      if (sql.includes('FROM pg_stat_database')) return fixture(`stat-database-${snapshot}.json`);
      if (sql.includes('FROM pg_extension')) return opts.extension === false ? [] : [{ schema: 'public' }];
      if (sql.includes('information_schema.columns')) {
        return ['userid', 'dbid', 'toplevel', 'queryid', 'query', 'calls', 'total_exec_time', 'rows'].map(
          (c) => ({ column_name: c }),
        );
      }
      if (sql.includes('"public".pg_stat_statements(false)')) {
        if (opts.notLoaded) throw new Error('pg_stat_statements must be loaded via shared_preload_libraries');
        return sql.endsWith('LIMIT 0') ? [] : fixture(`statements-${snapshot}.json`);
      }
      if (sql.includes('"public".pg_stat_statements(true)')) {
        const wanted = new Set((values?.[0] as string[]) ?? []);
        return fixture(`statements-${snapshot}.json`).filter((r) => wanted.has(String(r.queryid)));
      }
      throw new Error(`unexpected query ${sql}`);
    },
    async close() {},
  };
  return { conn, queries, use: (s: string) => (snapshot = s) };
}

const find = (samples: Sample[], m: string) => samples.filter((s) => s.measurement === m);

describe('postgres parsers', () => {
  it('reads pg_stat_database: bigint strings exact, the shared-catalog row skipped', () => {
    const dbs = parseDatabaseRows(fixture('stat-database-t1.json'));
    expect([...dbs.keys()]).toEqual(['postgres', 'template1', 'template0']);
    expect(dbs.get('postgres')!.ints.get('xact_commit')).toBe(22n);
    expect(dbs.get('postgres')!.times.get('session_time')).toBeCloseTo(1406.536, 3);
    expect([...parseDatabaseRows(fixture('stat-database-t1.json'), new Set(['postgres'])).keys()]).toEqual([
      'postgres',
    ]);
  });

  it('writes deltas, numbackends as a level, and counts a reset from zero', () => {
    const t0 = parseDatabaseRows(fixture('stat-database-t0.json')).get('postgres')!;
    const t1 = parseDatabaseRows(fixture('stat-database-t1.json')).get('postgres')!;
    expect(databaseFields(undefined, t0, 'delta')).toEqual({ numbackends: 1n });
    const f = databaseFields(t0, t1, 'delta');
    expect(f.xact_commit).toBe(21n);
    expect(f.tup_inserted).toBe(267n);
    expect(f.session_time as number).toBeCloseTo(1406.536 - 45.7, 3);
    expect(databaseFields(t1, t0, 'delta').xact_commit).toBe(1n);
    expect(databaseFields(undefined, t1, 'cumulative').xact_commit).toBe(22n);
  });

  it('differences statements by pg_stat_statements key, forgetting evicted ones', () => {
    const known = new Map<string, StatementTotals>();
    const t0 = fixture('statements-t0.json').map(statementTotals) as StatementTotals[];
    const t1 = fixture('statements-t1.json').map(statementTotals) as StatementTotals[];
    expect(statementDeltas(known, t0, true)).toEqual([]);
    const d = statementDeltas(known, t1, false);
    expect(d.map((s) => [s.queryid, s.calls]).sort()).toEqual([
      ['-519857414877226674', 1n],
      ['5721549022643304591', 5n],
      ['6871312349944020939', 1n],
      ['8288288404966537157', 12n],
    ]);
    expect(known.size).toBe(t1.length);
    expect(statementTotals({ queryid: null, calls: 3 })).toBeUndefined();
    const top = topStatements(d, 1).map((s) => s.queryid);
    expect(top).toEqual(['8288288404966537157', '5721549022643304591']);
  });

  it('folds whitespace and bounds query texts', () => {
    expect(boundQuery('SELECT\n  1,\t2 ', 100)).toBe('SELECT 1, 2');
    expect(boundQuery('y'.repeat(30), 16)).toBe(`${'y'.repeat(15)}…`);
  });
});

describe('postgres collector on recorded PostgreSQL 15 rows', () => {
  it('writes the running totals by default, as Telegraf (the manifest declares them cumulative)', async () => {
    const server = fakeServer();
    const collector = postgresCollector(
      { databases: ['postgres'], statements: false },
      fixtureContext('t0'),
      async () => server.conn,
    );
    const first = find(await collector.collect(), 'postgresql')[0].fields;
    server.use('t1');
    const second = find(await collector.collect(), 'postgresql')[0].fields;
    expect(first.numbackends).toBe(1n);
    expect((second.xact_commit as bigint) - (first.xact_commit as bigint)).toBe(21n);
    expect(second.xact_commit).toBe(22n);
    await collector.close();
  });

  it('writes pg_stat_database deltas with counters: delta, and the top statements with their texts, leaving out its own', async () => {
    const server = fakeServer();
    const ctx = fixtureContext('t0');
    const collector = postgresCollector(
      { databases: ['postgres'], top: 10, counters: 'delta' },
      ctx,
      async () => server.conn,
    );
    const first = await collector.collect();
    expect(find(first, 'postgresql').map((s) => [s.tags, s.fields])).toEqual([
      [{ server: '127.0.0.1:5432', db: 'postgres' }, { numbackends: 1n }],
    ]);
    expect(find(first, 'postgresql_statements')).toEqual([]);

    server.use('t1');
    const second = await collector.collect();
    expect(find(second, 'postgresql')[0].fields.xact_commit).toBe(21n);
    const statements = find(second, 'postgresql_statements');
    expect(statements.map((s) => s.fields.query)).toEqual([
      'SELECT name FROM items WHERE id = $1',
      'INSERT INTO items VALUES ($1, $2)',
    ]);
    expect(statements[0].tags).toEqual({
      server: '127.0.0.1:5432',
      db: 'postgres',
      user: 'postgres',
      queryid: '8288288404966537157',
      toplevel: 'true',
    });
    expect(statements[0].fields.calls).toBe(12n);
    expect(statements[1].fields.total_exec_time_ms).toBeCloseTo(0.937322, 6);
    expect(server.queries[0]).toBe('SET pg_stat_statements.track = none');
    expect(manifestMismatches([...first, ...second], postgresTracer.manifest)).toEqual([]);

    // Texts are fetched once: a third reading of the same totals writes nothing new and asks for no text.
    const textFetches = server.queries.filter((q) => q.includes('(true)')).length;
    await collector.collect();
    expect(server.queries.filter((q) => q.includes('(true)')).length).toBe(textFetches);
  });

  it('says once that pg_stat_statements is missing, and keeps pg_stat_database', async () => {
    const server = fakeServer({ extension: false });
    const ctx = fixtureContext('t0');
    const collector = postgresCollector({ database: 'nova' }, ctx, async () => server.conn);
    const a = await collector.collect();
    const b = await collector.collect();
    const notices = find([...a, ...b], 'tracer_notice');
    expect(notices).toHaveLength(1);
    expect(notices[0].tags.code).toBe('pg_stat_statements_missing');
    expect(notices[0].fields.message).toMatch(/^pg_stat_statements is not installed in database nova/);
    expect(ctx.logged.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(find(b, 'postgresql').length).toBeGreaterThan(0);
  });

  it('says so when the library is not preloaded', async () => {
    const server = fakeServer({ notLoaded: true });
    const collector = postgresCollector({}, fixtureContext('t0'), async () => server.conn);
    const samples = await collector.collect();
    const notice = find(samples, 'tracer_notice')[0];
    expect(notice.tags.code).toBe('pg_stat_statements_unreadable');
    expect(notice.fields.message).toMatch(/shared_preload_libraries/);
  });
});

describe('postgres manifest', () => {
  const validate = new Ajv({ useDefaults: true, strict: false }).compile(postgresTracer.manifest.params);
  it('accepts its example and refuses a password in the scenario', () => {
    expect(validate(structuredClone(postgresTracer.manifest.example.with))).toBe(true);
    expect(validate({ password: 'x' })).toBe(false);
  });
});
