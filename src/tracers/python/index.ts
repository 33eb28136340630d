import { errorMessage, RuntimeFailure } from '../../core/errors.js';
import { type BpftraceRun, bpftraceUnavailableReason, startBpftrace } from '../bpftrace-runner.js';
import type { ToolBackedInstance } from '../child-process.js';
import { loadTracerManifest } from '../manifest.js';
import {
  findProcesses,
  type ProcessInfo,
  type ProcessSelector,
  validateProcessSelector,
} from '../process-selector.js';
import type { Emit, TracerContext, TracerDefinition, TracerInstance, TracerOptions } from '../types.js';
import { findProbeObject, PythonCallAggregator } from './parse.js';
import { PYTHON_BPFTRACE_ENV, pythonProbeScript } from './script.js';

/** The `with:` block of the `python` tracer (see tracers/python.yaml). */
export interface PythonParams extends ProcessSelector {
  /** Packages or modules to keep (`keystone`, `oslo_messaging.rpc`); default every file. */
  modules?: string[];
  /** Functions written per interval: the top N by calls plus the top N by time. Default 50. */
  top?: number;
  /** Time the frames entered from C code (default true); false halves the probes' cost on C-heavy code. */
  timing?: boolean;
  /** At most this many processes are traced at once (default 16): each costs a bpftrace of about 100 MB. */
  max_processes?: number;
}

const SELECTOR_KEYS = ['name', 'cmdline', 'pid', 'pidfile', 'systemd_unit', 'cgroup'] as const;

/** The process-selecting part of the params. */
export function selectorOf(params: PythonParams): ProcessSelector {
  const selector: ProcessSelector = {};
  for (const k of SELECTOR_KEYS) {
    if (params[k] !== undefined) (selector as Record<string, unknown>)[k] = params[k];
  }
  return selector;
}

/**
 * Python function calls of running CPython 3 processes, counted with bpftrace on CPython's
 * USDT probes: one bpftrace per traced process (the probes' object and semaphores are per
 * process), started for every process the selector matches and for those that appear later.
 */
export const pythonTracer: TracerDefinition<PythonParams> = {
  name: 'python',
  manifest: loadTracerManifest('python'),

  unavailableReason(): Promise<string | undefined> {
    return bpftraceUnavailableReason();
  },

  create(params: PythonParams, options: TracerOptions, ctx: TracerContext): TracerInstance {
    validateProcessSelector(selectorOf(params));
    return new PythonTracerInstance(params, options, ctx);
  },
};

/** What the instance knows of one matched process. */
interface Traced {
  info: ProcessInfo;
  run?: BpftraceRun;
  /** Set once its bpftrace has attached its probes. */
  attached?: boolean;
  /** Why it is not traced (no libpython mapped, bpftrace failed): logged once, not retried. */
  failed?: string;
}

/** Injection points of {@link PythonTracerInstance}, for tests. */
export interface PythonTracerDeps {
  startBpftrace: typeof startBpftrace;
}

/**
 * One `python` stream. Every interval it emits what the bpftraces printed since the last
 * interval, then looks for new matching processes. stop() stops every bpftrace with SIGINT
 * (each prints its last partial interval), waits for them to exit, and emits that too.
 */
export class PythonTracerInstance implements ToolBackedInstance {
  private readonly selector: ProcessSelector;
  private readonly aggregator: PythonCallAggregator;
  private readonly traced = new Map<number, Traced>();
  private readonly intervalMs: number;
  private emit?: Emit;
  private timer?: NodeJS.Timeout;
  private tick?: Promise<void>;
  private stopping?: Promise<void>;
  private stopped = false;
  private warnedCap = false;

  constructor(
    private readonly params: PythonParams,
    options: TracerOptions,
    private readonly ctx: TracerContext,
    private readonly deps: PythonTracerDeps = { startBpftrace },
  ) {
    this.selector = selectorOf(params);
    this.aggregator = new PythonCallAggregator({ modules: params.modules, top: params.top ?? 50 });
    this.intervalMs = Math.max(100, Number.isFinite(options.intervalMs) ? options.intervalMs : 1000);
  }

  /** Pids of the bpftrace children now running, one per traced process. */
  toolPids(): number[] {
    return [...this.traced.values()].map((t) => t.run?.pid).filter((p): p is number => p !== undefined);
  }

  /** Pids of the processes a bpftrace is attached to, for tests and diagnostics. */
  tracedPids(): number[] {
    return [...this.traced.entries()].filter(([, t]) => t.attached).map(([pid]) => pid);
  }

