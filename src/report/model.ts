/**
 * The report's view model: everything the templates show, computed from RunData. The first run
 * is the baseline; a single run is a comparison of one. Templates only lay this out, so a
 * user's own templates get the same numbers.
 */
import { stringify } from 'yaml';
import type { CounterKind } from '../core/counters.js';
import { scalpelsVersion } from '../core/version.js';
import type { RunRecord } from '../store/run-record.js';
import {
  classifyByTolerance,
  compareDistributions,
  DEFAULT_ALPHA,
  DEFAULT_TOLERANCE_PCT,
  matchSteps,
  type ToleranceClass,
  type Verdict,
} from './compare.js';
import { type DeclaredKind, declaredKinds } from './counter-kinds.js';
import { inFlight, minMaxDownsample, type XY } from './downsample.js';
import type { GateResult } from './gates.js';
import type { IterationData, RunData, SeriesGroup, StepWindow } from './run-data.js';
import { counterShape, fieldAggregate, perSecond } from './series.js';
import { BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, histogram, percentile, statsOfSorted } from './stats.js';

/** Drawing budget: buckets per line (two points each at most), and lines per chart. */
export const CHART_BUCKETS = 200;
export const MAX_LINES = 8;
/** Measurements with more series than this get a top-N table instead of a full aggregates table. */
export const TOP_N = 10;
const HISTOGRAM_BINS = 40;

/**
 * The fields charted up front for the measurements Scalpels knows; every other field is one
 * click away ("more fields"). A measurement not listed shows its first two fields.
 */
export const KEY_FIELDS: Record<string, string[]> = {
  cpu: ['usage_active'],
  mem: ['used_percent'],
  system: ['load1'],
  diskio: ['read_bytes', 'write_bytes'],
  net: ['bytes_recv', 'bytes_sent'],
  procstat: ['cpu_usage', 'memory_rss'],
  procstat_lookup: ['pid_count'],
  fsio: ['read_bytes', 'write_bytes'],
  fsio_file: ['time_us', 'bytes'],
  perf: ['task_clock', 'context_switches'],
  syscalls: ['time_us', 'calls'],
  stap_syscalls: ['calls'],
  bpftrace: ['calls'],
  python_calls: ['time_us', 'calls'],
  mysql: ['queries', 'slow_queries'],
  mysql_statements: ['total_latency_ms', 'calls'],
  postgresql: ['xact_commit', 'blks_read'],
  postgresql_statements: ['total_exec_time_ms', 'calls'],
  rabbitmq_queue: ['messages', 'messages_ready'],
  rabbitmq_exchange: ['messages_publish_in'],
  rpc_calls: ['latency_ms_sum', 'count'],
};

/** Run colors: the baseline first. Readable on white and in grayscale print (by dash). */
export const PALETTE = [
  '#3b6ea8',
  '#d9822b',
  '#2e9d5b',
  '#c23b3b',
  '#7b5ea7',
  '#8c6d31',
  '#d16ba5',
  '#5f6b7a',
];

/** One chart, as the client script draws it (templates/assets/report.js). */
export interface ChartSpec {
  id: string;
  kind: 'line' | 'points' | 'steps' | 'bars';
  title: string;
  xLabel: string;
  yLabel: string;
  series: { label: string; color: string; dash?: number[]; x: number[]; y: number[] }[];
  /** Shaded spans (steps on a run's timeline), in x units. */
  bands?: { from: number; to: number; label: string }[];
  /** Vertical marks (hooks), in x units. */
  marks?: { at: number; label: string }[];
  /** Lines left out to keep the chart readable. */
  omitted?: number;
  /** The y axis starts at 0 (counts, histograms). */
  yFromZero?: boolean;
}

/** A cell of a side-by-side table: one run's value and, for candidates, its change. */
export interface Cell {
  text: string;
  value?: number;
  change?: string;
  /** better | worse | same | higher | lower | within | n/a: a CSS class. */
  cls?: string;
  title?: string;
}

/** A table row: a label and one cell per run. */
export interface Row {
  label: string;
  /** A longer text under the label (a statement's text). */
  detail?: string;
  sub?: string;
  cells: Cell[];
}

export interface RunView {
  index: number;
  id: string;
  baseline: boolean;
  color: string;
  record: RunRecord;
  status: string;
  statusCls: string;
  durationText: string;
  argsText: string;
  agents: { name: string; host: string; version: string; labels: string; offset: string; lost?: string }[];
  incompleteStreams: number;
}

export interface SignificanceView {
  runId: string;
  verdict: Verdict;
  text: string;
  pValue: string;
  ci: string;
}

