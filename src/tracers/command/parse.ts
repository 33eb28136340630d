import type { FieldValue } from '../../core/sample.js';
import type { OperatorCommand } from '../operator-catalog.js';

/**
 * Parsers of the `command` tracer: one stdout line in, one record out. Pure functions; the
 * tracer adds the timestamp (unless line protocol carries one) and its own tags.
 */

/** One parsed line. */
export interface ParsedRecord {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  /** Nanoseconds since the epoch, when the line carried a timestamp (line protocol only). */
  time?: bigint;
}

/** A line that cannot be parsed in the command's format; the message says what was expected. */
export class LineParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LineParseError';
  }
}

/**
 * Turns a scalar written as text into a field value, with line protocol's conventions:
 * `12i` (or `12u`) is an integer, a decimal number is a float, true/false are booleans,
 * anything else is a string.
 */
export function scalarField(text: string): FieldValue {
  if (/^[+-]?\d+[iu]$/.test(text)) return BigInt(text.slice(0, -1).replace(/^\+/, ''));
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return Number(text);
  const lower = text.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  return text;
}

// ---------------------------------------------------------------------------------------------
// Line protocol
// ---------------------------------------------------------------------------------------------

/**
 * Parses one line of InfluxDB line protocol:
 * `measurement[,tag=value...] field=value[,field=value...] [timestamp-ns]`, with its escapes
 * (`\,` `\ ` `\=` in names, `\"` `\\` in string fields) and field types (`1i`, `1u`, `1.5`,
 * `t`/`true`/`f`/`false`, `"text"`). Returns undefined for blank lines and `#` comments.
 */
export function parseLineProtocol(line: string): ParsedRecord | undefined {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  let i = 0;

  // Reads up to an unescaped character of `stops`, unescaping `\x` to `x` for the escapable ones.
  const readName = (stops: string): string => {
    let out = '';
    while (i < text.length && !stops.includes(text[i])) {
      if (text[i] === '\\' && i + 1 < text.length && ',= \\"'.includes(text[i + 1])) {
        out += text[i + 1];
        i += 2;
      } else {
        out += text[i++];
      }
    }
    return out;
  };

  const measurement = readName(', ');
  if (measurement === '') throw new LineParseError('line protocol: the line starts with no measurement name');
  const tags: Record<string, string> = {};
  while (text[i] === ',') {
    i++;
    const key = readName('=, ');
    if (text[i] !== '=' || key === '')
      throw new LineParseError(`line protocol: tag "${key}" has no value (expected key=value)`);
    i++;
    const value = readName(', ');
    if (value === '') throw new LineParseError(`line protocol: tag "${key}" has an empty value`);
    tags[key] = value;
  }
  if (text[i] !== ' ')
    throw new LineParseError('line protocol: expected a space, then fields, after the measurement and tags');
  while (text[i] === ' ') i++;

  const fields: Record<string, FieldValue> = {};
  for (;;) {
    const key = readName('=, ');
    if (text[i] !== '=' || key === '')
      throw new LineParseError(`line protocol: field "${key}" has no value (expected key=value)`);
    i++;
    if (text[i] === '"') {
      i++;
      let value = '';
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && (text[i + 1] === '"' || text[i + 1] === '\\')) {
          value += text[i + 1];
          i += 2;
        } else {
          value += text[i++];
        }
      }
      if (text[i] !== '"') throw new LineParseError(`line protocol: string field "${key}" is not closed`);
      i++;
      fields[key] = value;
    } else {
      const raw = readName(', ');
      fields[key] = lineProtocolValue(raw, key);
    }
    if (text[i] === ',') {
      i++;
      continue;
    }
    break;
  }
  let time: bigint | undefined;
  const rest = text.slice(i).trim();
  if (rest !== '') {
    if (!/^-?\d+$/.test(rest))
      throw new LineParseError(`line protocol: "${rest}" is not a timestamp in nanoseconds`);
    time = BigInt(rest);
  }
  return { measurement, tags, fields, time };
}

function lineProtocolValue(raw: string, key: string): FieldValue {
  if (/^[+-]?\d+[iu]$/.test(raw)) return BigInt(raw.slice(0, -1).replace(/^\+/, ''));
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) return Number(raw);
  if (/^(t|T|true|True|TRUE)$/.test(raw)) return true;
  if (/^(f|F|false|False|FALSE)$/.test(raw)) return false;
  throw new LineParseError(
    `line protocol: field "${key}" has an invalid value "${raw}" (strings need double quotes)`,
  );
}

