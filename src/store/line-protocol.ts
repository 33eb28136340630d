/**
 * InfluxDB 1.x line protocol, encoded and decoded exactly as InfluxDB 1.x parses it
 * (models/points.go), so that what the local store keeps, what travels over MQTT and what
 * InfluxDB stores are the same bytes with the same meaning.
 *
 * Choices where the protocol leaves room, and why:
 *
 * - Newlines in string field values are written raw, inside the quotes. InfluxDB 1.x's line
 *   scanner does not end a line on a newline inside a quoted field value, and it unescapes
 *   only `\\` and `\"` in strings, so a written `\n` would be stored as a backslash and an
 *   `n`. A record can therefore span several physical lines, and every reader here (decodeLines,
 *   decodeStream) is quote-aware rather than splitting on newlines.
 * - Newlines cannot be carried in a measurement, tag key, tag value or field key at all (a raw
 *   one ends the line; InfluxDB does not unescape `\n`), so the encoder refuses them rather
 *   than silently changing the value.
 * - InfluxDB does not unescape backslashes in names and tag values: a backslash is kept as is,
 *   except when it is followed by a character it reads as an escape (`,`, space, `=`, `"`) or
 *   ends the value (it then escapes the delimiter that follows). Those values cannot be
 *   written exactly, so the encoder refuses them too. Other backslashes pass through.
 * - Tags are written sorted by key (InfluxDB's advice, and it makes the output deterministic);
 *   tags with an empty value are left out, since InfluxDB refuses them.
 * - NaN and ±Infinity cannot be written to InfluxDB; such fields are dropped, and a sample left
 *   with no field is dropped by the batch encoder, which counts it.
 * - Every record carries a nanosecond timestamp: the decoder refuses a line without one, since
 *   a sample without a time would get whatever time it happened to be read at.
 */
import type { FieldValue, Sample } from '../core/sample.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// Character codes, named once: the scanners below work on charCodeAt for speed.
const NL = 10;
const TAB = 9;
const SPACE = 32;
const QUOTE = 34;
const HASH = 35;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const EQUALS = 61;
const BACKSLASH = 92;

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/** The result of encoding a batch. */
export interface EncodedBatch {
  /** The records, each ending with a newline. Empty when every sample was dropped. */
  text: string;
  /** Records written (a record may span several physical lines when a string field holds newlines). */
  lines: number;
  /** Samples left out because none of their fields could be written (all NaN or ±Infinity). */
  dropped: number;
}

function refuse(measurement: string, what: string): never {
  throw new Error(`cannot encode a ${JSON.stringify(measurement)} sample as line protocol: ${what}`);
}

/** Why escapeName last refused a value: a side channel, so the hot path returns a plain string. */
let problem = '';

/**
 * Escapes a measurement (`equals` false) or a tag key, tag value or field key (`equals` true).
 * Returns undefined when the value cannot be written exactly, with the reason in `problem`.
 */
function escapeName(s: string, equals: boolean): string | undefined {
  let out = '';
  let from = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    // Every character that needs attention is at or below the backslash: one compare skips letters.
    if (c > BACKSLASH) continue;
    if (c === SPACE || c === COMMA || (equals && c === EQUALS)) {
      out += s.slice(from, i) + '\\';
      from = i;
    } else if (c === BACKSLASH) {
      const next = i + 1 < n ? s.charCodeAt(i + 1) : -1;
      if (next === -1 || next === SPACE || next === COMMA || next === EQUALS || next === QUOTE) {
        problem =
          next === -1
            ? 'ends with a backslash, which InfluxDB would read as escaping the next delimiter'
            : `has a backslash before "${String.fromCharCode(next)}", which InfluxDB would read as an escape`;
        return undefined;
      }
    } else if (c === NL) {
      problem = 'contains a newline, which line protocol cannot carry outside a string field';
      return undefined;
    }
  }
  return out === '' ? s : out + s.slice(from);
}

function quoteString(s: string): string {
  let out = '"';
  let from = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === QUOTE || c === BACKSLASH) {
      out += s.slice(from, i) + '\\';
      from = i;
    }
  }
  return out + s.slice(from) + '"';
}

