import { InputError } from './errors.js';

/** A duration as written in a scenario: `500ms`, `2s`, `1m`, `1h`, or a number of seconds. */
export type DurationInput = string | number;

export const DURATION_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)?\\s*$';
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a duration into milliseconds; throws an InputError naming the bad value. */
export function parseDuration(value: DurationInput): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0)
      throw new InputError(`invalid duration ${value}: expected a number of seconds >= 0`);
    return value * 1000;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!m)
    throw new InputError(`invalid duration "${value}": expected e.g. 500ms, 2s, 1m or a number of seconds`);
  return Number(m[1]) * UNIT_MS[m[2] ?? 's'];
}

export function formatDuration(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)}µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : ms < 100 ? 1 : 0)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${((ms % 60_000) / 1000).toFixed(0)}s`;
}
