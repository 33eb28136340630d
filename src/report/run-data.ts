/**
 * One pass over a stored run's samples into compact columns: the iterations of each step, and
 * every tracer series as typed arrays. Everything the reports compute (statistics, gates,
 * charts) works from this, so a run of a million samples is read once, never as a million
 * objects kept in memory.
 */
import { FieldKind, fieldIndex, type RecordView, readRecords, type SeriesKey } from '../store/record-view.js';
import type { RunRecord, StepRecord } from '../store/run-record.js';
import type { RunReader } from '../store/store.js';
import { sortedCopy } from './stats.js';

/**
 * Tags left out of a series' identity: the run's own (the same on every sample) and `pid`,
 * which differs between runs and between the processes of one service. Samples that differ
 * only in these tags and share a timestamp are summed: the cost of the process group, which
 * is what can be compared between runs.
 */
export const VOLATILE_TAGS: ReadonlySet<string> = new Set(['run', 'scenario', 'step', 'tracer', 'pid']);

/** A growable Float64 column (doubling), filled with NaN where nothing was written. */
export class Column {
  data: Float64Array;
  length = 0;
  constructor(capacity = 64) {
    this.data = new Float64Array(capacity).fill(Number.NaN);
  }
  ensure(n: number): void {
    if (n <= this.data.length) return;
    let cap = this.data.length * 2;
    while (cap < n) cap *= 2;
    const next = new Float64Array(cap).fill(Number.NaN);
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }
  push(v: number): void {
    this.ensure(this.length + 1);
    this.data[this.length++] = v;
  }
  /** The written values, without copying. */
  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

/** A step's time window, in milliseconds since the run's start. */
export interface StepWindow {
  name: string;
  index: number;
  startMs: number;
  endMs: number;
  record: StepRecord;
}

/** How one error message occurred in a step. */
export interface FailureGroup {
  message: string;
  count: number;
  /** First occurrence: ms since the step's start, the iteration number and the worker. */
  firstAtMs: number;
  firstIteration: number;
  firstWorker: string;
}

/** The iterations (or the atomic actions of one name) of one step, in arrival order. */
export interface IterationData {
  /** Start, ms since the step's start. */
  start: Float64Array;
  /** Duration, ms. */
  duration: Float64Array;
  ok: Uint8Array;
  count: number;
  failures: number;
  /** Durations of the successful ones, sorted ascending: every duration statistic uses these. */
  okSorted: Float64Array;
  /** Failures grouped by message, most frequent first. */
  failureGroups: FailureGroup[];
  /** Warmup and interrupted iterations, left out of everything above. */
  excluded: number;
}

/** One series identity (measurement + identifying tags) and its rows. */
export interface SeriesGroup {
  measurement: string;
  /** Identifying tags (VOLATILE_TAGS removed), sorted by key. */
  tags: Record<string, string>;
  /** `k=v,k=v`: the tags as one label. */
  label: string;
  key: string;
  /** Row times, ms since the run's start. */
  t: Float64Array;
  /** Row step index, or −1 for a row outside every step. */
  step: Int16Array;
  /** Field name → values per row (NaN where the row had no such field). */
  fields: Map<string, Float64Array>;
  /** Fields written as integers (line protocol `i`): counters and sizes. */
  integerFields: Set<string>;
  /** String fields, by their first value (a statement's text, a query): labels, not series. */
  texts: Record<string, string>;
  rows: number;
}

/** A hook, setup or teardown action on the timeline (measurement `hook`). */
export interface Mark {
  name: string;
  phase: string;
  atMs: number;
  step: string | null;
  durationMs?: number;
  ok?: boolean;
}

/** A tracer's notice (measurement `tracer_notice`): something it could not do, in words. */
export interface Notice {
  atMs: number;
  tags: Record<string, string>;
  message: string;
}

/** Everything a report needs of one run. */
export interface RunData {
  record: RunRecord;
  /** The run's start in epoch ms: time zero of every `*Ms` value. */
  originMs: number;
  steps: StepWindow[];
  /** Iterations by step name. */
  iterations: Map<string, IterationData>;
  /** Atomic actions by step name, then action name (measurement `action`, when present). */
  actions: Map<string, Map<string, IterationData>>;
  /** Tracer series, sorted by key. */
  series: SeriesGroup[];
  marks: Mark[];
  notices: Notice[];
  /** Samples read, all measurements. */
  samples: number;
}

/** Options of loadRunData. */
export interface LoadOptions {
  /** Keep tracer series (default true); gates on iteration metrics alone do not need them. */
  series?: boolean;
}

class IterationBuilder {
  start = new Column();
  duration = new Column();
  ok: number[] = [];
  failures = 0;
  groups = new Map<string, FailureGroup>();

