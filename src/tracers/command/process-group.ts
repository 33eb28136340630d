import { type ChildProcess, spawn } from 'node:child_process';
import { findExecutable } from '../child-process.js';

/**
 * Operator commands run in a process group of their own. child-process.ts's startTool signals
 * the tool alone, which is right for strace or bpftrace; an operator's command may be a shell
 * script whose children (a `sleep`, a pipeline) must end with it, so stop() signals the whole
 * group. Like startTool, children run under `setpriv --pdeathsig KILL` when it is there, so the
 * kernel kills them if the agent dies without stopping them.
 */

/** How a child ended. `error` is set when it could not be started at all (ENOENT, EACCES). */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** Options of {@link spawnLineChild}. */
export interface LineChildOptions {
  /** The program and its arguments; never run through a shell. */
  argv: readonly string[];
  /** The whole environment of the child (defaults to the agent's own). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called with every complete stdout line, without its newline. */
  onStdoutLine(line: string): void;
  /** Called with every complete stderr line; by default stderr is only kept in {@link LineChild.stderrTail}. */
  onStderrLine?(line: string): void;
  /** The signal {@link LineChild.stop} sends first (bpftrace flushes its maps on SIGINT). Default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** How long stop() waits after the first signal before SIGKILL. Default 5 s. */
  stopGraceMs?: number;
}

/** A running child whose output is read line by line. */
export interface LineChild {
  /** The child's pid; undefined when it could not be started. */
  readonly pid: number | undefined;
  /** Settles once, when the child has exited and its output has been read to the end. */
  readonly exited: Promise<ChildExit>;
  /** The last stderr lines (at most 50), for error messages. */
  stderrTail(): string[];
  /**
   * Sends the stop signal to the child's process group, then SIGKILL after the grace period;
   * resolves when the child is gone. Calling it again returns the same promise.
   */
  stop(): Promise<ChildExit>;
}

const STDERR_TAIL = 50;

/**
 * Where `setpriv` is, when it is: children are started through `setpriv --pdeathsig KILL` so
 * that the kernel kills them if the agent dies without running its stop path (a crash, a
 * SIGKILL). Without it a bpftrace with kernel probes attached would outlive the agent.
 */
let setprivPath: Promise<string | undefined> | undefined;

/** Spawns `argv` in its own process group and reads its stdout and stderr line by line. */
export function spawnLineChild(options: LineChildOptions, setpriv?: string): LineChild {
  const argv = setpriv ? [setpriv, '--pdeathsig', 'KILL', ...options.argv] : [...options.argv];
  const tail: string[] = [];
  let child: ChildProcess;
  let exitedResolve!: (e: ChildExit) => void;
  const exited = new Promise<ChildExit>((resolve) => {
    exitedResolve = resolve;
  });
  try {
    child = spawn(argv[0], argv.slice(1), {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that stop() reaches what the command forked too.
      detached: true,
    });
  } catch (err) {
    exitedResolve({ code: null, signal: null, error: err as Error });
    return { pid: undefined, exited, stderrTail: () => tail, stop: () => exited };
  }

  const onStderr = (line: string) => {
    tail.push(line);
    if (tail.length > STDERR_TAIL) tail.shift();
    options.onStderrLine?.(line);
  };
  const outDone = readLines(child.stdout!, options.onStdoutLine);
  const errDone = readLines(child.stderr!, onStderr);
  let spawnError: Error | undefined;
  child.on('error', (err) => {
    spawnError = err;
    // A child that never started may emit no 'close' at all.
    if (child.pid === undefined) exitedResolve({ code: null, signal: null, error: err });
  });
  child.on('close', (code, signal) => {
    void Promise.all([outDone, errDone]).then(() => exitedResolve({ code, signal, error: spawnError }));
  });

  let stopping: Promise<ChildExit> | undefined;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const signalGroup = (sig: NodeJS.Signals) => {
    if (gone || child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // The group is already gone (or the child never made one): signal the child alone.
      try {
        child.kill(sig);
      } catch {
        // Already exited.
      }
    }
  };

  return {
    pid: child.pid,
    exited,
    stderrTail: () => [...tail],
    stop(): Promise<ChildExit> {
      stopping ??= (async () => {
        signalGroup(options.stopSignal ?? 'SIGTERM');
        const timer = setTimeout(() => signalGroup('SIGKILL'), options.stopGraceMs ?? 5000);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}

/** Splits a stream into lines (LF or CRLF), keeping a partial line until its end arrives. */
function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      rest += chunk;
      let nl = rest.indexOf('\n');
      while (nl >= 0) {
        onLine(rest.slice(0, nl).replace(/\r$/, ''));
        rest = rest.slice(nl + 1);
        nl = rest.indexOf('\n');
      }
    });
    stream.on('end', () => {
      if (rest !== '') onLine(rest.replace(/\r$/, ''));
      resolve();
    });
    stream.on('error', () => resolve());
  });
}

/** The `setpriv` used to tie children to the agent's life, looked up once. */
export function findSetpriv(): Promise<string | undefined> {
  setprivPath ??= findExecutable('setpriv');
  return setprivPath;
}
