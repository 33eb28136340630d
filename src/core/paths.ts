import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, systemErrorText } from './errors.js';

/**
 * The package root (where package.json, tracers/ and templates/ live). Found by walking up
 * from this file, so it works from src/ under vitest and from dist/ after the build alike.
 */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error('scalpels: package.json not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

export const packageRoot = findPackageRoot();
export const tracerManifestDir = join(packageRoot, 'tracers');
export const templatesDir = join(packageRoot, 'templates');
export const schemasDir = join(packageRoot, 'schemas');

/**
 * Makes `path` ready to be written as an output file (a report, an archive): its missing
 * parent directories are created, as most tools that write a report do. A path that cannot
 * hold a file (a directory, a parent that is a file, no permission) is invalid input, exit 2.
 * Returns the absolute path.
 */
export async function prepareOutputFile(path: string): Promise<string> {
  const abs = resolve(path);
  const existing = await stat(abs).catch(() => undefined);
  if (existing?.isDirectory()) throw new InputError(`cannot write ${abs}: it is a directory`);
  try {
    await mkdir(dirname(abs), { recursive: true });
  } catch (err) {
    throw new InputError(`cannot write ${abs}: ${systemErrorText(err)}`, { cause: err });
  }
  return abs;
}
