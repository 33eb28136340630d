import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
