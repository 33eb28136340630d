import type { CounterMode } from '../../core/counters.js';
import { errorMessage, RuntimeFailure } from '../../core/errors.js';
import type { Sample } from '../../core/sample.js';
import { loadTracerManifest } from '../manifest.js';
import { createClosingSampler } from '../sampler.js';
import { readSecret, type SecretRef } from '../secret.js';
import type { TracerContext, TracerDefinition, TracerInstance, TracerOptions } from '../types.js';
import {
  type DigestRow,
  type DigestTotals,
  digestDeltas,
  parseStatusRows,
  STATUS_VARIABLES,
  statementFields,
  statementTags,
  statusFields,
  topN,
} from './parse.js';

/** The `with:` block of the `mysql` tracer (see tracers/mysql.yaml). */
export interface MysqlParams extends SecretRef {
  host?: string;
  port?: number;
  user?: string;
  /** Unix socket path; when given, host and port are not used to connect. */
  socket?: string;
  /** Read the top statements from performance_schema (default true). */
  statements?: boolean;
  /** How many statements per interval, by calls and by total latency (default 10). */
  top?: number;
  /** Longest digest text written, in characters (default 1024). */
  digest_text_max?: number;
  counters?: CounterMode;
}

/** The little of a client connection the collector uses, so that unit tests can stand in for a server. */
export interface MysqlConnection {
  /** Runs one statement with `?` placeholders and returns its rows as plain objects. */
  query(sql: string, values?: unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** Opens a connection; rejects with a sentence naming the server. */
export type MysqlConnect = () => Promise<MysqlConnection>;

/** A one-off remark about what the tracer could not observe, written once per stream. */
const NOTICE = 'tracer_notice';

/** `host:port`, or the socket path: Telegraf's `server` tag, and what error messages name. */
export function mysqlServerLabel(params: MysqlParams): string {
  return params.socket ?? `${params.host ?? '127.0.0.1'}:${params.port ?? 3306}`;
}

/**
 * MariaDB/MySQL activity: SHOW GLOBAL STATUS counters (Telegraf's `mysql` field names; running
 * totals, or per-interval changes with `counters: delta`) and the top statements from
 * performance_schema's digest summary.
 *
 * Availability: the tracer needs nothing on the agent's node but its bundled client library,
 * so `unavailableReason` is always undefined. Whether the server answers depends on the
 * scenario's `with:` block (host, port, credentials), which only a stream knows: `start()`
 * connects and rejects with a sentence naming the server when it cannot, which fails the step
 * barrier instead of recording nothing.
 */
export const mysqlTracer: TracerDefinition<MysqlParams> = {
  name: 'mysql',
  manifest: loadTracerManifest('mysql'),

  async unavailableReason(): Promise<string | undefined> {
    return undefined;
  },

  create(params: MysqlParams, options: TracerOptions, ctx: TracerContext): TracerInstance {
    return createClosingSampler(
      mysqlCollector(params, ctx, () => connectMysql(params)),
      options,
      ctx,
    );
  },
};

/** Connects with mysql2, loaded on first use so that listing the catalog does not load every driver. */
export async function connectMysql(params: MysqlParams): Promise<MysqlConnection> {
  const server = mysqlServerLabel(params);
  const user = params.user ?? 'root';
  const password = await readSecret(params, `mysql ${server}`);
  const mysql = await import('mysql2/promise');
  let conn: Awaited<ReturnType<typeof mysql.createConnection>>;
  try {
    conn = await mysql.createConnection({
      host: params.socket ? undefined : (params.host ?? '127.0.0.1'),
      port: params.socket ? undefined : (params.port ?? 3306),
      socketPath: params.socket,
      user,
      password,
      connectTimeout: 5000,
      // Digest timers are picoseconds in BIGINT UNSIGNED: beyond 2^53 within days of uptime.
      supportBigNumbers: true,
      bigNumberStrings: true,
      // LAST_SEEN goes back into the next query as it came: no time-zone round trip through Date.
      dateStrings: true,
    });
  } catch (err) {
    throw new RuntimeFailure(`mysql: cannot connect to ${server} as ${user}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  // A connection lost between ticks must not crash the agent: the next query reports it.
  conn.on('error', () => {});
  return {
    async query(sql, values) {
      const [rows] = await conn.query(sql, values);
      return rows as Record<string, unknown>[];
    },
    close: () => conn.end().catch(() => conn.destroy()),
  };
}

const STATUS_SQL = `SHOW GLOBAL STATUS WHERE Variable_name IN (${STATUS_VARIABLES.map((v) => `'${v}'`).join(', ')})`;

const DIGEST_COLUMNS =
  'SCHEMA_NAME, DIGEST, DIGEST_TEXT, COUNT_STAR, SUM_TIMER_WAIT, SUM_LOCK_TIME, SUM_ERRORS, SUM_WARNINGS, ' +
  'SUM_ROWS_AFFECTED, SUM_ROWS_SENT, SUM_ROWS_EXAMINED, SUM_CREATED_TMP_DISK_TABLES, SUM_NO_INDEX_USED, LAST_SEEN';
const DIGEST_TABLE = 'performance_schema.events_statements_summary_by_digest';

/** The collect function of a stream and the means to release its connection. */
export interface MysqlCollector {
  collect(): Promise<Sample[]>;
  close(): Promise<void>;
}

/**
 * The stateful collector of the `mysql` tracer. It keeps one connection (reopened on the next
 * tick after a failure), the previous status reading, and the running totals of every digest
 * seen, so that each call yields what happened since the previous one.
 */
export function mysqlCollector(
  params: MysqlParams,
  ctx: TracerContext,
  connect: MysqlConnect,
): MysqlCollector {
  const server = mysqlServerLabel(params);
  const mode = params.counters ?? 'cumulative';
  const top = params.top ?? 10;
  const textMax = params.digest_text_max ?? 1024;
  let conn: MysqlConnection | undefined;
  let prevStatus: Map<string, bigint> | undefined;
  /** undefined until checked; false once performance_schema turned out unusable. */
  let statementsOn: boolean | undefined = params.statements === false ? false : undefined;
  const digests = new Map<string, DigestTotals>();
  /** Newest LAST_SEEN read so far: later readings only ask for rows that changed since. */
  let lastSeen: string | undefined;
  const notices: Sample[] = [];

  const notice = (code: string, message: string): void => {
    ctx.log.warn(`mysql ${server}: ${message}`);
    notices.push({ measurement: NOTICE, tags: { server, code }, fields: { message }, time: ctx.now() });
  };

  // Whether the digest summary can be read, said once per stream; never a reason to fail.
  const checkStatements = async (c: MysqlConnection): Promise<boolean> => {
    try {
      const [ps] = await c.query('SELECT @@performance_schema AS on_');
      if (Number(ps?.on_) !== 1) {
        notice(
          'performance_schema_off',
          'performance_schema is OFF: top statements are not collected (start the server with --performance-schema=ON)',
        );
        return false;
      }
      const [consumer] = await c.query(
        "SELECT ENABLED AS enabled FROM performance_schema.setup_consumers WHERE NAME = 'statements_digest'",
      );
      if (consumer && String(consumer.enabled).toUpperCase() !== 'YES') {
        notice(
          'statements_digest_disabled',
          "the performance_schema consumer statements_digest is disabled: top statements are not collected (UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME = 'statements_digest')",
        );
        return false;
      }
      return true;
    } catch (err) {
      notice(
        'statements_unreadable',
        `cannot read ${DIGEST_TABLE}: ${errorMessage(err)}; top statements are not collected`,
      );
      return false;
    }
  };

  const readDigests = async (c: MysqlConnection): Promise<DigestRow[]> => {
    const rows = (lastSeen === undefined
      ? await c.query(`SELECT ${DIGEST_COLUMNS} FROM ${DIGEST_TABLE}`)
      : // LAST_SEEN has a one-second resolution: a row updated within the same second as the
        // newest one of the previous reading must still be read.
        await c.query(
          `SELECT ${DIGEST_COLUMNS} FROM ${DIGEST_TABLE} WHERE LAST_SEEN >= ? - INTERVAL 1 SECOND`,
          [lastSeen],
        )) as unknown as DigestRow[];
    for (const r of rows) if (lastSeen === undefined || r.LAST_SEEN > lastSeen) lastSeen = r.LAST_SEEN;
    return rows;
  };

  const tick = async (c: MysqlConnection): Promise<Sample[]> => {
    const status = parseStatusRows(await c.query(STATUS_SQL));
    statementsOn ??= await checkStatements(c);
    const digestRows = statementsOn ? await readDigests(c) : undefined;
    const time = ctx.now();
    const samples: Sample[] = notices.splice(0);
    const fields = statusFields(prevStatus, status, mode);
    if (Object.keys(fields).length > 0)
      samples.push({ measurement: 'mysql', tags: { server }, fields, time });
    if (digestRows) {
      const deltas = digestDeltas(digests, digestRows, prevStatus === undefined);
      const chosen = topN(
        deltas,
        top,
        (d) => d.calls,
        (d) => d.timerWait,
        (d) => `${d.schema ?? ''}/${d.digest ?? ''}`,
      );
      for (const d of chosen) {
        samples.push({
          measurement: 'mysql_statements',
          tags: statementTags(d, server),
          fields: statementFields(d, textMax),
          time,
        });
      }
    }
    prevStatus = status;
    return samples;
  };

  return {
    async collect() {
      conn ??= await connect();
      try {
        return await tick(conn);
      } catch (err) {
        // A lost connection is reopened on the next tick; the counters' baseline stays valid
        // (a restarted server shows as counters going backwards, handled as a reset).
        const lost = conn;
        conn = undefined;
        await lost.close().catch(() => {});
        throw new RuntimeFailure(`mysql ${server}: ${errorMessage(err)}`, { cause: err });
      }
    },
    async close() {
      const c = conn;
      conn = undefined;
      await c?.close();
    },
  };
}
