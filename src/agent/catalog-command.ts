import { formatDuration } from '../core/duration.js';
import { resolveProgram } from '../tracers/child-process.js';
import { findSetpriv } from '../tracers/command/process-group.js';
import { commandEnv, type OperatorCommand } from '../tracers/operator-catalog.js';
import { runCommand, TAIL_BYTES, tailLines } from '../workloads/exec/spawn.js';

/** Lines of output sent back: the same as a hook record keeps. */
const OUTPUT_LINES = 10;

/** How one run of a catalog entry ended. */
export interface CatalogCommandResult {
  /** Exit status; null when a signal ended it or it never started. */
  exitCode: number | null;
  signal?: string;
  durationMs: number;
  /** The last lines of its stdout and stderr. */
  output: string;
  /** Why it did not run to its end: the timeout, an abort, or a program that cannot run. */
  failure?: { kind: 'timeout' | 'interrupted' | 'not-started'; message: string };
}

/**
 * Runs one entry of the agent's operator catalog to completion, as an action: the entry's
 * argv (no shell), env and cwd, in a process group of its own that is killed whole at the
 * timeout or when `signal` aborts (the agent stops, the run is stopped; a string reason
 * says which). Under
 * `setpriv --pdeathsig KILL` when there is one, so a crash of the agent does not leave it
 * running either. Never rejects.
 */
export async function runCatalogCommand(
  entry: OperatorCommand,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CatalogCommandResult> {
  const env = commandEnv(entry);
  const program = await resolveProgram(entry.argv[0], env.PATH);
  if (!program) {
    return {
      exitCode: null,
      durationMs: 0,
      output: '',
      failure: {
        kind: 'not-started',
        message: `command "${entry.name}" (${entry.source}): program ${entry.argv[0]} is not found or not executable`,
      },
    };
  }
  const setpriv = await findSetpriv();
  const argv = setpriv
    ? [setpriv, '--pdeathsig', 'KILL', program, ...entry.argv.slice(1)]
    : [program, ...entry.argv.slice(1)];
  const timeoutMessage = `command "${entry.name}" timed out after ${formatDuration(timeoutMs)}`;
  const r = await runCommand({
    file: argv[0],
    args: argv.slice(1),
    cwd: entry.cwd,
    env,
    timeoutMs,
    signal,
    capture: 'both',
    timeoutMessage,
  });
  const result: CatalogCommandResult = {
    exitCode: r.code,
    durationMs: r.durationMs,
    output: tailLines(r.tail, OUTPUT_LINES).slice(-TAIL_BYTES),
  };
  if (r.signal) result.signal = r.signal;
  if (r.failure === 'timeout') result.failure = { kind: 'timeout', message: r.error ?? timeoutMessage };
  else if (r.failure === 'aborted')
    result.failure = {
      kind: 'interrupted',
      message: `command "${entry.name}" was killed: ${typeof signal.reason === 'string' ? signal.reason : 'interrupted'}`,
    };
  else if (r.error) result.failure = { kind: 'not-started', message: r.error };
  return result;
}
