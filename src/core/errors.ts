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
