/**
 * One pass over a stored run's samples into compact columns: the iterations of each step, and
 * every tracer series as typed arrays. Everything the reports compute (statistics, gates,
 * charts) works from this, so a run of a million samples is read once, never as a million
 * objects kept in memory.
 */
import type { Sample } from '../core/sample.js';
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
  constructor(
    readonly measurement: string,
    readonly tags: Record<string, string>,
    readonly key: string,
    /** A volatile identifying tag (pid) was dropped: rows at the same time are summed. */
    public merges: boolean,
  ) {}

  private grow(): void {
    // Zeroed memory comes cheap from the allocator; NaN gaps are filled lazily, per field.
    const cap = this.cap * 2;
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

  add(timeMs: number, step: number, fields: Sample['fields']): void {
    const mergeRow = this.merges && this.rows > 0 && this.t[this.rows - 1] === timeMs;
    let row: number;
    if (mergeRow) row = this.rows - 1;
    else {
      if (this.rows === this.cap) this.grow();
      row = this.rows++;
      this.t[row] = timeMs;
      this.step[row] = step;
    }
    const names = this.names;
    let i = 0;
    for (const name in fields) {
      const raw = fields[name];
      let v: number;
      if (typeof raw === 'number') v = raw;
      else if (typeof raw === 'bigint') v = Number(raw);
      else if (typeof raw === 'boolean') v = raw ? 1 : 0;
      else {
        if (!(name in this.texts)) this.texts[name] = raw;
        continue;
      }
      let col: FieldColumn;
      if (i < names.length && names[i] === name) col = this.cols[i];
      else {
        let found = this.fields.get(name);
        if (!found) {
          found = { data: new Float64Array(this.cap), covered: 0 };
          this.fields.set(name, found);
          if (typeof raw === 'bigint') this.integerFields.add(name);
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

/**
 * Reads a run's samples once into RunData. Run-level tracer samples (no `step` tag) belong to
 * the step whose window holds their time; step-level ones to their tagged step, even when a
 * tracer's first reading precedes the step's start by a few milliseconds.
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
  let samples = 0;
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

  for await (const s of reader.readSamples(record.id)) {
    samples++;
    // Number(time) rounds to ~256 ns at today's epoch: far below anything a chart or a window
    // boundary resolves, and it spares a BigInt allocation per sample.
    const ms = Number(s.time) / 1e6 - originMs;
    const m = s.measurement;
    if (m === 'iteration' || m === 'action') {
      const step = s.tags.step ?? '';
      let builder: IterationBuilder | undefined;
      if (m === 'iteration') {
        builder = iterationBuilders.get(step);
        if (!builder) {
          builder = new IterationBuilder();
          iterationBuilders.set(step, builder);
        }
      } else {
        const name = s.tags.action ?? s.tags.name ?? 'action';
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
      const f = s.fields;
      // Warmup iterations and those cut short by a stop are recorded but in no statistic (as in the run's summary).
      if (f.warmup === true || f.interrupted === true) {
        if (m === 'iteration') excluded.set(step, (excluded.get(step) ?? 0) + 1);
        continue;
      }
      const duration = typeof f.duration === 'number' ? f.duration : Number(f.duration ?? Number.NaN);
      const ok = f.ok === undefined ? f.error === undefined : f.ok === true;
      builder.add(
        ms,
        duration,
        ok,
        typeof f.error === 'string' ? f.error : undefined,
        typeof f.iteration === 'bigint' ? Number(f.iteration) : Number(f.iteration ?? -1),
        s.tags.worker ?? '',
      );
      continue;
    }
    if (m === 'step') continue; // boundaries come from the record, which has them exactly
    if (m === 'tracer_notice') {
      const { run: _r, scenario: _s, ...tags } = s.tags;
      notices.push({ atMs: ms, tags, message: String(s.fields.message ?? Object.values(s.fields)[0] ?? '') });
      continue;
    }
    if (m === 'hook') {
      marks.push({
        name: `${s.tags.hook ?? s.tags.name ?? 'hook'}${s.tags.host ? ` on ${s.tags.host}` : ''}`,
        phase: s.tags.phase ?? '',
        atMs: ms,
        step: s.tags.step ?? null,
        durationMs: typeof s.fields.duration === 'number' ? s.fields.duration : undefined,
        ok: typeof s.fields.ok === 'boolean' ? s.fields.ok : undefined,
      });
      continue;
    }
    if (!keepSeries) continue;
    // Line protocol writes tags sorted, so the keys usually arrive in order; sort only when they do not.
    const tags = s.tags;
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
    let g = groups.get(key);
    if (!g) {
      const identity: Record<string, string> = {};
      for (const k of Object.keys(tags).sort()) if (!VOLATILE_TAGS.has(k)) identity[k] = tags[k];
      g = new GroupBuilder(m, identity, key, merges);
      groups.set(key, g);
    } else if (merges) g.merges = true;
    const tagged = s.tags.step;
    const step = tagged !== undefined ? (stepIndex.get(tagged) ?? windowOf(ms)) : windowOf(ms);
    g.add(ms, step, s.fields);
  }

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
