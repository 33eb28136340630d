import { errorMessage } from '../../core/errors.js';
import { startTool, type ToolProcess } from '../child-process.js';
import { describeSelector } from '../process-selector.js';
import type { Emit, TracerContext, TracerOptions } from '../types.js';
import { type BpftraceMessage, isHarmlessBpftraceMessage, parseBpftraceJsonLine } from './parse.js';
import type { SelectionTracker } from './selection.js';
import type { SyscallsInstance, SyscallsSettings } from './settings.js';
import type { SyscallNames } from './syscall-table.js';
import { SyscallTally, tallySamples } from './tally.js';

/** printf markers the script writes after each interval's maps, and at the end. */
const TICK = 'scalpels-tick';
/**
 * Printed by BEGIN, which bpftrace runs once every probe is attached. Its `attached_probes`
 * message comes before the attaching, which took seconds on a loaded node: calls made in
 * between would be missed by a step that started on that message.
 */
const READY = 'scalpels-ready';
const END = 'scalpels-end';
const ATTACH_TIMEOUT_MS = 60_000;

/** The maps of one buffer: calls, time, errors, forks, execs. */
const MAPS = ['c', 't', 'e', 'fork', 'exec'] as const;

/**
 * The bpftrace program: per (process, syscall number) the calls (`count()`), the total time
 * (`sum()` of nanoseconds between sys_enter and sys_exit of the same thread) and the errors (a
 * return value in -4095..-1, ERESTART* included).
 *
 * It counts every process of the node, in the kernel, and the agent keeps the selected ones:
 * a process that starts during the step is counted from its first system call, with no
 * restart of bpftrace (which takes about a second to compile and attach). exit and exit_group
 * never return, so they are counted on entry. Forks (`@fork[child] = parent`) and execs are
 * recorded too: a worker forked by a selected process counts with it even when it exited
 * before the agent could look at it in /proc.
 *
 * Maps are double-buffered: `@g` says which set (0 or 1) the probes write; the interval probe
 * flips it, then prints and clears the other set. print() and clear() run later, in bpftrace's
 * user space, so with a single set every call made between the two would be lost (and
 * `stats()`, tried first, even printed counts of 0 with non-zero totals under that race).
 */
export function bpftraceScript(intervalMs: number, names: SyscallNames): string {
  const noReturn = ['exit', 'exit_group']
    .map((n) => names.number(n))
    .filter((nr): nr is number => nr !== undefined);
  const isNoReturn = noReturn.map((nr) => `args->id == ${nr}`).join(' || ');
  const both = (body: (b: 0 | 1) => string) => `if (@g == 0) { ${body(0)} } else { ${body(1)} }`;
  const flush = (b: 0 | 1) =>
    [...MAPS.map((m) => `print(@${m}${b});`), ...MAPS.map((m) => `clear(@${m}${b});`)].join(' ');
  const enter = isNoReturn
    ? `tracepoint:raw_syscalls:sys_enter /${isNoReturn}/ { ${both((b) => `@c${b}[pid, args->id] = count();`)} }
tracepoint:raw_syscalls:sys_enter /!(${isNoReturn})/ { @start[tid] = nsecs; }`
    : 'tracepoint:raw_syscalls:sys_enter { @start[tid] = nsecs; }';
  const exit = (b: 0 | 1) =>
    `@c${b}[pid, args->id] = count(); @t${b}[pid, args->id] = sum($ns); if ($err) { @e${b}[pid, args->id] = count(); }`;
  return `BEGIN { printf("${READY}\\n"); }
${enter}
tracepoint:raw_syscalls:sys_exit /@start[tid]/ {
  $ns = nsecs - @start[tid];
  delete(@start[tid]);
  $err = args->ret < 0 && args->ret > -4096;
  ${both(exit)}
}
tracepoint:sched:sched_process_exit { delete(@start[tid]); }
tracepoint:sched:sched_process_fork { ${both((b) => `@fork${b}[args->child_pid] = pid;`)} }
tracepoint:sched:sched_process_exec { ${both((b) => `@exec${b}[pid] = count();`)} }
interval:ms:${Math.max(10, Math.round(intervalMs))} {
  @g = 1 - @g;
  if (@g == 1) { ${flush(0)} } else { ${flush(1)} }
  printf("${TICK}\\n");
}
END { ${flush(0)} ${flush(1)} clear(@start); clear(@g); printf("${END}\\n"); }
`;
}

/** What bpftrace reported over one interval. */
export interface BpftraceInterval {
  /** Per pid and syscall name. */
  tally: SyscallTally;
  /** Processes forked in the interval: [child pid, parent pid]. */
  forks: Array<[number, number]>;
  /** Processes that called exec in the interval. */
  execs: number[];
}

/**
 * Accumulates bpftrace's JSON messages into one interval; `onInterval` gets it when the
 * interval's marker arrives. Pure: no I/O, so fixtures can drive it.
 */
export class BpftraceIntervals {
  private pending: BpftraceInterval = BpftraceIntervals.empty();

  constructor(
    private readonly names: SyscallNames,
    private readonly onInterval: (interval: BpftraceInterval, last: boolean) => void,
  ) {}

  private static empty(): BpftraceInterval {
    return { tally: new SyscallTally(), forks: [], execs: [] };
  }