export interface TracerPanel {
  measurement: string;
  anchor: string;
  /** Charts of the key fields (KEY_FIELDS); the other fields are in the tables only, to keep the file small. */
  charts: string[];
  /** Aggregates table (one row per series × field), or a top-N table when there are many series. */
  rows: Row[];
  moreRows: Row[];
  topN: boolean;
  groups: number;
}

export interface StepView {
  name: string;
  anchor: string;
  present: boolean[];
  workload: string;
  runner: string;
  /** What changes how to read the numbers: warmup left out, an early stop, an abort, missed starts. */
  notes: { runId: string; text: string }[];
  stats: Row[];
  significance: SignificanceView[];
  sla: { runId: string; results: { criterion: string; kind?: string; success: boolean; detail: string }[] }[];
  charts: string[];
  actions: Row[];
  failures: { runId: string; groups: { message: string; count: number; first: string }[] }[];
  tracers: TracerPanel[];
  gates: GateResult[];
}

export interface ReportModel {
  title: string;
  generatedAt: string;
  scalpelsVersion: string;
  runs: RunView[];
  comparison: boolean;
  mixedScenarios: boolean;
  alpha: number;
  tolerancePct: number;
  bootstrapResamples: number;
  bootstrapSeed: number;
  summary: Row[];
  overview: Row[];
  steps: StepView[];
  unmatched: { name: string; presentIn: string[]; missingFrom: string[] }[];
  timelines: { runId: string; color: string; open: boolean; charts: string[] }[];
  /** Setup, teardown and hook actions of every run (from the run records), in start order. */
  hooks: {
    runId: string;
    name: string;
    phase: string;
    trigger: string;
    step: string;
    at: string;
    duration: string;
    ok: boolean;
    detail: string;
    output: string;
  }[];
  /** Tracer notices (measurement tracer_notice): what a tracer could not do. */
  notices: { runId: string; at: string; source: string; message: string }[];
  scenarios: { runIds: string[]; source: string; rendered: string; file: string }[];
  gates: GateResult[];
  gatesFailed: number;
  charts: ChartSpec[];
  /** Charts drawn at load (not inside a closed section): what a browser test expects to see. */
  eagerCharts: number;
}

/** Options of buildReportModel. */
export interface ModelOptions {
  title?: string;
  tolerancePct?: number;
  alpha?: number;
  gates?: GateResult[];
  /** Fixed generation time (tests, reproducible screenshots). */
  now?: Date;
}

