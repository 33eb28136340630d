import { spawn } from 'node:child_process';

/** What became of one command. */
export interface CommandResult {
  /** Exit status, or null when killed by a signal or not started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of the captured output (stderr, or stdout and stderr interleaved). */
  tail: string;
  /** Set when the command was killed (timeout, abort) or could not be started. */
  error?: string;
  /** Why `error` is set, for callers that act on the cause rather than print it. */
  failure?: 'timeout' | 'aborted' | 'not-started';
  durationMs: number;
}

export interface CommandOptions {
  file: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Kills the command (its whole process group) when aborted. */
  signal?: AbortSignal;
  /** Which output to keep a tail of: stderr only (workloads), or both (hooks, setup). */
  capture: 'stderr' | 'both';
  /** Shown as the error when the timeout fires, e.g. "timed out after 2s". */
  timeoutMessage?: string;
  /** Told the process group's id once the command runs (to kill it if the runner quits at once). */
  onSpawn?: (pgid: number) => void;
}

/** Bytes and lines of output kept: enough to see why, bounded for storage. */
export const TAIL_BYTES = 2048;
export const TAIL_LINES = 5;

/** The last `lines` non-empty lines of `text`, joined with " | " for a one-line error. */
export function tailLines(text: string, lines = TAIL_LINES): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter(Boolean)
    .slice(-lines)
    .join(' | ');
}

/**
 * Runs one command and never rejects. The command gets its own process group (detached),
 * so a timeout or Ctrl-C kills the whole tree — a shell and its children — leaving nothing
 * behind. It ends at the command's exit, not when its pipes close: a command that starts a
 * background process (`server &`) would otherwise hold the step open for as long as that
 * process lives.
 */
export function runCommand(opts: CommandOptions): Promise<CommandResult> {
  const t0 = performance.now();
  return new Promise<CommandResult>((done) => {
    const stdio: ['ignore', 'ignore' | 'pipe', 'pipe'] = [
      'ignore',
      opts.capture === 'both' ? 'pipe' : 'ignore',
      'pipe',
    ];
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(opts.file, opts.args, { cwd: opts.cwd, env: opts.env, stdio, detached: true });
    } catch (err) {
      done({
        code: null,
        signal: null,
        tail: '',
        error: `cannot run ${opts.file}: ${(err as Error).message}`,
        failure: 'not-started',
        durationMs: 0,
      });
      return;
    }
    if (child.pid) opts.onSpawn?.(child.pid);
    let output = '';
    let killedFor: { error: string; failure: 'timeout' | 'aborted' } | undefined;
    let finished = false;
    const kill = (error: string, failure: 'timeout' | 'aborted') => {
      killedFor ??= { error, failure };
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => kill(opts.timeoutMessage ?? `timed out after ${opts.timeoutMs}ms`, 'timeout'),
            opts.timeoutMs,
          );
    const onAbort = () => kill('interrupted', 'aborted');
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    const collect = (chunk: string) => {
      output = (output + chunk).slice(-TAIL_BYTES);
    };
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', collect);
    }
    const finish = (result: Omit<CommandResult, 'durationMs' | 'tail'>) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      done({ ...result, tail: output, durationMs: performance.now() - t0 });
    };
    child.on('error', (err) =>
      finish({
        code: null,
        signal: null,
        error: `cannot run ${opts.file}: ${err.message}`,
        failure: 'not-started',
      }),
    );
    let closed = false;
    child.on('close', (code, sig) => {
      closed = true;
      finish({ code, signal: sig, ...killedFor });
    });
    child.on('exit', (code, sig) => {
      // Give the pipes a moment to deliver the last output, then stop waiting for them.
      setTimeout(() => {
        if (!closed) finish({ code, signal: sig, ...killedFor });
      }, 100).unref();
    });
  });
}
