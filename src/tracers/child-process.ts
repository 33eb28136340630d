/**
 * Spawning and killing the tool children of tracers (strace, bpftrace, perf, ...), and
 * reading their output line by line.
 *
 * Every tool started here is tracked until it has exited, and is killed:
 * - by {@link ToolProcess.stop} (SIGTERM or the signal given, then SIGKILL after a grace period);
 * - when this process exits normally ('exit' hook: SIGKILL, synchronously);
 * - when this process dies abruptly (SIGKILL, crash): where util-linux's `setpriv` is present,
 *   tools run as `setpriv --pdeathsig KILL -- tool ...`, so the kernel kills them when their
 *   parent dies (setpriv execs the tool, so the pid stays the tool's). Only a parent that dies
 *   in the instant between the spawn and setpriv's prctl escapes this. A leftover strace would
 *   keep a production service ptrace-stopped on every system call, hence the belt and braces.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { TracerContext, TracerDefinition, TracerInstance, TracerOptions } from './types.js';

/** How a tool ended: an exit code, or the signal that killed it. */
export interface ToolExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The tool is not on PATH. Its message says which binary is missing. */
export class ToolNotFoundError extends Error {
  constructor(readonly tool: string) {
    super(`${tool} not found on PATH`);
    this.name = 'ToolNotFoundError';
  }
}

/**
 * Splits a byte stream into lines: decodes UTF-8 across chunk boundaries, drops the line
 * terminator (`\n` or `\r\n`), and cuts lines longer than `maxLineLength` so that a tool
 * printing a huge line cannot exhaust the agent's memory (the rest of that line is dropped).
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private discarding = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineLength = 1 << 20,
  ) {}

  /** Feeds a chunk; complete lines are passed to `onLine` before this returns. */
  push(chunk: Buffer | string): void {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      // The end of a line already cut and emitted is dropped.
      if (!this.discarding) this.emit((this.partial + text.slice(start, nl)).slice(0, this.maxLineLength));
      this.partial = '';
      this.discarding = false;
      start = nl + 1;
    }
    if (this.discarding) return;
    this.partial += text.slice(start);
    if (this.partial.length > this.maxLineLength) {
      this.emit(this.partial.slice(0, this.maxLineLength));
      this.partial = '';
      this.discarding = true;
    }
  }

  /** Flushes a last line that had no terminator. */
  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest !== '' && !this.discarding) this.emit(rest);
    this.discarding = false;
  }

  private emit(line: string): void {
    this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
}

/** Options of {@link startTool}. */
export interface StartToolOptions {
  /** Called with every line of standard output, in order. */
  onStdoutLine?: (line: string) => void;
  /** Called with every line of standard error, in order. */
  onStderrLine?: (line: string) => void;
  /** Environment of the tool; defaults to this process's. */
  env?: NodeJS.ProcessEnv;
  /** Kill the tool when this process dies, even abruptly (default true; needs `setpriv`). */
  dieWithParent?: boolean;
  /** How many of the last stderr lines to keep for error messages (default 20). */
  stderrTailLines?: number;
  /**
   * Which stderr lines are diagnostics worth keeping for error messages (default: all). strace
   * writes its trace to stderr too, and a trace line says nothing about why it stopped.
   */
  isDiagnostic?: (line: string) => boolean;
  /** Lines longer than this are cut (default 1 MiB). */
  maxLineLength?: number;
}

/** Options of {@link ToolProcess.stop}. */
export interface StopToolOptions {
  /** The first signal (default SIGTERM; SIGINT makes strace detach and bpftrace print its maps). */
  signal?: NodeJS.Signals;
  /** How long to wait after the first signal before SIGKILL (default 3000 ms). */
  graceMs?: number;
}

const live = new Set<ToolProcess>();
let exitHookInstalled = false;

/** A running tool child. Created by {@link startTool}. */
export class ToolProcess {
  /** The tool's process id (the tool itself, not a wrapper). */
  readonly pid: number;
  /** Resolves once the tool has exited and all of its output has been delivered. */
  readonly exited: Promise<ToolExit>;
  private exit?: ToolExit;
  private stopping?: Promise<ToolExit>;
  private readonly tail: string[] = [];

