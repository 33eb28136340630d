/**
 * `npm run bench`: runs every bench/*.bench.ts (or those named on the command line) one
 * after another — never in parallel, since each measures CPU time on a two-core machine.
 * Each benchmark prints its own ratios against a peer measured in the same run.
 *
 * The benchmarks run compiled (`tsc -p tsconfig.bench.json` into .bench-build/, see the
 * `bench` script), as `scalpels` itself runs from dist/: under tsx's on-the-fly transform the
 * http workload's client cost 44 µs of CPU per request against 27 µs compiled, so a bench
 * run through tsx measured the loader as much as the code.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort();
let failed = 0;
for (const file of benches) {
  console.log(`\n=== ${file} ===`);
  const r = spawnSync(process.execPath, [join(here, file)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`${file}: exited ${r.status}`);
  }
}
process.exit(failed ? 1 : 0);
