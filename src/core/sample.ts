/**
 * A sample is one point of a time series: the unit every tracer emits, every store writes
 * and every report reads. It maps one-to-one onto an InfluxDB line-protocol line.
 */

/**
 * A field value. `bigint` marks an integer field (line protocol `123i`): counters such as
 * bytes or context switches are integers in Telegraf's data model, and InfluxDB refuses a
 * field whose type changes, so the type is part of the value, not guessed from it.
 */
export type FieldValue = number | bigint | string | boolean;

export interface Sample {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  /** Nanoseconds since the Unix epoch. */
  time: bigint;
}

/**
 * Current wall-clock time in nanoseconds, with sub-millisecond resolution from hrtime. The
 * offset between the two clocks is computed once: a BigInt operation allocates, and this is
 * called for every sample.
 */
const hrToEpochNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
export function nowNs(): bigint {
  return hrToEpochNs + process.hrtime.bigint();
}

/**
 * Epoch nanoseconds at performance.now() = 0, on nowNs()'s clock: performance.now() reads the
 * same monotonic clock as process.hrtime, in milliseconds since the process started. The two
 * reads below are a fraction of a microsecond apart, so a timestamp made from a reading can
 * be that much earlier than nowNs() at the same instant; iterations and their atomic actions
 * both take theirs from readings, so their order is exact.
 */
const perfOriginNs = hrToEpochNs + process.hrtime.bigint() - BigInt(Math.round(performance.now() * 1e6));
/**
 * perfOriginNs in whole seconds and nanoseconds, as doubles: a writer of timestamps (see
 * LineBytes.perfTime) adds a reading's nanoseconds to these without a BigInt.
 */
export const PERF_ORIGIN = {
  seconds: Number(perfOriginNs / 1_000_000_000n),
  nanos: Number(perfOriginNs % 1_000_000_000n),
} as const;

/**
 * A performance.now() reading as epoch nanoseconds, on nowNs()'s clock. The runner times
 * iterations with performance.now() and makes a timestamp of the reading only when a point
 * needs one.
 */
export function perfToNs(perfMs: number): bigint {
  return perfOriginNs + BigInt(Math.round(perfMs * 1e6));
}

/**
 * Milliseconds since the performance.now() reading `t0`, to the whole nanosecond (the clock's
 * own resolution): the runner writes such a duration digit by digit (LineBytes.float), where
 * the 17 significant digits of a raw difference take String(), a runtime call that leaves a
 * cached string behind for every point.
 */
export function elapsedMs(t0: number, t1 = performance.now()): number {
  return Math.round((t1 - t0) * 1e6) / 1e6;
}

export function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms * 1000)) * 1000n;
}

export function nsToMs(ns: bigint): number {
  return Number(ns / 1000n) / 1000;
}
