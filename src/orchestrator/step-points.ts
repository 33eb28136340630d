import { type FieldValue, perfToNs, type Sample } from '../core/sample.js';
import { LineBytes } from '../store/line-bytes.js';
import {
  encodeFieldKey,
  encodeFieldValue,
  encodeRecord,
  encodeSeriesKey,
  encodeTime,
} from '../store/line-protocol.js';
import { type EncodedSink, type SampleSink, takesEncoded } from '../store/store.js';

/**
 * Points are handed to the sink in batches: one write per batch instead of one per iteration
 * is a large part of the runner's cost at thousands of iterations per second.
 */
const BATCH_POINTS = 500;
const BATCH_MS = 200;

/** What is recorded of an iteration or of one of its atomic actions. */
export interface PointFacts {
  /** The iteration's number within the step. */
  iteration: number;
  durationMs: number;
  ok: boolean;
  /** The workload's own fields (HTTP status, bytes…), after the runner's. */
  fields?: Record<string, FieldValue>;
  warmup?: boolean;
  /** Cut short by a stop (iterations only). */
  interrupted?: boolean;
  /** Why it failed; only when not ok. */
  error?: string;
}

/**
 * A point's fields, in this order: duration, ok, iteration, the workload's fields, then
 * warmup, interrupted and error when they apply.
 */
export function pointFields(facts: PointFacts): Sample['fields'] {
  const fields: Sample['fields'] = {
    duration: facts.durationMs,
    ok: facts.ok,
    iteration: BigInt(facts.iteration),
    ...facts.fields,
  };
  if (facts.warmup) fields.warmup = true;
  if (facts.interrupted) fields.interrupted = true;
  if (facts.error !== undefined) fields.error = facts.error;
  return fields;
}

/** Field keys the runner writes itself: a workload field of the same name takes the runner's place. */
const RUNNER_FIELDS = new Set(['duration', 'ok', 'iteration', 'warmup', 'interrupted', 'error']);

const latin1 = (s: string) => Buffer.from(s, 'latin1');
/** The runner's fields and the separators around them, as bytes. */
const OK_ITERATION = latin1(',ok=true,iteration=');
const FAILED_ITERATION = latin1(',ok=false,iteration=');
const WARMUP = latin1(',warmup=true');
const INTERRUPTED = latin1(',interrupted=true');
const ERROR = latin1(',error=');
const SPACE = 32;
const NEWLINE = 10;
const I = 105;
/** Workload field keys kept as bytes; a workload with more (unusual) is written without the cache. */
const MAX_CACHED_KEYS = 64;

/**
 * Writes the fields of a point after its head (SeriesHead), or returns false when the
 * shortcut could differ from the generic encoder (a workload field named like the runner's
 * or like an array index, which an object orders first; a string or boolean workload field,
 * or a negative integer or one beyond 2^53; a duration that is not finite; an error that is
 * not a string): the caller then writes the point through the generic encoder.
 */
function writePoint(
  out: LineBytes,
  facts: PointFacts,
  measurement: string,
  fieldKey: (key: string) => Uint8Array | undefined,
): boolean {
  // Checked before the first byte: nothing below may throw with half a line written.
  if (
    !Number.isFinite(facts.durationMs) ||
    !Number.isSafeInteger(facts.iteration) ||
    facts.iteration < 0 ||
    (facts.error !== undefined && typeof facts.error !== 'string')
  )
    return false;
  out.float(facts.durationMs);
  out.bytes(facts.ok ? OK_ITERATION : FAILED_ITERATION);
  out.integer(facts.iteration);
  out.byte(I);
  const fields = facts.fields;
  // for…in rather than Object.keys: no array per point. Same keys and order for the plain
  // objects workloads give (an inherited enumerable key would be written here, not by the spread).
  for (const key in fields) {
    const k = fieldKey(key);
    const value = fields[key];
    if (k === undefined) return false;
    if (typeof value === 'number') {
      // NaN and ±Infinity are left out, as encodeFields does.
      if (!Number.isFinite(value)) continue;
      out.bytes(k);
      out.float(value);
    } else if (typeof value === 'bigint') {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < 0) return false;
      out.bytes(k);
      out.integer(n);
      out.byte(I);
    } else return false;
  }
  if (facts.warmup) out.bytes(WARMUP);
  if (facts.interrupted) out.bytes(INTERRUPTED);
  if (facts.error !== undefined) {
    out.bytes(ERROR);
    out.text(encodeFieldValue(measurement, 'error', facts.error) as string);
  }
  return true;
}

/** A worker's series: its tags made once, and their encoded keys once needed. */
interface WorkerSeries {
  tags: Record<string, string>;
  iterationHead?: SeriesHead;
  /** Action name → its series head. */
  actionHeads: Map<string, SeriesHead>;
}

/**
 * A series key as text (for the generic encoder), and as the bytes that start each of its
 * lines in the shortcut: the key and the first field's name, `iteration,…,worker=0 duration=`.
 */
interface SeriesHead {
  key: string;
  head: Buffer;
}

function seriesHead(measurement: string, tags: Record<string, string>): SeriesHead {
  const key = encodeSeriesKey(measurement, tags);
  return { key, head: Buffer.from(`${key} duration=`, 'utf8') };
}

