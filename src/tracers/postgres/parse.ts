/**
 * Pure parts of the `postgres` tracer: which pg_stat_database columns become which fields,
 * and how per-interval deltas and the top statements are computed from two readings. No I/O,
 * so unit tests feed them recorded rows (test/fixtures/postgres/).
 */
import type { CounterMode } from '../../core/counters.js';
import type { FieldValue } from '../../core/sample.js';

/** Integer counters of pg_stat_database (bigint columns), Telegraf's `postgresql` field names. */
export const DATABASE_COUNTERS = [
  'xact_commit',
  'xact_rollback',
  'blks_read',
  'blks_hit',
  'tup_returned',
  'tup_fetched',
  'tup_inserted',
  'tup_updated',
  'tup_deleted',
  'conflicts',
  'temp_files',
  'temp_bytes',
  'deadlocks',
  // PostgreSQL 14 and later.
  'sessions',
  'sessions_abandoned',
  'sessions_fatal',
  'sessions_killed',
] as const;

/** Counters in milliseconds (double precision columns). */
export const DATABASE_TIME_COUNTERS = [
  'blk_read_time',
  'blk_write_time',
  // PostgreSQL 14 and later.
  'session_time',
  'active_time',
  'idle_in_transaction_time',
] as const;

/** Levels at the time of reading. */
export const DATABASE_GAUGES = ['numbackends'] as const;

/** One database's counters as read: integers exact, times in milliseconds. */
export interface DatabaseReading {
  ints: Map<string, bigint>;
  times: Map<string, number>;
}

const toBig = (v: unknown): bigint | undefined => {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.trunc(v));
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  return undefined;
};

const toNum = (v: unknown): number | undefined => {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
};

/**
 * Rows of `SELECT * FROM pg_stat_database` by database name. The row of shared catalogs
 * (datname NULL, PostgreSQL 12+) is skipped; so are databases not in `only`, when given.
 * Columns a server version lacks are simply absent from the reading.
 */
export function parseDatabaseRows(
  rows: ReadonlyArray<Record<string, unknown>>,
  only?: ReadonlySet<string>,
): Map<string, DatabaseReading> {
  const out = new Map<string, DatabaseReading>();
  for (const row of rows) {
    const name = row.datname;
    if (typeof name !== 'string' || (only && !only.has(name))) continue;
    const ints = new Map<string, bigint>();
    const times = new Map<string, number>();
    for (const c of [...DATABASE_COUNTERS, ...DATABASE_GAUGES]) {
      const v = toBig(row[c]);
      if (v !== undefined) ints.set(c, v);
    }
    for (const c of DATABASE_TIME_COUNTERS) {
      const v = toNum(row[c]);
      if (v !== undefined) times.set(c, v);
    }
    out.set(name, { ints, times });
  }
  return out;
}

/**
 * The fields of one `postgresql` sample. In delta mode the counters need a previous reading of
 * the same database, so its first sample carries numbackends only. A counter that went
 * backwards (pg_stat_reset, or a crash recovery) counts from zero.
 */
export function databaseFields(
  prev: DatabaseReading | undefined,
  cur: DatabaseReading,
  mode: CounterMode,
): Record<string, FieldValue> {
  const fields: Record<string, FieldValue> = {};
  for (const c of DATABASE_COUNTERS) {
    const v = cur.ints.get(c);
    if (v === undefined) continue;
    if (mode === 'cumulative') fields[c] = v;
    else if (prev) {
      const p = prev.ints.get(c);
      fields[c] = p === undefined || v < p ? v : v - p;
    }
  }
  for (const c of DATABASE_TIME_COUNTERS) {
    const v = cur.times.get(c);
    if (v === undefined) continue;
    if (mode === 'cumulative') fields[c] = v;
    else if (prev) {
      const p = prev.times.get(c);
      fields[c] = p === undefined || v < p ? v : v - p;
    }
  }
  const backends = cur.ints.get('numbackends');
  if (backends !== undefined) fields.numbackends = backends;
  return fields;
}

/** One row of pg_stat_statements(false), reduced to what the tracer writes. */
export interface StatementTotals {
  /** userid/dbid/queryid/toplevel: pg_stat_statements' own key. */
  key: string;
  queryid: string;
  db: string;
  user: string;
  /** undefined before PostgreSQL 14 (no toplevel column). */
  toplevel?: boolean;
  calls: bigint;
  /** total_exec_time (total_time before PostgreSQL 13), milliseconds. */
  totalTime: number;
  rows: bigint;
  sharedBlksHit: bigint;
  sharedBlksRead: bigint;
  tempBlksWritten: bigint;
}

export type StatementDelta = StatementTotals;