/** One field's value as line protocol, or undefined for NaN and ±Infinity (InfluxDB cannot store them). */
export function encodeFieldValue(measurement: string, key: string, v: FieldValue): string | undefined {
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) return undefined;
      // String(-0) is "0"; keep the sign so that a round trip is exact.
      return v === 0 && 1 / v < 0 ? '-0' : String(v);
    case 'bigint':
      if (v < INT64_MIN || v > INT64_MAX)
        refuse(measurement, `integer field ${JSON.stringify(key)} is outside the 64-bit range`);
      return v + 'i';
    case 'string':
      return quoteString(v);
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      return refuse(
        measurement,
        `field ${JSON.stringify(key)} has a value of type ${v === null ? 'null' : typeof v}`,
      );
  }
}

/**
 * InfluxDB skips tabs and NULs (as whitespace) at the start of a line and of the fields, and
 * has no escape for them, so a measurement or field key cannot start with one.
 */
function skippedByInflux(name: string): boolean {
  const c = name.charCodeAt(0);
  return c === TAB || c === 0;
}

/**
 * The series key of a record: its measurement and tags, escaped, the tags sorted. A writer
 * whose series are fixed (the runner's iteration points, one series per worker) encodes it
 * once and then appends only fields and time (see encodeRecord).
 */
export function encodeSeriesKey(measurement: string, tags: Record<string, string>): string {
  if (typeof measurement !== 'string' || measurement === '') refuse(measurement, 'the measurement is empty');
  // A line starting with '#' is a comment to InfluxDB, and '\#' is not an escape it knows.
  if (measurement.charCodeAt(0) === HASH) refuse(measurement, 'the measurement starts with "#"');
  if (skippedByInflux(measurement)) refuse(measurement, 'the measurement starts with a tab or NUL');
  let line = escapeName(measurement, false);
  if (line === undefined) refuse(measurement, `the measurement ${problem}`);

  const tagKeys = Object.keys(tags);
  if (tagKeys.length > 1) {
    // Tracers usually build tags in the same order every time; only sort when needed.
    for (let i = 1; i < tagKeys.length; i++) {
      if (tagKeys[i - 1] > tagKeys[i]) {
        tagKeys.sort();
        break;
      }
    }
  }
  for (const key of tagKeys) {
    const value = tags[key];
    if (value === '' || value === undefined) continue;
    if (typeof value !== 'string')
      refuse(measurement, `tag ${JSON.stringify(key)} has a value of type ${typeof value}`);
    if (key === '') refuse(measurement, 'a tag key is empty');
    const k = escapeName(key, true);
    if (k === undefined) refuse(measurement, `tag key ${JSON.stringify(key)} ${problem}`);
    const v = escapeName(value, true);
    if (v === undefined) refuse(measurement, `the value of tag ${JSON.stringify(key)} ${problem}`);
    line += ',' + k + '=' + v;
  }
  return line;
}

/**
 * The field set of a record: `key=value` pairs joined by commas, in the object's key order;
 * empty when no field can be written (all NaN or ±Infinity). `measurement` only names the
 * record in errors.
 */
export function encodeFields(fields: Record<string, FieldValue>, measurement: string): string {
  let text = '';
  let sep = '';
  for (const key of Object.keys(fields)) {
    if (key === '') refuse(measurement, 'a field key is empty');
    if (skippedByInflux(key))
      refuse(measurement, `field key ${JSON.stringify(key)} starts with a tab or NUL`);
    const value = encodeFieldValue(measurement, key, fields[key]);
    if (value === undefined) continue;
    const k = escapeName(key, true);
    if (k === undefined) refuse(measurement, `field key ${JSON.stringify(key)} ${problem}`);
    text += sep + k + '=' + value;
    sep = ',';
  }
  return text;
}

/** A record's timestamp: nanoseconds, checked to fit InfluxDB's 64-bit range. */
export function encodeTime(time: bigint, measurement: string): string {
  if (typeof time !== 'bigint') refuse(measurement, 'the time is not a bigint of nanoseconds');
  if (time < INT64_MIN || time > INT64_MAX)
    refuse(measurement, 'the time is outside the 64-bit nanosecond range');
  return String(time);
}

/**
 * One record from a series key (encodeSeriesKey), fields and time, without a trailing
 * newline; undefined when it has fields but none that can be written (all NaN or ±Infinity).
 * `measurement` only names the record in errors.
 */
export function encodeRecord(
  seriesKey: string,
  fields: Record<string, FieldValue>,
  time: bigint,
  measurement: string,
): string | undefined {
  const text = encodeFields(fields, measurement);
  if (text === '') {
    if (Object.keys(fields).length === 0) refuse(measurement, 'it has no fields');
    return undefined;
  }
  return seriesKey + ' ' + text + ' ' + encodeTime(time, measurement);
}

