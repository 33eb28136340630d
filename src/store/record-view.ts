/**
 * A run's records read without an object per sample: what a consumer that folds millions of
 * samples into columns (the report loader) reads instead of `Sample`s. A record is decoded
 * into one reused RecordView; its series (measurement and tags) is decoded once per distinct
 * series and shared; integers and timestamps are plain numbers, never BigInts.
 *
 * Every reader can be read this way: a store with the RecordReader ability (the local store
 * decodes its line protocol straight into the view) or any other through readSamples, adapted
 * here (InfluxDB). A consumer sees the same values, in the same order, either way.
 */
import type { Sample } from '../core/sample.js';
import type { RunReader } from './store.js';

/** How a field was written: line protocol's float, integer (`i`), boolean and string. */
export const FieldKind = { float: 0, integer: 1, boolean: 2, string: 3 } as const;
export type FieldKind = (typeof FieldKind)[keyof typeof FieldKind];

/**
 * A series as written: the measurement and every tag. One object per distinct series in a
 * read, so a consumer can keep what it derives from a series in an array indexed by `id`.
 */
export interface SeriesKey {
  /** 0, 1, 2… in order of first appearance in the read. */
  readonly id: number;
  readonly measurement: string;
  /** As a Sample's `tags` (same keys, values and order). Shared: never change it. */
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * One record, in storage that the next record overwrites: read it inside the visit, never
 * keep it. Fields come in the order of the equivalent Sample's `fields` object, one per name.
 */
export class RecordView {
  series: SeriesKey = { id: -1, measurement: '', tags: {} };
  /**
   * Nanoseconds since the epoch as a double: exactly `Number(sample.time)`, the nearest
   * double to the integer (within 128 ns at today's epoch; offsets within a run are then
   * computed in milliseconds, where that is far below any resolution a report shows).
   */
  time = 0;
  fieldCount = 0;
  names: string[] = [];
  kinds: FieldKind[] = [];
  /**
   * A float as is; an integer as `Number(bigint)` (exact up to 2^53, the nearest double
   * beyond); a boolean as 1 or 0; unused for a string.
   */
  numbers: number[] = [];
  /** A string field's value; stale for other kinds. */
  strings: string[] = [];
  /**
   * The share of the run read so far, 0–1, when the reader knows it (the local store: bytes of
   * the file), else NaN. A consumer can size its columns by it instead of growing them blindly.
   */
  progress = Number.NaN;
}

/** The optional ability of a store to read records straight into a RecordView (see readRecords). */
export interface RecordReader {
  /** Calls `visit` for each record of the run, in the order written; resolves to the number of records. */
  readRecords(runId: string, visit: (record: RecordView) => void): Promise<number>;
}

function isRecordReader(reader: RunReader): reader is RunReader & RecordReader {
  return typeof (reader as Partial<RecordReader>).readRecords === 'function';
}

/**
 * Reads a run's records through the reader's own RecordReader ability when it has one, else
 * through readSamples, each Sample copied into the view. Resolves to the number of records.
 */
export async function readRecords(
  reader: RunReader,
  runId: string,
  visit: (record: RecordView) => void,
): Promise<number> {
  if (isRecordReader(reader)) return reader.readRecords(runId, visit);
  const views = new SampleViews();
  let n = 0;
  for await (const sample of reader.readSamples(runId)) {
    visit(views.of(sample));
    n++;
  }
  return n;
}

/** Copies Samples into one reused RecordView, interning their series. */
export class SampleViews {
  private readonly view = new RecordView();
  private readonly series = new Map<string, SeriesKey>();

  of(sample: Sample): RecordView {
    const view = this.view;
    // Tag values may hold any character but a newline; JSON keeps any two series apart.
    const text = JSON.stringify([sample.measurement, sample.tags]);
    let series = this.series.get(text);
    if (!series) {
      series = { id: this.series.size, measurement: sample.measurement, tags: { ...sample.tags } };
      this.series.set(text, series);
    }
    view.series = series;
    view.time = Number(sample.time);
    let k = 0;
    const fields = sample.fields;
    for (const name in fields) {
      const v = fields[name];
      view.names[k] = name;
      if (typeof v === 'number') {
        view.kinds[k] = FieldKind.float;
        view.numbers[k] = v;
      } else if (typeof v === 'bigint') {
        view.kinds[k] = FieldKind.integer;
        view.numbers[k] = Number(v);
      } else if (typeof v === 'boolean') {
        view.kinds[k] = FieldKind.boolean;
        view.numbers[k] = v ? 1 : 0;
      } else {
        view.kinds[k] = FieldKind.string;
        view.strings[k] = v;
      }
      k++;
    }
    view.fieldCount = k;
    return view;
  }
}

/** The index of field `name` in the view, or −1. */
export function fieldIndex(view: RecordView, name: string): number {
  for (let k = 0; k < view.fieldCount; k++) if (view.names[k] === name) return k;
  return -1;
}