  /** @internal use {@link startTool}. */
  constructor(
    readonly command: string,
    private readonly child: ChildProcess,
    options: StartToolOptions,
  ) {
    this.pid = child.pid!;
    const keep = options.stderrTailLines ?? 20;
    const out = new LineSplitter((l) => options.onStdoutLine?.(l), options.maxLineLength);
    const err = new LineSplitter((l) => {
      if (keep > 0 && (options.isDiagnostic?.(l) ?? true)) {
        this.tail.push(l);
        if (this.tail.length > keep) this.tail.shift();
      }
      options.onStderrLine?.(l);
    }, options.maxLineLength);
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    this.exited = new Promise<ToolExit>((resolve) => {
      let exitSeen: ToolExit | undefined;
      let closeTimer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(closeTimer);
        if (this.exit) return;
        out.end();
        err.end();
        this.exit = exitSeen ?? { code: child.exitCode, signal: child.signalCode };
        live.delete(this);
        resolve(this.exit);
      };
      child.once('exit', (code, signal) => {
        exitSeen = { code, signal };
        // 'close' follows once the pipes are drained; a grandchild holding them open must not
        // keep stop() waiting forever, so give the pipes a second at most.
        closeTimer = setTimeout(finish, 1000);
        closeTimer.unref();
      });
      child.once('close', finish);
    });
  }

  /** True until the tool has exited. */
  get running(): boolean {
    return this.exit === undefined;
  }

  /** The last lines the tool wrote to standard error (its diagnostics). */
  stderrTail(): string[] {
    return [...this.tail];
  }

  /** One sentence on how the tool ended, with its last diagnostic, for logs and errors. */
  describeExit(exit: ToolExit | undefined = this.exit): string {
    const how = !exit
      ? 'is still running'
      : exit.signal
        ? `was killed by ${exit.signal}`
        : `exited with code ${exit.code}`;
    const last = this.tail.filter((l) => l.trim() !== '').slice(-3);
    return `${this.command} ${how}${last.length ? `: ${last.join(' | ')}` : ''}`;
  }

  /** Sends a signal if the tool still runs; never throws. */
  signal(signal: NodeJS.Signals): void {
    // ChildProcess.kill() refuses once Node has reaped the child, so a recycled pid is never hit.
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      this.child.kill(signal);
    } catch {
      // Already gone: 'exit' is on its way.
    }
  }

  /**
   * Stops the tool: `signal`, then SIGKILL after `graceMs`; resolves once it has exited and
   * its output is delivered. Idempotent: later calls return the same promise.
   */
  stop(options: StopToolOptions = {}): Promise<ToolExit> {
    this.stopping ??= (async () => {
      if (!this.running) return this.exited;
      this.signal(options.signal ?? 'SIGTERM');
      const timer = setTimeout(() => this.signal('SIGKILL'), options.graceMs ?? 3000);
      try {
        return await this.exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.stopping;
  }
}

let pdeathsigWrapper: string[] | null | undefined;

/**
 * `setpriv --pdeathsig KILL --` when this machine's setpriv has that option (util-linux 2.33
 * and later), else null. Checked once, by looking for the option's name in the binary rather
 * than by running it: a probe run could time out on a loaded node and silently lose the
 * protection.
 */
function parentDeathWrapper(): string[] | null {
  if (pdeathsigWrapper !== undefined) return pdeathsigWrapper;
  const setpriv = findExecutableSync('setpriv');
  pdeathsigWrapper = null;
  try {
    if (setpriv && readFileSync(setpriv).includes('pdeathsig')) {
      pdeathsigWrapper = [setpriv, '--pdeathsig', 'KILL', '--'];
    }
  } catch {
    // Unreadable: run tools without the wrapper.
  }
  return pdeathsigWrapper;
}

/**
 * Starts a tool and resolves once it runs (rejects when it cannot be started). The command is
 * looked up on PATH first, so that a missing tool is a {@link ToolNotFoundError} rather than a
 * confusing failure of a wrapper.
 */
export async function startTool(
  command: string,
  args: string[],
  options: StartToolOptions = {},
): Promise<ToolProcess> {
  const path = command.includes('/') ? command : await findExecutable(command, options.env?.PATH);
  if (!path) throw new ToolNotFoundError(command);
  const wrapper = options.dieWithParent === false ? null : parentDeathWrapper();
  const argv = wrapper ? [...wrapper, path, ...args] : [path, ...args];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: options.env });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const tool = new ToolProcess(command, child, options);
  live.add(tool);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => killAllTools());
  }
  return tool;
}

/** What {@link runTool} returns. */
export interface ToolResult extends ToolExit {
  stdout: string;
  stderr: string;
  /** True when the tool was killed because it outlived the timeout. */
  timedOut: boolean;
}

/**
 * Runs a tool to completion (for availability probes such as `perf stat -e task-clock true`)
 * and returns its exit and output. Killed after `timeoutMs` (default 10 s).
 */
export async function runTool(
  command: string,
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ToolResult> {
  const out: string[] = [];
  const err: string[] = [];
  const tool = await startTool(command, args, {
    env: options.env,
    onStdoutLine: (l) => out.push(l),
    onStderrLine: (l) => err.push(l),
    stderrTailLines: 0,
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void tool.stop({ signal: 'SIGKILL' });
  }, options.timeoutMs ?? 10_000);
  const exit = await tool.exited;
  clearTimeout(timer);
  return { ...exit, stdout: out.join('\n'), stderr: err.join('\n'), timedOut };
}

/** The absolute path of an executable on PATH, or undefined. */
export async function findExecutable(
  name: string,
  pathEnv = process.env.PATH ?? '',
): Promise<string | undefined> {
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** The program's absolute path: as written when it has a slash, else looked up on PATH. */
export async function resolveProgram(program: string, path: string | undefined): Promise<string | undefined> {
  if (!program.includes('/')) return findExecutable(program, path);
  try {
    await access(program, constants.X_OK);
    return program;
  } catch {
    return undefined;
  }
}

function findExecutableSync(name: string, pathEnv = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...pathEnv.split(delimiter), '/usr/bin', '/bin']) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** The tools started by this process that have not exited yet (for shutdown and for tests). */
export function liveTools(): readonly ToolProcess[] {
  return [...live];
}

/**
 * Sends `signal` (default SIGKILL) to every live tool, synchronously: the last resort on
 * process exit, when no asynchronous stop can run any more.
 */
export function killAllTools(signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const tool of live) tool.signal(signal);
}

/**
 * A tracer instance that runs tool children: it says which, so that tests (and the agent's
 * diagnostics) can check that none outlives stop().
 */
export interface ToolBackedInstance extends TracerInstance {
  /** The pids of the tool children running now. */
  toolPids(): number[];
}

/** A tracer definition whose instances are {@link ToolBackedInstance}s (or a richer `I`). */
export type ToolBackedTracer<P, I extends ToolBackedInstance = ToolBackedInstance> = Omit<
  TracerDefinition<P>,
  'create'
> & {
  /** Creates an instance; `params` were already validated against `manifest.params`. */
  create(params: P, options: TracerOptions, ctx: TracerContext): I;
};
