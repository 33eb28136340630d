import type { CounterMode } from '../../core/counters.js';
import { errorMessage, RuntimeFailure } from '../../core/errors.js';
import type { Sample } from '../../core/sample.js';
import { loadTracerManifest } from '../manifest.js';
import { createClosingSampler } from '../sampler.js';
import { readSecret, type SecretRef } from '../secret.js';
import type { TracerContext, TracerDefinition, TracerInstance, TracerOptions } from '../types.js';
import {
  type DatabaseReading,
  databaseFields,
  isOwnStatement,
  parseDatabaseRows,
  type StatementTotals,
  statementDeltas,
  statementFields,
  statementTags,
  statementTotals,
  topStatements,
} from './parse.js';

/** The `with:` block of the `postgres` tracer (see tracers/postgres.yaml). */
export interface PostgresParams extends SecretRef {
  host?: string;
  port?: number;
  /** Directory of the server's Unix socket; when given, host is not used to connect. */
  socket?: string;
  user?: string;
  /** Database to connect to; pg_stat_statements must be created in it to be read. */
  database?: string;
  /** Only these databases in `postgresql` (default: all). */
  databases?: string[];
  statements?: boolean;
  top?: number;
  query_text_max?: number;
  counters?: CounterMode;
}

/** The little of a client connection the collector uses, so that unit tests can stand in for a server. */
export interface PostgresConnection {
  /** Runs one statement with `$n` placeholders and returns its rows. */
  query(sql: string, values?: unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export type PostgresConnect = () => Promise<PostgresConnection>;

const NOTICE = 'tracer_notice';

/** `host:port`, or `socketdir:port`: the `server` tag, and what error messages name. */
export function postgresServerLabel(params: PostgresParams): string {
  return `${params.socket ?? params.host ?? '127.0.0.1'}:${params.port ?? 5432}`;
}

/**
 * PostgreSQL activity: per-interval changes of pg_stat_database (Telegraf's `postgresql`
 * measurement) and the top statements from pg_stat_statements when the extension is there.
 *
 * Availability, as for `mysql`: nothing is needed on the agent's node but the bundled client,
 * so `unavailableReason` is always undefined; `start()` connects and rejects with a sentence
 * naming the server when it cannot.
 */
export const postgresTracer: TracerDefinition<PostgresParams> = {
  name: 'postgres',
  manifest: loadTracerManifest('postgres'),

  async unavailableReason(): Promise<string | undefined> {
    return undefined;
  },

  create(params: PostgresParams, options: TracerOptions, ctx: TracerContext): TracerInstance {
    return createClosingSampler(
      postgresCollector(params, ctx, () => connectPostgres(params)),
      options,
      ctx,
    );
  },
};

/** Connects with pg, loaded on first use so that listing the catalog does not load every driver. */
export async function connectPostgres(params: PostgresParams): Promise<PostgresConnection> {
  const server = postgresServerLabel(params);
  const user = params.user ?? 'postgres';
  const password = await readSecret(params, `postgres ${server}`);
  const { default: pg } = await import('pg');
  const client = new pg.Client({
    host: params.socket ?? params.host ?? '127.0.0.1',
    port: params.port ?? 5432,
    user,
    password,
    database: params.database ?? 'postgres',
    connectionTimeoutMillis: 5000,
    application_name: 'scalpels',
  });
  // A connection lost between ticks must not crash the agent: the next query reports it.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new RuntimeFailure(`postgres: cannot connect to ${server} as ${user}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  return {
    async query(sql, values) {
      return (await client.query(sql, values)).rows as Record<string, unknown>[];
    },
    close: () => client.end().catch(() => {}),
  };
}

/** The collect function of a stream and the means to release its connection. */
export interface PostgresCollector {
  collect(): Promise<Sample[]>;
  close(): Promise<void>;
}

/** How pg_stat_statements is read on this server, found once per connection. */
interface StatementsSource {
  /** SELECT list and FROM clause of the per-interval query. */
  sql: string;
  /** The schema-qualified function, for fetching texts. */
  fn: string;
}

const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;

/**
 * The stateful collector of the `postgres` tracer: one kept connection (reopened on the next
 * tick after a failure), the previous pg_stat_database reading per database, the running
 * totals of every statement and the texts of those already written.
 */
export function postgresCollector(
  params: PostgresParams,
  ctx: TracerContext,
  connect: PostgresConnect,
): PostgresCollector {
  const server = postgresServerLabel(params);
  const mode = params.counters ?? 'cumulative';
  const top = params.top ?? 10;
  const textMax = params.query_text_max ?? 1024;
  const only = params.databases ? new Set(params.databases) : undefined;
  let conn: PostgresConnection | undefined;
  let prevDb: Map<string, DatabaseReading> | undefined;
  /** undefined until looked for; null once known to be unusable (said once). */
  let source: StatementsSource | null | undefined = params.statements === false ? null : undefined;
  let statementsBaseline = true;
  const statements = new Map<string, StatementTotals>();
  const texts = new Map<string, string>();
  const own = new Set<string>();
  const notices: Sample[] = [];

  const notice = (code: string, message: string): void => {
    ctx.log.warn(`postgres ${server}: ${message}`);
    notices.push({ measurement: NOTICE, tags: { server, code }, fields: { message }, time: ctx.now() });
  };

  const findStatements = async (c: PostgresConnection): Promise<StatementsSource | null> => {
    const [ext] = await c.query(
      `SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
       WHERE e.extname = 'pg_stat_statements'`,
    );
    const database = params.database ?? 'postgres';
    if (!ext) {
      notice(
        'pg_stat_statements_missing',
        `pg_stat_statements is not installed in database ${database}: top statements are not collected (CREATE EXTENSION pg_stat_statements, with pg_stat_statements in shared_preload_libraries)`,
      );
      return null;
    }
    const fn = `${quoteIdent(String(ext.schema))}.pg_stat_statements`;
    try {
      // Column names differ across versions: total_time became total_exec_time in 13, toplevel came in 14.
      const cols = new Set(
        (
          await c.query(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'pg_stat_statements'",
            [ext.schema],
          )
        ).map((r) => String(r.column_name)),
      );
      const time = cols.has('total_exec_time') ? 's.total_exec_time' : 's.total_time';
      const toplevel = cols.has('toplevel') ? ', s.toplevel' : '';
      const sql =
        `SELECT s.userid, s.dbid, s.queryid::text AS queryid${toplevel}, d.datname, pg_get_userbyid(s.userid) AS username, ` +
        `s.calls, ${time} AS total_time, s.rows, s.shared_blks_hit, s.shared_blks_read, s.temp_blks_written ` +
        `FROM ${fn}(false) s LEFT JOIN pg_database d ON d.oid = s.dbid`;
      await c.query(`${sql} LIMIT 0`);
      return { sql, fn };
    } catch (err) {
      notice(
        'pg_stat_statements_unreadable',
        `cannot read pg_stat_statements in database ${database}: ${errorMessage(err)}; top statements are not collected`,
      );
      return null;
    }
  };

  const fetchTexts = async (
    c: PostgresConnection,
    src: StatementsSource,
    queryids: string[],
  ): Promise<void> => {
    if (queryids.length === 0) return;
    const rows = await c.query(
      `SELECT userid, dbid, queryid::text AS queryid, query FROM ${src.fn}(true) WHERE queryid = ANY($1::bigint[])`,
      [queryids],
    );
    for (const r of rows) texts.set(String(r.queryid), String(r.query ?? ''));
  };

  const tick = async (c: PostgresConnection): Promise<Sample[]> => {
    const dbRows = await c.query('SELECT * FROM pg_stat_database WHERE datname IS NOT NULL');
    if (source === undefined) source = await findStatements(c);
    const stmtRows = source ? await c.query(source.sql) : undefined;
    const time = ctx.now();
    const samples: Sample[] = notices.splice(0);

    const databases = parseDatabaseRows(dbRows, only);
    for (const [db, reading] of databases) {
      const fields = databaseFields(prevDb?.get(db), reading, mode);
      if (Object.keys(fields).length > 0)
        samples.push({ measurement: 'postgresql', tags: { server, db }, fields, time });
    }
    prevDb = databases;

    if (source && stmtRows) {
      const totals = stmtRows.map(statementTotals).filter((s): s is StatementTotals => s !== undefined);
      const deltas = statementDeltas(statements, totals, statementsBaseline).filter(
        (s) => !own.has(s.queryid),
      );
      statementsBaseline = false;
      let chosen = topStatements(deltas, top);
      await fetchTexts(
        c,
        source,
        chosen.filter((s) => !texts.has(s.queryid)).map((s) => s.queryid),
      );
      chosen = chosen.filter((s) => {
        const text = texts.get(s.queryid);
        if (text !== undefined && isOwnStatement(text)) {
          own.add(s.queryid);
          return false;
        }
        return true;
      });
      for (const s of chosen) {
        samples.push({
          measurement: 'postgresql_statements',
          tags: statementTags(s, server),
          fields: statementFields(s, texts.get(s.queryid), textMax),
          time,
        });
      }
    }
    return samples;
  };

  return {
    async collect() {
      if (!conn) {
        conn = await connect();
        // Keep the tracer's own queries out of pg_stat_statements where allowed (superusers);
        // elsewhere they are recognised by their text and left out of the top statements.
        await conn.query('SET pg_stat_statements.track = none').catch(() => {});
      }
      try {
        return await tick(conn);
      } catch (err) {
        const lost = conn;
        conn = undefined;
        await lost.close().catch(() => {});
        throw new RuntimeFailure(`postgres ${server}: ${errorMessage(err)}`, { cause: err });
      }
    },
    async close() {
      const c = conn;
      conn = undefined;
      await c?.close();
    },
  };
}