  add(
    startMs: number,
    durationMs: number,
    ok: boolean,
    error: string | undefined,
    iteration: number,
    worker: string,
  ): void {
    this.start.push(startMs);
    this.duration.push(durationMs);
    this.ok.push(ok ? 1 : 0);
    if (ok) return;
    this.failures++;
    const message = error ?? 'failed';
    const g = this.groups.get(message);
    if (!g) {
      this.groups.set(message, {
        message,
        count: 1,
        firstAtMs: startMs,
        firstIteration: iteration,
        firstWorker: worker,
      });
    } else {
      g.count++;
      if (startMs < g.firstAtMs)
        Object.assign(g, { firstAtMs: startMs, firstIteration: iteration, firstWorker: worker });
    }
  }

  build(stepStartMs: number): IterationData {
    const start = this.start.view().slice();
    for (let i = 0; i < start.length; i++) start[i] -= stepStartMs;
    const duration = this.duration.view().slice();
    const ok = Uint8Array.from(this.ok);
    const good = new Float64Array(this.ok.length - this.failures);
    let k = 0;
    for (let i = 0; i < duration.length; i++) if (ok[i]) good[k++] = duration[i];
    const failureGroups = [...this.groups.values()]
      .map((g) => ({ ...g, firstAtMs: g.firstAtMs - stepStartMs }))
      .sort((a, b) => b.count - a.count || a.firstAtMs - b.firstAtMs);
    return {
      start,
      duration,
      ok,
      count: ok.length,
      failures: this.failures,
      okSorted: sortedCopy(good),
      failureGroups,
      excluded: 0,
    };
  }
}

/** A field's values and how many rows they cover; skipped rows become NaN when the field next writes. */
interface FieldColumn {
  data: Float64Array;
  covered: number;
}

class GroupBuilder {
  /** Row capacity, shared by the time, step and field arrays so a row is never bounds-checked per field. */
  private cap = 16;
  t = new Float64Array(16);
  step = new Int16Array(16);
  fields = new Map<string, FieldColumn>();
  integerFields = new Set<string>();
  texts: Record<string, string> = {};
  rows = 0;
  /** The previous sample's field names and columns, in order: consecutive samples of a series almost always match. */
  private names: string[] = [];
  private cols: FieldColumn[] = [];
  /** The share of the file read when the series' first row came. */
  private firstProgress = 0;
  constructor(
    readonly measurement: string,
    readonly tags: Record<string, string>,
    readonly key: string,
    /** A volatile identifying tag (pid) was dropped: rows at the same time are summed. */
    public merges: boolean,
  ) {}

  /**
   * Grows the row capacity to what the series will hold at the end of the run, at its pace
   * since its first row, when the share of the file read is known (a tenth more, so that it
   * rarely grows again; at least a quarter more, at most 16 times as much), else twice.
   * Each growth copies every column, and near the end of a file that copy is most of the
   * series: counting the pace from the series' own start (not the file's) matters because
   * most series start after the iterations, and an estimate that falls short by 1 % costs a
   * full copy at 99 %. Capacity that is never written costs nothing: the allocator hands out
   * zeroed pages that are only mapped when touched.
   */
  private grow(progress: number): void {
    let cap = this.cap * 2;
    const from = this.firstProgress;
    if (progress > from) {
      const estimate = Math.ceil(((this.rows * (1 - from)) / (progress - from)) * 1.1);
      cap = Math.min(Math.max(Math.ceil(this.cap * 1.25), estimate), this.cap * 16);
    }
    // Zeroed memory comes cheap from the allocator; NaN gaps are filled lazily, per field.
    const t = new Float64Array(cap);
    t.set(this.t);
    this.t = t;
    const step = new Int16Array(cap);
    step.set(this.step);
    this.step = step;
    for (const col of this.fields.values()) {
      const next = new Float64Array(cap);
      next.set(col.data.subarray(0, col.covered));
      col.data = next;
    }
    this.cap = cap;
  }

