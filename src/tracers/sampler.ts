import { errorMessage } from '../core/errors.js';
import type { Sample } from '../core/sample.js';
import type { Emit, TracerContext, TracerInstance, TracerOptions } from './types.js';

/**
 * Takes one snapshot and returns the samples it yields. Stateful collectors keep their previous
 * snapshot themselves (for counters that need deltas), so a call may return no sample at all.
 */
export type Collect = () => Promise<Sample[]>;

/** A tracer instance that samples on a timer, and on demand (at step boundaries). */
export type SamplingInstance = TracerInstance & { sampleNow(): Promise<void> };

/**
 * Turns a polling `collect` function into a {@link TracerInstance} that samples every
 * `options.intervalMs`.
 *
 * - `start()` takes a first snapshot and resolves once it succeeded (it rejects if it failed,
 *   so a tracer that cannot read its source fails the step barrier instead of running empty).
 * - Ticks never overlap: the next one is scheduled only when the previous one has finished,
 *   aimed at a fixed cadence, and the timer is unref'd so that it never keeps a process alive.
 * - `stop()` clears the timer, waits for a running tick, then takes one final snapshot and
 *   emits it before resolving, so a step shorter than the interval still yields data.
 * - A failing tick is logged with `ctx.log.warn` the first time (then at debug level), and
 *   never thrown: one bad read must not end the stream.
 * - Intervals below 10 ms are raised to 10 ms.
 */
export function createSampler(
  collect: Collect,
  options: TracerOptions,
  ctx: TracerContext,
): SamplingInstance {
  // setTimeout treats 0 or NaN as 1 ms; clamp explicitly so a bad interval cannot spin the CPU.
  const intervalMs = Math.max(10, Number.isFinite(options.intervalMs) ? options.intervalMs : 1000);
  let emit: Emit | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  let stopped = false;
  let warned = false;

  const sampleOnce = async (): Promise<void> => {
    const samples = await collect();
    if (samples.length > 0) emit?.(samples);
  };

  const report = (err: unknown): void => {
    if (warned) {
      ctx.log.debug('sampling failed again', { error: errorMessage(err) });
      return;
    }
    warned = true;
    ctx.log.warn('sampling failed; further failures are logged at debug level', { error: errorMessage(err) });
  };

  const schedule = (delayMs: number): void => {
    timer = setTimeout(onTimer, Math.max(0, delayMs));
    timer.unref();
  };

  const onTimer = (): void => {
    timer = undefined;
    const startedAt = Date.now();
    running = sampleOnce()
      .catch(report)
      .finally(() => {
        running = undefined;
        if (!stopped) schedule(intervalMs - (Date.now() - startedAt));
      });
  };

  return {
    start(onSamples: Emit): Promise<void> {
      if (starting) return Promise.reject(new Error('sampler already started'));
      emit = onSamples;
      starting = sampleOnce().then(() => {
        if (!stopped) schedule(intervalMs);
      });
      return starting;
    },

    async sampleNow(): Promise<void> {
      if (stopped || !starting) return;
      await starting;
      await running;
      if (stopped) return;
      if (timer) clearTimeout(timer);
      timer = undefined;
      running = sampleOnce()
        .catch(report)
        .finally(() => {
          running = undefined;
          if (!stopped) schedule(intervalMs);
        });
      await running;
    },

    stop(): Promise<void> {
      stopping ??= (async () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        timer = undefined;
        if (!starting) return;
        try {
          await starting;
        } catch {
          // start() already reported this failure to its caller; there is no stream to close.
          return;
        }
        await running;
        await sampleOnce().catch(report);
      })();
      return stopping;
    },
  };
}

/** A collector that holds a connection (a database client): it must be closed however the tracer ends. */
export interface ClosableCollector {
  collect: Collect;
  close(): Promise<void>;
}

/**
 * A sampler over a collector with a connection: the connection is closed when the sampler
 * stops, and also when it fails to start, so a refused step barrier leaks nothing.
 */
export function createClosingSampler(
  collector: ClosableCollector,
  options: TracerOptions,
  ctx: TracerContext,
): TracerInstance {
  const sampler = createSampler(collector.collect, options, ctx);
  return {
    sampleNow: () => sampler.sampleNow(),
    async start(emit) {
      try {
        await sampler.start(emit);
      } catch (err) {
        await collector.close();
        throw err;
      }
    },
    async stop() {
      try {
        await sampler.stop();
      } finally {
        await collector.close();
      }
    },
  };
}
