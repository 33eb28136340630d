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
import { isAscii } from 'node:buffer';
import type { FieldValue, Sample } from '../core/sample.js';
import { FieldKind, RecordView, type SeriesKey } from './record-view.js';

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

const DECIMAL_PREFIXES = ['0.', '0.0', '0.00', '0.000', '0.0000', '0.00000'];

/**
 * v in millionths, when v is positive with at most six decimals and fifteen significant
 * digits: the digits of that integer with a point before the last six are then what String(v)
 * writes (see numberText). Undefined for any other number.
 */
export function millionthsOf(v: number): number | undefined {
  const millionths = Math.round(v * 1e6);
  return v >= 1e-6 && millionths < 1e15 && millionths / 1e6 === v ? millionths : undefined;
}

/**
 * String(v) of a finite number, with the sign of -0 kept (String(-0) is "0") so that a round
 * trip is exact. A number with at most six decimals (a duration in milliseconds to the
 * nanosecond, most gauges) is written from the integer of its millionths: a double's
 * shortest decimal is a runtime call that costs about 1 µs per field in a busy runner, an
 * integer's a fraction of that. Such a decimal has at most 15 significant digits, so no
 * shorter one reads back as the same double: it is exactly what String(v) writes.
 */
export function numberText(v: number): string {
  const millionths = millionthsOf(v);
  if (millionths === undefined) return v === 0 && 1 / v < 0 ? '-0' : String(v);
  const digits = String(millionths);
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 48) end--;
  const point = digits.length - 6;
  if (point <= 0) return DECIMAL_PREFIXES[-point] + digits.slice(0, end);
  if (end <= point) return digits.slice(0, point);
  return digits.slice(0, point) + '.' + digits.slice(point, end);
}

/** One field's value as line protocol, or undefined for NaN and ±Infinity (InfluxDB cannot store them). */
export function encodeFieldValue(measurement: string, key: string, v: FieldValue): string | undefined {
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) return undefined;
      return numberText(v);
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

/** A field key, escaped; undefined when it cannot be written (encodeFields says why). */
export function encodeFieldKey(key: string): string | undefined {
  return key === '' || skippedByInflux(key) ? undefined : escapeName(key, true);
}

/**
 * The field set of a record: `key=value` pairs joined by commas, in the object's key order;
 * empty when no field can be written (all NaN or ±Infinity). `measurement` only names the
 * record in errors.
 */
