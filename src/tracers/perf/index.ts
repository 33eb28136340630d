import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../core/errors.js';
import type { Sample } from '../../core/sample.js';
import {
  findExecutable,
  runTool,
  startTool,
  type ToolBackedInstance,
  type ToolBackedTracer,
  type ToolProcess,
} from '../child-process.js';
import { loadTracerManifest } from '../manifest.js';
import { describeSelector, type ProcessSelector, validateProcessSelector } from '../process-selector.js';
import { createSampler } from '../sampler.js';
import { pickSelector, SelectionTracker } from '../syscalls/selection.js';
import type { Emit, TracerContext, TracerOptions } from '../types.js';
import { PerfIntervals, type PerfStatLine, parsePerfStatLine, sumPerProcess } from './parse.js';

/** The `with:` block of the `perf` tracer. */
export interface PerfParams extends ProcessSelector {
  /** perf events to count (`perf list`); default: the software counters and cycles/instructions. */
  events?: string[];
}

/** The events counted when `events` is not given. */
export const DEFAULT_PERF_EVENTS = [
  'task-clock',
  'context-switches',
  'cpu-migrations',
  'page-faults',
  'cycles',
  'instructions',
];

/**
 * Whether `perf stat` can count here: perf on PATH and `perf stat -e task-clock true` working
 * (kernel.perf_event_paranoid, seccomp, a Debian perf wrapper for another kernel all show up
 * there). Returns the reason, or undefined.
 */
export async function perfUnavailableReason(ctx: TracerContext): Promise<string | undefined> {
  if (!(await findExecutable('perf'))) return 'perf not found: apt-get install linux-perf';
  const r = await runTool('perf', ['stat', '-x,', '-e', 'task-clock', 'true'], { timeoutMs: 20_000 }).catch(
    (err) => ({ code: 1, stderr: errorMessage(err), stdout: '', timedOut: false }),
  );
  if (r.code === 0 && !r.timedOut) return undefined;
  const paranoid = (await ctx.readFile('/proc/sys/kernel/perf_event_paranoid').catch(() => '?')).trim();
  const said = r.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 2)
    .join(' | ');
  return `perf stat -e task-clock true failed (${said || `exit code ${r.code}`}); kernel.perf_event_paranoid is ${paranoid}: run as root, or lower it (sysctl kernel.perf_event_paranoid=1)`;
}

let shared: Promise<string | undefined> | undefined;

/** One `perf stat` child and the processes it counts. */
interface PerfChild {
  tool: ToolProcess;
  pids: number[];
  /** Thread id → process id, for the threads listed at start. */
  threads: Map<number, number>;
}

/**
 * Counts per selected process and interval, from `perf stat -I <interval> -x, --per-thread`:
 * one perf child per batch of processes (the selector is resolved every interval and new
 * processes get a perf of their own), threads summed into their process. Events the machine
 * does not support are left out, and named once in the log.
 */