/** Encodes one sample, or returns undefined when it has fields but none that can be written. */
function encodeSample(sample: Sample): string | undefined {
  return encodeRecord(
    encodeSeriesKey(sample.measurement, sample.tags),
    sample.fields,
    sample.time,
    sample.measurement,
  );
}

/**
 * Encodes one sample as one line-protocol record, without a trailing newline.
 * Throws when the sample cannot be written exactly (see the module notes) or when none of
 * its fields can be written (NaN/Infinity only).
 */
export function encodeLine(sample: Sample): string {
  const line = encodeSample(sample);
  if (line === undefined)
    refuse(sample.measurement, 'every field is NaN or Infinity, which InfluxDB cannot store');
  return line;
}

/**
 * Encodes samples as newline-terminated records. Samples whose fields are all NaN/Infinity are
 * left out and counted; a sample that cannot be written exactly throws.
 */
export function encodeBatch(samples: Iterable<Sample>): EncodedBatch {
  // String concatenation beats array joins here: V8 builds ropes and flattens once.
  let text = '';
  let lines = 0;
  let dropped = 0;
  for (const sample of samples) {
    const line = encodeSample(sample);
    if (line === undefined) {
      dropped++;
      continue;
    }
    text += line + '\n';
    lines++;
  }
  return { text, lines, dropped };
}