function encodeFields(fields: Record<string, FieldValue>, measurement: string): string {
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
  /** In the final text: it does not end with a newline, so its last record may be torn. */
  torn = false;
  /** What series() parsed. */
  measurement = '';
  tags: Record<string, string> = {};
  /** What scanValue() parsed, and where an integer's (or scanTime()'s timestamp's) text is. */
  num = 0;
  str = '';
  valueStart = 0;
  valueEnd = 0;

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
    this.torn = final && end > 0 && s.charCodeAt(end - 1) !== NL;
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
    this.series();
    const measurement = this.measurement;
    const tags = this.tags;
    this.skipWhitespace();
    const fields: Record<string, FieldValue> = {};
    do {
      const key = this.fieldKey();
      put(fields, key, this.fieldValue(key));
    } while (this.moreFields());
    this.scanTime();
    const time = this.bigTime();
    this.endLine();
    return { measurement, tags, fields, time };
  }

  /**
   * The next record into `view` (see RecordView), or false at the end of the text. The text of
   * a series (measurement and tags) is parsed once per read: `seen` recognises it afterwards,
   * and the field keys of the series' previous record are matched before any is parsed.
   */
  nextRecord(view: RecordView, seen: SeenSeries): boolean {
    this.markRecordStart();
    if (!this.skipBlank()) return false;
    this.markRecordStart();
    const s = this.s;
    const end = this.end;
    const start = this.i;
    // Writers repeat their series in the same order: first try the one that came after the last
    // record's series last time. Its text holds no unescaped space, so the space after it ends it.
    let known = seen.last?.next;
    if (known !== undefined) {
      const at = start + known.text.length;
      if (at < end && s.charCodeAt(at) === SPACE && holds(s, start, known.text)) this.i = at;
      else known = undefined;
    }
    if (known === undefined) {
      // The series' text ends at the first space not preceded by a backslash, as series() reads it.
      let i = start;
      for (; i < end; i++) {
        const c = s.charCodeAt(i);
        if ((c === SPACE && s.charCodeAt(i - 1) !== BACKSLASH) || c === NL) break;
      }
      known = i < end && s.charCodeAt(i) === SPACE ? seen.byText.get(s.slice(start, i)) : undefined;
      if (known) this.i = i;
      else {
        this.series();
        const text = flat(s.slice(start, this.i));
        const key = { id: seen.byText.size, measurement: this.measurement, tags: this.tags };
        known = { key, text, next: undefined, raw: [], names: [], objectOrder: false };
        seen.byText.set(text, known);
      }
    }

    this.skipWhitespace();
    const { raw, names } = known;
    let i: number;
    let k = 0;
    // The keys read so far, once they stop matching the series' previous record.
    let newRaw: string[] | undefined;
    let newNames: string[] | undefined;
    do {
      i = this.i;
      let name: string;
      const expected = newRaw === undefined && k < raw.length ? raw[k] : undefined;
      if (
        expected !== undefined &&
        i + expected.length < end &&
        s.charCodeAt(i + expected.length) === EQUALS &&
        holds(s, i, expected)
      ) {
        name = names[k];
        this.i = i + expected.length + 1;
      } else {
        if (newRaw === undefined || newNames === undefined) {
          newRaw = raw.slice(0, k);
          newNames = names.slice(0, k);
        }
        name = flat(this.fieldKey());
        newRaw.push(flat(s.slice(i, this.i - 1)));
        newNames.push(name);
      }
      const kind = this.scanValue(name);
      view.names[k] = name;
      view.kinds[k] = kind;
      if (kind === FieldKind.string) view.strings[k] = this.str;
      else view.numbers[k] = this.num;
      k++;
    } while (this.moreFields());
    if (newRaw === undefined && k < raw.length) {
      newRaw = raw.slice(0, k);
      newNames = names.slice(0, k);
    }
    if (newRaw !== undefined && newNames !== undefined) {
      known.raw = newRaw;
      known.names = newNames;
      known.objectOrder = needsObjectOrder(newNames);
    }
    view.fieldCount = k;
    if (known.objectOrder) toObjectOrder(view);

    this.scanTime();
    let time = integerValue(s, this.valueStart, this.valueEnd);
    if (Number.isNaN(time)) time = Number(this.bigTime());
    this.endLine();
    view.series = known.key;
    view.time = time;
    if (seen.last) seen.last.next = known;
    seen.last = known;
    return true;
  }

  /** Parses the measurement and tags at `i` into `measurement` and `tags`; leaves `i` at the space after them. */
  series(): void {
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
    this.i = i;
    this.measurement = measurement;
    this.tags = tags;
  }

  /** Parses the field key at `i`; leaves `i` just after its `=`. */
  fieldKey(): string {
    const s = this.s;
    const end = this.end;
    let i = this.i;
    const start = i;
    let c = i < end ? s.charCodeAt(i) : -1;
    if (c === -1 || c === EQUALS || isDelimiter(c)) this.fail('a field key', i);
    let escaped = false;
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
    this.i = i + 1;
    return escaped ? unescapeName(rawKey, true) : rawKey;
  }

  /** After a field value: true (past the comma) when another field follows, false when the timestamp does. */
  moreFields(): boolean {
    const i = this.i;
    const c = i < this.end ? this.s.charCodeAt(i) : -1;
    if (c === COMMA) {
      this.i = i + 1;
      return true;
    }
    if (c === SPACE) return false;
    return this.fail('a space and a timestamp after the fields', i);
  }

  /** Finds the timestamp, an integer of nanoseconds: its text is left in `valueStart`…`valueEnd`. */
  scanTime(): void {
    this.skipWhitespace();
    const s = this.s;
    const end = this.end;
    let i = this.i;
    const start = i;
    if (i < end && s.charCodeAt(i) === MINUS) i++;
    const digits = i;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      i++;
    }
    if (i === digits) this.fail('a timestamp (integer nanoseconds)', i);
    this.valueStart = start;
    this.valueEnd = i;
  }

  /** The timestamp scanTime found, as a BigInt. */
  bigTime(): bigint {
    const time = BigInt(this.s.slice(this.valueStart, this.valueEnd));
    if (time < INT64_MIN || time > INT64_MAX)
      this.fail('a timestamp within the 64-bit nanosecond range', this.valueStart);
    return time;
  }

  /** After the timestamp: nothing but spaces to the end of the line. */
  endLine(): void {
    const s = this.s;
    const end = this.end;
    let i = this.valueEnd;
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
  }

  /** Parses the field value at `i` and leaves `i` just after it. */
  fieldValue(key: string): FieldValue {
    switch (this.scanValue(key)) {
      case FieldKind.string:
        return this.str;
      case FieldKind.integer:
        return BigInt(this.s.slice(this.valueStart, this.valueEnd));
      case FieldKind.boolean:
        return this.num === 1;
      default:
        return this.num;
    }
  }

  /**
   * Parses the field value at `i` and leaves `i` just after it. Its value goes to `str` (a
   * string) or `num` (a float; a boolean as 1 or 0; an integer as its nearest double, with its
   * text, sign and digits, in `valueStart`…`valueEnd` for whoever wants it exactly).
   */
  scanValue(key: string): FieldKind {
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
      this.str = escaped ? unescapeString(raw) : raw;
      return FieldKind.string;
    }

    // One pass to the end of the value that also reads it as a plain decimal (digits, at most one
    // dot, a leading minus): most integers and many floats need no second look.
    const start = i;
    let mantissa = 0;
    let digits = 0;
    let dot = -1;
    /** The first character that is not part of a plain decimal, or −1. */
    let other = -1;
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c >= 48 && c <= 57) {
        mantissa = mantissa * 10 + (c - 48);
        digits++;
      } else if (c === COMMA || c === SPACE || c === NL) break;
      else if (c === DOT && dot < 0) dot = i;
      else if (other < 0 && !(c === MINUS && i === start)) other = i;
    }
    this.i = i;

    if ((first >= 48 && first <= 57) || first === MINUS || first === DOT) {
      const lastChar = s.charCodeAt(i - 1);
      if (lastChar === 105 /* i */) {
        // Digits only, after an optional minus: the "i" is the only character a plain decimal lacks.
        if (other !== i - 1 || dot >= 0 || digits === 0) {
          this.fail(`an integer (digits then "i") for field ${JSON.stringify(key)}`, start);
        }
        const digitsEnd = i - 1;
        this.valueStart = start;
        this.valueEnd = digitsEnd;
        let value =
          digits <= 15
            ? first === MINUS && mantissa !== 0
              ? -mantissa
              : mantissa
            : integerValue(s, start, digitsEnd);
        if (Number.isNaN(value)) {
          const big = BigInt(s.slice(start, digitsEnd));
          if (big < INT64_MIN || big > INT64_MAX) {
            this.fail(`an integer within the 64-bit range for field ${JSON.stringify(key)}`, start);
          }
          value = Number(big);
        }
        this.num = value;
        return FieldKind.integer;
      }
      if (other < 0 && digits > 0 && digits <= 15) {
        // Exact: the mantissa and the power of ten are exact doubles, and one division rounds
        // once, to the nearest, which is what Number(text) gives.
        const value = mantissa / POWERS_OF_TEN[dot < 0 ? 0 : i - dot - 1];
        this.num = first === MINUS ? -value : value;
        return FieldKind.float;
      }
      if (lastChar === 117 /* u */) {
        this.fail(
          `a float, an integer ("i") or a string for field ${JSON.stringify(key)} (unsigned "u" is not supported)`,
          start,
        );
      }
      // Number() also accepts hex, binary and "Infinity": allow only what InfluxDB's scanner does.
      for (let j = start; j < i; j++) {
        const c = s.charCodeAt(j);
        if (!((c >= 48 && c <= 57) || c === DOT || c === MINUS || c === 43 || c === 101 || c === 69)) {
          this.fail(`a number for field ${JSON.stringify(key)}`, j);
        }
      }
      const value = Number(s.slice(start, i));
      if (!Number.isFinite(value)) this.fail(`a finite number for field ${JSON.stringify(key)}`, start);
      this.num = value;
      return FieldKind.float;
    }

    switch (s.slice(start, i)) {
      case 't':
      case 'T':
      case 'true':
      case 'True':
      case 'TRUE':
        this.num = 1;
        return FieldKind.boolean;
      case 'f':
      case 'F':
      case 'false':
      case 'False':
      case 'FALSE':
        this.num = 0;
        return FieldKind.boolean;
    }
    return this.fail(
      `a value for field ${JSON.stringify(key)}: a number, an integer ending in "i", a quoted string or a boolean`,
      start,
    );
  }
}