export function createPerfInstance(
  selection: SelectionTracker,
  events: string[],
  options: TracerOptions,
  ctx: TracerContext,
): ToolBackedInstance {
  const label = describeSelector(selection.selector);
  const intervalMs = Math.max(10, Math.round(options.intervalMs));
  const children: PerfChild[] = [];
  let reportedUnsupported = false;
  let emit: Emit | undefined;
  let processing: Promise<void> = Promise.resolve();
  let stopping = false;

  /** Learns the process of threads perf lists that were not in /proc/<pid>/task at its start. */
  const learnThreads = async (child: PerfChild, lines: PerfStatLine[]): Promise<void> => {
    const unknown = new Set(lines.map((l) => l.tid).filter((tid) => !child.threads.has(tid)));
    for (const tid of unknown) {
      try {
        const m = /^Tgid:\s*(\d+)/m.exec(await ctx.readFile(`/proc/${tid}/status`));
        if (m && child.pids.includes(Number(m[1]))) child.threads.set(tid, Number(m[1]));
      } catch {
        // A thread that is gone and was not listed at start: its counts cannot be placed.
      }
    }
  };

  const toSamples = async (child: PerfChild, lines: PerfStatLine[]): Promise<Sample[]> => {
    const time = ctx.now();
    await learnThreads(child, lines);
    const only = child.pids.length === 1 ? child.pids[0] : undefined;
    const { perProcess, unsupported } = sumPerProcess(lines, (tid) => child.threads.get(tid) ?? only);
    if (unsupported.size > 0 && !reportedUnsupported) {
      reportedUnsupported = true;
      ctx.log.info('perf events not supported on this machine are left out', { events: [...unsupported] });
    }
    const samples: Sample[] = [];
    for (const [pid, fields] of perProcess) {
      if (Object.keys(fields).length === 0) continue;
      samples.push({
        measurement: 'perf',
        tags: { process_name: selection.names.get(pid) ?? String(pid), pid: String(pid), selector: label },
        fields,
        time,
      });
    }
    return samples;
  };

  const attach = async (pids: number[]): Promise<void> => {
    const covered = new Set(children.filter((c) => c.tool.running).flatMap((c) => c.pids));
    const fresh = pids.filter((p) => !covered.has(p));
    if (fresh.length === 0 || stopping) return;
    const threads = new Map<number, number>();
    for (const pid of fresh) {
      threads.set(pid, pid);
      for (const t of await ctx.readdir(`/proc/${pid}/task`).catch(() => [])) threads.set(Number(t), pid);
    }
    let child: PerfChild | undefined;
    const intervals = new PerfIntervals((lines) => {
      const c = child;
      if (!c) return;
      processing = processing
        .then(async () => {
          const samples = await toSamples(c, lines);
          if (samples.length > 0) emit?.(samples);
        })
        .catch((err) =>
          ctx.log.warn('could not turn perf output into samples', { error: errorMessage(err) }),
        );
    });
    const args = [
      'stat',
      '-I',
      String(intervalMs),
      '-x,',
      '--per-thread',
      '-e',
      events.join(','),
      '-p',
      fresh.join(','),
    ];
    const tool = await startTool('perf', args, {
      onStderrLine: (line) => {
        const parsed = parsePerfStatLine(line);
        if (parsed) intervals.feed(parsed);
        else if (line.trim() !== '') ctx.log.debug('perf says', { line });
      },
      isDiagnostic: (line) => parsePerfStatLine(line) === undefined,
    });
    child = { tool, pids: fresh, threads };
    children.push(child);
    // perf prints the last, partial interval when it stops; it ends by itself once its processes are gone.
    void tool.exited.then(() => intervals.flush());
    // perf opens its counters within milliseconds, or fails at once (a pid that just exited).
    await Promise.race([tool.exited, sleep(100)]);
    if (!tool.running && !stopping)
      ctx.log.debug('perf ended early', { how: tool.describeExit(), pids: fresh });
  };

  const sampler = createSampler(
    async () => {
      const found = await selection.refresh();
      await attach(found.map((p) => p.pid));
      return [];
    },
    options,
    ctx,
  );

  return {
    async start(onSamples: Emit): Promise<void> {
      emit = onSamples;
      await sampler.start(onSamples);
    },
    async stop(): Promise<void> {
      stopping = true;
      await sampler.stop();
      await Promise.all(children.map((c) => c.tool.stop({ signal: 'SIGINT', graceMs: 3000 })));
      await processing;
    },
    toolPids: () => children.filter((c) => c.tool.running).map((c) => c.tool.pid),
  };
}

/**
 * Hardware and software counters of selected processes per interval, from `perf stat`. Telegraf
 * has no perf input, so the measurement is Scalpels' own: one `perf` sample per process and
 * interval, one field per event.
 */
export const perfTracer: ToolBackedTracer<PerfParams> = {
  name: 'perf',
  manifest: loadTracerManifest('perf'),

  unavailableReason(ctx: TracerContext): Promise<string | undefined> {
    shared ??= perfUnavailableReason(ctx);
    return shared;
  },

  create(params: PerfParams, options: TracerOptions, ctx: TracerContext): ToolBackedInstance {
    const selector = pickSelector(params as ProcessSelector & Record<string, unknown>);
    validateProcessSelector(selector);
    const events = params.events && params.events.length > 0 ? params.events : DEFAULT_PERF_EVENTS;
    return createPerfInstance(new SelectionTracker(selector, ctx), events, options, ctx);
  },
};