/** `encodeBatch(samples).text`: the records, newline-terminated, without the counts. */
export function encodeLines(samples: Iterable<Sample>): string {
  return encodeBatch(samples).text;
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/** Malformed line protocol: where, and what was expected there. */
export class LineProtocolError extends Error {
  constructor(
    message: string,
    /** 1-based physical line where the problem is. */
    readonly line: number,
    /** 1-based column (UTF-16 units) on that line. */
    readonly column: number,
  ) {
    super(message);
    this.name = 'LineProtocolError';
  }
}

/** Thrown inside the parser when it ran out of text that a later chunk may complete. */
const NEED_MORE = Symbol('need more text');

/** A name or tag value with escapes undone; `quote` adds `\"`, which InfluxDB undoes outside tags. */
function unescapeName(s: string, quote: boolean): string {
  let out = '';
  let from = 0;
  const last = s.length - 1;
  for (let i = 0; i < last; i++) {
    if (s.charCodeAt(i) !== BACKSLASH) continue;
    const c = s.charCodeAt(i + 1);
    if (c === COMMA || c === SPACE || c === EQUALS || (quote && c === QUOTE)) {
      out += s.slice(from, i);
      from = i + 1;
      i++;
    }
  }
  return out + s.slice(from);
}

/** A string field value with `\\` and `\"` undone; InfluxDB keeps any other backslash. */
function unescapeString(s: string): string {
  let out = '';
  let from = 0;
  const last = s.length - 1;
  for (let i = 0; i < last; i++) {
    if (s.charCodeAt(i) !== BACKSLASH) continue;
    const c = s.charCodeAt(i + 1);
    if (c === BACKSLASH || c === QUOTE) {
      out += s.slice(from, i);
      from = i + 1;
    }
    i++;
  }
  return out + s.slice(from);
}

/** Assigns without letting a key named `__proto__` replace the object's prototype. */
function put<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function isDelimiter(c: number): boolean {
  return c === COMMA || c === SPACE || c === NL;
}

/**
 * A cursor over line-protocol text. It parses records from `start` up to `end`; when `final`
 * is false, running into `end` means "wait for more text" rather than an error, which is how
 * decodeStream handles records that straddle chunks.
 */
class Parser {
  s = '';
  i = 0;
  end = 0;
  final = true;
  /** Physical line (1-based) at `i`, and the index where that line starts. */
  line = 1;
  lineStart = 0;
  /** Where the record being parsed started, to roll back to when more text is needed. */
  recordStart = 0;
  recordLine = 1;
  recordLineStart = 0;

  reset(s: string, end: number, final: boolean, line: number): void {
    this.s = s;
    this.i = 0;
    this.end = end;
    this.final = final;
    this.line = line;
    this.lineStart = 0;
    this.recordStart = 0;
    this.recordLine = line;
    this.recordLineStart = 0;
  }

  fail(expected: string, at = this.i): never {
    if (!this.final && at >= this.end) throw NEED_MORE;
    const lineEnd = this.s.indexOf('\n', this.lineStart);
    let text = this.s.slice(this.lineStart, lineEnd === -1 || lineEnd > this.end ? this.end : lineEnd);
    if (text.length > 80) text = text.slice(0, 77) + '...';
    const column = at - this.lineStart + 1;
    throw new LineProtocolError(
      `line ${this.line}, column ${column}: expected ${expected} in ${JSON.stringify(text)}`,
      this.line,
      column,
    );
  }

  /** Skips what InfluxDB skips before a section: spaces, tabs and NULs. */
  skipWhitespace(): void {
    const s = this.s;
    while (this.i < this.end) {
      const c = s.charCodeAt(this.i);
      if (c !== SPACE && c !== TAB && c !== 0) break;
      this.i++;
    }
  }

  /** Skips blank lines and comments; false at the end of the text. */
  skipBlank(): boolean {
    const s = this.s;
    for (;;) {
      this.skipWhitespace();
      if (this.i >= this.end) return false;
      const c = s.charCodeAt(this.i);
      if (c === HASH) {
        const nl = s.indexOf('\n', this.i);
        if (nl === -1 || nl >= this.end) {
          if (!this.final) throw NEED_MORE;
          this.i = this.end;
          return false;
        }
        this.i = nl;
      } else if (c !== NL) {
        return true;
      }
      this.i++;
      this.line++;
      this.lineStart = this.i;
    }
  }

  markRecordStart(): void {
    this.recordStart = this.i;
    this.recordLine = this.line;
    this.recordLineStart = this.lineStart;
  }

  /** Rewinds to the start of the record being parsed, to parse it again with more text. */
  rewind(): void {
    this.i = this.recordStart;
    this.line = this.recordLine;
    this.lineStart = this.recordLineStart;
  }

  /** The next record, or undefined at the end of the text. */
  next(): Sample | undefined {
    // Marked before skipping blank lines too, in case a comment is what runs out of text.
    this.markRecordStart();
    if (!this.skipBlank()) return undefined;
    this.markRecordStart();
    const s = this.s;
    const end = this.end;

    // Measurement: up to an unescaped comma (tags follow) or space (fields follow).
    let start = this.i;
    if (s.charCodeAt(start) === COMMA) this.fail('a measurement');
    let escaped = false;
    let i = start;
    let c = 0;
    for (;;) {
      i++;
      if (i >= end) this.fail('a space and fields after the measurement', i);
      c = s.charCodeAt(i);
      if (s.charCodeAt(i - 1) === BACKSLASH) {
        escaped = true;
        if (c !== NL) continue;
      }
      if (c === COMMA || c === SPACE) break;
      if (c === NL) this.fail('a space and fields after the measurement', i);
    }
    const rawMeasurement = s.slice(start, i);
    const measurement = escaped ? unescapeName(rawMeasurement, true) : rawMeasurement;

    // Tags: key=value pairs after the comma, up to an unescaped space.
    const tags: Record<string, string> = {};
    while (c === COMMA) {
      i++;
      start = i;
      c = i < end ? s.charCodeAt(i) : -1;
      if (c === -1 || c === SPACE || c === COMMA || c === EQUALS || c === NL) this.fail('a tag key', i);
      escaped = false;
      for (;;) {
        i++;
        c = i < end ? s.charCodeAt(i) : -1;
        const prevBackslash = s.charCodeAt(i - 1) === BACKSLASH;
        if (prevBackslash) escaped = true;
        if (c === -1 || c === NL || (!prevBackslash && (c === SPACE || c === COMMA))) {
          this.fail(`"=" after tag key ${JSON.stringify(s.slice(start, i))}`, i);
        }
        if (c === EQUALS && !prevBackslash) break;
      }
      const rawKey = s.slice(start, i);
      const key = escaped ? unescapeName(rawKey, false) : rawKey;
      i++;
      start = i;
      c = i < end ? s.charCodeAt(i) : -1;
      if (c === -1 || c === SPACE || c === COMMA || c === NL)
        this.fail(`a value for tag ${JSON.stringify(key)}`, i);
      escaped = false;
      for (;;) {
        i++;
        c = i < end ? s.charCodeAt(i) : -1;
        if (c === -1 || c === NL) this.fail('a space and fields after the tags', i);
        const prevBackslash = s.charCodeAt(i - 1) === BACKSLASH;
        if (prevBackslash) {
          escaped = true;
          continue;
        }
        if (c === COMMA || c === SPACE) break;
        if (c === EQUALS)
          this.fail(`"\\=" (an escaped equals sign) in the value of tag ${JSON.stringify(key)}`, i);
      }
      const rawValue = s.slice(start, i);
      if (Object.hasOwn(tags, key)) this.fail(`tag ${JSON.stringify(key)} only once`, start);
      put(tags, key, escaped ? unescapeName(rawValue, false) : rawValue);
    }

    // Fields: key=value pairs, up to an unescaped space.
    this.i = i;
    this.skipWhitespace();
    i = this.i;
    const fields: Record<string, FieldValue> = {};
    for (;;) {
      start = i;
      c = i < end ? s.charCodeAt(i) : -1;
      if (c === -1 || c === EQUALS || isDelimiter(c)) this.fail('a field key', i);
      escaped = false;
      for (;;) {
        if (c === BACKSLASH) {
          escaped = true;
          i += 2;
        } else {
          if (c === EQUALS) break;
          if (c === -1 || isDelimiter(c))
            this.fail(`"=" after field key ${JSON.stringify(s.slice(start, i))}`, i);
          i++;
        }
        c = i < end ? s.charCodeAt(i) : -1;
      }
      const rawKey = s.slice(start, i);
      const key = escaped ? unescapeName(rawKey, true) : rawKey;
      i++;
      this.i = i;
      put(fields, key, this.fieldValue(key));
      i = this.i;
      c = i < end ? s.charCodeAt(i) : -1;
      if (c === COMMA) {
        i++;
        continue;
      }
      if (c === SPACE) break;
      this.fail('a space and a timestamp after the fields', i);
    }

    // Timestamp: an integer of nanoseconds, then nothing but spaces to the end of the line.
    this.i = i;
    this.skipWhitespace();
    i = this.i;
    start = i;
    if (i < end && s.charCodeAt(i) === MINUS) i++;
    const digits = i;
    while (i < end) {
      c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      i++;
    }
    if (i === digits) this.fail('a timestamp (integer nanoseconds)', i);
    const time = BigInt(s.slice(start, i));
    if (time < INT64_MIN || time > INT64_MAX)
      this.fail('a timestamp within the 64-bit nanosecond range', start);
    while (i < end && s.charCodeAt(i) === SPACE) i++;
    if (i < end) {
      if (s.charCodeAt(i) !== NL) this.fail('the end of the line after the timestamp', i);
      i++;
      this.line++;
      this.lineStart = i;
    } else if (!this.final) {
      // Without the newline we cannot know the timestamp is complete.
      this.fail('the end of the line', i);
    }
    this.i = i;
    return { measurement, tags, fields, time };
  }

  /** Parses the field value at `this.i` and leaves `this.i` just after it. */
  fieldValue(key: string): FieldValue {
    const s = this.s;
    const end = this.end;
    let i = this.i;
    const first = i < end ? s.charCodeAt(i) : -1;

    if (first === QUOTE) {
      const open = i;
      const openLine = this.line;
      const openLineStart = this.lineStart;
      i++;
      const start = i;
      let escaped = false;
      for (;;) {
        if (i >= end) {
          if (!this.final) throw NEED_MORE;
          // Point at the opening quote: the end of the text says nothing about which string ran on.
          this.line = openLine;
          this.lineStart = openLineStart;
          this.fail(`a closing '"' for string field ${JSON.stringify(key)}, opened here,`, open);
        }
        const c = s.charCodeAt(i);
        if (c === QUOTE) break;
        if (c === BACKSLASH) {
          escaped = true;
          if (i + 1 < end && s.charCodeAt(i + 1) === NL) {
            this.line++;
            this.lineStart = i + 2;
          }
          i += 2;
          continue;
        }
        if (c === NL) {
          this.line++;
          this.lineStart = i + 1;
        }
        i++;
      }
      const raw = s.slice(start, i);
      this.i = i + 1;
      return escaped ? unescapeString(raw) : raw;
    }

    const start = i;
    while (i < end && !isDelimiter(s.charCodeAt(i))) i++;
    const text = s.slice(start, i);
    this.i = i;

    if ((first >= 48 && first <= 57) || first === MINUS || first === DOT) {
      const lastChar = text.charCodeAt(text.length - 1);
      if (lastChar === 105 /* i */) {
        let j = text.charCodeAt(0) === MINUS ? 1 : 0;
        const digitsFrom = j;
        for (; j < text.length - 1; j++) {
          const c = text.charCodeAt(j);
          if (c < 48 || c > 57) break;
        }
        if (j !== text.length - 1 || j === digitsFrom) {
          this.fail(`an integer (digits then "i") for field ${JSON.stringify(key)}`, start);
        }
        const value = BigInt(text.slice(0, -1));
        if (value < INT64_MIN || value > INT64_MAX) {
          this.fail(`an integer within the 64-bit range for field ${JSON.stringify(key)}`, start);
        }
        return value;
      }
      if (lastChar === 117 /* u */) {
        this.fail(
          `a float, an integer ("i") or a string for field ${JSON.stringify(key)} (unsigned "u" is not supported)`,
          start,
        );
      }
      // Number() also accepts hex, binary and "Infinity": allow only what InfluxDB's scanner does.
      for (let j = 0; j < text.length; j++) {
        const c = text.charCodeAt(j);
        if (!((c >= 48 && c <= 57) || c === DOT || c === MINUS || c === 43 || c === 101 || c === 69)) {
          this.fail(`a number for field ${JSON.stringify(key)}`, start + j);
        }
      }
      const value = Number(text);
      if (!Number.isFinite(value)) this.fail(`a finite number for field ${JSON.stringify(key)}`, start);
      return value;
    }

    switch (text) {
      case 't':
      case 'T':
      case 'true':
      case 'True':
      case 'TRUE':
        return true;
      case 'f':
      case 'F':
      case 'false':
      case 'False':
      case 'FALSE':
        return false;
    }
    return this.fail(
      `a value for field ${JSON.stringify(key)}: a number, an integer ending in "i", a quoted string or a boolean`,
      start,
    );
  }
}

/**
 * Decodes one record (a trailing newline is allowed; a string field may contain newlines).
 * Throws a LineProtocolError naming the line, column and what was expected.
 */
export function decodeLine(line: string): Sample {
  const parser: Parser = new Parser();
  parser.reset(line, line.length, true, 1);
  const sample = parser.next();
  if (sample === undefined) parser.fail('a line-protocol record');
  if (parser.skipBlank()) parser.fail('a single record');
  return sample;
}

/**
 * Decodes newline-separated records, skipping blank lines and `#` comments. Throws a
 * LineProtocolError naming the line, column and what was expected at the first malformed record.
 */
export function decodeLines(text: string): Sample[] {
  const parser: Parser = new Parser();
  parser.reset(text, text.length, true, 1);
  const out: Sample[] = [];
  for (let sample = parser.next(); sample !== undefined; sample = parser.next()) out.push(sample);
  return out;
}

/** Options of decodeStream. */
export interface DecodeStreamOptions {
  /**
   * Ignore a malformed last record when the text does not end with a newline: what a writer
   * killed mid-write leaves behind. Every other malformed record still throws.
   */
  allowTruncatedEnd?: boolean;
}

/**
 * Decodes line protocol arriving in chunks (a file or network stream), yielding samples as
 * soon as their record is complete. Records may straddle chunks, and string fields may hold
 * newlines, which is why this is not a readline loop (readline also splits on a lone `\r`).
 */
export async function* decodeStream(
  chunks: AsyncIterable<string | Uint8Array>,
  options: DecodeStreamOptions = {},
): AsyncGenerator<Sample> {
  const parser: Parser = new Parser();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let buf = '';
  let line = 1;
  for await (const chunk of chunks) {
    buf += typeof chunk === 'string' ? chunk : utf8.decode(chunk, { stream: true });
    // Parse only whole physical lines; a record cut off inside a string waits for the next chunk.
    const cut = buf.lastIndexOf('\n') + 1;
    if (cut === 0) continue;
    parser.reset(buf, cut, false, line);
    for (;;) {
      let sample: Sample | undefined;
      try {
        sample = parser.next();
      } catch (err) {
        if (err !== NEED_MORE) throw err;
        parser.rewind();
        sample = undefined;
      }
      if (sample === undefined) break;
      yield sample;
    }
    buf = buf.slice(parser.i);
    line = parser.line;
  }
  buf += utf8.decode();
  parser.reset(buf, buf.length, true, line);
  const torn = options.allowTruncatedEnd === true && buf.length > 0 && !buf.endsWith('\n');
  for (;;) {
    let sample: Sample | undefined;
    try {
      sample = parser.next();
    } catch (err) {
      // Only the last record can be torn, and only when the text stops mid-line.
      if (torn && err instanceof LineProtocolError) return;
      throw err;
    }
    if (sample === undefined) return;
    yield sample;
  }
}
