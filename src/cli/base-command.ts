import { Command, Flags } from '@oclif/core';
import { ExitCode, ScalpelsError } from '../core/errors.js';

/**
 * Shared error handling: a ScalpelsError prints one sentence and exits with its own code
 * (DESIGN.md §6); anything else is a bug and exits 3. Stack traces only with --debug.
 */
export abstract class BaseCommand extends Command {
  static baseFlags = {
    debug: Flags.boolean({ description: 'Print stack traces and debug logs.', helpGroup: 'GLOBAL' }),
  };

  protected get debugEnabled(): boolean {
    return this.argv.includes('--debug');
  }

  protected async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (err instanceof ScalpelsError) {
      this.logToStderr(`Error: ${err.message}`);
      if (this.debugEnabled && err.stack) this.logToStderr(err.stack);
      return this.exit(err.exitCode);
    }
    // oclif's own flag and argument errors: one sentence, exit 2 (invalid input).
    if (
      err.oclif?.exit === 2 ||
      /^(Unexpected argument|Missing required|Nonexistent flag|Expected )/.test(err.message)
    ) {
      // One sentence: oclif puts the missing argument's name on the next line.
      const sentence = err.message
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('See more help'))
        .join(' ')
        .replace(/^The following errors? occurred: /, '')
        .split(' Note: ')[0]
        .replace(/\s+/g, ' ');
      this.logToStderr(`Error: ${sentence}`);
      this.logToStderr(`See: scalpels ${this.id?.replaceAll(':', ' ') ?? ''} --help`);
      return this.exit(ExitCode.InvalidInput);
    }
    if (err.oclif?.exit !== undefined) throw err; // this.exit() and friends
    this.logToStderr(`Error: ${err.message}`);
    if (this.debugEnabled) this.logToStderr(err.stack ?? '');
    else this.logToStderr('(run with --debug for the stack trace)');
    return this.exit(ExitCode.RuntimeFailure);
  }
}