  /** Feeds one parsed message. Maps come in two buffers (`@c0`, `@c1`, ...): both count the same. */
  feed(msg: BpftraceMessage): void {
    const { tally } = this.pending;
    if (msg.kind === 'map') {
      const map = msg.map.replace(/^@(\w+?)[01]$/, '$1');
      for (const { key, value } of msg.entries) {
        if (map === 'c') tally.add(key[0], this.names.name(key[1]), value, 0, 0);
        else if (map === 't') tally.add(key[0], this.names.name(key[1]), 0, 0, value / 1000);
        else if (map === 'e') tally.add(key[0], this.names.name(key[1]), 0, value, 0);
        else if (map === 'fork') this.pending.forks.push([key[0], value]);
        else if (map === 'exec') this.pending.execs.push(key[0]);
      }
    } else if (msg.kind === 'printf') {
      const text = msg.text.trim();
      if (text === TICK || text === END) this.rotate(text === END);
    }
  }

  /** Hands over what is pending (at a marker, or when bpftrace ended without its END block). */
  rotate(last: boolean): void {
    const interval = this.pending;
    this.pending = BpftraceIntervals.empty();
    this.onInterval(interval, last);
  }
}

/**
 * The bpftrace mode: one bpftrace for the whole step (see {@link bpftraceScript}); each
 * interval the selector is resolved again and the selected pids' counts become samples.
 */
export function createBpftraceMode(
  selection: SelectionTracker,
  settings: SyscallsSettings,
  names: SyscallNames,
  options: TracerOptions,
  ctx: TracerContext,
): SyscallsInstance {
  const label = describeSelector(selection.selector);
  let tool: ToolProcess | undefined;
  let emit: Emit | undefined;
  let processing: Promise<void> = Promise.resolve();
  let stopping: Promise<void> | undefined;
  let ended = false;

  const toSamples = async ({ tally, forks, execs }: BpftraceInterval): Promise<void> => {
    const time = ctx.now();
    for (const [child, parent] of forks) selection.noteFork(child, parent);
    for (const pid of execs) selection.noteExec(pid);
    // Resolve now, so that processes started during the interval are known before filtering.
    // No /proc check per unknown pid: bpftrace reports every process of the node.
    await selection.refresh();
    const selected = new SyscallTally();
    for (const [pid, perName] of tally.byKey) if (selection.knownSelected(pid)) selected.addAll(pid, perName);
    ctx.log.debug('bpftrace interval', { processes: tally.byKey.size, selected: selected.byKey.size });
    if (selected.empty) return;
    emit?.(
      tallySamples(selected, {
        top: settings.top,
        time,
        processNames: selection.names,
        selector: label,
        perPid: settings.perPid,
        timed: true,
      }),
    );
  };

  // The selector is also resolved on a timer of its own: bpftrace's output can lag seconds
  // behind on a loaded node, and a process must be seen alive once to be selected.
  let ticker: NodeJS.Timeout | undefined;
  let refreshing = false;
  const refreshNow = () => {
    if (refreshing) return;
    refreshing = true;
    selection
      .refresh()
      .catch((err) => ctx.log.debug('could not resolve the selector', { error: errorMessage(err) }))
      .finally(() => {
        refreshing = false;
      });
  };

  const intervals = new BpftraceIntervals(names, (interval, last) => {
    if (last) ended = true;
    processing = processing
      .then(() => toSamples(interval))
      .catch((err) =>
        ctx.log.warn('could not turn bpftrace output into samples', { error: errorMessage(err) }),
      );
  });

  return {
    mode: 'bpftrace',
    async start(onSamples: Emit): Promise<void> {
      emit = onSamples;
      await selection.refresh();
      let attached!: () => void;
      const ready = new Promise<void>((resolve) => {
        attached = resolve;
      });
      tool = await startTool('bpftrace', ['-f', 'json', '-e', bpftraceScript(options.intervalMs, names)], {
        // Maps are printed as one JSON line each; a busy node can make them large.
        maxLineLength: 64 << 20,
        // The map key limit (4096 by default) would drop processes on a busy node.
        env: { ...process.env, BPFTRACE_MAP_KEYS_MAX: '65536' },
        onStdoutLine: (line) => {
          const msg = parseBpftraceJsonLine(line);
          if (!msg) return;
          if (msg.kind === 'printf' && msg.text.trim() === READY) attached();
          else intervals.feed(msg);
        },
        onStderrLine: (line) => {
          if (!isHarmlessBpftraceMessage(line)) ctx.log.debug('bpftrace says', { line });
        },
      });
      const running = tool;
      if (stopping) {
        // stop() came while bpftrace was starting, and found nothing to stop.
        await running.stop({ signal: 'SIGKILL' });
        return;
      }
      const exit = running.exited.then(() => {
        if (!stopping) ctx.log.warn('bpftrace ended before the step', { how: running.describeExit() });
      });
      ticker = setInterval(refreshNow, Math.max(10, options.intervalMs));
      ticker.unref();
      // Compiling and attaching takes about a second, much longer on a loaded node.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), ATTACH_TIMEOUT_MS);
      });
      const outcome = await Promise.race([ready, exit, timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        clearInterval(ticker);
        await running.stop({ signal: 'SIGKILL' });
        throw new Error(`bpftrace did not attach its probes within ${ATTACH_TIMEOUT_MS / 1000} s`);
      }
      if (!running.running) {
        clearInterval(ticker);
        throw new Error(`bpftrace did not start: ${running.describeExit()}`);
      }
    },
    stop(): Promise<void> {
      stopping ??= (async () => {
        clearInterval(ticker);
        // SIGINT runs the END block, which prints the last, partial interval.
        await tool?.stop({ signal: 'SIGINT', graceMs: 5000 });
        if (tool && !ended) intervals.rotate(true);
        await processing;
      })();
      return stopping;
    },
    toolPids: () => (tool?.running ? [tool.pid] : []),
  };
}
