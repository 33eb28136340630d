import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../core/errors.js';
import { startTool, type ToolProcess } from '../child-process.js';
import type { TracerContext } from '../types.js';
import { cloneChild, parseStraceLine, type StraceCall, StraceCallAssembler } from './parse.js';

/** Options of a {@link StraceSession}. */
export interface StraceSessionOptions {
  /**
   * strace options besides the session's own (`-f -q -e signal=none -p PID...`): the mode's
   * filter and decoding flags, e.g. `['-T', '-s', '0']`.
   */
  args: string[];
  ctx: TracerContext;
  /** Receives every complete system call, in the order strace printed them. */
  onCall(call: StraceCall): void;
  /** How long {@link StraceSession.attach} waits for strace to seize the processes (default 5 s). */
  attachTimeoutMs?: number;
}

/** One strace child and the processes it was started on. */
interface Tracer {
  tool: ToolProcess;
  roots: number[];
}

/** `TracerPid:` of /proc/<pid>/status: who ptraces the process (0 for nobody). */
function tracerPidOf(status: string): number {
  const m = /^TracerPid:\s*(\d+)/m.exec(status);
  return m ? Number(m[1]) : 0;
}

/** `Tgid:` of /proc/<tid>/status: the process a thread belongs to. */
function tgidOf(status: string): number | undefined {
  const m = /^Tgid:\s*(\d+)/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

/**
 * strace attached to a changing set of processes, for the length of one step.
 *
 * - {@link attach} starts one `strace -f` child for the pids not traced yet (one child per
 *   batch, since strace cannot add tracees once running) and resolves once strace has seized
 *   them, checked in /proc/<pid>/status (TracerPid), so the step barrier waits for real tracing.
 *   `-f` follows threads and the children the processes fork; those are then traced already
 *   and are not attached twice. A process traced by someone else (a debugger) is skipped, with
 *   one warning: ptrace allows one tracer per process.
 * - Calls are reported per thread; {@link processesOf} names the process of each thread, from
 *   /proc/<pid>/task at attach time, from the clone calls strace prints (CLONE_THREAD or not),
 *   and from /proc/<tid>/status for the rest.
 * - {@link stop} sends SIGINT (strace then detaches and lets the processes run on), SIGKILL
 *   after a grace period, and resolves once every strace child is gone.
 */
export class StraceSession {
  private readonly tracers: Tracer[] = [];
  /** Thread id → process id, for every thread whose process is known. */
  private readonly tgids = new Map<number, number>();
  /** A thread created by a clone with CLONE_THREAD → the thread that created it. */
  private readonly threadParents = new Map<number, number>();
  private readonly warnedTraced = new Set<number>();
  /** Forked processes → the thread that forked them, since the last {@link noteLineage}. */
  private forks = new Map<number, number>();
  /** Threads that called exec successfully, since the last {@link noteLineage}. */
  private execs = new Set<number>();
  private attaching: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: StraceSessionOptions) {}

  /** The pids of the live strace children. */
  toolPids(): number[] {
    return this.tracers.filter((t) => t.tool.running).map((t) => t.tool.pid);
  }

  /** Attaches to those of `pids` that no strace of this session traces yet. */
  attach(pids: readonly number[]): Promise<void> {
    const next = this.attaching.then(() => this.attachNow(pids));
    this.attaching = next.catch(() => {});
    return next;
  }

  private async attachNow(pids: readonly number[]): Promise<void> {
    if (this.stopped) return;
    const { ctx } = this.options;
    const ours = new Set(this.toolPids());
    const fresh: number[] = [];
    for (const pid of pids) {
      if (this.tgids.get(pid) === pid && this.isTraced(pid)) continue;
      let status: string;
      try {
        status = await ctx.readFile(`/proc/${pid}/status`);
      } catch {
        continue; // Exited meanwhile.
      }
      const tracer = tracerPidOf(status);
      if (tracer !== 0) {
        if (!ours.has(tracer) && !this.warnedTraced.has(pid)) {
          this.warnedTraced.add(pid);
          ctx.log.warn('process is already traced by another program; its system calls are not counted', {
            pid,
            tracer_pid: tracer,
          });
        }
        if (ours.has(tracer)) this.tgids.set(pid, pid);
        continue;
      }
      fresh.push(pid);
    }
    if (fresh.length === 0 || this.stopped) return;
    for (const pid of fresh) {
      this.tgids.set(pid, pid);
      try {
        for (const t of await ctx.readdir(`/proc/${pid}/task`))
          if (/^\d+$/.test(t)) this.tgids.set(Number(t), pid);
      } catch {
        // Exited meanwhile; strace will say so.
      }
    }
    const assembler = new StraceCallAssembler(fresh);
    const args = [
      '-f',
      '-q',
      '-e',
      'signal=none',
      ...this.options.args,
      ...fresh.flatMap((p) => ['-p', String(p)]),
    ];
    const tool = await startTool('strace', args, {
      onStderrLine: (line) => this.onLine(assembler, line),
      isDiagnostic: (line) => line.startsWith('strace: '),
    });
    const tracer: Tracer = { tool, roots: fresh };
    this.tracers.push(tracer);
    void tool.exited.then(() => ctx.log.debug('strace ended', { how: tool.describeExit(), roots: fresh }));
    await this.waitSeized(tracer);
    // stop() may have come while strace was starting: it only stops the tracers it saw.
    if (this.stopped) await tool.stop({ signal: 'SIGINT' });
  }

  private isTraced(pid: number): boolean {
    return this.tracers.some((t) => t.tool.running && t.roots.includes(pid));
  }

  /** Waits until strace ptraces every root (or the root is gone, or strace exited). */
  private async waitSeized({ tool, roots }: Tracer): Promise<void> {
    const deadline = Date.now() + (this.options.attachTimeoutMs ?? 5000);
    let waiting = [...roots];
    while (waiting.length > 0 && tool.running && Date.now() < deadline) {
      const still: number[] = [];
      for (const pid of waiting) {
        try {
          if (tracerPidOf(await this.options.ctx.readFile(`/proc/${pid}/status`)) !== tool.pid)
            still.push(pid);
        } catch {
          // Gone: nothing to wait for.
        }
      }
      waiting = still;
      if (waiting.length > 0) await sleep(10);
    }
    if (waiting.length > 0) {
      const why = tool.running ? 'timed out' : tool.describeExit();
      this.options.ctx.log.warn('strace did not attach to every process', { pids: waiting, reason: why });
    }
  }

  private onLine(assembler: StraceCallAssembler, line: string): void {
    const parsed = parseStraceLine(line);
    if (parsed.kind === 'message') {
      if (line.startsWith('strace: ')) this.options.ctx.log.debug('strace says', { line });
      return;
    }
    const out = assembler.feed(parsed);
    if (!out || !('call' in out)) return;
    const child = cloneChild(out.call);
    if (child) {
      if (child.thread) this.threadParents.set(child.tid, out.call.tid);
      else {
        this.tgids.set(child.tid, child.tid);
        this.forks.set(child.tid, out.call.tid);
      }
    } else if (
      (out.call.name === 'execve' || out.call.name === 'execveat') &&
      out.call.result.value === '0'
    ) {
      this.execs.add(out.call.tid);
    }
    try {
      this.options.onCall(out.call);
    } catch (err) {
      this.options.ctx.log.warn('could not account a system call', { error: errorMessage(err) });
    }
  }

  /** The process of each thread id; a thread whose process cannot be found stands for itself. */
  async processesOf(tids: Iterable<number>): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    await Promise.all(
      [...new Set(tids)].map(async (tid) => {
        out.set(tid, await this.processOf(tid));
      }),
    );
    return out;
  }

  private async processOf(tid: number): Promise<number> {
    const seen = new Set<number>();
    let t = tid;
    // Follow CLONE_THREAD parents up to a thread whose process is known.
    while (!this.tgids.has(t) && this.threadParents.has(t) && !seen.has(t)) {
      seen.add(t);
      t = this.threadParents.get(t)!;
    }
    let tgid = this.tgids.get(t);
    if (tgid === undefined) {
      try {
        tgid = tgidOf(await this.options.ctx.readFile(`/proc/${tid}/status`)) ?? tid;
      } catch {
        tgid = tid;
      }
    }
    this.tgids.set(tid, tgid);
    return tgid;
  }

  /**
   * Tells `selection` which processes were forked (by which process) and which called exec
   * since the last call, so that short-lived forked workers count with their parent.
   */
  async noteLineage(selection: {
    noteFork(child: number, parent: number): void;
    noteExec(pid: number): void;
  }): Promise<void> {
    const forks = this.forks;
    const execs = this.execs;
    this.forks = new Map();
    this.execs = new Set();
    const processOf = await this.processesOf([...forks.values(), ...execs]);
    for (const [child, parentTid] of forks) selection.noteFork(child, processOf.get(parentTid)!);
    for (const tid of execs) selection.noteExec(processOf.get(tid)!);
  }

  /** Detaches every strace (SIGINT) and resolves once all are gone and their output is read. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopped = true;
    await this.attaching;
    await Promise.all(this.tracers.map((t) => t.tool.stop({ signal: 'SIGINT', graceMs })));
  }
}
