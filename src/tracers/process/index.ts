import { errorMessage } from '../../core/errors.js';
import { loadTracerManifest } from '../manifest.js';
import { type ProcessSelector, validateProcessSelector } from '../process-selector.js';
import { createSampler, type SamplingInstance } from '../sampler.js';
import type { TracerContext, TracerDefinition, TracerInstance, TracerOptions } from '../types.js';
import { type ProcessTracker, processTracker } from './tracker.js';

export { type ProcessTracker, processTracker } from './tracker.js';

/** The `with:` block of the `process` tracer: a process selector and nothing else. */
export type ProcessParams = ProcessSelector;

/**
 * The shortest pause between two watch passes: a process's CPU time after its last reading,
 * which the tracer cannot see, is at most 20 ms's worth when the agent gets a CPU in time. A
 * pass lists /proc (about 70 µs of CPU with 130 processes on a 2-CPU VM) and reads two small
 * files per followed process (about 16 µs each), but waking Node for it costs more: about 4%
 * of a CPU in all at this pace (measured), hence the slower pace of a steady selection.
 */
export const WATCH_MIN_MS = 20;

/** The pause after a watch pass per followed process: following many processes slows the watch. */
const WATCH_MS_PER_PROCESS = 2;

/**
 * The pause between watch passes while no matching process has appeared or exited for
 * {@link WATCH_QUIET_NS}: a steady service does not need the fast pace. The first process
 * of a burst is caught within this.
 */
const WATCH_IDLE_MS = 200;
const WATCH_QUIET_NS = 1_000_000_000n;

/**
 * Per-process resource usage from /proc/<pid>, written as Telegraf's `procstat` and
 * `procstat_lookup` measurements. Between two samples a watch looks for new processes and
 * re-reads the followed ones' CPU times, so that processes living less than an interval are
 * measured too.
 */
export const processTracer: TracerDefinition<ProcessParams> = {
  name: 'process',
  manifest: loadTracerManifest('process'),

  async unavailableReason(ctx: TracerContext): Promise<string | undefined> {
    try {
      await ctx.readdir('/proc');
      return undefined;
    } catch (err) {
      return `cannot list /proc: ${errorMessage(err)}`;
    }
  },

  create(params: ProcessParams, options: TracerOptions, ctx: TracerContext): TracerInstance {
    validateProcessSelector(params);
    const tracker = processTracker(params, ctx);
    return withWatch(createSampler(tracker.sample, options, ctx), tracker, options.intervalMs, ctx);
  },
};

/**
 * Runs the tracker's watch between the sampler's ticks, from start until stop; stop ends the
 * watch before the sampler's final tick, which then reports what the watch saw last.
 */
function withWatch(
  sampler: SamplingInstance,
  tracker: ProcessTracker,
  intervalMs: number,
  ctx: TracerContext,
): TracerInstance {
  // A tick at least every 2 watch periods already sees what the watch would.
  if (!(intervalMs >= 2 * WATCH_MIN_MS)) return sampler;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const schedule = (delayMs: number): void => {
    timer = setTimeout(pass, delayMs);
    timer.unref();
  };
  const pass = (): void => {
    running = tracker
      .watch()
      .catch((err) => ctx.log.debug('process watch failed', { error: errorMessage(err) }))
      .finally(() => {
        running = undefined;
        if (stopped) return;
        const changed = tracker.lastChange();
        const busy = changed !== undefined && ctx.now() - changed < WATCH_QUIET_NS;
        const fast = Math.max(WATCH_MIN_MS, WATCH_MS_PER_PROCESS * tracker.followedCount());
        schedule(busy ? fast : Math.max(fast, WATCH_IDLE_MS));
      });
  };

  return {
    async start(emit) {
      await sampler.start(emit);
      if (!stopped) schedule(WATCH_MIN_MS);
    },
    sampleNow: () => sampler.sampleNow(),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
      await sampler.stop();
    },
  };
}
