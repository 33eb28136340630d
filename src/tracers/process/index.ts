import { errorMessage } from '../../core/errors.js';
import type { FieldValue, Sample } from '../../core/sample.js';
import { loadTracerManifest } from '../manifest.js';
import { USER_HZ } from '../proc/parse.js';
import {
  describeSelector,
  findProcesses,
  type ProcessSelector,
  validateProcessSelector,
} from '../process-selector.js';
import { createSampler } from '../sampler.js';
import type { TracerContext, TracerDefinition, TracerInstance, TracerOptions } from '../types.js';
import {
  countFds,
  PAGE_SIZE,
  type ProcPidStat,
  parsePidIo,
  parsePidStat,
  parsePidStatus,
  statusBytes,
  statusInteger,
} from './parse.js';

/** The `with:` block of the `process` tracer: a process selector and nothing else. */
export type ProcessParams = ProcessSelector;

/**
 * Per-process resource usage from /proc/<pid>, written as Telegraf's `procstat` and
 * `procstat_lookup` measurements. The selector is evaluated on every tick, so processes that
 * start, exit or restart during a step are followed.
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
    return createSampler(processCollector(params, ctx), options, ctx);
  },
};

/** What is remembered of a process between ticks, to turn its CPU time into a usage. */
interface Previous {
  starttime: number;
  ticks: number;
  time: bigint;
}

/** What one tick read of one process; undefined when the process exited meanwhile or is a zombie. */
interface Reading {
  pid: number;
  stat: ProcPidStat;
  status: Map<string, string>;
  io?: Map<string, bigint>;
  fds?: number;
}

/**
 * The stateful collect function of the `process` tracer: one `procstat` sample per matched
 * process and one `procstat_lookup` sample per call. A process's `cpu_usage` needs two
 * observations, so it appears from the second call that sees that process onwards.
 */
export function processCollector(selector: ProcessSelector, ctx: TracerContext): () => Promise<Sample[]> {
  const label = describeSelector(selector);
  let previous = new Map<number, Previous>();
  const warned = new Set<string>();

  // Reading another user's io or fd needs ptrace rights; say so once, then report the rest.
  const optional = async <T>(what: string, read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'EACCES' || code === 'EPERM') && !warned.has(what)) {
        warned.add(what);
        const msg = `cannot read /proc/<pid>/${what} of some processes; run the agent as their user or root`;
        ctx.log.warn(msg, { error: errorMessage(err) });
      }
      return undefined;
    }
  };

  const read = async (pid: number): Promise<Reading | undefined> => {
    const dir = `/proc/${pid}`;
    try {
      const [stat, status, io, fds] = await Promise.all([
        ctx.readFile(`${dir}/stat`),
        ctx.readFile(`${dir}/status`),
        optional('io', () => ctx.readFile(`${dir}/io`)),
        optional('fd', () => ctx.readdir(`${dir}/fd`)),
      ]);
      const parsed = parsePidStat(stat);
      // A zombie has exited and holds no resources; it only waits for its parent to reap it.
      if (parsed.state === 'Z' || parsed.state === 'X') return undefined;
      return {
        pid,
        stat: parsed,
        status: parsePidStatus(status),
        io: io === undefined ? undefined : parsePidIo(io),
        fds: fds === undefined ? undefined : countFds(fds),
      };
    } catch {
      return undefined;
    }
  };

  return async () => {
    const found = await findProcesses(selector, ctx);
    const time = ctx.now();
    const readings = (await Promise.all(found.map((p) => read(p.pid)))).filter(
      (r): r is Reading => r !== undefined,
    );
    const samples: Sample[] = [];
    const next = new Map<number, Previous>();
    for (const r of readings) {
      const ticks = r.stat.utime + r.stat.stime;
      const fields: Record<string, FieldValue> = {};
      const prev = previous.get(r.pid);
      // A different start time means the pid was reused by another process: no delta then.
      if (prev && prev.starttime === r.stat.starttime && time > prev.time) {
        const seconds = Number(time - prev.time) / 1e9;
        fields.cpu_usage = (100 * Math.max(0, ticks - prev.ticks)) / USER_HZ / seconds;
      }
      next.set(r.pid, { starttime: r.stat.starttime, ticks, time });
      fields.cpu_time_user = r.stat.utime / USER_HZ;
      fields.cpu_time_system = r.stat.stime / USER_HZ;
      // The rss column of /proc/<pid>/stat was found lagging by dozens of pages (Linux 6.18);
      // VmRSS agrees with statm, which Telegraf (gopsutil) reads.
      fields.memory_rss = statusBytes(r.status, 'VmRSS') ?? r.stat.rss * PAGE_SIZE;
      fields.memory_vms = r.stat.vsize;
      fields.num_threads = BigInt(r.stat.numThreads);
      setDefined(fields, 'memory_swap', statusBytes(r.status, 'VmSwap'));
      setDefined(fields, 'voluntary_context_switches', statusInteger(r.status, 'voluntary_ctxt_switches'));
      setDefined(
        fields,
        'involuntary_context_switches',
        statusInteger(r.status, 'nonvoluntary_ctxt_switches'),
      );
      if (r.fds !== undefined) fields.num_fds = BigInt(r.fds);
      if (r.io) {
        setDefined(fields, 'read_bytes', r.io.get('read_bytes'));
        setDefined(fields, 'write_bytes', r.io.get('write_bytes'));
        setDefined(fields, 'read_count', r.io.get('syscr'));
        setDefined(fields, 'write_count', r.io.get('syscw'));
      }
      samples.push({
        measurement: 'procstat',
        tags: { process_name: r.stat.comm, pid: String(r.pid), selector: label },
        fields,
        time,
      });
    }
    // Forgetting exited pids keeps the map bounded over a long run with many short-lived processes.
    previous = next;
    samples.push({
      measurement: 'procstat_lookup',
      tags: { selector: label },
      fields: { pid_count: BigInt(readings.length) },
      time,
    });
    return samples;
  };
}

function setDefined(fields: Record<string, FieldValue>, key: string, value: FieldValue | undefined): void {
  if (value !== undefined) fields[key] = value;
}
