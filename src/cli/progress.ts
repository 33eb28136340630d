import { formatDuration } from '../core/duration.js';
import type { RunObserver } from '../orchestrator/observer.js';
import type { StepRecord } from '../store/run-record.js';
import { failedChecksName } from './summary.js';

export interface ProgressOptions {
  /** Redraw one live line per step (a terminal), or print plain lines (CI, pipes). */
  live: boolean;
  write: (text: string) => void;
  /** Plain mode: a progress line this often while a step runs (default 5 s). */
  plainEveryMs?: number;
  /** Live mode: redraw this often (default 200 ms). */
  liveEveryMs?: number;
}

/**
 * Progress quantiles come from at most this many durations (a uniform reservoir sample),
 * so a redraw stays cheap in a million-iteration step. Only the live line is approximate:
 * the step's statistics are computed from every iteration.
 */
const RESERVOIR = 10_000;
/** The "current rate" is over this trailing window. */
const RATE_WINDOW_MS = 5_000;

const CLEAR = '\r\x1b[2K';

/**
 * Progress on stderr, so stdout stays clean for --json. On a terminal a live line for the
 * running step, redrawn on a timer (so a long iteration still shows time passing); in CI a
 * plain line at step start, every few seconds, and at step end. Each line: done/total (or
 * elapsed/duration), the current rate, p50/p95 so far, failures (and missed starts).
 */
export function createProgress(options: ProgressOptions): RunObserver {
  const { live, write } = options;
  const every = live ? (options.liveEveryMs ?? 200) : (options.plainEveryMs ?? 5000);
  let step: { name: string; planned?: number; durationMs?: number; start: number } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let done = 0;
  let failures = 0;
  let missed = 0;
  let seen = 0;
  let reservoir: number[] = [];
  let history: { t: number; done: number }[] = [];
  let drawn = false;

  const quantile = (values: Float64Array, q: number) =>
    values.length === 0
      ? '-'
      : formatDuration(nthSmallest(values, Math.min(values.length - 1, Math.floor(q * values.length))));

  const line = (): string => {
    if (!step) return '';
    const now = Date.now();
    const elapsed = now - step.start;
    history.push({ t: now, done });
    while (history.length > 2 && now - history[1].t >= RATE_WINDOW_MS) history.shift();
    // Over the trailing window once there is one; since the step's start before that.
    const first = history.length > 1 ? history[0] : { t: step.start, done: 0 };
    const rate = now > first.t ? ((done - first.done) * 1000) / (now - first.t) : 0;
    let where: string;
    if (step.planned !== undefined) where = `${done}/${step.planned}`;
    else if (step.durationMs !== undefined)
      where = `${formatDuration(elapsed)}/${formatDuration(step.durationMs)}, ${done} done`;
    else where = `${done} done`;
    const values = Float64Array.from(reservoir);
    return `step ${step.name}: ${where}, ${rate.toFixed(1)}/s, p50 ${quantile(values, 0.5)}, p95 ${quantile(values, 0.95)}, ${failures} failed${missed ? `, ${missed} missed` : ''}`;
  };

  const draw = () => {
    if (!step) return;
    drawn = true;
    write(live ? `${CLEAR}${line()}` : `${line()}\n`);
  };

  const stopTimer = () => {
    clearInterval(timer);
    timer = undefined;
  };

  return {
    runStarted: (r) =>
      write(`Run ${r.id}: scenario ${r.scenario}, ${r.steps} step${r.steps === 1 ? '' : 's'}\n`),
    stepStarted: (s) => {
      stopTimer();
      step = { name: s.name, planned: s.planned, durationMs: s.durationMs, start: Date.now() };
      done = failures = missed = seen = 0;
      reservoir = [];
      history = [];
      drawn = false;
      if (!live) write(`step ${s.name}: started (${s.runner})\n`);
      timer = setInterval(draw, every);
      timer.unref();
    },
    iterationEnded: (p) => {
      done = p.done;
      failures = p.failures;
      missed = p.missed ?? missed;
      if (!p.ok || p.warmup) return;
      seen++;
      if (reservoir.length < RESERVOIR) reservoir.push(p.durationMs);
      else {
        const j = Math.floor(Math.random() * seen);
        if (j < RESERVOIR) reservoir[j] = p.durationMs;
      }
    },
    stepEnded: (r) => {
      stopTimer();
      const elapsed = step ? Date.now() - step.start : 0;
      write(`${live && drawn ? CLEAR : ''}${summaryLine(r, elapsed)}\n`);
      step = undefined;
    },
    note: (text) => {
      write(`${live ? CLEAR : ''}${text}\n`);
      if (live && step) draw();
    },
    runEnded: () => stopTimer(),
  };
}

/**
 * The k-th smallest of `values` (0-based), reordering them: quickselect, linear on average.
 * A redraw used to sort the whole reservoir: 3–5 ms for 10 000 durations (this takes 0.2 ms),
 * five times a second on a terminal, a pause every request in flight waited out, enough to
 * move the p99 of a fast http step.
 */
export function nthSmallest(values: Float64Array, k: number): number {
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const t = values[i];
        values[i] = values[j];
        values[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return values[k];
}

function summaryLine(r: StepRecord, elapsedMs: number): string {
  const failed = r.sla.filter((s) => !s.success);
  const verdict = r.interrupted
    ? 'interrupted'
    : failed.length === 0
      ? 'ok'
      : `${failedChecksName(failed).toUpperCase()} FAILED`;
  const extras = [
    r.warmup ? `${r.warmup} warmup` : undefined,
    r.throughput !== undefined ? `${r.throughput.toFixed(1)}/s` : undefined,
    r.missed ? `${r.missed} missed starts` : undefined,
    r.stoppedEarly ? `stopped early: ${r.stoppedEarly}` : undefined,
  ].filter(Boolean);
  return `step ${r.name}: ${verdict}, ${r.iterations} iterations, ${r.failures} failed, median ${r.duration ? formatDuration(r.duration.median) : '-'}${extras.length ? `, ${extras.join(', ')}` : ''} (${formatDuration(elapsedMs)})`;
}

export const silentProgress: RunObserver = {};

/**
 * Lets the run go on when whoever reads our output goes away (`scalpels run … | head -1`):
 * a closed pipe (EPIPE) on progress or summary output is not a reason to abandon a run and
 * leave its record `running`. Later writes to the closed stream are dropped. Other errors
 * stay fatal, as they were without a listener.
 */
export function ignoreClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
    throw err;
  });
}
