import { formatDuration } from '../core/duration.js';
import { findSetpriv } from '../tracers/command/process-group.js';
import { type OperatorCommand, prepareCommand } from '../tracers/operator-catalog.js';
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
  const prepared = await prepareCommand(entry);
  if (typeof prepared === 'string')
    return { exitCode: null, durationMs: 0, output: '', failure: { kind: 'not-started', message: prepared } };
  const { env } = prepared;
  const setpriv = await findSetpriv();
  const argv = setpriv ? [setpriv, '--pdeathsig', 'KILL', ...prepared.argv] : prepared.argv;
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
