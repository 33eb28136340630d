/**
 * Exit codes are the CLI's contract with CI (DESIGN.md §6). An error carries its exit code
 * from the place where it is first understood; commands only map it to the process exit.
 */
export const ExitCode = {
  Ok: 0,
  /** An SLA, threshold or comparison gate failed. */
  GateFailed: 1,
  /** Invalid input: scenario, flags, config. */
  InvalidInput: 2,
  /** Runtime failure: agents missing or lost, tracer failed to start, data neither stored nor spooled. */
  RuntimeFailure: 3,
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class ScalpelsError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad scenario, flag, argument or config. */
export class InputError extends ScalpelsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.InvalidInput, options);
  }
}

/** Something failed while running: an agent, a tracer, the store. */
export class RuntimeFailure extends ScalpelsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.RuntimeFailure, options);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A message that spans several lines (esbuild's "Transform failed with 1 error:" and the
 * file:line:col under it; Handlebars' "Parse error on line 2:", the excerpt and what it
 * expected) as one line: the useful lines joined, the caret lines that only point at a
 * column dropped. Cutting such a message to its first line keeps only the headline.
 */
export function oneLine(message: string): string {
  return message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^[-~\s]*\^[-~^\s]*$/.test(l))
    .join(' ')
    .replace(/\s+/g, ' ');
}

/** Words for the system errors people meet at the command line, instead of a bare errno code. */
const SYSTEM_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'the host name cannot be resolved right now',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this host',
};

/** What went wrong, in words: "no such file" for ENOENT, else the error's own message. */
export function systemErrorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (code && SYSTEM_ERRORS[code]) ?? errorMessage(err);
}
