/**
 * Per-step numbers of tracer series, from every row (never from the downsampled points).
 */
import { type CounterKind, countedBetween } from '../core/counters.js';
import type { SeriesGroup } from './run-data.js';

/** One field of one series over one step. */
export interface FieldAggregate {
  count: number;
  mean: number;
  min: number;
  max: number;
  /**
   * What a counter counted between the step's first and last rows (a running total's
   * increase, a restart counted from zero; the sum of per-interval values after the first);
   * for anything else, the last value minus the first.
   */
  delta: number;
  /** delta per second between the first and the last row; NaN for a single row. */
  rate: number;
  /** The field is a counter (declared, or by its shape: see counterShape): delta and rate are its meaningful numbers. */
  counter: boolean;
}

/** The non-NaN values of a field in the rows of one step (−1: rows outside every step; undefined: every row). */
export function fieldValues(group: SeriesGroup, field: string, step?: number): Float64Array {
  const col = group.fields.get(field);
  if (!col) return new Float64Array(0);
  const out = new Float64Array(group.rows);
  let n = 0;
  for (let i = 0; i < group.rows; i++) {
    if (step !== undefined && group.step[i] !== step) continue;
    const v = col[i];
    if (!Number.isNaN(v)) out[n++] = v;
  }
  return out.subarray(0, n);
}

/**
 * A cumulative counter by its shape, for measurements no attached tracer declares (see
 * model.ts fieldsOf): written as an integer and never decreasing over the whole run, as
 * Telegraf's diskio and net counters are. A gauge that only grew during the run (memory of a
 * leaking process) would be taken for one; the chart's label says "per second" so the reading
 * stays explicit. `moving` is whether it changed at all: a field is shown as a
 * counter when it never decreases in any series and moves in at least one.
 */
export function counterShape(group: SeriesGroup, field: string): { monotonic: boolean; moving: boolean } {
  if (!group.integerFields.has(field)) return { monotonic: false, moving: false };
  const col = group.fields.get(field);
  if (!col) return { monotonic: false, moving: false };
  let prev = Number.NaN;
  let first = Number.NaN;
  for (let i = 0; i < group.rows; i++) {
    const v = col[i];
    if (Number.isNaN(v)) continue;
    if (Number.isNaN(first)) first = v;
    if (v < prev) return { monotonic: false, moving: false };
    prev = v;
  }
  return { monotonic: !Number.isNaN(first), moving: prev > first };
}

/**
 * A counter per second between consecutive rows, at the later row's time: the increase of a
 * running total (a restart counted from zero), or a per-interval value over its interval.
 */
export function perSecond(
  group: SeriesGroup,
  field: string,
  kind: CounterKind,
): { t: Float64Array; v: Float64Array; step: Int16Array } {
  const col = group.fields.get(field)!;
  const t = new Float64Array(group.rows);
  const v = new Float64Array(group.rows);
  const step = new Int16Array(group.rows);
  let n = 0;
  let pt = Number.NaN;
  let pv = Number.NaN;
  for (let i = 0; i < group.rows; i++) {
    const x = col[i];
    if (Number.isNaN(x)) continue;
    if (!Number.isNaN(pv) && group.t[i] > pt) {
      t[n] = group.t[i];
      v[n] = (countedBetween(kind, pv, x) / (group.t[i] - pt)) * 1000;
      step[n] = group.step[i];
      n++;
    }
    pt = group.t[i];
    pv = x;
  }
  return { t: t.subarray(0, n), v: v.subarray(0, n), step: step.subarray(0, n) };
}

/** Aggregates of a field over one step (or every row); undefined when the step has no value. */
export function fieldAggregate(
  group: SeriesGroup,
  field: string,
  step: number | undefined,
  /** The field's counter kind (see model.ts fieldsOf), or undefined for a level. */
  counter: CounterKind | undefined,
): FieldAggregate | undefined {
  const col = group.fields.get(field);
  if (!col) return undefined;
  let count = 0;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let first = Number.NaN;
  let last = Number.NaN;
  let increase = 0;
  let t0 = Number.NaN;
  let t1 = Number.NaN;
  for (let i = 0; i < group.rows; i++) {
    if (step !== undefined && group.step[i] !== step) continue;
    const v = col[i];
    if (Number.isNaN(v)) continue;
    if (count === 0) {
      first = v;
      t0 = group.t[i];
    }
    // What was counted after the first row (only a counter's is used).
    if (count > 0 && counter) increase += countedBetween(counter, last, v);
    last = v;
    t1 = group.t[i];
    count++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (count === 0) return undefined;
  const delta = counter ? increase : last - first;
  return {
    count,
    mean: sum / count,
    min,
    max,
    delta,
    rate: t1 > t0 ? (delta / (t1 - t0)) * 1000 : Number.NaN,
    counter: counter !== undefined,
  };
}
