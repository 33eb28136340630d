import type { Sample } from '../core/sample.js';
import { encodeRecord, encodeSeriesKey } from '../store/line-protocol.js';
import { type EncodedSink, type SampleSink, takesEncoded } from '../store/store.js';

/**
 * Points are handed to the sink in batches: one write per batch instead of one per iteration
 * is a large part of the runner's cost at thousands of iterations per second.
 */
const BATCH_POINTS = 500;
const BATCH_MS = 200;

/** A worker's series: its tags made once, and their encoded keys once needed. */
interface WorkerSeries {
  tags: Record<string, string>;
  iterationKey?: string;
  /** Action name → encoded series key. */
  actionKeys: Map<string, string>;
}

/**
 * The `iteration` and `action` points of one step on their way to the sink, batched. Their
 * series are fixed (the step's tags and a worker, and an action name), so when the sink takes
 * encoded records (EncodedSink, as the local store does) each series key is encoded once and
 * a point costs only its fields and time: the same bytes as the generic encoder, at a fraction
 * of its cost. Other sinks get Sample objects, as before.
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

  /** Queues the point of an iteration run on `worker`. */
  iteration(worker: number, fields: Sample['fields'], time: bigint): void {
    const series = this.series(worker);
    if (this.encoded) {
      series.iterationKey ??= encodeSeriesKey('iteration', series.tags);
      this.add(encodeRecord(series.iterationKey, fields, time, 'iteration'));
    } else {
      this.samples.push({ measurement: 'iteration', tags: series.tags, fields, time });
      this.added();
    }
  }

  /** Queues the point of an atomic action of an iteration run on `worker`. */
  action(worker: number, name: string, fields: Sample['fields'], time: bigint): void {
    const series = this.series(worker);
    if (this.encoded) {
      let key = series.actionKeys.get(name);
      if (key === undefined) {
        key = encodeSeriesKey('action', { ...series.tags, action: name });
        series.actionKeys.set(name, key);
      }
      this.add(encodeRecord(key, fields, time, 'action'));
    } else {
      this.samples.push({ measurement: 'action', tags: { ...series.tags, action: name }, fields, time });
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

  /** One encoded record, or undefined when every field was NaN or Infinity (counted, as encodeBatch does). */
  private add(line: string | undefined): void {
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