const fmtMs = (ms: number | undefined): string => {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : ms < 100 ? 1 : 0)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60_000)} m ${((ms % 60_000) / 1000).toFixed(0)} s`;
};

/** A number in 3–4 significant digits with k/M/G suffixes. */
export function fmtNumber(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toPrecision(3)} G`;
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)} M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(3)} k`;
  if (a >= 100 || Number.isInteger(v)) return v.toFixed(0);
  return v.toPrecision(3);
}

const fmtPct = (v: number): string =>
  Number.isFinite(v) ? `${v.toFixed(v === 100 || v === 0 ? 0 : 1)} %` : '–';

function fmtChangePct(c: number): string {
  if (Number.isNaN(c)) return '';
  if (!Number.isFinite(c)) return c > 0 ? '+∞ %' : '−∞ %';
  return `${c >= 0 ? '+' : '−'}${Math.abs(c).toFixed(Math.abs(c) >= 10 ? 0 : 1)} %`;
}

const fmtP = (p: number): string =>
  Number.isNaN(p) ? 'n/a' : p === 0 ? '<1e-300' : p < 0.001 ? p.toExponential(1) : p.toPrecision(2);

/** Rounds for the embedded JSON: 4 significant digits for values, ms for times. */
const r4 = (v: number): number => (v === 0 || !Number.isFinite(v) ? v : Number(v.toPrecision(4)));
const r3 = (v: number): number => Math.round(v * 1000) / 1000;

function anchorOf(prefix: string, name: string): string {
  return `${prefix}-${name.replace(/[^A-Za-z0-9_-]+/g, '-')}`;
}

const VERDICT_TEXT: Record<Verdict, string> = {
  better: 'better',
  worse: 'worse',
  same: 'no significant change',
  'n/a': 'n/a',
};
const TOLERANCE_TEXT: Record<ToleranceClass, string> = {
  higher: 'higher',
  lower: 'lower',
  within: '',
  'n/a': '',
};

class ChartBook {
  readonly charts: ChartSpec[] = [];
  add(spec: Omit<ChartSpec, 'id'>): string {
    const id = `c${this.charts.length}`;
    this.charts.push({ id, ...spec });
    return id;
  }
}

function runDash(index: number): number[] | undefined {
  return index === 0
    ? undefined
    : [
        [6, 3],
        [2, 2],
        [8, 3, 2, 3],
      ][(index - 1) % 3];
}

function xy(points: XY, xScale: (x: number) => number): { x: number[]; y: number[] } {
  return { x: points.x.map((x) => r3(xScale(x))), y: points.y.map(r4) };
}

/** The run-level view of each run: status, agents, data accounting. */
function runView(run: RunData, index: number): RunView {
  const r = run.record;
  const ms = r.endedAt ? Date.parse(r.endedAt) - Date.parse(r.startedAt) : Number.NaN;
  return {
    index,
    id: r.id,
    baseline: index === 0,
    color: PALETTE[index % PALETTE.length],
    record: r,
    status: r.status,
    statusCls: r.status === 'passed' ? 'better' : r.status === 'running' ? 'same' : 'worse',
    durationText: fmtMs(ms),
    argsText: Object.entries(r.scenario.args ?? {})
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' '),
    agents: r.agents.map((a) => ({
      name: a.name,
      host: a.host,
      version: a.version,
      labels: Object.entries(a.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(', '),
      offset: `${a.clockOffsetMs >= 0 ? '+' : '−'}${Math.abs(a.clockOffsetMs).toFixed(1)} ms`,
      lost: a.lost,
    })),
    incompleteStreams: r.streams.filter((s) => !s.complete).length,
  };
}

function overviewRows(runs: RunData[], views: RunView[]): Row[] {
  const row = (label: string, f: (run: RunData, v: RunView) => Cell | string): Row => ({
    label,
    cells: runs.map((run, i) => {
      const c = f(run, views[i]);
      return typeof c === 'string' ? { text: c } : c;
    }),
  });
  return [
    row('Scenario', (r) => r.record.scenario.name),
    row('Status', (r, v) => ({ text: `${r.record.status} (exit ${r.record.exitCode})`, cls: v.statusCls })),
    row('Started', (r) => r.record.startedAt),
    row('Ended', (r) => r.record.endedAt ?? '–'),
    row('Wall time', (_, v) => v.durationText),
    row('Args', (_, v) => v.argsText || '–'),
    row('Scalpels version', (r) => r.record.scalpelsVersion),
    row('Runner host', (r) => r.record.host),
    row(
      'Agents (clock offset)',
      (_, v) => v.agents.map((a) => `${a.name} (${a.offset})${a.lost ? ' LOST' : ''}`).join(', ') || '–',
    ),
    row('Samples produced / written', (r) => `${r.record.data.produced} / ${r.record.data.written}`),
    row('Spooled / lost', (r) => ({
      text: `${r.record.data.spooled} / ${r.record.data.lost}`,
      cls: r.record.data.lost > 0 ? 'worse' : undefined,
    })),
    row('Incomplete streams', (_, v) => ({
      text: String(v.incompleteStreams),
      cls: v.incompleteStreams > 0 ? 'worse' : undefined,
    })),
    ...(runs.some((r) => r.record.error)
      ? [row('Error', (r) => ({ text: r.record.error ?? '–', cls: r.record.error ? 'worse' : undefined }))]
      : []),
  ];
}

/** The iteration statistics rows of one step: one cell per run, changes against the baseline. */
function statRows(iters: (IterationData | undefined)[]): Row[] {
  const stats = iters.map((d) => (d ? statsOfSorted(d.okSorted) : undefined));
  const rows: Row[] = [];
  const base = stats[0];
  const durationRow = (label: string, pick: (s: NonNullable<(typeof stats)[0]>) => number): Row => ({
    label,
    cells: stats.map((s, i) => {
      if (!s) return { text: '–' };
      const v = pick(s);
      const cell: Cell = { text: fmtMs(v), value: v };
      if (i > 0 && base) {
        const c = classifyByTolerance(pick(base), v, 0);
        cell.change = fmtChangePct(c.changePct);
      }
      return cell;
    }),
  });
  rows.push({
    label: 'Iterations',
    cells: iters.map((d, i) => ({
      text: d ? String(d.count) : '–',
      change:
        i > 0 && d && iters[0]
          ? fmtChangePct(classifyByTolerance(iters[0].count, d.count, 0).changePct)
          : undefined,
    })),
  });
  rows.push({
    label: 'Success',
    cells: iters.map((d, i) => {
      if (!d) return { text: '–' };
      const rate = d.count ? ((d.count - d.failures) / d.count) * 100 : Number.NaN;
      const base0 = iters[0];
      const baseRate = base0?.count ? ((base0.count - base0.failures) / base0.count) * 100 : Number.NaN;
      const diff = rate - baseRate;
      return {
        text: fmtPct(rate),
        cls: d.failures > 0 ? 'worse' : undefined,
        change:
          i > 0 && Number.isFinite(diff)
            ? `${diff >= 0 ? '+' : '−'}${Math.abs(diff).toFixed(1)} pt`
            : undefined,
      };
    }),
  });
  rows.push(durationRow('Min', (s) => s.min));
  rows.push(durationRow('Median', (s) => s.median));
  rows.push(durationRow('p90', (s) => s.p90));
  rows.push(durationRow('p95', (s) => s.p95));
  rows.push(durationRow('p99', (s) => s.p99));
  rows.push(durationRow('Max', (s) => s.max));
  rows.push(durationRow('Mean', (s) => s.mean));
  rows.push(durationRow('Std. deviation', (s) => s.stddev));
  return rows;
}

function significanceOf(
  runs: RunData[],
  iters: (IterationData | undefined)[],
  alpha: number,
): SignificanceView[] {
  const base = iters[0];
  const out: SignificanceView[] = [];
  for (let i = 1; i < runs.length; i++) {
    const cand = iters[i];
    if (!base || !cand || base.okSorted.length === 0 || cand.okSorted.length === 0) {
      out.push({
        runId: runs[i].record.id,
        verdict: 'n/a',
        text: 'n/a',
        pValue: 'n/a',
        ci: 'no successful iterations to compare',
      });
      continue;
    }
    const c = compareDistributions(base.okSorted, cand.okSorted, alpha);
    const ci = c.interval;
    out.push({
      runId: runs[i].record.id,
      verdict: c.verdict,
      text: VERDICT_TEXT[c.verdict],
      pValue: fmtP(c.mwu.pValue),
      ci: Number.isNaN(ci.low)
        ? `median ${fmtChangePct(ci.estimate * 100)}`
        : `median ${fmtChangePct(ci.estimate * 100)} [${fmtChangePct(ci.low * 100)}, ${fmtChangePct(ci.high * 100)}]`,
    });
  }
  return out;
}

/** Load profile, duration over time and histogram of one step, runs overlaid from the step's start. */
function iterationCharts(
  book: ChartBook,
  step: string,
  runs: RunData[],
  iters: (IterationData | undefined)[],
): string[] {
  const sec = (ms: number) => ms / 1000;
  const ids: string[] = [];
  const present = iters
    .map((d, i) => ({ d, i }))
    .filter((e): e is { d: IterationData; i: number } => e.d !== undefined && e.d.count > 0);
  if (present.length === 0) return ids;
  const label = (i: number) =>
    runs.length > 1 ? `${i === 0 ? 'baseline ' : ''}${runs[i].record.id}` : 'in flight';
  ids.push(
    book.add({
      kind: 'steps',
      title: `${step}: load profile (iterations in flight)`,
      xLabel: 's since step start',
      yLabel: 'in flight',
      yFromZero: true,
      series: present.map(({ d, i }) => ({
        label: label(i),
        color: PALETTE[i % PALETTE.length],
        dash: runDash(i),
        ...xy(inFlight(d.start, d.duration, CHART_BUCKETS), sec),
      })),
    }),
  );
  const durationSeries: ChartSpec['series'] = [];
  for (const { d, i } of present) {
    durationSeries.push({
      label: runs.length > 1 ? label(i) : 'succeeded',
      color: PALETTE[i % PALETTE.length],
      ...xy(
        minMaxDownsample(d.start, d.duration, CHART_BUCKETS, (k) => d.ok[k] === 1),
        sec,
      ),
    });
    if (runs.length === 1 && d.failures > 0) {
      durationSeries.push({
        label: 'failed',
        color: '#c23b3b',
        ...xy(
          minMaxDownsample(d.start, d.duration, CHART_BUCKETS, (k) => d.ok[k] === 0),
          sec,
        ),
      });
    }
  }
  ids.push(
    book.add({
      kind: 'points',
      title: `${step}: iteration duration over time`,
      xLabel: 's since step start (iteration start)',
      yLabel: 'ms',
      series: durationSeries,
    }),
  );
  const withValues = present.filter(({ d }) => d.okSorted.length > 0);
  if (withValues.length > 0) {
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const { d } of withValues) {
      lo = Math.min(lo, d.okSorted[0]);
      // The top half-percent would stretch the axis for a handful of outliers; it goes into the last bin.
      hi = Math.max(hi, percentile(d.okSorted, 99.5));
    }
    if (!(hi > lo)) hi = lo + 1;
    // About √n bins (a sparse step gets few wide bins), between 8 and HISTOGRAM_BINS.
    const n = Math.max(...withValues.map(({ d }) => d.okSorted.length));
    const bins = Math.min(HISTOGRAM_BINS, Math.max(8, Math.round(Math.sqrt(n))));
    const width = (hi - lo) / bins;
    const centers = Array.from({ length: bins }, (_, k) => r4(lo + (k + 0.5) * width));
    ids.push(
      book.add({
        kind: 'bars',
        title: `${step}: duration histogram (last bin: ≥ p99.5)`,
        xLabel: 'ms',
        yLabel: '% of iterations',
        yFromZero: true,
        series: withValues.map(({ d, i }) => ({
          label: runs.length > 1 ? label(i) : 'iterations',
          color: PALETTE[i % PALETTE.length],
          x: centers,
          y: histogram(d.okSorted, lo, hi, bins).map((c) => r4((c / d.okSorted.length) * 100)),
        })),
      }),
    );
  }
  return ids;
}

interface FieldInfo {
  field: string;
  /** Shown as a rate per second, from a running total or from per-interval values; absent: as it is. */
  counter?: CounterKind;
}

/**
 * The numeric fields of a measurement across runs, key fields first, each marked counter or
 * not: as the tracers' manifests declare it where they do (`kindOf`), so a running total that
 * restarted (a service restarted by a hook) is still drawn as a rate and a gauge that only grew
 * (a leak) is not; by its shape where no attached tracer declares the measurement.
 */
function fieldsOf(
  measurement: string,
  groups: SeriesGroup[],
  kindOf: (measurement: string, field: string) => DeclaredKind | undefined = () => undefined,
): { key: FieldInfo[]; more: FieldInfo[] } {
  const order: string[] = [];
  const monotonic = new Map<string, boolean>();
  const moving = new Map<string, boolean>();
  for (const g of groups) {
    for (const f of g.fields.keys()) {
      if (!monotonic.has(f)) {
        order.push(f);
        monotonic.set(f, true);
        moving.set(f, false);
      }
      const shape = counterShape(g, f);
      if (!shape.monotonic) monotonic.set(f, false);
      if (shape.moving && g.rows >= 3) moving.set(f, true);
    }
  }
  const counter = new Map(
    order.map((f): [string, CounterKind | undefined] => {
      const declared = kindOf(measurement, f);
      if (declared === undefined) return [f, monotonic.get(f)! && moving.get(f)! ? 'cumulative' : undefined];
      return [f, declared === 'level' ? undefined : declared];
    }),
  );
  const wanted = KEY_FIELDS[measurement] ?? order.slice(0, 2);
  const key = wanted.filter((f) => counter.has(f)).map((f) => ({ field: f, counter: counter.get(f) }));
  const more = order.filter((f) => !wanted.includes(f)).map((f) => ({ field: f, counter: counter.get(f) }));
  return { key, more };
}

/** One kind per field from several runs' declarations: the one they agree on, else none (guess by shape). */
function agreedKinds(
  perRun: (((measurement: string, field: string) => DeclaredKind | undefined) | undefined)[],
): (measurement: string, field: string) => DeclaredKind | undefined {
  return (measurement, field) => {
    let agreed: DeclaredKind | undefined;
    for (const kindOf of perRun) {
      const kind = kindOf?.(measurement, field);
      if (kind === undefined) continue;
      if (agreed !== undefined && agreed !== kind) return undefined;
      agreed = kind;
    }
    return agreed;
  };
}

/** The value a series × field stands for in a step: its rate for a counter, its mean otherwise. */
function headline(g: SeriesGroup, f: FieldInfo, step: number | undefined): number | undefined {
  const a = fieldAggregate(g, f.field, step, f.counter);
  if (!a) return undefined;
  return f.counter ? a.rate : a.mean;
}

function tracerPanels(
  book: ChartBook,
  stepName: string,
  runs: RunData[],
  stepIdx: (number | undefined)[],
  tolerancePct: number,
): TracerPanel[] {
  const measurements = new Map<string, SeriesGroup[][]>();
  runs.forEach((run, r) => {
    const si = stepIdx[r];
    if (si === undefined) return;
    for (const g of run.series) {
      let hasRow = false;
      for (let i = 0; i < g.rows; i++) {
        if (g.step[i] === si) {
          hasRow = true;
          break;
        }
      }
      if (!hasRow) continue;
      let perRun = measurements.get(g.measurement);
      if (!perRun) {
        perRun = runs.map(() => []);
        measurements.set(g.measurement, perRun);
      }
      perRun[r].push(g);
    }
  });
  const kindOf = agreedKinds(
    runs.map((run, r) => (stepIdx[r] === undefined ? undefined : declaredKinds(run.record, stepName))),
  );
  const panels: TracerPanel[] = [];
  for (const [measurement, perRun] of [...measurements].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const labels = [...new Set(perRun.flat().map((g) => g.label))].sort();
    const fields = fieldsOf(measurement, perRun.flat(), kindOf);
    const topN = labels.length > TOP_N;
    // Series ranked by their first key field in the last run (the one under test), then the baseline.
    const rankField = fields.key[0] ?? fields.more[0];
    const score = (label: string): number => {
      for (let r = runs.length - 1; r >= 0; r--) {
        const g = perRun[r].find((x) => x.label === label);
        if (g && rankField) {
          const v = headline(g, rankField, stepIdx[r]);
          if (v !== undefined && Number.isFinite(v)) return v;
        }
      }
      return Number.NEGATIVE_INFINITY;
    };
    const scores = new Map(labels.map((l) => [l, score(l)]));
    const ranked = [...labels].sort((a, b) => scores.get(b)! - scores.get(a)!);
    const shown = topN ? ranked.slice(0, TOP_N) : ranked;
    const chartFor = (f: FieldInfo): string => {
      const series: ChartSpec['series'] = [];
      // The line budget is shared by the runs: each run draws the same top series.
      const drawn = ranked.slice(0, Math.max(1, Math.floor(MAX_LINES / runs.length)));
      drawn.forEach((label, gi) => {
        runs.forEach((run, r) => {
          const g = perRun[r].find((x) => x.label === label);
          const si = stepIdx[r];
          if (!g || si === undefined || !g.fields.has(f.field)) return;
          const start = run.steps[si].startMs;
          const src = f.counter
            ? perSecond(g, f.field, f.counter)
            : { t: g.t, v: g.fields.get(f.field)!, step: g.step };
          const pts = minMaxDownsample(src.t, src.v, CHART_BUCKETS, (k) => src.step[k] === si);
          if (pts.x.length === 0) return;
          const who = runs.length > 1 ? `${r === 0 ? 'baseline' : run.record.id}` : '';
          series.push({
            label: [who, label || measurement].filter(Boolean).join(' · '),
            color:
              PALETTE[(runs.length > 1 && drawn.length === 1 ? r : gi + r * drawn.length) % PALETTE.length],
            dash: runDash(r),
            ...xy(pts, (ms) => (ms - start) / 1000),
          });
        });
      });
      return book.add({
        kind: 'line',
        title: `${measurement}.${f.field}${f.counter ? ' (per second)' : ''}`,
        xLabel: 's since step start',
        yLabel: f.counter ? `${f.field} / s` : f.field,
        series,
        omitted: Math.max(0, labels.length - drawn.length),
      });
    };
    const rowsFor = (list: FieldInfo[]): Row[] => {
      const rows: Row[] = [];
      for (const label of shown) {
        for (const f of list) {
          const values = runs.map((_, r) => {
            const g = perRun[r].find((x) => x.label === label);
            return g && stepIdx[r] !== undefined && g.fields.has(f.field)
              ? headline(g, f, stepIdx[r])
              : undefined;
          });
          if (values.every((v) => v === undefined)) continue;
          const texts =
            perRun.flatMap((groups) => groups.filter((x) => x.label === label).map((x) => x.texts))[0] ?? {};
          const text = Object.values(texts)[0];
          rows.push({
            label: label || measurement,
            detail: text ? (text.length > 160 ? `${text.slice(0, 157)}…` : text) : undefined,
            sub: `${f.field}${f.counter ? ' /s' : ' avg'}`,
            cells: values.map((v, r) => {
              const cell: Cell = { text: fmtNumber(v), value: v };
              if (r > 0 && values[0] !== undefined && v !== undefined) {
                const c = classifyByTolerance(values[0], v, tolerancePct);
                cell.change = fmtChangePct(c.changePct);
                cell.cls = c.cls;
                cell.title = TOLERANCE_TEXT[c.cls]
                  ? `${TOLERANCE_TEXT[c.cls]} than the baseline beyond ±${tolerancePct} %`
                  : `within ±${tolerancePct} %`;
              }
              return cell;
            }),
          });
        }
      }
      return rows;
    };
    panels.push({
      measurement,
      anchor: anchorOf(`t-${stepName}`, measurement),
      charts: fields.key.map(chartFor),
      rows: rowsFor(fields.key.length ? fields.key : fields.more.slice(0, 1)),
      moreRows: rowsFor(fields.key.length ? fields.more : fields.more.slice(1)),
      topN,
      groups: labels.length,
    });
  }
  return panels;
}

/** Whole-run series of one run with its steps as bands: the key fields of every measurement. */
function timelineCharts(book: ChartBook, run: RunData): string[] {
  const byMeasurement = new Map<string, SeriesGroup[]>();
  for (const g of run.series) {
    const list = byMeasurement.get(g.measurement) ?? [];
    list.push(g);
    byMeasurement.set(g.measurement, list);
  }
  const bands = run.steps.map((s) => ({ from: r3(s.startMs / 1000), to: r3(s.endMs / 1000), label: s.name }));
  const marks = run.marks.map((m) => ({ at: r3(m.atMs / 1000), label: `${m.name} ${m.phase}`.trim() }));
  const ids: string[] = [];
  const kindOf = declaredKinds(run.record);
  for (const [measurement, groups] of [...byMeasurement].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const { key } = fieldsOf(measurement, groups, kindOf);
    for (const f of key) {
      const ranked = groups
        .filter((g) => g.fields.has(f.field))
        .map((g) => ({ g, s: headline(g, f, undefined) ?? Number.NEGATIVE_INFINITY }))
        .sort((a, b) => b.s - a.s);
      const drawn = ranked.slice(0, MAX_LINES);
      ids.push(
        book.add({
          kind: 'line',
          title: `${measurement}.${f.field}${f.counter ? ' (per second)' : ''}`,
          xLabel: 's since run start',
          yLabel: f.counter ? `${f.field} / s` : f.field,
          series: drawn.map(({ g }, gi) => {
            const src = f.counter ? perSecond(g, f.field, f.counter) : { t: g.t, v: g.fields.get(f.field)! };
            return {
              label: g.label || measurement,
              color: PALETTE[gi % PALETTE.length],
              ...xy(minMaxDownsample(src.t, src.v, CHART_BUCKETS), (ms) => ms / 1000),
            };
          }),
          bands,
          marks,
          omitted: Math.max(0, ranked.length - drawn.length),
        }),
      );
    }
  }
  return ids;
}

function actionRows(runs: RunData[], stepIdx: (number | undefined)[], name: string): Row[] {
  const names = new Set<string>();
  runs.forEach((run) => {
    for (const n of run.actions.get(name)?.keys() ?? []) names.add(n);
  });
  const rows: Row[] = [];
  for (const action of [...names].sort()) {
    const data = runs.map((run, r) =>
      stepIdx[r] === undefined ? undefined : run.actions.get(name)?.get(action),
    );
    const stats = data.map((d) => (d ? statsOfSorted(d.okSorted) : undefined));
    for (const [sub, pick] of [
      ['median', (s: NonNullable<(typeof stats)[0]>) => s.median],
      ['p95', (s: NonNullable<(typeof stats)[0]>) => s.p95],
    ] as const) {
      rows.push({
        label: action,
        sub,
        cells: stats.map((s, r) => {
          if (!s) return { text: '–' };
          const v = pick(s);
          return {
            text: fmtMs(v),
            value: v,
            change:
              r > 0 && stats[0]
                ? fmtChangePct(classifyByTolerance(pick(stats[0]), v, 0).changePct)
                : undefined,
          };
        }),
      });
    }
  }
  return rows;
}

/**
 * Builds the model of a report over `runs` (the first is the baseline).
 */
export function buildReportModel(runs: RunData[], options: ModelOptions = {}): ReportModel {
  if (runs.length === 0) throw new Error('a report needs at least one run');
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const tolerancePct = options.tolerancePct ?? DEFAULT_TOLERANCE_PCT;
  const gates = options.gates ?? [];
  const book = new ChartBook();
  const views = runs.map(runView);
  const matching = matchSteps(runs);

  const steps: StepView[] = matching.names.map((name) => {
    const idx = matching.index.get(name)!;
    const windows: (StepWindow | undefined)[] = runs.map((run, r) =>
      idx[r] === undefined ? undefined : run.steps[idx[r]!],
    );
    const iters = runs.map((run, r) => (idx[r] === undefined ? undefined : run.iterations.get(name)));
    const first = windows.find((w) => w !== undefined)!;
    return {
      name,
      anchor: anchorOf('step', name),
      present: windows.map((w) => w !== undefined),
      workload: first.record.workload,
      runner: first.record.runner,
      notes: runs.flatMap((run, r) => {
        const w = windows[r];
        if (!w) return [];
        const rec = w.record;
        const texts: string[] = [];
        const left = (iters[r]?.excluded ?? 0) || (rec.warmup ?? 0) + (rec.interruptedIterations ?? 0);
        if (left) texts.push(`${left} warmup or interrupted iterations left out of the statistics`);
        if (rec.throughput !== undefined) texts.push(`${rec.throughput.toFixed(2)} iterations/s`);
        if (rec.missed) texts.push(`${rec.missed} scheduled starts missed`);
        if (rec.stoppedEarly) texts.push(`stopped early: ${rec.stoppedEarly}`);
        if (rec.aborted) texts.push(`aborted the run: ${rec.aborted}`);
        if (rec.interrupted) texts.push('interrupted');
        return texts.map((text) => ({ runId: run.record.id, text }));
      }),
      stats: statRows(iters),
      significance: significanceOf(runs, iters, alpha),
      sla: runs.flatMap((run, r) =>
        windows[r] ? [{ runId: run.record.id, results: windows[r]!.record.sla }] : [],
      ),
      charts: iterationCharts(book, name, runs, iters),
      actions: actionRows(runs, idx, name),
      failures: runs.flatMap((run, r) => {
        const d = iters[r];
        if (!d || d.failureGroups.length === 0) return [];
        return [
          {
            runId: run.record.id,
            groups: d.failureGroups.map((g) => ({
              message: g.message,
              count: g.count,
              first: `+${(g.firstAtMs / 1000).toFixed(3)} s, iteration ${g.firstIteration}${g.firstWorker ? `, worker ${g.firstWorker}` : ''}`,
            })),
          },
        ];
      }),
      tracers: tracerPanels(book, name, runs, idx, tolerancePct),
      gates: gates.filter((g) => g.step === name),
    };
  });

  const summary: Row[] = steps.map((s, k) => {
    const name = matching.names[k];
    const idx = matching.index.get(name)!;
    return {
      label: s.name,
      cells: runs.map((run, r) => {
        if (idx[r] === undefined) return { text: 'missing', cls: 'n/a' };
        const d = run.iterations.get(name);
        const st = d ? statsOfSorted(d.okSorted) : undefined;
        const success = d?.count ? fmtPct(((d.count - d.failures) / d.count) * 100) : '–';
        const cell: Cell = { text: `${fmtMs(st?.median)} · p95 ${fmtMs(st?.p95)} · ${success}` };
        if (r > 0) {
          const sig = s.significance[r - 1];
          cell.cls = sig.verdict;
          cell.change = sig.verdict === 'n/a' ? undefined : `${sig.text} (p=${sig.pValue}; ${sig.ci})`;
        }
        return cell;
      }),
    };
  });

  const scenarios: ReportModel['scenarios'] = [];
  for (const run of runs) {
    const sc = run.record.scenario;
    const rendered = stringify(sc.rendered ?? null, { lineWidth: 0 });
    const same = scenarios.find((s) => s.source === sc.source && s.rendered === rendered);
    if (same) same.runIds.push(run.record.id);
    else scenarios.push({ runIds: [run.record.id], source: sc.source, rendered, file: sc.file });
  }

  const timelines = runs.map((run, r) => ({
    runId: run.record.id,
    color: PALETTE[r % PALETTE.length],
    open: runs.length === 1,
    charts: timelineCharts(book, run),
  }));

  const model: ReportModel = {
    title:
      options.title ??
      (runs.length === 1
        ? `Scalpels report: ${runs[0].record.scenario.name} ${runs[0].record.id}`
        : `Scalpels comparison: ${runs[0].record.scenario.name}, ${runs.length} runs`),
    generatedAt: (options.now ?? new Date()).toISOString(),
    scalpelsVersion,
    runs: views,
    comparison: runs.length > 1,
    mixedScenarios: new Set(runs.map((r) => r.record.scenario.name)).size > 1,
    alpha,
    tolerancePct,
    bootstrapResamples: BOOTSTRAP_RESAMPLES,
    bootstrapSeed: BOOTSTRAP_SEED,
    summary,
    overview: overviewRows(runs, views),
    steps,
    unmatched: matching.unmatched,
    timelines,
    hooks: runs.flatMap((run) => {
      const all = [
        ...(run.record.hooks ?? []).map((h) => ({ h, step: '(run)' })),
        ...run.record.steps.flatMap((st) => (st.hooks ?? []).map((h) => ({ h, step: st.name }))),
      ];
      return all
        .sort((a, b) => (BigInt(a.h.startNs) < BigInt(b.h.startNs) ? -1 : 1))
        .map(({ h, step }) => ({
          runId: run.record.id,
          name: h.host === undefined ? h.name : `${h.name} on ${h.host}`,
          phase: h.phase,
          trigger: h.trigger ?? '',
          step,
          at: `+${((Number(h.startNs) / 1e6 - run.originMs) / 1000).toFixed(3)} s`,
          duration: fmtMs(h.durationMs),
          ok: h.ok,
          detail:
            h.error ??
            (h.exitCode !== undefined && h.exitCode !== null
              ? `exit ${h.exitCode}`
              : h.background
                ? 'background'
                : ''),
          output: h.output,
        }));
    }),
    notices: runs.flatMap((run) =>
      run.notices.map((n) => ({
        runId: run.record.id,
        at: `+${(n.atMs / 1000).toFixed(3)} s`,
        source: Object.entries(n.tags)
          .map(([k, v]) => `${k}=${v}`)
          .join(', '),
        message: n.message,
      })),
    ),
    scenarios,
    gates,
    gatesFailed: gates.filter((g) => g.status === 'fail').length,
    charts: book.charts,
    eagerCharts: 0,
  };
  const lazy = new Set<string>(timelines.filter((t) => !t.open).flatMap((t) => t.charts));
  model.eagerCharts = book.charts.filter((c) => !lazy.has(c.id)).length;
  return model;
}