  async start(emit: Emit): Promise<void> {
    this.emit = emit;
    const attached = await this.reconcile();
    const tried = [...this.traced.values()];
    if (tried.length === 0) {
      this.ctx.log.warn('no process matches the python tracer yet; it attaches to those that start later', {
        selector: this.selector,
      });
    } else if (attached === 0) {
      const reasons = tried.map((t) => `pid ${t.info.pid}: ${t.failed}`).join('; ');
      await this.stop();
      throw new RuntimeFailure(`the python tracer could not attach to any matched process: ${reasons}`);
    }
    if (!this.stopped) this.scheduleIn(this.intervalMs);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      if (this.timer) clearTimeout(this.timer);
      await this.tick;
      await Promise.all([...this.traced.values()].map((t) => t.run?.stop()));
      this.flush(true);
    })();
    return this.stopping;
  }

  private scheduleIn(delayMs: number): void {
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const started = Date.now();
        this.tick = this.onTick().finally(() => {
          this.tick = undefined;
          // Aimed at a fixed cadence: the next wait is shortened by what this tick took.
          if (!this.stopped) this.scheduleIn(this.intervalMs - (Date.now() - started));
        });
      },
      Math.max(0, delayMs),
    );
    this.timer.unref();
  }

  private async onTick(): Promise<void> {
    this.flush(false);
    try {
      await this.reconcile();
    } catch (err) {
      this.ctx.log.warn('python tracer: looking for processes failed', { error: errorMessage(err) });
    }
  }

  private flush(final: boolean): void {
    const samples = this.aggregator.drain(this.ctx.now(), final);
    if (samples.length > 0) this.emit?.(samples);
  }

  /**
   * Matches processes again: starts a bpftrace for each new one and forgets those that are
   * gone (their bpftrace exits by itself with the process). Resolves with how many are traced.
   */
  private async reconcile(): Promise<number> {
    const found = await findProcesses(this.selector, this.ctx);
    const alive = new Set(found.map((p) => p.pid));
    for (const [pid, t] of this.traced) {
      if (!alive.has(pid) && (t.failed !== undefined || t.run === undefined)) this.traced.delete(pid);
    }
    const room = Math.max(0, (this.params.max_processes ?? 16) - this.traced.size);
    const fresh = found.filter((p) => !this.traced.has(p.pid));
    if (fresh.length > room && !this.warnedCap) {
      this.warnedCap = true;
      this.ctx.log.warn(
        'python tracer: more matching processes than max_processes; the others are not traced',
        {
          max_processes: this.params.max_processes ?? 16,
          matched: found.length,
        },
      );
    }
    await Promise.all(fresh.slice(0, room).map((p) => this.attach(p)));
    return [...this.traced.values()].filter((t) => t.run !== undefined).length;
  }

  private async attach(info: ProcessInfo): Promise<void> {
    const t: Traced = { info };
    this.traced.set(info.pid, t);
    if (this.stopped) return;
    let object: string | undefined;
    try {
      object = findProbeObject(await this.ctx.readFile(`/proc/${info.pid}/maps`));
    } catch (err) {
      t.failed = `cannot read /proc/${info.pid}/maps: ${errorMessage(err)}`;
      return;
    }
    if (!object) {
      t.failed = 'no python3.N executable or libpython3.N.so is mapped: not a CPython 3 process';
      this.ctx.log.warn('python tracer: skipping a process that is not CPython', {
        pid: info.pid,
        name: info.name,
      });
      return;
    }
    const timing = this.params.timing ?? true;
    const program = pythonProbeScript({ object, printMs: Math.min(this.intervalMs, 1000), timing });
    this.aggregator.addSource(info.pid, info.name);
    const log = this.ctx.log.child({ pid: info.pid });
    let run: BpftraceRun;
    try {
      run = await this.deps.startBpftrace({
        program: { text: program },
        pid: info.pid,
        env: PYTHON_BPFTRACE_ENV,
        log,
        onMessage: (m) => {
          if (m.type === 'map') this.aggregator.ingest(info.pid, m.map);
          else if (m.type === 'lost') log.warn('bpftrace lost events', { events: m.events });
        },
      });
      t.run = run;
      await run.attached;
      t.attached = true;
    } catch (err) {
      t.run = undefined;
      t.failed = `bpftrace on ${object}: ${errorMessage(err)}`;
      // bpftrace's words for an interpreter built without --with-dtrace (pyenv, most source builds).
      if (/couldn't get argument|No probes found|Could not find/.test(t.failed)) {
        t.failed += " (this interpreter has no CPython USDT probes; Debian's python3 has them)";
      }
      this.aggregator.removeSource(info.pid);
      this.ctx.log.warn('python tracer: cannot attach to a process', { pid: info.pid, error: t.failed });
      return;
    }
    log.debug('python tracer attached', { object, bpftrace: run.pid });
    void run.exited.then((exit) => {
      // The traced process exited (bpftrace -p follows it) or bpftrace died: either way the
      // pid is forgotten, so that a new process with that pid is attached afresh.
      if (!this.stopped && exit.code !== 0) {
        log.warn('bpftrace of a traced process stopped', {
          code: exit.code,
          signal: exit.signal,
          why: run.failure(),
        });
      }
      if (!this.stopped && this.traced.get(info.pid)?.run === run) {
        this.traced.delete(info.pid);
        // Its last maps were read before `exited` resolved; the next flush drains them.
        setTimeout(() => this.aggregator.removeSource(info.pid), this.intervalMs * 2).unref();
      }
    });
  }
}
