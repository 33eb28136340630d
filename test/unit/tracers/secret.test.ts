import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/core/errors.js';
import { readSecret } from '../../../src/tracers/secret.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scalpels-secret-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readSecret', () => {
  it('reads a file, dropping only trailing newlines', async () => {
    const file = join(dir, 'pw');
    await writeFile(file, '  s3cret with spaces \r\n\n');
    expect(await readSecret({ password_file: file }, 'mysql x')).toBe('  s3cret with spaces ');
  });

  it('reads an environment variable by name', async () => {
    expect(await readSecret({ password_env: 'DB_PW' }, 'mysql x', { DB_PW: 'from-env' })).toBe('from-env');
    expect(await readSecret({ password_env: 'DB_PW' }, 'mysql x', { DB_PW: '' })).toBe('');
  });

  it('is undefined when no reference is given', async () => {
    expect(await readSecret({}, 'mysql x')).toBeUndefined();
  });

  it('names the file or the variable in errors, never a value', async () => {
    const missing = join(dir, 'nope');
    const err = await readSecret({ password_file: missing }, 'mysql db:3306').catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toBe(`mysql db:3306: cannot read password_file ${missing} (ENOENT)`);
    await expect(readSecret({ password_env: 'UNSET_VAR' }, 'pg', {})).rejects.toThrow(
      'pg: environment variable UNSET_VAR (password_env) is not set',
    );
    const file = join(dir, 'both');
    await writeFile(file, 'hunter2');
    const both = await readSecret({ password_file: file, password_env: 'X' }, 'pg', { X: 'hunter3' }).catch(
      (e) => e,
    );
    expect(both.message).toBe('pg: give password_file or password_env, not both');
    expect(both.message).not.toMatch(/hunter/);
  });
});
