import { errorMessage } from '../../core/errors.js';
import type { FieldValue, Sample } from '../../core/sample.js';
import { parseUptime, USER_HZ } from '../proc/parse.js';
import { describeSelector, findProcesses, isPinned, type ProcessSelector } from '../process-selector.js';
import type { TracerContext } from '../types.js';
import {
  countFds,
  PAGE_SIZE,
  type ProcPidStat,
  parsePidIo,
  parsePidStat,
  parsePidStatus,
  parseSchedstat,
  statusBytes,
  statusInteger,
} from './parse.js';

/**
 * How long a pid the watch found not matching is checked again: a process is forked as a
 * copy of its parent (`node`, `sh`) and only then execs the program a selector names, usually
 * within a millisecond. Longer would cost a read per young pid per pass on a fork-heavy node.
 */
const RECHECK_NS = 100_000_000n;

/** Nanoseconds per USER_HZ clock tick (the unit of starttime, utime and stime). */
const TICK_NS = BigInt(1e9 / USER_HZ);

/** /proc/uptime has two decimals. */
const UPTIME_RESOLUTION_NS = 10_000_000n;

/**
 * The shortest window measured from a process's start. A start time is cut to 10 ms, which
 * makes the process look older and its usage lower; the boot time it counts from is 0–10 ms
 * late until the estimate settles, which makes it look younger: over 50 ms that is within
 * 20%, so a single-threaded process never seems to use 150% of a CPU.
 */
const FROM_START_MIN_NS = 50_000_000n;

/**
 * The shortest window of any cpu_usage: a final reading taken just after a tick's could
 * otherwise turn a few µs of skew between reading the clock and the file into 600%.
 */
const MIN_WINDOW_NS = TICK_NS;

/** What one reading of all of a process's files gave; undefined when it exited meanwhile. */
interface Reading {
  pid: number;
  stat: ProcPidStat;
  status: Map<string, string>;
  io?: Map<string, bigint>;
  fds?: number;
  /** Nanoseconds on a CPU from /proc/<pid>/schedstat, when the kernel has it. */
  runNs?: number;
  /** When the files were read. */
  at: bigint;
}

/** A process's CPU time in nanoseconds at an instant: where its next cpu_usage is measured from. */
interface CpuMark {
  userNs: number;
  systemNs: number;
  time: bigint;
}

/** A process the tracker follows from its first sighting until a tick finds it gone. */
interface Followed {
  starttime: number;
  comm: string;
  /** Its latest reading of every file, at a tick or when the watch found it. */
  full: Reading;
  /** Its first CPU times and when they were read. */
  first: CpuMark;
  /** Its latest CPU times and when they were read: the watch refreshes them between ticks. */
  cpu: CpuMark;
  /** Where its last emitted sample left its CPU time; undefined until a sample was emitted. */
  emitted?: CpuMark;
}

/** The two operations of the `process` tracer, which share what they know of the processes. */
export interface ProcessTracker {
  /**
   * One tick: a `procstat` sample per matching process, a final one per followed process that
   * exited (or stopped matching) since the previous tick, and one `procstat_lookup`.
   */
  sample(): Promise<Sample[]>;
  /**
   * A cheap pass between ticks: finds matching processes among the pids not seen before and
   * reads the CPU times of the followed ones, so that a process living less than an interval
   * is seen, and its CPU up to shortly before it exits is counted. Emits nothing.
   */
  watch(): Promise<void>;
  /** How many processes are followed now: the watch's cost grows with it. */
  followedCount(): number;
  /** When (ctx.now()) a matching process last appeared or exited, or the tracer started. */
  lastChange(): bigint | undefined;
}

/**
 * The state of the `process` tracer. `cpu_usage` is the CPU time over wall-clock time since
 * the process's previous sample; for its first sample, since it started, when it started
 * while the tracer ran at least 50 ms before, else since the watch first read it. A process
 * already running at the tracer's first reading gets it from its second reading on.
 */
