import { errorMessage } from '../../core/errors.js';
import type { Sample } from '../../core/sample.js';
import type { ToolBackedInstance, ToolBackedTracer } from '../child-process.js';
import { loadTracerManifest } from '../manifest.js';
import { USER_HZ } from '../proc/parse.js';
import { parsePidIo, parsePidStat } from '../process/parse.js';
import { describeSelector, type ProcessSelector, validateProcessSelector } from '../process-selector.js';
import { createSampler } from '../sampler.js';
import { realProbeDeps, straceAttachCheck } from '../syscalls/availability.js';
import { pickSelector, SelectionTracker } from '../syscalls/selection.js';
import { StraceSession } from '../syscalls/strace-session.js';
import type { Emit, TracerContext, TracerOptions } from '../types.js';
import { FileTally, fileSamples } from './file-tally.js';
import { fileOperationOf, ioDeltas, STRACE_FILE_TRACE_SET } from './parse.js';

/** The `with:` block of the `fsio` tracer. */
export interface FsioParams extends ProcessSelector {
  /** Also trace the files the processes work on (strace), for `fsio_file`. */
  paths?: boolean;
  /** Files written per interval with `paths` (by operations); the rest is summed as `_other`. */
  top?: number;
}

/** What is remembered of a process between ticks. */
interface IoReading {
  starttime: number;
  counters: Map<string, bigint>;
}

/**
 * The /proc part of `fsio`: per selected process, the growth of /proc/<pid>/io over the
 * interval. A process first seen after the previous reading that started after it (a worker
 * spawned mid-interval) counts from zero; one already running when first seen only sets the
 * baseline. The I/O a process does between its last reading and its exit is lost: /proc
 * forgets it with the process.
 */
export function procIoCollector(selection: SelectionTracker, ctx: TracerContext): () => Promise<Sample[]> {
  const label = describeSelector(selection.selector);
  let previous = new Map<number, IoReading>();
  /** Seconds since boot at the previous reading; undefined before the first. */
  let previousUptime: number | undefined;
  let warnedAccess = false;

  const read = async (pid: number): Promise<IoReading | undefined> => {
    try {
      const [io, stat] = await Promise.all([
        ctx.readFile(`/proc/${pid}/io`),
        ctx.readFile(`/proc/${pid}/stat`),
      ]);
      return { starttime: parsePidStat(stat).starttime, counters: parsePidIo(io) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'EACCES' || code === 'EPERM') && !warnedAccess) {
        warnedAccess = true;
        ctx.log.warn('cannot read /proc/<pid>/io of some processes; run the agent as their user or root', {
          pid,
          error: errorMessage(err),
        });
      }
      return undefined;
    }
  };

  return async () => {
    const uptime = Number.parseFloat(await ctx.readFile('/proc/uptime'));
    const found = await selection.refresh();
    const time = ctx.now();
    const samples: Sample[] = [];
    const next = new Map<number, IoReading>();
    const readings = await Promise.all(found.map(async (p) => ({ p, r: await read(p.pid) })));
    for (const { p, r } of readings) {
      if (!r) continue;
      next.set(p.pid, r);
      const prev = previous.get(p.pid);
      let base: Map<string, bigint> | undefined;
      if (prev && prev.starttime === r.starttime) base = prev.counters;
      else if (previousUptime === undefined || r.starttime / USER_HZ < previousUptime) continue;
      const fields = ioDeltas(base, r.counters);
      if (Object.keys(fields).length === 0) continue;
      samples.push({
        measurement: 'fsio',
        tags: { process_name: p.name, pid: String(p.pid), selector: label },
        fields,
        time,
      });
    }
    previous = next;
    previousUptime = uptime;
    return samples;
  };
}

/**
 * Filesystem I/O of selected processes: bytes and operations per interval from /proc/<pid>/io,
 * and with `paths: true` the files they read, write, open and stat most, from strace -y.
 */
export const fsioTracer: ToolBackedTracer<FsioParams> = {
  name: 'fsio',
  manifest: loadTracerManifest('fsio'),

  async unavailableReason(ctx: TracerContext): Promise<string | undefined> {
    try {
      await ctx.readFile('/proc/self/io');
      return undefined;
    } catch (err) {
      return `cannot read /proc/self/io (a kernel without CONFIG_TASK_IO_ACCOUNTING?): ${errorMessage(err)}`;
    }
  },

  create(params: FsioParams, options: TracerOptions, ctx: TracerContext): ToolBackedInstance {
    const selector = pickSelector(params as ProcessSelector & Record<string, unknown>);
    validateProcessSelector(selector);
    const selection = new SelectionTracker(selector, ctx);
    const label = describeSelector(selector);
    const proc = procIoCollector(selection, ctx);
    if (!params.paths) return { ...createSampler(proc, options, ctx), toolPids: () => [] };

    const top = params.top ?? 20;
    let current = new FileTally();
    let stopping = false;
    const session = new StraceSession({
      args: ['-T', '-y', '-s', '0', '-e', `trace=${STRACE_FILE_TRACE_SET}`],
      ctx,
      onCall: (call) => {
        const op = fileOperationOf(call);
        if (op) current.add(call.tid, op);
      },
    });
    const collect = async (): Promise<Sample[]> => {
      const byThread = current;
      current = new FileTally();
      const samples = await proc();
      if (!stopping) await session.attach(selection.matched.map((p) => p.pid));
      if (byThread.empty) return samples;
      await session.noteLineage(selection);
      const processOf = await session.processesOf(byThread.byKey.keys());
      const selected = await selection.filter(processOf.values());
      const files = fileSamples(byThread, (tid) => selected.has(processOf.get(tid)!), {
        top,
        time: ctx.now(),
        selector: label,
      });
      return [...samples, ...files];
    };
    const sampler = createSampler(collect, options, ctx);
    return {
      async start(emit: Emit): Promise<void> {
        const reason = await straceAttachCheck.get(realProbeDeps(ctx.log));
        if (reason) throw new Error(`paths: true needs strace: ${reason}`);
        await sampler.start(emit);
      },
      async stop(): Promise<void> {
        stopping = true;
        await session.stop();
        await sampler.stop();
      },
      toolPids: () => session.toolPids(),
    };
  },
};