/** The series met in one read (nextRecord): by their text, and the last record's. */
class SeenSeries {
  readonly byText = new Map<string, KnownSeries>();
  last: KnownSeries | undefined;
}

/** A series met in a read (nextRecord): its key, and the field keys of its last record, raw and unescaped. */
interface KnownSeries {
  key: SeriesKey;
  /** The series as written (measurement and tags, escaped). */
  text: string;
  /** The series of the record that followed this one's last record. */
  next: KnownSeries | undefined;
  raw: string[];
  names: string[];
  /** The keys hold a duplicate or an array index, which a fields object orders differently (toObjectOrder). */
  objectOrder: boolean;
}

/** 10^0 … 10^15, each an exact double (written out: Math.pow need not be exact). */
const POWERS_OF_TEN = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/**
 * A copy of `s` in a string of its own. A slice of a long string shares the long string (and
 * keeps it alive), and reading it character by character goes through the share: what is kept
 * for a whole read and compared with every record is better flat.
 */
function flat(s: string): string {
  return JSON.parse(JSON.stringify(s));
}

/** Whether `s` holds `text` at `at`: startsWith without a builtin call, for a few characters. */
function holds(s: string, at: number, text: string): boolean {
  for (let j = 0; j < text.length; j++) if (s.charCodeAt(at + j) !== text.charCodeAt(j)) return false;
  return true;
}