export function processTracker(selector: ProcessSelector, ctx: TracerContext): ProcessTracker {
  const label = describeSelector(selector);
  const pinned = isPinned(selector);
  const followed = new Map<number, Followed>();
  // Pids the watch found not matching, with when it first saw them (see RECHECK_NS).
  const rejected = new Map<number, bigint>();
  const boot = bootClock();
  let firstReading: bigint | undefined;
  let changedAt: bigint | undefined;
  const warned = new Set<string>();
  // sample() and watch() both update `followed`: one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(op: () => Promise<T>): Promise<T> => {
    const result = queue.then(op);
    queue = result.catch(() => undefined);
    return result;
  };

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
      const [stat, status, io, fds, runNs] = await Promise.all([
        ctx.readFile(`${dir}/stat`),
        ctx.readFile(`${dir}/status`),
        optional('io', () => ctx.readFile(`${dir}/io`)),
        optional('fd', () => ctx.readdir(`${dir}/fd`)),
        readRunNs(ctx, pid),
      ]);
      const at = ctx.now();
      const parsed = parsePidStat(stat);
      // A zombie has exited and holds no resources; it only waits for its parent to reap it.
      if (parsed.state === 'Z' || parsed.state === 'X') return undefined;
      return {
        pid,
        stat: parsed,
        status: parsePidStatus(status),
        io: io === undefined ? undefined : parsePidIo(io),
        fds: fds === undefined ? undefined : countFds(fds),
        runNs,
        at,
      };
    } catch {
      return undefined;
    }
  };

  const follow = (r: Reading): Followed => {
    const cpu = cpuMark(r.stat, r.runNs, r.at);
    const f: Followed = { starttime: r.stat.starttime, comm: r.stat.comm, full: r, first: cpu, cpu };
    changedAt = r.at;
    followed.set(r.pid, f);
    return f;
  };

  // Where cpu_usage is measured from: the previous sample; else the start of a process that
  // started while the tracer was watching, its whole life then being in the window, when that
  // is long enough to be precise; else the first reading of the process, if there was one.
  const baseOf = (f: Followed): CpuMark | undefined => {
    if (f.emitted) return f.emitted;
    const started = boot.wallClockOf(f.starttime);
    if (
      started !== undefined &&
      firstReading !== undefined &&
      started >= firstReading &&
      f.cpu.time - started >= FROM_START_MIN_NS
    ) {
      return { userNs: 0, systemNs: 0, time: started };
    }
    return f.first.time < f.cpu.time ? f.first : undefined;
  };

  // A sample at `time` (the tick's, for a process still there), from its latest readings.
  const emit = (f: Followed, samples: Sample[], time = f.cpu.time): void => {
    const { full, cpu } = f;
    const fields: Record<string, FieldValue> = {};
    const base = baseOf(f);
    if (base && cpu.time - base.time >= MIN_WINDOW_NS) {
      const used = cpu.userNs + cpu.systemNs - base.userNs - base.systemNs;
      fields.cpu_usage = (100 * Math.max(0, used)) / Number(cpu.time - base.time);
    }
    f.emitted = cpu;
    fields.cpu_time_user = cpu.userNs / 1e9;
    fields.cpu_time_system = cpu.systemNs / 1e9;
    // The rss column of /proc/<pid>/stat was found lagging by dozens of pages (Linux 6.18);
    // VmRSS agrees with statm, which Telegraf (gopsutil) reads.
    fields.memory_rss = statusBytes(full.status, 'VmRSS') ?? full.stat.rss * PAGE_SIZE;
    fields.memory_vms = full.stat.vsize;
    fields.num_threads = BigInt(full.stat.numThreads);
    setDefined(fields, 'memory_swap', statusBytes(full.status, 'VmSwap'));
    setDefined(fields, 'voluntary_context_switches', statusInteger(full.status, 'voluntary_ctxt_switches'));
    setDefined(
      fields,
      'involuntary_context_switches',
      statusInteger(full.status, 'nonvoluntary_ctxt_switches'),
    );
    if (full.fds !== undefined) fields.num_fds = BigInt(full.fds);
    if (full.io) {
      setDefined(fields, 'read_bytes', full.io.get('read_bytes'));
      setDefined(fields, 'write_bytes', full.io.get('write_bytes'));
      setDefined(fields, 'read_count', full.io.get('syscr'));
      setDefined(fields, 'write_count', full.io.get('syscw'));
    }
    samples.push({
      measurement: 'procstat',
      tags: { process_name: full.stat.comm, pid: String(full.pid), selector: label },
      fields,
      time,
    });
  };

  // The pids in /proc, or undefined for a selector pinned to one pid (no listing needed).
  const listPids = async (): Promise<number[] | undefined> =>
    pinned ? undefined : (await ctx.readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);

  // Remembers which checked pids did not match, and forgets pids no longer listed.
  const reject = (listed: number[], checked: number[], matched: number[], since: bigint): void => {
    const yes = new Set(matched);
    for (const pid of checked) if (!yes.has(pid) && !rejected.has(pid)) rejected.set(pid, since);
    const present = new Set(listed);
    for (const pid of rejected.keys()) if (!present.has(pid)) rejected.delete(pid);
  };

  const sample = async (): Promise<Sample[]> => {
    const listed = await listPids();
    const found = (await findProcesses(selector, ctx, { among: listed })).map((p) => p.pid);
    await boot.update(ctx);
    const time = ctx.now();
    // What the first tick found not matching has been running for a while: the watch need
    // not check it again. Later ticks meet young pids too, which the watch checks for a while.
    if (listed) reject(listed, listed, found, firstReading === undefined ? time - RECHECK_NS : time);
    // A step's workload starts right after its tracers: the watch begins at its fast pace.
    if (firstReading === undefined) changedAt = time;
    firstReading ??= time;
    const readings = (await Promise.all(found.map(read))).filter((r): r is Reading => r !== undefined);
    const samples: Sample[] = [];
    const alive = new Map(readings.map((r) => [r.pid, r]));
    // A process followed but gone (or no longer matching, or its pid reused by another start
    // time): a final sample from its last reading, unless the last sample already was that.
    for (const [pid, f] of followed) {
      if (alive.get(pid)?.stat.starttime === f.starttime) continue;
      if (!f.emitted || f.cpu.time > f.emitted.time) emit(f, samples);
      followed.delete(pid);
    }
    for (const r of readings) {
      const known = followed.get(r.pid);
      const f = known ?? follow(r);
      if (known) {
        f.full = r;
        f.cpu = cpuMark(r.stat, r.runNs, r.at, f.cpu);
      }
      emit(f, samples, time);
    }
    samples.push({
      measurement: 'procstat_lookup',
      tags: { selector: label },
      fields: { pid_count: BigInt(readings.length) },
      time,
    });
    return samples;
  };

  const watch = async (): Promise<void> => {
    await boot.update(ctx);
    const time = ctx.now();
    const listed = await listPids();
    const unseen = listed?.filter((pid) => {
      if (followed.has(pid)) return false;
      const since = rejected.get(pid);
      return since === undefined || time - since < RECHECK_NS;
    });
    const matched = (await findProcesses(selector, ctx, { among: unseen })).map((p) => p.pid);
    if (listed && unseen) reject(listed, unseen, matched, time);
    const fresh = matched.filter((pid) => !followed.has(pid));
    const known = [...followed.entries()];
    await Promise.all(
      fresh.map(async (pid) => {
        const r = await read(pid);
        if (r) follow(r);
      }),
    );
    await Promise.all(
      known.map(async ([pid, f]) => {
        const [stat, runNs] = await Promise.all([
          ctx.readFile(`/proc/${pid}/stat`).then(parsePidStat, () => undefined),
          readRunNs(ctx, pid),
        ]);
        const at = ctx.now();
        // Another start time is another process on a reused pid; another name, an exec into a
        // program the selector may not want. A zombie's times are its final ones: keep them.
        if (!stat || stat.starttime !== f.starttime || stat.comm !== f.comm || stat.state === 'Z') {
          changedAt = at;
        }
        if (!stat || stat.starttime !== f.starttime || stat.comm !== f.comm) return;
        f.cpu = cpuMark(stat, runNs, at, f.cpu);
      }),
    );
  };

  return {
    sample: () => serially(sample),
    watch: () => serially(watch),
    followedCount: () => followed.size,
    lastChange: () => changedAt,
  };
}