  add(timeMs: number, step: number, record: RecordView): void {
    if (this.rows === 0) this.firstProgress = record.progress;
    const mergeRow = this.merges && this.rows > 0 && this.t[this.rows - 1] === timeMs;
    let row: number;
    if (mergeRow) row = this.rows - 1;
    else {
      if (this.rows === this.cap) this.grow(record.progress);
      row = this.rows++;
      this.t[row] = timeMs;
      this.step[row] = step;
    }
    const names = this.names;
    let i = 0;
    for (let k = 0; k < record.fieldCount; k++) {
      const name = record.names[k];
      const kind = record.kinds[k];
      if (kind === FieldKind.string) {
        if (!(name in this.texts)) this.texts[name] = record.strings[k];
        continue;
      }
      const v = record.numbers[k];
      let col: FieldColumn;
      if (i < names.length && names[i] === name) col = this.cols[i];
      else {
        let found = this.fields.get(name);
        if (!found) {
          found = { data: new Float64Array(this.cap), covered: 0 };
          this.fields.set(name, found);
          if (kind === FieldKind.integer) this.integerFields.add(name);
        }
        col = found;
        names[i] = name;
        this.cols[i] = col;
      }
      i++;
      if (col.covered <= row) {
        if (col.covered < row) col.data.fill(Number.NaN, col.covered, row);
        col.data[row] = v;
        col.covered = row + 1;
      } else if (mergeRow && !Number.isNaN(col.data[row])) col.data[row] += v;
      else col.data[row] = v;
    }
  }