// ---------------------------------------------------------------------------------------------
// JSON lines, key=value, regex
// ---------------------------------------------------------------------------------------------

/** How json, kv and regex lines are named and split into tags and fields. */
export interface RecordShape {
  measurement: string;
  /** Keys written as tags; every other key is a field. */
  tags?: readonly string[];
}

/**
 * Parses one JSON object per line. Numbers are float fields (JSON has no integer type, and a
 * field's type must not change from one line to the next), booleans and strings keep their
 * type, nested objects are flattened with `_` (`{"mem":{"rss":1}}` → `mem_rss`), arrays and
 * nulls are left out. Keys listed in `shape.tags` become tags.
 */
export function parseJsonLine(line: string, shape: RecordShape): ParsedRecord | undefined {
  const text = line.trim();
  if (text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new LineParseError(`json: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LineParseError('json: expected one object per line');
  }
  const flat: Record<string, unknown> = {};
  flatten(value as Record<string, unknown>, '', flat);
  return split(flat, shape, (v) =>
    typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' ? v : undefined,
  );
}

function flatten(obj: Record<string, unknown>, prefix: string, out: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}_${k}` : k;
    if (typeof v === 'object' && v !== null && !Array.isArray(v))
      flatten(v as Record<string, unknown>, key, out);
    else out[key] = v;
  }
}

/**
 * Parses `key=value` pairs separated by spaces (`rss=1024i load=0.5 state=running`). A
 * double-quoted value (`msg="disk full"`) is a string as written; an unquoted one follows
 * {@link scalarField}.
 */
export function parseKvLine(line: string, shape: RecordShape): ParsedRecord | undefined {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  const values: Record<string, FieldValue> = {};
  const re = /([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/y;
  let i = 0;
  while (i < text.length) {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) throw new LineParseError(`kv: expected key=value at "${text.slice(i, i + 20)}"`);
    values[m[1]] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : scalarField(m[3]);
    i = re.lastIndex;
    if (i < text.length && !/\s/.test(text[i]))
      throw new LineParseError(`kv: expected a space after "${m[0]}"`);
    while (i < text.length && /\s/.test(text[i])) i++;
  }
  return split(values, shape, (v) => v as FieldValue);
}

/**
 * Matches `re` (with named groups) against the line; a line that does not match is skipped
 * (undefined). Groups named in `shape.tags` become tags, the others fields ({@link scalarField}).
 */
export function parseRegexLine(line: string, re: RegExp, shape: RecordShape): ParsedRecord | undefined {
  const m = re.exec(line);
  if (!m?.groups) return undefined;
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.groups)) if (v !== undefined) values[k] = v;
  return split(values, shape, (v) => scalarField(v as string));
}

function split(
  values: Record<string, unknown>,
  shape: RecordShape,
  toField: (v: unknown) => FieldValue | undefined,
): ParsedRecord {
  const tagKeys = new Set(shape.tags ?? []);
  const tags: Record<string, string> = {};
  const fields: Record<string, FieldValue> = {};
  for (const [k, v] of Object.entries(values)) {
    if (tagKeys.has(k)) {
      if (v !== null && v !== undefined && String(v) !== '') tags[k] = String(v);
      continue;
    }
    const f = toField(v);
    if (f !== undefined) fields[k] = f;
  }
  if (Object.keys(fields).length === 0)
    throw new LineParseError('the line has no field (only tags or nothing usable)');
  return { measurement: shape.measurement, tags, fields };
}

/** The parser of one catalog entry's lines. */
export type LineParser = (line: string) => ParsedRecord | undefined;

/** Builds the parser a catalog entry asks for. */
export function lineParserFor(command: OperatorCommand): LineParser {
  const shape: RecordShape = { measurement: command.measurement ?? command.name, tags: command.tags };
  switch (command.format) {
    case 'line-protocol':
      return parseLineProtocol;
    case 'json':
      return (line) => parseJsonLine(line, shape);
    case 'kv':
      return (line) => parseKvLine(line, shape);
    case 'regex': {
      const re = new RegExp(command.regex ?? '');
      return (line) => parseRegexLine(line, re, shape);
    }
    case undefined:
      throw new Error(`command "${command.name}" has no format: its output is not parsed`);
  }
}