/**
 * The `iteration` and `action` points of one step on their way to the sink, batched. Their
 * series are fixed (the step's tags and a worker, and an action name) and their fields are a
 * few numbers, so when the sink takes encoded records (EncodedSink, as the local store does)
 * a point is written as it comes, as bytes (LineBytes), from its series key encoded once and
 * its numbers: the same bytes as the generic encoder, at a fraction of its cost, and nothing
 * kept on the heap until the batch is written. Other sinks get Sample objects, as before.
 */
export class StepPoints {
  private readonly encoded?: EncodedSink;
  private samples: Sample[] = [];
  private readonly out = new LineBytes();
  private lines = 0;
  private dropped = 0;
  private timer?: NodeJS.Timeout;
  private readonly workers: WorkerSeries[] = [];
  /** Workload field key → `,key=` as bytes, or null when the shortcut must step aside. */
  private readonly fieldKeys = new Map<string, Uint8Array | null>();
  private readonly fieldKey = (key: string): Uint8Array | undefined => {
    let k = this.fieldKeys.get(key);
    if (k === undefined) {
      const c = key.charCodeAt(0);
      const escaped = RUNNER_FIELDS.has(key) || (c >= 48 && c <= 57) ? undefined : encodeFieldKey(key);
      k = escaped === undefined ? null : Buffer.from(`,${escaped}=`, 'utf8');
      if (this.fieldKeys.size < MAX_CACHED_KEYS) this.fieldKeys.set(key, k);
    }
    return k ?? undefined;
  };

  constructor(
    private readonly sink: SampleSink,
    /** The step's tags (run, scenario, step); each point adds `worker`, an action's also `action`. */
    private readonly tags: Record<string, string>,
  ) {
    if (takesEncoded(sink)) this.encoded = sink;
  }

  /**
   * Queues the point of an iteration run on `worker`, started at `startMs` (a
   * performance.now() reading: its timestamp is made only here).
   */
  iteration(worker: number, facts: PointFacts, startMs: number): void {
    const series = this.series(worker);
    if (this.encoded) {
      series.iterationHead ??= seriesHead('iteration', series.tags);
      if (this.startLine(series.iterationHead, facts, 'iteration')) {
        this.out.perfTime(startMs);
        this.ended();
      } else this.addGeneric(series.iterationHead.key, facts, perfToNs(startMs), 'iteration');
    } else {
      const time = perfToNs(startMs);
      this.samples.push({ measurement: 'iteration', tags: series.tags, fields: pointFields(facts), time });
      this.added();
    }
  }

  /** Queues the point of an atomic action of an iteration run on `worker`, started at `time`. */
  action(worker: number, name: string, facts: PointFacts, time: bigint): void {
    const series = this.series(worker);
    if (this.encoded) {
      let key = series.actionHeads.get(name);
      if (key === undefined) {
        key = seriesHead('action', { ...series.tags, action: name });
        series.actionHeads.set(name, key);
      }
      // Before the first byte: encodeTime refuses a time out of range.
      const timeText = encodeTime(time, 'action');
      if (this.startLine(key, facts, 'action')) {
        this.out.text(timeText);
        this.ended();
      } else this.addGeneric(key.key, facts, time, 'action');
    } else {
      const tags = { ...series.tags, action: name };
      this.samples.push({ measurement: 'action', tags, fields: pointFields(facts), time });
      this.added();
    }
  }

  /** Hands everything queued to the sink now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.encoded) {
      if (this.lines === 0 && this.dropped === 0) return;
      const batch = { text: this.out.take(), lines: this.lines, dropped: this.dropped };
      this.lines = 0;
      this.dropped = 0;
      this.encoded.writeEncoded(batch);
    } else {
      if (this.samples.length === 0) return;
      const batch = this.samples;
      this.samples = [];
      this.sink.write(batch);
    }
  }

  private series(worker: number): WorkerSeries {
    let series = this.workers[worker];
    if (!series) {
      series = { tags: { ...this.tags, worker: String(worker) }, actionHeads: new Map() };
      this.workers[worker] = series;
    }
    return series;
  }

  /**
   * Writes a point's head and fields and the space before its time, or writes nothing and
   * returns false when the shortcut steps aside (see writePoint).
   */
  private startLine(series: SeriesHead, facts: PointFacts, measurement: string): boolean {
    const start = this.out.length;
    this.out.bytes(series.head);
    if (writePoint(this.out, facts, measurement, this.fieldKey)) {
      this.out.byte(SPACE);
      return true;
    }
    this.out.truncate(start);
    return false;
  }

  /** A point the shortcut steps aside for, through the generic encoder (which may refuse it). */
  private addGeneric(key: string, facts: PointFacts, time: bigint, measurement: string): void {
    const line = encodeRecord(key, pointFields(facts), time, measurement);
    // Counted as encodeBatch counts, though `ok` can always be written.
    if (line === undefined) this.dropped++;
    else {
      this.out.text(line);
      this.out.byte(NEWLINE);
      this.lines++;
    }
    this.added();
  }

  private ended(): void {
    this.out.byte(NEWLINE);
    this.lines++;
    this.added();
  }

  private added(): void {
    if (this.lines + this.dropped + this.samples.length >= BATCH_POINTS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }
}
