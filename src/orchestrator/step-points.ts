import type { FieldValue, Sample } from '../core/sample.js';
import {
  encodeFields,
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

/**
 * pointFields(facts) encoded without building it: the runner's fields are known, so they
 * are written straight from the numbers. Undefined when the shortcut could differ from the
 * generic encoder (a workload field named like the runner's or like an array index, which
 * an object orders first; a duration that is not finite; an iteration number beyond 2^53),
 * and the caller encodes pointFields(facts) instead.
 */
function pointFieldsText(facts: PointFacts, measurement: string): string | undefined {
  const duration = encodeFieldValue(measurement, 'duration', facts.durationMs);
  if (duration === undefined || !Number.isSafeInteger(facts.iteration)) return undefined;
  let text = `duration=${duration},ok=${facts.ok ? 'true' : 'false'},iteration=${facts.iteration}i`;
  if (facts.fields) {
    for (const key of Object.keys(facts.fields)) {
      const c = key.charCodeAt(0);
      if (RUNNER_FIELDS.has(key) || (c >= 48 && c <= 57)) return undefined;
    }
    const own = encodeFields(facts.fields, measurement);
    if (own !== '') text += ',' + own;
  }
  if (facts.warmup) text += ',warmup=true';
  if (facts.interrupted) text += ',interrupted=true';
  if (facts.error !== undefined) text += ',error=' + encodeFieldValue(measurement, 'error', facts.error);
  return text;
}

/** A worker's series: its tags made once, and their encoded keys once needed. */
interface WorkerSeries {
  tags: Record<string, string>;
  iterationKey?: string;
  /** Action name → encoded series key. */
  actionKeys: Map<string, string>;
}

/**
 * The `iteration` and `action` points of one step on their way to the sink, batched. Their
 * series are fixed (the step's tags and a worker, and an action name) and their fields are a
 * few numbers, so when the sink takes encoded records (EncodedSink, as the local store does)
 * a point is encoded as it comes, from its series key encoded once and its numbers: the same
 * bytes as the generic encoder, at a fraction of its cost, and no Sample object kept until the
 * batch is written. Other sinks get Sample objects, as before.
 */
export class StepPoints {
  private readonly encoded?: EncodedSink;
  private samples: Sample[] = [];
  private text = '';
  private lines = 0;
  private dropped = 0;
  private timer?: NodeJS.Timeout;
  private readonly workers: WorkerSeries[] = [];

  constructor(
    private readonly sink: SampleSink,
    /** The step's tags (run, scenario, step); each point adds `worker`, an action's also `action`. */
    private readonly tags: Record<string, string>,
  ) {
    if (takesEncoded(sink)) this.encoded = sink;
  }

  /** Queues the point of an iteration run on `worker`, started at `time`. */
  iteration(worker: number, facts: PointFacts, time: bigint): void {
    const series = this.series(worker);
    if (this.encoded) {
      series.iterationKey ??= encodeSeriesKey('iteration', series.tags);
      this.add(series.iterationKey, facts, time, 'iteration');
    } else {
      this.samples.push({ measurement: 'iteration', tags: series.tags, fields: pointFields(facts), time });
      this.added();
    }
  }

  /** Queues the point of an atomic action of an iteration run on `worker`, started at `time`. */
  action(worker: number, name: string, facts: PointFacts, time: bigint): void {
    const series = this.series(worker);
    if (this.encoded) {
      let key = series.actionKeys.get(name);
      if (key === undefined) {
        key = encodeSeriesKey('action', { ...series.tags, action: name });
        series.actionKeys.set(name, key);
      }
      this.add(key, facts, time, 'action');
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
      const batch = { text: this.text, lines: this.lines, dropped: this.dropped };
      this.text = '';
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
      series = { tags: { ...this.tags, worker: String(worker) }, actionKeys: new Map() };
      this.workers[worker] = series;
    }
    return series;
  }

  private add(key: string, facts: PointFacts, time: bigint, measurement: string): void {
    const fields = pointFieldsText(facts, measurement);
    const line =
      fields === undefined
        ? encodeRecord(key, pointFields(facts), time, measurement)
        : `${key} ${fields} ${encodeTime(time, measurement)}`;
    // Counted as encodeBatch counts, though `ok` can always be written.
    if (line === undefined) this.dropped++;
    else {
      this.text += line + '\n';
      this.lines++;
    }
    this.added();
  }

  private added(): void {
    if (this.lines + this.dropped + this.samples.length >= BATCH_POINTS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }
}
