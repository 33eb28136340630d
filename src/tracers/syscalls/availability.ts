/**
 * Whether strace and bpftrace can really trace system calls here, checked by running them
 * once (a binary on PATH proves little: ptrace may be forbidden, tracefs unmounted, BPF
 * refused). Each check runs at most once per process and is shared by every tracer that
 * uses the tool; the answer is a reason naming what is missing, or undefined when it works.
 */
import { access, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { findExecutable, runTool, startTool, type ToolResult } from '../child-process.js';
import { isHarmlessBpftraceMessage } from './parse.js';

/** Where bpftrace looks for tracepoints (the first is the modern mount point). */
export const TRACEFS = '/sys/kernel/tracing';
const RAW_SYSCALLS_EVENTS = [
  '/sys/kernel/tracing/events/raw_syscalls',
  '/sys/kernel/debug/tracing/events/raw_syscalls',
];

/** The I/O of the checks, injectable so that unit tests can play a machine without tracefs. */
export interface ProbeDeps {
  exists(path: string): Promise<boolean>;
  readFile(path: string): Promise<string>;
  which(tool: string): Promise<string | undefined>;
  run(tool: string, args: string[], timeoutMs: number): Promise<ToolResult>;
  log: Logger;
}

/** The real machine. */
export function realProbeDeps(log: Logger): ProbeDeps {
  return {
    exists: (path) =>
      access(path).then(
        () => true,
        () => false,
      ),
    readFile: (path) => readFile(path, 'utf8'),
    which: (tool) => findExecutable(tool),
    run: (tool, args, timeoutMs) => runTool(tool, args, { timeoutMs }),
    log,
  };
}

/** The first diagnostic lines of a failed run, without bpftrace's harmless noise, joined. */
function diagnostics(r: ToolResult, maxLines = 3): string {
  const lines = `${r.stderr}\n${r.stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !isHarmlessBpftraceMessage(l));
  return (
    lines.slice(0, maxLines).join(' | ') || (r.timedOut ? 'timed out' : `exit code ${r.code ?? r.signal}`)
  );
}

/**
 * Makes sure the raw_syscalls tracepoints are visible: when tracefs is not mounted, mounts
 * it (`mount -t tracefs nodev /sys/kernel/tracing`, which needs root) and says so in the log.
 * Returns the reason when the tracepoints stay out of reach.
 */
export async function ensureRawSyscallsTracepoints(deps: ProbeDeps): Promise<string | undefined> {
  const visible = async () =>
    (await Promise.all(RAW_SYSCALLS_EVENTS.map((p) => deps.exists(p)))).some(Boolean);
  if (await visible()) return undefined;
  if (await deps.exists(`${TRACEFS}/events`)) {
    return `the kernel has no raw_syscalls tracepoints (${TRACEFS}/events/raw_syscalls is missing: CONFIG_FTRACE_SYSCALLS is off)`;
  }
  const mount = await deps.run('mount', ['-t', 'tracefs', 'nodev', TRACEFS], 10_000).catch(
    (err): ToolResult => ({
      code: 1,
      signal: null,
      stdout: '',
      stderr: errorMessage(err),
      timedOut: false,
    }),
  );
  if (mount.code !== 0) {
    // mount's first line is the reason; the second only points at dmesg.
    return `tracefs is not mounted at ${TRACEFS} and mounting it failed (${diagnostics(mount, 1)}); as root: mount -t tracefs nodev ${TRACEFS}`;
  }
  deps.log.info(`mounted tracefs on ${TRACEFS}: bpftrace's tracepoints need it`);
  if (!(await visible())) return `tracefs is mounted at ${TRACEFS} but has no raw_syscalls events`;
  return undefined;
}

/**
 * Checks that bpftrace runs a program on `tracepoint:raw_syscalls:sys_enter` (mounting tracefs
 * first when needed). Returns the reason when it cannot.
 */
export async function checkBpftraceSyscalls(deps: ProbeDeps): Promise<string | undefined> {
  if (!(await deps.which('bpftrace'))) return 'bpftrace not found: apt-get install bpftrace';
  const tracepoints = await ensureRawSyscallsTracepoints(deps);
  if (tracepoints) return tracepoints;
  // A system call happens at once somewhere on the node, so this exits as soon as it is attached.
  const r = await deps.run('bpftrace', ['-e', 'tracepoint:raw_syscalls:sys_enter { exit(); }'], 60_000);
  if (r.code === 0 && !r.timedOut) return undefined;
  return `bpftrace cannot attach to tracepoint:raw_syscalls:sys_enter: ${diagnostics(r)} (needs root or CAP_BPF+CAP_PERFMON)`;
}

/**
 * Checks that strace can attach to a process it did not start (what the tracers do): starts a
 * `sleep`, attaches `strace -p` to it and waits for /proc to show the ptrace. Returns the reason
 * when it cannot (strace missing, kernel.yama.ptrace_scope, no CAP_SYS_PTRACE).
 */
export async function checkStraceAttach(deps: ProbeDeps): Promise<string | undefined> {
  if (!(await deps.which('strace'))) return 'strace not found: apt-get install strace';
  const scope = (await deps.readFile('/proc/sys/kernel/yama/ptrace_scope').catch(() => '0')).trim();
  if (scope === '3') return 'kernel.yama.ptrace_scope is 3: ptrace attach is disabled until the next boot';
  const target = await startTool('sleep', ['60'], { stderrTailLines: 0 });
  try {
    const strace = await startTool('strace', [
      '-qq',
      '-o',
      '/dev/null',
      '-e',
      'trace=none',
      '-p',
      String(target.pid),
    ]);
    try {
      const deadline = Date.now() + 10_000;
      while (strace.running && Date.now() < deadline) {
        const status = await deps.readFile(`/proc/${target.pid}/status`).catch(() => '');
        if (new RegExp(`^TracerPid:\\s*${strace.pid}$`, 'm').test(status)) return undefined;
        await sleep(10);
      }
      const why = strace.running ? 'timed out' : strace.describeExit(await strace.exited);
      const hint = process.getuid?.() === 0 ? '' : ' (run the agent as root or give it CAP_SYS_PTRACE)';
      return `strace cannot attach to processes: ${why}${hint}`;
    } finally {
      await strace.stop({ signal: 'SIGINT', graceMs: 2000 });
    }
  } finally {
    await target.stop({ signal: 'SIGKILL' });
  }
}

/**
 * Runs a check once per process and shares its answer; the first caller's deps are used.
 * `reset()` forgets the answer (tests, and an operator fixing the node while an agent runs).
 */
export function once(check: (deps: ProbeDeps) => Promise<string | undefined>) {
  let answer: Promise<string | undefined> | undefined;
  return {
    get(deps: ProbeDeps): Promise<string | undefined> {
      answer ??= check(deps).catch((err) => `check failed: ${errorMessage(err)}`);
      return answer;
    },
    reset(): void {
      answer = undefined;
    },
  };
}

/** This process's shared answer to "can bpftrace trace system calls here?". */
export const bpftraceSyscallsCheck = once(checkBpftraceSyscalls);
/** This process's shared answer to "can strace attach to processes here?". */
export const straceAttachCheck = once(checkStraceAttach);
