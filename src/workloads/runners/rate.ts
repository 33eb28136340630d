import { formatDuration, parseDuration } from '../../core/duration.js';
import { type CommonRunnerKeys, DEFAULT_GRACEFUL_STOP_MS, type RunnerPolicy, sleep } from './types.js';

/** A linear ramp of the arrival rate from `start` to `end` iterations/s over `duration`, then `end`. */
export interface RampSpec {
  start: number;
  end: number;
  duration: string | number;
}

export interface RateSpec extends CommonRunnerKeys {
  type: 'rate';
  rps: number | RampSpec;
  times?: number;
  duration?: string | number;
  max_concurrency?: number;
  graceful_stop?: string | number;
}

export const DEFAULT_MAX_CONCURRENCY = 100;

/**
 * The start time (ms after the first start) of the k-th iteration (0-based), or undefined
 * when the schedule has no k-th start (a ramp down to 0). Solves N(t) = k, where N is the
 * integral of the arrival rate; from the integral, not by adding intervals, so no error
 * accumulates over a long step.
 */
export function scheduleOf(rps: number | RampSpec): (k: number) => number | undefined {
  if (typeof rps === 'number') return (k) => (rps > 0 ? (k * 1000) / rps : k === 0 ? 0 : undefined);
  const s = rps.start;
  const e = rps.end;
  const d = parseDuration(rps.duration) / 1000;
  const a = d > 0 ? (e - s) / (2 * d) : 0;
  const rampCount = d > 0 ? ((s + e) / 2) * d : 0;
  return (k) => {
    if (k < rampCount) {
      const t = a === 0 ? k / s : (-s + Math.sqrt(s * s + 4 * a * k)) / (2 * a);
      return t * 1000;
    }
    if (e <= 0) return k === 0 ? 0 : undefined;
    return (d + (k - rampCount) / e) * 1000;
  };
}

function describeRps(rps: number | RampSpec): string {
  return typeof rps === 'number'
    ? `${rps}/s`
    : `${rps.start}→${rps.end}/s over ${formatDuration(parseDuration(rps.duration))}`;
}

/**
 * Starts iterations on a fixed schedule (an open model, k6's constant/ramping-arrival-rate),
 * whatever the system's latency: when `max_concurrency` iterations are in flight at a
 * scheduled start, that start is counted as missed — reported, not silently dropped — and
 * the schedule goes on. Runs until `times` starts are scheduled or `duration` is over.
 */
export const rateRunner: RunnerPolicy<RateSpec> = {
  type: 'rate',
  planned(spec) {
    if (spec.times !== undefined) return spec.times;
    const schedule = scheduleOf(spec.rps);
    const end = parseDuration(spec.duration ?? 0);
    // Count the starts before the end by bisection over k (the schedule is increasing).
    let lo = 0;
    let hi = 1;
    const before = (k: number) => {
      const t = schedule(k);
      return t !== undefined && t < end;
    };
    if (!before(0)) return 0;
    while (before(hi) && hi < 1e9) hi *= 2;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (before(mid)) lo = mid;
      else hi = mid;
    }
    return lo + 1;
  },
  plannedDurationMs: (spec) => (spec.duration === undefined ? undefined : parseDuration(spec.duration)),
  concurrency: (spec) => spec.max_concurrency ?? DEFAULT_MAX_CONCURRENCY,
  describe: (spec) =>
    `rate ${describeRps(spec.rps)}, ${spec.times !== undefined ? `×${spec.times}` : `for ${formatDuration(parseDuration(spec.duration ?? 0))}`}, max concurrency ${spec.max_concurrency ?? DEFAULT_MAX_CONCURRENCY}`,
  async run(spec, ctx) {
    const schedule = scheduleOf(spec.rps);
    const limit = spec.times ?? Number.POSITIVE_INFINITY;
    const endMs = spec.duration === undefined ? Number.POSITIVE_INFINITY : parseDuration(spec.duration);
    const graceMs =
      spec.graceful_stop === undefined ? DEFAULT_GRACEFUL_STOP_MS : parseDuration(spec.graceful_stop);
    const maxConcurrency = spec.max_concurrency ?? DEFAULT_MAX_CONCURRENCY;
    // Free worker slots: a slot is a tag for the iteration's series, reused once its iteration ends.
    const free = Array.from({ length: maxConcurrency }, (_, i) => maxConcurrency - 1 - i);
    const running = new Set<Promise<void>>();
    const t0 = performance.now();
    for (let k = 0; k < limit && !ctx.signal.aborted; k++) {
      const at = schedule(k);
      if (at === undefined || at >= endMs) break;
      const wait = t0 + at - performance.now();
      if (wait > 0) await sleep(wait, ctx.signal);
      if (ctx.signal.aborted) break;
      const slot = free.pop();
      if (slot === undefined) {
        ctx.missed(1);
        continue;
      }
      const p: Promise<void> = ctx.runIteration(slot).then(() => {
        free.push(slot);
        running.delete(p);
      });
      running.add(p);
    }
    if (running.size === 0) return;
    const timer = setTimeout(
      () => ctx.cancelInFlight(`still running ${formatDuration(graceMs)} after the last scheduled start`),
      graceMs,
    );
    try {
      await Promise.all(running);
    } finally {
      clearTimeout(timer);
    }
  },
};
