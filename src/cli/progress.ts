import { formatDuration } from '../core/duration.js';
import type { RunObserver } from '../orchestrator/observer.js';

export interface ProgressOptions {
  /** Redraw one live line per step (a terminal), or print plain lines (CI, pipes). */
  live: boolean;
  write: (text: string) => void;
  /** Plain mode: at most one progress line per step this often. */
  plainEveryMs?: number;
}

/**
 * Progress on stderr, so stdout stays clean for --json. On a terminal a live line per
 * running step; in CI a plain line at step start, every few seconds, and at step end.
 */
export function createProgress(options: ProgressOptions): RunObserver {
  const { live, write } = options;
  const every = options.plainEveryMs ?? 5000;
  let planned: number | undefined;
  let stepStart = 0;
  let lastDraw = 0;
  let durations: number[] = [];
  const quantile = (q: number) => {
    if (durations.length === 0) return '-';
    const sorted = [...durations].sort((a, b) => a - b);
    return formatDuration(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
  };
  return {
    runStarted: (r) => write(`Run ${r.id}: scenario ${r.scenario}, ${r.steps} step${r.steps === 1 ? '' : 's'}\n`),
    stepStarted: (s) => {
      planned = s.planned;
      stepStart = Date.now();
      lastDraw = 0;
      durations = [];
      if (!live) write(`step ${s.name}: started (${s.runner})\n`);
    },
    iterationEnded: (p) => {
      if (p.ok) durations.push(p.durationMs);
      const now = Date.now();
      if (now - lastDraw < (live ? 100 : every)) return;
      lastDraw = now;
      const elapsed = (now - stepStart) / 1000;
      const done = planned ? `${p.done}/${planned}` : String(p.done);
      const text = `step ${p.step}: ${done} done, ${p.failures} failed, ${(p.done / Math.max(elapsed, 0.001)).toFixed(1)}/s, p50 ${quantile(0.5)}, p95 ${quantile(0.95)}`;
      write(live ? `\r\x1b[2K${text}` : `${text}\n`);
    },
    stepEnded: (r) => {
      const verdict = r.interrupted ? 'interrupted' : r.sla.some((s) => !s.success) ? 'SLA FAILED' : 'ok';
      const text = `step ${r.name}: ${verdict}, ${r.iterations} iterations, ${r.failures} failed, median ${r.duration ? formatDuration(r.duration.median) : '-'} (${formatDuration(Date.now() - stepStart)})`;
      write(live ? `\r\x1b[2K${text}\n` : `${text}\n`);
    },
    note: (text) => write(`${live ? '\r\x1b[2K' : ''}${text}\n`),
  };
}

export const silentProgress: RunObserver = {};
