/**
 * Pure parts of the `mysql` tracer: which SHOW GLOBAL STATUS variables become which fields,
 * and how per-interval deltas and the top statements are computed from two readings. No I/O,
 * so unit tests feed them recorded result sets (test/fixtures/mysql/).
 */
import type { CounterMode } from '../../core/counters.js';
import type { FieldValue } from '../../core/sample.js';

/**
 * Cumulative SHOW GLOBAL STATUS counters, by their server name. Written lowercased, which is
 * Telegraf's field name for each (`Com_select` → `com_select`).
 */
export const STATUS_COUNTERS = [
  'Questions',
  'Queries',
  'Com_select',
  'Com_insert',
  'Com_update',
  'Com_delete',
  'Com_replace',
  'Com_commit',
  'Com_rollback',
  'Slow_queries',
  'Connections',
  'Aborted_clients',
  'Aborted_connects',
  'Bytes_received',
  'Bytes_sent',
  'Created_tmp_tables',
  'Created_tmp_disk_tables',
  'Select_full_join',
  'Select_scan',
  'Sort_merge_passes',
  'Table_locks_waited',
  'Rows_read',
  'Rows_sent',
  'Innodb_rows_read',
  'Innodb_rows_inserted',
  'Innodb_rows_updated',
  'Innodb_rows_deleted',
  'Innodb_buffer_pool_read_requests',
  'Innodb_buffer_pool_reads',
  'Innodb_data_reads',
  'Innodb_data_writes',
  'Innodb_row_lock_waits',
  'Innodb_row_lock_time',
] as const;

/** Status variables that are a level at the time of reading, never differenced. */
export const STATUS_GAUGES = [
  'Threads_running',
  'Threads_connected',
  'Innodb_row_lock_current_waits',
] as const;

/** Every variable the tracer reads, for `SHOW GLOBAL STATUS WHERE Variable_name IN (...)`. */
export const STATUS_VARIABLES: readonly string[] = [...STATUS_COUNTERS, ...STATUS_GAUGES];

/**
 * Turns `SHOW GLOBAL STATUS` rows (`Variable_name`, `Value`; MariaDB and MySQL both answer
 * with these column names) into a map of integer values. Non-integer values are skipped.
 */
export function parseStatusRows(rows: ReadonlyArray<Record<string, unknown>>): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const row of rows) {
    const name = String(row.Variable_name ?? row.variable_name ?? '');
    const value = String(row.Value ?? row.value ?? '');
    if (name && /^\d+$/.test(value)) out.set(name, BigInt(value));
  }
  return out;
}

/**
 * A counter's change since the previous reading. A counter that went backwards means the
 * server restarted (or FLUSH STATUS ran): what it counts now was all counted since then.
 */
export function counterDelta(prev: bigint | undefined, cur: bigint): bigint {
  if (prev === undefined) return cur;
  return cur >= prev ? cur - prev : cur;
}

/**
 * The fields of one `mysql` sample. In delta mode the counters need a previous reading, so the
 * first call (prev undefined) yields the gauges only; counters missing from the server (an
 * older version, or MySQL vs MariaDB) are left out rather than written as 0.
 */
export function statusFields(
  prev: Map<string, bigint> | undefined,
  cur: Map<string, bigint>,
  mode: CounterMode,
): Record<string, FieldValue> {
  const fields: Record<string, FieldValue> = {};
  for (const name of STATUS_COUNTERS) {
    const value = cur.get(name);
    if (value === undefined) continue;
    if (mode === 'cumulative') fields[name.toLowerCase()] = value;
    else if (prev !== undefined) fields[name.toLowerCase()] = counterDelta(prev.get(name), value);
  }
  for (const name of STATUS_GAUGES) {
    const value = cur.get(name);
    if (value !== undefined) fields[name.toLowerCase()] = value;
  }
  return fields;
}

/** One row of performance_schema.events_statements_summary_by_digest, as read (big numbers as strings). */
export interface DigestRow {
  SCHEMA_NAME: string | null;
  DIGEST: string | null;
  DIGEST_TEXT: string | null;
  COUNT_STAR: string | number;
  SUM_TIMER_WAIT: string | number;
  SUM_LOCK_TIME: string | number;
  SUM_ERRORS: string | number;
  SUM_WARNINGS: string | number;
  SUM_ROWS_AFFECTED: string | number;
  SUM_ROWS_SENT: string | number;
  SUM_ROWS_EXAMINED: string | number;
  SUM_CREATED_TMP_DISK_TABLES: string | number;
  SUM_NO_INDEX_USED: string | number;
  /** 'YYYY-MM-DD HH:MM:SS' in the server's time zone (the connection asks for date strings). */
  LAST_SEEN: string;
}

/** The running totals of one digest, as the server holds them. */
export interface DigestTotals {
  schema: string | null;
  digest: string | null;
  text: string;
  calls: bigint;
  /** Picoseconds, the performance_schema timer unit. */
  timerWait: bigint;
  lockTime: bigint;
  errors: bigint;
  warnings: bigint;
  rowsAffected: bigint;
  rowsSent: bigint;
  rowsExamined: bigint;
  tmpDiskTables: bigint;
  noIndexUsed: bigint;
}

/** What one digest did over the interval (same shape as the totals, as differences). */
export type DigestDelta = DigestTotals;

const big = (v: string | number | null | undefined): bigint =>
  v === null || v === undefined || v === '' ? 0n : BigInt(v);

/** The key a digest is remembered by: the same statement shape in two schemas is two rows. */
export function digestKey(schema: string | null, digest: string | null): string {
  return `${schema ?? ''}\u0000${digest ?? ''}`;
}