/** Reads one row of the tracer's pg_stat_statements query (see the collector for its columns). */
export function statementTotals(row: Record<string, unknown>): StatementTotals | undefined {
  // Without pg_read_all_stats, other users' rows come with a NULL queryid: nothing to key them by.
  if (row.queryid === null || row.queryid === undefined) return undefined;
  const queryid = String(row.queryid);
  const toplevel = typeof row.toplevel === 'boolean' ? row.toplevel : undefined;
  return {
    key: `${row.userid}/${row.dbid}/${queryid}/${toplevel ?? ''}`,
    queryid,
    db: String(row.datname ?? row.dbid),
    user: String(row.username ?? row.userid),
    toplevel,
    calls: toBig(row.calls) ?? 0n,
    totalTime: toNum(row.total_time) ?? 0,
    rows: toBig(row.rows) ?? 0n,
    sharedBlksHit: toBig(row.shared_blks_hit) ?? 0n,
    sharedBlksRead: toBig(row.shared_blks_read) ?? 0n,
    tempBlksWritten: toBig(row.temp_blks_written) ?? 0n,
  };
}

/**
 * Differences between the remembered totals and the rows read now, replacing `known` in place
 * (an entry pg_stat_statements evicted is forgotten too). A statement seen for the first time
 * counts whole; one whose calls went backwards was reset or evicted and re-created, and counts
 * from zero. The baseline reading only fills `known`.
 */
export function statementDeltas(
  known: Map<string, StatementTotals>,
  rows: readonly StatementTotals[],
  baseline: boolean,
): StatementDelta[] {
  const out: StatementDelta[] = [];
  const previous = new Map(known);
  known.clear();
  for (const cur of rows) {
    known.set(cur.key, cur);
    if (baseline) continue;
    const prev = previous.get(cur.key);
    const base = prev === undefined || cur.calls < prev.calls ? undefined : prev;
    const calls = base ? cur.calls - base.calls : cur.calls;
    if (calls <= 0n) continue;
    out.push({
      ...cur,
      calls,
      totalTime: base ? Math.max(0, cur.totalTime - base.totalTime) : cur.totalTime,
      rows: base ? cur.rows - base.rows : cur.rows,
      sharedBlksHit: base ? cur.sharedBlksHit - base.sharedBlksHit : cur.sharedBlksHit,
      sharedBlksRead: base ? cur.sharedBlksRead - base.sharedBlksRead : cur.sharedBlksRead,
      tempBlksWritten: base ? cur.tempBlksWritten - base.tempBlksWritten : cur.tempBlksWritten,
    });
  }
  return out;
}

/**
 * The top `n` by calls together with the top `n` by total time (at most 2n), most calls
 * first; ties in a stable order by key.
 */
export function topStatements(items: readonly StatementDelta[], n: number): StatementDelta[] {
  const byKey = (a: StatementDelta, b: StatementDelta) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  const byCalls = (a: StatementDelta, b: StatementDelta) =>
    a.calls > b.calls ? -1 : a.calls < b.calls ? 1 : byKey(a, b);
  const byTime = (a: StatementDelta, b: StatementDelta) => b.totalTime - a.totalTime || byKey(a, b);
  const chosen = new Set([...[...items].sort(byCalls).slice(0, n), ...[...items].sort(byTime).slice(0, n)]);
  return [...chosen].sort(byCalls);
}

/** The tracer's own queries, left out of the top statements when the server tracked them anyway. */
export function isOwnStatement(text: string): boolean {
  return /pg_stat_statements\s*\(/i.test(text) || /FROM\s+pg_stat_database\b/i.test(text);
}

/** Cuts a query text to `max` characters (whitespace runs folded), marking the cut with an ellipsis. */
export function boundQuery(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length <= max ? t : `${t.slice(0, Math.max(0, max - 1))}…`;
}

/** Tags of one `postgresql_statements` sample. */
export function statementTags(s: StatementDelta, server: string): Record<string, string> {
  const tags: Record<string, string> = { server, db: s.db, user: s.user, queryid: s.queryid };
  if (s.toplevel !== undefined) tags.toplevel = String(s.toplevel);
  return tags;
}

/** Fields of one `postgresql_statements` sample; `query` only when its text is known. */
export function statementFields(
  s: StatementDelta,
  query: string | undefined,
  max: number,
): Record<string, FieldValue> {
  const fields: Record<string, FieldValue> = {
    calls: s.calls,
    total_exec_time_ms: s.totalTime,
    mean_exec_time_ms: s.totalTime / Number(s.calls),
    rows: s.rows,
    shared_blks_hit: s.sharedBlksHit,
    shared_blks_read: s.sharedBlksRead,
    temp_blks_written: s.tempBlksWritten,
  };
  if (query !== undefined) fields.query = boundQuery(query, max);
  return fields;
}