/**
 * The nearest double to the decimal integer s[from, to) (an optional "-", then digits), as
 * `Number(BigInt(text))` gives it, without the BigInt; NaN for the few texts where only a BigInt
 * can tell (over 19 digits, or 19 above 4.6e18). Up to 15 digits the value is exact. Up to 19 it
 * is hi × 10^9 + lo: hi × 10^9 is exact while hi × 1953125 (10^9 / 2^9) stays below 2^53, so
 * the one addition rounds the true value once, to the nearest, as Number(bigint) does.
 */
function integerValue(s: string, from: number, to: number): number {
  const negative = s.charCodeAt(from) === MINUS;
  if (negative) from++;
  const n = to - from;
  let v = 0;
  if (n <= 15) {
    for (let i = from; i < to; i++) v = v * 10 + (s.charCodeAt(i) - 48);
  } else if (n <= 19) {
    const split = to - 9;
    let hi = 0;
    for (let i = from; i < split; i++) hi = hi * 10 + (s.charCodeAt(i) - 48);
    if (hi > 4_611_686_018) return Number.NaN;
    let lo = 0;
    for (let i = split; i < to; i++) lo = lo * 10 + (s.charCodeAt(i) - 48);
    v = hi * 1e9 + lo;
  } else return Number.NaN;
  // A BigInt has no −0, so neither has its Number.
  return negative && v !== 0 ? -v : v;
}

/** Whether a fields object would order these keys otherwise than written: a duplicate, or an array index (first, ascending). */
function needsObjectOrder(names: string[]): boolean {
  if (new Set(names).size !== names.length) return true;
  return names.some((name) => name !== '4294967295' && String(Number(name) >>> 0) === name);
}

/** Reorders a view's fields as put() into an object would: array indexes first, a repeated key where it first came, with its last value. */
function toObjectOrder(view: RecordView): void {
  const order: Record<string, number> = {};
  for (let k = 0; k < view.fieldCount; k++) put(order, view.names[k], k);
  const picked = Object.values(order);
  const names = picked.map((k) => view.names[k]);
  const kinds = picked.map((k) => view.kinds[k]);
  const numbers = picked.map((k) => view.numbers[k]);
  const strings = picked.map((k) => view.strings[k]);
  for (let k = 0; k < picked.length; k++) {
    view.names[k] = names[k];
    view.kinds[k] = kinds[k];
    view.numbers[k] = numbers[k];
    view.strings[k] = strings[k];
  }
  view.fieldCount = picked.length;
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
  const read = () => parser.next();
  const tornOk = options.allowTruncatedEnd === true;
  for await (const _ of wholeLines(chunks, parser)) {
    for (let sample = take(parser, read, tornOk); sample !== undefined; sample = take(parser, read, tornOk))
      yield sample;
  }
}