export function digestTotals(row: DigestRow): DigestTotals {
  return {
    schema: row.SCHEMA_NAME,
    digest: row.DIGEST,
    text: row.DIGEST_TEXT ?? '',
    calls: big(row.COUNT_STAR),
    timerWait: big(row.SUM_TIMER_WAIT),
    lockTime: big(row.SUM_LOCK_TIME),
    errors: big(row.SUM_ERRORS),
    warnings: big(row.SUM_WARNINGS),
    rowsAffected: big(row.SUM_ROWS_AFFECTED),
    rowsSent: big(row.SUM_ROWS_SENT),
    rowsExamined: big(row.SUM_ROWS_EXAMINED),
    tmpDiskTables: big(row.SUM_CREATED_TMP_DISK_TABLES),
    noIndexUsed: big(row.SUM_NO_INDEX_USED),
  };
}

/**
 * The tracer's own statements, left out of the top statements (they are still in the
 * status counters: one SHOW GLOBAL STATUS and one SELECT per interval).
 */
export function isOwnStatement(text: string): boolean {
  return /events_statements_summary_by_digest/i.test(text) || /^SHOW GLOBAL STATUS WHERE/i.test(text);
}

/**
 * Differences between the remembered totals and the rows read now, updating `known` in place.
 * Rows not read now (the tracer asks only for rows seen since its previous reading) keep their
 * totals. A digest seen for the first time counts whole: it appeared since the previous reading
 * (the baseline reading, with `baseline` true, only fills `known`). A digest whose count went
 * backwards was reset (TRUNCATE of the table, or the server restarted) and counts from zero.
 */
export function digestDeltas(
  known: Map<string, DigestTotals>,
  rows: readonly DigestRow[],
  baseline: boolean,
): DigestDelta[] {
  const out: DigestDelta[] = [];
  for (const row of rows) {
    const cur = digestTotals(row);
    const key = digestKey(cur.schema, cur.digest);
    const prev = known.get(key);
    known.set(key, cur);
    if (baseline || isOwnStatement(cur.text)) continue;
    const base = prev === undefined || cur.calls < prev.calls ? undefined : prev;
    const d = (
      f: keyof DigestTotals &
        (
          | 'calls'
          | 'timerWait'
          | 'lockTime'
          | 'errors'
          | 'warnings'
          | 'rowsAffected'
          | 'rowsSent'
          | 'rowsExamined'
          | 'tmpDiskTables'
          | 'noIndexUsed'
        ),
    ) => (base === undefined ? cur[f] : cur[f] - base[f]);
    const calls = d('calls');
    if (calls <= 0n) continue;
    out.push({
      ...cur,
      calls,
      timerWait: d('timerWait'),
      lockTime: d('lockTime'),
      errors: d('errors'),
      warnings: d('warnings'),
      rowsAffected: d('rowsAffected'),
      rowsSent: d('rowsSent'),
      rowsExamined: d('rowsExamined'),
      tmpDiskTables: d('tmpDiskTables'),
      noIndexUsed: d('noIndexUsed'),
    });
  }
  return out;
}

/**
 * The top `n` by calls together with the top `n` by total latency (at most 2n, usually fewer
 * since the two lists overlap), most calls first. Ties keep a stable order by digest.
 */
export function topN<T>(
  items: readonly T[],
  n: number,
  byA: (t: T) => bigint,
  byB: (t: T) => bigint,
  id: (t: T) => string,
): T[] {
  const cmp = (by: (t: T) => bigint) => (a: T, b: T) => {
    const x = by(a);
    const y = by(b);
    return x > y ? -1 : x < y ? 1 : id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0;
  };
  const first = [...items].sort(cmp(byA)).slice(0, n);
  const second = [...items].sort(cmp(byB)).slice(0, n);
  const chosen = new Set([...first, ...second]);
  return [...items].filter((t) => chosen.has(t)).sort(cmp(byA));
}

/** Cuts a statement text to `max` characters, marking the cut with an ellipsis. */
export function boundText(text: string, max: number): string {
  const t = text.trim();
  return t.length <= max ? t : `${t.slice(0, Math.max(0, max - 1))}…`;
}

/** Picoseconds to milliseconds, as a float. */
export function psToMs(ps: bigint): number {
  return Number(ps / 1000n) / 1e6;
}

/** The fields of one `mysql_statements` sample. */
export function statementFields(d: DigestDelta, textMax: number): Record<string, FieldValue> {
  const total = psToMs(d.timerWait);
  return {
    calls: d.calls,
    total_latency_ms: total,
    avg_latency_ms: total / Number(d.calls),
    lock_latency_ms: psToMs(d.lockTime),
    errors: d.errors,
    warnings: d.warnings,
    rows_affected: d.rowsAffected,
    rows_sent: d.rowsSent,
    rows_examined: d.rowsExamined,
    tmp_disk_tables: d.tmpDiskTables,
    no_index_used: d.noIndexUsed,
    digest_text: boundText(d.text, textMax),
  };
}

/**
 * Tags of one `mysql_statements` sample. Statements that overflowed the digest table
 * (performance_schema_digests_size) are summed by the server in a row without a digest: tagged
 * `digest=(other)`. A statement run with no default schema has no `schema` tag.
 */
export function statementTags(d: DigestDelta, server: string): Record<string, string> {
  const tags: Record<string, string> = { server, digest: d.digest ?? '(other)' };
  if (d.schema) tags.schema = d.schema;
  return tags;
}
