/**
 * InfluxDB's JSON query responses turned back into Samples with the types they were written
 * with. Two things make `JSON.parse` alone wrong here:
 *
 * - Timestamps (`epoch=ns`) and 64-bit integer fields exceed 2^53: a JS number would round
 *   them. Long integer literals are therefore kept as text and read as bigint.
 * - JSON does not say whether `1` was the integer `1i` or the float `1.0`: the field's type
 *   comes from `SHOW FIELD KEYS`, as InfluxDB's own clients do it.
 */
import type { FieldValue, Sample } from '../../core/sample.js';

/** One series of a result: with `GROUP BY *`, tags come here and columns are time plus fields. */
export interface ResultSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}

/** One statement's result. */
export interface StatementResult {
  statement_id?: unknown;
  series?: ResultSeries[];
  error?: string;
  partial?: boolean;
  messages?: { level: string; text: string }[];
}

/** A (possibly partial, when chunked) response document. */
export interface QueryResponse {
  results?: StatementResult[];
  error?: string;
}

/** A long integer literal kept as text: `{ big: "1700000000000000001" }`. */
interface BigLiteral {
  big: string;
}

/**
 * Integer literals of 16 digits or more, outside strings: the only numbers a double might not
 * hold exactly. Strings are matched (and kept) so that digits inside them are never touched;
 * the look-behind keeps the long fraction of a float (`0.3333333333333333`) a float.
 */
const LONG_INTEGERS = /"[^"\\]*(?:\\.[^"\\]*)*"|(?<![\d.eE+-])-?\d{16,}(?![\d.eE])/g;

function keepLongIntegers(token: string): string {
  return token.charCodeAt(0) === 34 ? token : `{"big":"${token}"}`;
}

/** Parses one response document, keeping long integers exact (see the module notes). */
export function parseQueryResponse(text: string): QueryResponse {
  return JSON.parse(text.replace(LONG_INTEGERS, keepLongIntegers)) as QueryResponse;
}

function isBig(value: unknown): value is BigLiteral {
  return typeof value === 'object' && value !== null && typeof (value as BigLiteral).big === 'string';
}

/** The field types `SHOW FIELD KEYS` lists, per measurement and field key. */
export type FieldTypes = Map<string, Map<string, FieldType>>;

/**
 * A field's type. A key written as integer in one shard and float in another has two types
 * (InfluxDB refuses a change within a shard, not across shards); it is read as a float then,
 * which loses nothing a float can hold.
 */
export type FieldType = 'float' | 'integer' | 'string' | 'boolean' | 'unsigned';

/** Builds FieldTypes from the result of `SHOW FIELD KEYS`. */
export function fieldTypesOf(result: StatementResult, into: FieldTypes = new Map()): FieldTypes {
  for (const series of result.series ?? []) {
    let types = into.get(series.name);
    if (!types) {
      types = new Map();
      into.set(series.name, types);
    }
    for (const row of series.values ?? []) {
      const key = String(row[0]);
      const type = String(row[1]) as FieldType;
      const before = types.get(key);
      types.set(key, before === undefined || before === type ? type : 'float');
    }
  }
  return into;
}

function toBigInt(value: unknown, what: string): bigint {
  if (isBig(value)) return BigInt(value.big);
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  throw new Error(`InfluxDB returned ${JSON.stringify(value)} for ${what}, expected an integer`);
}

function toField(value: unknown, type: FieldType | undefined, what: string): FieldValue {
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (type === 'integer' || type === 'unsigned') return toBigInt(value, what);
  if (isBig(value)) return Number(value.big);
  if (typeof value === 'number') return value;
  throw new Error(`InfluxDB returned ${JSON.stringify(value)} for ${what}`);
}

/**
 * The samples of one series of a `SELECT * … GROUP BY *` result, with fields typed by
 * `types`. Null cells are fields the point does not have (a series' columns are the union of
 * its points' fields).
 */
export function* seriesSamples(series: ResultSeries, types: FieldTypes): Generator<Sample> {
  const columns = series.columns;
  if (columns[0] !== 'time') throw new Error(`InfluxDB returned a series without a time column`);
  const measurementTypes = types.get(series.name);
  const fieldTypes = columns.map((c) => measurementTypes?.get(c));
  const baseTags = series.tags ?? {};
  // GROUP BY * reports tags absent from a series as "": the stores never hold empty tag values.
  const tagEntries = Object.entries(baseTags).filter(([, v]) => v !== '');
  for (const row of series.values ?? []) {
    const fields: Record<string, FieldValue> = {};
    let any = false;
    for (let i = 1; i < columns.length; i++) {
      const cell = row[i];
      if (cell === null || cell === undefined) continue;
      const key = columns[i];
      const value = toField(cell, fieldTypes[i], `field ${key} of ${series.name}`);
      if (key === '__proto__') {
        Object.defineProperty(fields, key, { value, enumerable: true, writable: true, configurable: true });
      } else fields[key] = value;
      any = true;
    }
    if (!any) continue;
    const tags: Record<string, string> = {};
    for (const [k, v] of tagEntries) tags[k] = v;
    yield { measurement: series.name, tags, fields, time: toBigInt(row[0], `the time of ${series.name}`) };
  }
}