  build(): SeriesGroup {
    const fields = new Map<string, Float64Array>();
    // Views, not copies: on a VM, fresh memory costs page faults, and a copy doubles them.
    for (const [name, col] of this.fields) {
      if (col.covered < this.rows) col.data.fill(Number.NaN, col.covered, this.rows);
      fields.set(name, col.data.subarray(0, this.rows));
    }
    const label = Object.entries(this.tags)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    return {
      measurement: this.measurement,
      tags: this.tags,
      label,
      key: this.key,
      t: this.t.subarray(0, this.rows),
      step: this.step.subarray(0, this.rows),
      fields,
      integerFields: this.integerFields,
      texts: this.texts,
      rows: this.rows,
    };
  }
}

/** The step windows of a record, ms since `originMs`; a step without an end ends at the run's end or the next step. */
export function stepWindows(record: RunRecord, originMs: number): StepWindow[] {
  const runEnd = record.endedAt ? Date.parse(record.endedAt) - originMs : Number.POSITIVE_INFINITY;
  return record.steps.map((s, index) => {
    const startMs = nsToMsSince(s.startNs, originMs) ?? Date.parse(s.startedAt) - originMs;
    const next = record.steps[index + 1];
    const endMs =
      nsToMsSince(s.endNs, originMs) ??
      (s.endedAt
        ? Date.parse(s.endedAt) - originMs
        : next
          ? (nsToMsSince(next.startNs, originMs) ?? runEnd)
          : runEnd);
    return { name: s.name, index, startMs, endMs, record: s };
  });
}

function nsToMsSince(ns: string | undefined, originMs: number): number | undefined {
  if (!ns) return undefined;
  try {
    return Number(BigInt(ns) - BigInt(Math.round(originMs)) * 1_000_000n) / 1e6;
  } catch {
    return undefined;
  }
}

/** Where the records of one series go, decided at its first record. */
type Route =
  | { to: 'iterations'; builder: IterationBuilder; step: string; worker: string; counts: boolean }
  | { to: 'series'; group: GroupBuilder; step: number | undefined }
  | { to: 'notice' }
  | { to: 'hook' }
  | { to: 'nowhere' };

/** A field's value as `Number(value)` of the Sample's field would be. */
function numberAt(record: RecordView, k: number): number {
  return record.kinds[k] === FieldKind.string ? Number(record.strings[k]) : record.numbers[k];
}

/** A field's value as `String(value)` of the Sample's field would be (an integer beyond 2^53 aside). */
function textAt(record: RecordView, k: number): string {
  switch (record.kinds[k]) {
    case FieldKind.string:
      return record.strings[k];
    case FieldKind.boolean:
      return record.numbers[k] === 1 ? 'true' : 'false';
    default:
      return String(record.numbers[k]);
  }
}

function isTrue(record: RecordView, k: number): boolean {
  return k >= 0 && record.kinds[k] === FieldKind.boolean && record.numbers[k] === 1;
}

/**
 * Reads a run's samples once into RunData. Run-level tracer samples (no `step` tag) belong to
 * the step whose window holds their time; step-level ones to their tagged step, even when a
 * tracer's first reading precedes the step's start by a few milliseconds.
 *
 * The samples are read as records (readRecords): from the local store straight out of its
 * line protocol, from any other store through readSamples; what is built is the same.
 */
export async function loadRunData(
  reader: RunReader,
  record: RunRecord,
  options: LoadOptions = {},
): Promise<RunData> {
  const keepSeries = options.series ?? true;
  const originMs = Date.parse(record.startedAt);
  const steps = stepWindows(record, originMs);
  const stepIndex = new Map(steps.map((s) => [s.name, s.index]));
  const iterationBuilders = new Map<string, IterationBuilder>();
  const actionBuilders = new Map<string, Map<string, IterationBuilder>>();
  const groups = new Map<string, GroupBuilder>();
  const marks: Mark[] = [];
  const notices: Notice[] = [];
  const excluded = new Map<string, number>();
  /** By SeriesKey id. */
  const routes: Route[] = [];
  let hint = 0;

  const windowOf = (ms: number): number => {
    const h = steps[hint];
    if (h && ms >= h.startMs && ms <= h.endMs) return hint;
    for (let i = 0; i < steps.length; i++) {
      if (ms >= steps[i].startMs && ms <= steps[i].endMs) {
        hint = i;
        return i;
      }
    }
    return -1;
  };

  const routeOf = (series: SeriesKey): Route => {
    const m = series.measurement;
    const tags = series.tags;
    if (m === 'iteration' || m === 'action') {
      const step = tags.step ?? '';
      let builder: IterationBuilder | undefined;
      if (m === 'iteration') {
        builder = iterationBuilders.get(step);
        if (!builder) {
          builder = new IterationBuilder();
          iterationBuilders.set(step, builder);
        }
      } else {
        const name = tags.action ?? tags.name ?? 'action';
        let byName = actionBuilders.get(step);
        if (!byName) {
          byName = new Map();
          actionBuilders.set(step, byName);
        }
        builder = byName.get(name);
        if (!builder) {
          builder = new IterationBuilder();
          byName.set(name, builder);
        }
      }
      return { to: 'iterations', builder, step, worker: tags.worker ?? '', counts: m === 'iteration' };
    }
    if (m === 'step') return { to: 'nowhere' }; // boundaries come from the record, which has them exactly
    if (m === 'tracer_notice') return { to: 'notice' };
    if (m === 'hook') return { to: 'hook' };
    if (!keepSeries) return { to: 'nowhere' };
    // Line protocol writes tags sorted, so the keys usually arrive in order; sort only when they do not.
    let key = m;
    let merges = false;
    let prev = '';
    let sorted = true;
    for (const k in tags) {
      if (k < prev) sorted = false;
      prev = k;
      if (VOLATILE_TAGS.has(k)) {
        if (k === 'pid') merges = true;
        continue;
      }
      key += `,${k}=${tags[k]}`;
    }
    if (!sorted) {
      key = m;
      for (const k of Object.keys(tags).sort()) if (!VOLATILE_TAGS.has(k)) key += `,${k}=${tags[k]}`;
    }
    let group = groups.get(key);
    if (!group) {
      const identity: Record<string, string> = {};
      for (const k of Object.keys(tags).sort()) if (!VOLATILE_TAGS.has(k)) identity[k] = tags[k];
      group = new GroupBuilder(m, identity, key, merges);
      groups.set(key, group);
    } else if (merges) group.merges = true;
    const tagged = tags.step;
    return { to: 'series', group, step: tagged !== undefined ? stepIndex.get(tagged) : undefined };
  };

  const addIteration = (route: Route & { to: 'iterations' }, ms: number, r: RecordView): void => {
    let warmup = -1;
    let interrupted = -1;
    let duration = -1;
    let ok = -1;
    let error = -1;
    let iteration = -1;
    for (let k = 0; k < r.fieldCount; k++) {
      switch (r.names[k]) {
        case 'duration':
          duration = k;
          break;
        case 'ok':
          ok = k;
          break;
        case 'error':
          error = k;
          break;
        case 'iteration':
          iteration = k;
          break;
        case 'warmup':
          warmup = k;
          break;
        case 'interrupted':
          interrupted = k;
          break;
      }
    }
    // Warmup iterations and those cut short by a stop are recorded but in no statistic (as in the run's summary).
    if (isTrue(r, warmup) || isTrue(r, interrupted)) {
      if (route.counts) excluded.set(route.step, (excluded.get(route.step) ?? 0) + 1);
      return;
    }
    route.builder.add(
      ms,
      duration >= 0 ? numberAt(r, duration) : Number.NaN,
      ok >= 0 ? isTrue(r, ok) : error < 0,
      error >= 0 && r.kinds[error] === FieldKind.string ? r.strings[error] : undefined,
      iteration >= 0 ? numberAt(r, iteration) : -1,
      route.worker,
    );
  };

  const visit = (r: RecordView): void => {
    // The time as a double rounds to ~256 ns at today's epoch: far below anything a chart or a
    // window boundary resolves, and it spares a BigInt per sample.
    const ms = r.time / 1e6 - originMs;
    const series = r.series;
    let route = routes[series.id];
    if (route === undefined) {
      route = routeOf(series);
      routes[series.id] = route;
    }
    switch (route.to) {
      case 'series':
        route.group.add(ms, route.step ?? windowOf(ms), r);
        return;
      case 'iterations':
        addIteration(route, ms, r);
        return;
      case 'notice': {
        const { run: _r, scenario: _s, ...tags } = series.tags;
        const k = fieldIndex(r, 'message');
        const message = k >= 0 ? textAt(r, k) : r.fieldCount > 0 ? textAt(r, 0) : '';
        notices.push({ atMs: ms, tags, message });
        return;
      }
      case 'hook': {
        const tags = series.tags;
        const duration = fieldIndex(r, 'duration');
        const ok = fieldIndex(r, 'ok');
        marks.push({
          name: `${tags.hook ?? tags.name ?? 'hook'}${tags.host ? ` on ${tags.host}` : ''}`,
          phase: tags.phase ?? '',
          atMs: ms,
          step: tags.step ?? null,
          durationMs:
            duration >= 0 && r.kinds[duration] === FieldKind.float ? r.numbers[duration] : undefined,
          ok: ok >= 0 && r.kinds[ok] === FieldKind.boolean ? r.numbers[ok] === 1 : undefined,
        });
        return;
      }
    }
  };

  const samples = await readRecords(reader, record.id, visit);

  const iterations = new Map<string, IterationData>();
  for (const [name, b] of iterationBuilders) {
    const w = steps[stepIndex.get(name) ?? -1];
    iterations.set(name, { ...b.build(w?.startMs ?? 0), excluded: excluded.get(name) ?? 0 });
  }
  const actions = new Map<string, Map<string, IterationData>>();
  for (const [step, byName] of actionBuilders) {
    const w = steps[stepIndex.get(step) ?? -1];
    actions.set(step, new Map([...byName].map(([n, b]) => [n, b.build(w?.startMs ?? 0)])));
  }
  const series = [...groups.values()]
    .map((g) => g.build())
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  marks.sort((a, b) => a.atMs - b.atMs);
  return { record, originMs, steps, iterations, actions, series, marks, notices, samples };
}

/** Loads several runs one after another (never in parallel: each read is CPU-bound). */
export async function loadRuns(
  reader: RunReader,
  records: RunRecord[],
  options?: LoadOptions,
): Promise<RunData[]> {
  const out: RunData[] = [];
  for (const r of records) out.push(await loadRunData(reader, r, options));
  return out;
}