/**
 * The wall-clock time of boot, to place a process's start time (clock ticks after boot) on
 * the samples' clock. /proc/uptime is cut to 10 ms, so each reading puts boot 0–10 ms late:
 * the earliest estimate is kept, unless a later one is more than 10 ms later (the wall clock
 * was stepped or has drifted).
 */
function bootClock() {
  let bootNs: bigint | undefined;
  return {
    async update(ctx: TracerContext): Promise<void> {
      let uptime: number;
      try {
        uptime = parseUptime(await ctx.readFile('/proc/uptime'));
      } catch {
        return; // no start-based cpu_usage then, the rest works
      }
      const estimate = ctx.now() - BigInt(Math.round(uptime * 1e9));
      if (bootNs === undefined || estimate < bootNs || estimate - bootNs > UPTIME_RESOLUTION_NS) {
        bootNs = estimate;
      }
    },
    wallClockOf(starttime: number): bigint | undefined {
      return bootNs === undefined ? undefined : bootNs + BigInt(starttime) * TICK_NS;
    },
  };
}

/** /proc/<pid>/schedstat's time on a CPU, or undefined (no CONFIG_SCHED_INFO, or the process is gone). */
function readRunNs(ctx: TracerContext, pid: number): Promise<number | undefined> {
  return ctx.readFile(`/proc/${pid}/schedstat`).then(parseSchedstat, () => undefined);
}

/**
 * A process's user and system CPU time. The kernel cuts utime and stime to 10 ms ticks, each
 * losing up to 10 ms: nothing for a service, most of the work of a process that runs 30 ms.
 * A single-threaded process's schedstat time is exact, so it is used when larger, split
 * between user and system in the ratio of the ticks as the kernel splits its own total
 * (cputime_adjust). Neither value goes below the previous reading: they are counters.
 */
function cpuMark(stat: ProcPidStat, runNs: number | undefined, time: bigint, previous?: CpuMark): CpuMark {
  let userNs = stat.utime * Number(TICK_NS);
  let systemNs = stat.stime * Number(TICK_NS);
  if (stat.numThreads === 1 && runNs !== undefined && runNs > userNs + systemNs) {
    const ticks = stat.utime + stat.stime;
    systemNs = ticks === 0 ? 0 : (runNs * stat.stime) / ticks;
    userNs = runNs - systemNs;
  }
  if (previous) {
    userNs = Math.max(userNs, previous.userNs);
    systemNs = Math.max(systemNs, previous.systemNs);
  }
  return { userNs, systemNs, time };
}

function setDefined(fields: Record<string, FieldValue>, key: string, value: FieldValue | undefined): void {
  if (value !== undefined) fields[key] = value;
}
