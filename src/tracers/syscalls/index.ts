import type { ToolBackedInstance, ToolBackedTracer } from '../child-process.js';
import { loadTracerManifest } from '../manifest.js';
import { type ProcessSelector, validateProcessSelector } from '../process-selector.js';
import type { Emit, TracerContext, TracerOptions } from '../types.js';
import { bpftraceSyscallsCheck, realProbeDeps, straceAttachCheck } from './availability.js';
import { createBpftraceMode } from './bpftrace-mode.js';
import { pickSelector, SelectionTracker } from './selection.js';
import type { SyscallsInstance } from './settings.js';
import { createStraceMode } from './strace-mode.js';
import { loadSyscallNames } from './syscall-table.js';

/** The `with:` block of the `syscalls` tracer: a process selector and the tracer's options. */
export interface SyscallsParams extends ProcessSelector {
  /** auto: bpftrace when it works here, else strace. */
  mode?: 'auto' | 'strace' | 'bpftrace';
  /** System calls kept per process and interval (the rest is summed as `_other`). */
  top?: number;
  /** One series per pid (default), or summed per process name. */
  per_pid?: boolean;
}

/** A `syscalls` instance; says which mode it runs in once started. */
export interface SyscallsTracerInstance extends ToolBackedInstance {
  /** The mode chosen at start (auto resolves to one of the two), undefined before. */
  readonly mode: 'strace' | 'bpftrace' | undefined;
}

/**
 * Picks the mode: a forced one must work (else the reason is the error), auto prefers
 * bpftrace (a kernel-side count costs the traced process far less than a ptrace stop per call).
 */
async function chooseMode(
  wanted: 'auto' | 'strace' | 'bpftrace',
  ctx: TracerContext,
): Promise<'strace' | 'bpftrace'> {
  const deps = realProbeDeps(ctx.log);
  if (wanted !== 'strace') {
    const reason = await bpftraceSyscallsCheck.get(deps);
    if (!reason) return 'bpftrace';
    if (wanted === 'bpftrace') throw new Error(`mode bpftrace cannot run: ${reason}`);
    ctx.log.info('bpftrace cannot trace system calls here; using strace', { reason });
  }
  const reason = await straceAttachCheck.get(deps);
  if (reason) throw new Error(`mode strace cannot run: ${reason}`);
  return 'strace';
}

/**
 * System calls of selected processes per interval: calls, errors and time per system call,
 * through bpftrace on the raw_syscalls tracepoints or through strace.
 */
export const syscallsTracer: ToolBackedTracer<SyscallsParams, SyscallsTracerInstance> = {
  name: 'syscalls',
  manifest: loadTracerManifest('syscalls'),

  async unavailableReason(ctx: TracerContext): Promise<string | undefined> {
    const deps = realProbeDeps(ctx.log);
    const [bpftrace, strace] = await Promise.all([
      bpftraceSyscallsCheck.get(deps),
      straceAttachCheck.get(deps),
    ]);
    if (bpftrace && strace) return `neither mode can run here: bpftrace: ${bpftrace}; strace: ${strace}`;
    return undefined;
  },

  create(params: SyscallsParams, options: TracerOptions, ctx: TracerContext): SyscallsTracerInstance {
    const selector = pickSelector(params as ProcessSelector & Record<string, unknown>);
    validateProcessSelector(selector);
    const settings = { top: params.top ?? 20, perPid: params.per_pid ?? true };
    let inner: SyscallsInstance | undefined;
    let stopped = false;
    return {
      get mode() {
        return inner?.mode;
      },
      async start(emit: Emit): Promise<void> {
        const mode = await chooseMode(params.mode ?? 'auto', ctx);
        const selection = new SelectionTracker(selector, ctx);
        inner =
          mode === 'bpftrace'
            ? createBpftraceMode(selection, settings, await loadSyscallNames(ctx), options, ctx)
            : createStraceMode(selection, settings, options, ctx);
        if (stopped) return;
        await inner.start(emit);
      },
      async stop(): Promise<void> {
        stopped = true;
        await inner?.stop();
      },
      toolPids: () => inner?.toolPids() ?? [],
    };
  },
};
