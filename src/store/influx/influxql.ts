/**
 * InfluxQL text built from values that come from users and tracers (run ids, tag values,
 * measurement names): quoted the way InfluxQL's scanner unquotes them, so that a tag value
 * with quotes, backslashes or unicode selects exactly that value and nothing else.
 */
import type { SampleFilter } from '../store.js';

/**
 * A quoted identifier (database, retention policy, measurement, tag or field key). InfluxQL
 * reads `\"` and `\\` inside double quotes; newlines cannot occur (line protocol has no way to
 * write them in names).
 */
export function ident(name: string): string {
  return '"' + name.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

/** A string literal: single quotes, with `\'` and `\\` escaped, and newlines as `\n`. */
export function literal(value: string): string {
  return "'" + value.replace(/[\\'\n]/g, (c) => (c === '\n' ? '\\n' : '\\' + c)) + "'";
}

/** `"db"."rp".` or `"db"..` (the database's default policy), to prefix a measurement. */
export function qualifier(database: string, retentionPolicy: string | undefined): string {
  return ident(database) + '.' + (retentionPolicy === undefined ? '' : ident(retentionPolicy)) + '.';
}

/**
 * The WHERE clause for one run's samples under a filter: the run tag, exact tag values and the
 * inclusive time range (integers in a time comparison are nanoseconds in InfluxQL). Returns
 * undefined when the filter can match nothing: an empty tag value, which InfluxQL would read
 * as "the tag is absent" while the stores never hold empty tag values.
 */
export function whereClause(runId: string, filter: SampleFilter = {}): string | undefined {
  const parts = [`${ident('run')} = ${literal(runId)}`];
  for (const [key, value] of Object.entries(filter.tags ?? {})) {
    if (value === '') return undefined;
    if (key === 'run') {
      if (value !== runId) return undefined;
      continue;
    }
    parts.push(`${ident(key)} = ${literal(value)}`);
  }
  if (filter.from !== undefined) parts.push(`time >= ${filter.from}`);
  if (filter.to !== undefined) parts.push(`time <= ${filter.to}`);
  return parts.join(' AND ');
}
