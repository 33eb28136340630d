/**
 * Counters: the one convention for fields that count something (docs/data-model.md, "Counters").
 *
 * A tracer manifest marks each counting field with its kind:
 * - `cumulative`: a running total as the source keeps it (Telegraf's convention: /proc's diskio
 *   and net counters, SHOW GLOBAL STATUS). What happened in a window is the increase.
 * - `interval`: what happened during the sample's interval (syscalls calls, perf counts).
 *   What happened in a window is the sum of the values.
 * A field with no kind is a level (a gauge: cpu.usage_active, mem.used), which has no increase.
 */

export type CounterKind = 'cumulative' | 'interval';

export const COUNTER_KINDS: readonly CounterKind[] = ['cumulative', 'interval'];

/**
 * How a tracer whose source keeps running totals writes them (its `counters:` parameter):
 * as they are (`cumulative`, the default), or as the change since the previous reading
 * (`delta`), which turns its `cumulative` fields into `interval` ones.
 */
export type CounterMode = 'cumulative' | 'delta';

/** The kind of a field as written, given its declared kind and the tracer's `counters:` mode. */
export function writtenCounterKind(
  declared: CounterKind | undefined,
  mode: CounterMode | undefined,
): CounterKind | undefined {
  return declared === 'cumulative' && mode === 'delta' ? 'interval' : declared;
}

/**
 * What a counter counted from one point (`previous`) to the next (`value`): a running total's
 * increase, where a value below the previous one means the total restarted from zero and is
 * all increase; a per-interval value is itself what was counted.
 */
export function countedBetween(kind: CounterKind, previous: number, value: number): number {
  return kind === 'interval' ? value : value >= previous ? value - previous : value;
}

/**
 * The increase of one cumulative counter series over its points, with Prometheus's `increase()`
 * reset semantics (without its extrapolation to the window's edges): points are taken in time
 * order, and a value below the previous one means the counter restarted from zero (a server
 * restart, FLUSH STATUS, a process that was replaced), so the new value is all increase.
 * Points may come in any order; equal times keep their given order. 0 for fewer than two points.
 */
export function counterIncrease(
  times: ArrayLike<number> | ArrayLike<bigint>,
  values: ArrayLike<number>,
): number {
  const n = values.length;
  if (n < 2) return 0;
  let ordered = true;
  for (let i = 1; i < n && ordered; i++) ordered = times[i - 1] <= times[i];
  let inOrder = values;
  if (!ordered) {
    const idx = Array.from({ length: n }, (_, i) => i);
    idx.sort((a, b) => (times[a] < times[b] ? -1 : times[a] > times[b] ? 1 : a - b));
    inOrder = idx.map((i) => values[i]);
  }
  let increase = 0;
  for (let i = 1; i < n; i++) increase += countedBetween('cumulative', inOrder[i - 1], inOrder[i]);
  return increase;
}

/**
 * What one series of a counter counted over its points: the increase of a running total
 * (counterIncrease), or the sum of per-interval values.
 */
export function seriesCount(
  kind: CounterKind,
  times: ArrayLike<number> | ArrayLike<bigint>,
  values: ArrayLike<number>,
): number {
  if (kind === 'cumulative') return counterIncrease(times, values);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum;
}