/**
 * Decodes line protocol arriving in chunks as decodeStream does, but into one RecordView,
 * reused: `visit` is called once per record and must not keep the view. This is the read of
 * a consumer that folds millions of records into columns: no object per record, no BigInt,
 * each series' tags parsed once. Resolves to the number of records.
 */
export async function decodeRecords(
  chunks: AsyncIterable<string | Uint8Array>,
  visit: (record: RecordView) => void,
  options: DecodeStreamOptions = {},
): Promise<number> {
  const parser: Parser = new Parser();
  const view = new RecordView();
  const seen = new SeenSeries();
  const read = () => (parser.nextRecord(view, seen) ? view : undefined);
  const tornOk = options.allowTruncatedEnd === true;
  let records = 0;
  for await (const _ of wholeLines(chunks, parser)) {
    while (take(parser, read, tornOk) !== undefined) {
      visit(view);
      records++;
    }
  }
  return records;
}

/**
 * Hands `parser` the text of `chunks`, whole physical lines at a time: at each yield it holds
 * what has arrived up to the last newline, for the caller to `take` records from until none is
 * left whole; a record cut off (inside a string, say) is parsed again with the next chunk. The
 * last yield holds the rest, final.
 *
 * What is left over is kept as bytes, not text, so that each piece of text is one flat string
 * (a concatenation would make every character access of the parser go through it), and
 * text that is all ASCII, nearly always, is made from the bytes by a copy instead of a UTF-8
 * decode. A chunk is copied before the next is asked for, so a source may reuse its buffer.
 */
async function* wholeLines(chunks: AsyncIterable<string | Uint8Array>, parser: Parser): AsyncGenerator<void> {
  // Decoded whole (never split inside a character: pieces end at a newline), so a BOM would be
  // dropped at the start of any piece: the one at the start of the stream is dropped below.
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let work = Buffer.allocUnsafe(1 << 16);
  let used = 0;
  let line = 1;
  /** Whether a BOM may still be ahead (the stream's first three bytes are not in yet). */
  let bom = true;
  let ascii = true;
  const text = (end: number): string => {
    const bytes = work.subarray(0, end);
    ascii = isAscii(bytes);
    return ascii ? work.toString('latin1', 0, end) : utf8.decode(bytes);
  };
  for await (const chunk of chunks) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (bytes.length === 0) continue;
    if (used + bytes.length > work.length) {
      const grown = Buffer.allocUnsafe(Math.max(work.length * 2, used + bytes.length));
      work.copy(grown, 0, 0, used);
      work = grown;
    }
    work.set(bytes, used);
    used += bytes.length;
    if (bom && used >= 3) {
      bom = false;
      if (work[0] === 0xef && work[1] === 0xbb && work[2] === 0xbf) {
        work.copyWithin(0, 3, used);
        used -= 3;
      }
    }
    // (With nothing left, as after a lone BOM, a search from −1 would search from the buffer's end.)
    const cut = used > 0 ? work.lastIndexOf(NL, used - 1) + 1 : 0;
    if (cut === 0) continue;
    const piece = text(cut);
    parser.reset(piece, piece.length, false, line);
    yield;
    const consumed = ascii ? parser.i : cut - Buffer.byteLength(piece.slice(parser.i));
    work.copyWithin(0, consumed, used);
    used -= consumed;
    line = parser.line;
  }
  const piece = text(used);
  parser.reset(piece, piece.length, true, line);
  yield;
}

/**
 * Parses one record with `read`; undefined when the text so far holds no more whole records,
 * or, with `tornOk`, when the final text's last record is torn (only the last record can be,
 * and only when the text stops mid-line).
 */
function take<T>(parser: Parser, read: () => T | undefined, tornOk: boolean): T | undefined {
  try {
    return read();
  } catch (err) {
    if (err === NEED_MORE) {
      parser.rewind();
      return undefined;
    }
    if (tornOk && parser.torn && err instanceof LineProtocolError) return undefined;
    throw err;
  }
}
