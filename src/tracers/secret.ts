import { readFile } from 'node:fs/promises';
import { InputError } from '../core/errors.js';

/**
 * Where a tracer finds a password: never in the scenario (which is stored with the run, and
 * travels over MQTT), only as a reference to something on the agent's node — a file, or the
 * name of an environment variable of the agent process.
 */
export interface SecretRef {
  /** Path of a file on the agent's node whose content (less trailing newlines) is the secret. */
  password_file?: string;
  /** Name of an environment variable of the agent process that holds the secret. */
  password_env?: string;
}

/**
 * Resolves a {@link SecretRef} to the secret, or undefined when neither reference is given.
 *
 * Errors name the file or the variable and what it is for, never the value: the message
 * reaches logs, events and the run summary. Only trailing CR/LF is stripped from a file, so
 * that `echo pw > file` works while a password with meaningful spaces survives.
 *
 * @param what - what the secret is for, for error messages (e.g. "mysql password").
 * @param env - the environment to read, injectable for tests.
 */
export async function readSecret(
  ref: SecretRef,
  what: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  if (ref.password_file !== undefined && ref.password_env !== undefined) {
    throw new InputError(`${what}: give password_file or password_env, not both`);
  }
  if (ref.password_file !== undefined) {
    let text: string;
    try {
      text = await readFile(ref.password_file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new InputError(`${what}: cannot read password_file ${ref.password_file} (${code})`);
    }
    return text.replace(/[\r\n]+$/, '');
  }
  if (ref.password_env !== undefined) {
    const value = env[ref.password_env];
    if (value === undefined) {
      throw new InputError(`${what}: environment variable ${ref.password_env} (password_env) is not set`);
    }
    return value;
  }
  return undefined;
}
