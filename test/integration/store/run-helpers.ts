/** Runs a scenario through the library (as `scalpels run` wires it) into a given store. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAllInOne } from '../../../src/cli/all-in-one.js';
import { defaultIntervalMs, tracerSchemas, workloadSchemas } from '../../../src/cli/catalog.js';
import { createLogger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import { executeRun, type RunOutcome } from '../../../src/orchestrator/run.js';
import { loadScenarioFile } from '../../../src/scenario/load.js';
import type { RunReader, Store } from '../../../src/store/store.js';

export function tempDir(prefix = 'scalpels-store-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs `yaml` into `store`; `during` runs alongside (to break things mid-run). */
export async function runScenario(
  yaml: string,
  store: Store,
  during?: () => Promise<void>,
): Promise<RunOutcome> {
  const dir = tempDir('scalpels-scenario-');
  const file = join(dir, 'scenario.yaml');
  writeFileSync(file, yaml);
  let loaded: ReturnType<typeof loadScenarioFile>;
  try {
    loaded = loadScenarioFile(file, { tracers: tracerSchemas, workloads: workloadSchemas });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const log = createLogger({ level: 'error' });
  const fleet = await startAllInOne(log);
  try {
    const run = executeRun(loaded, {
      client: fleet.client,
      store,
      log,
      observer: {},
      signal: new AbortController().signal,
      defaultIntervalMs,
    });
    const [outcome] = await Promise.all([run, during?.()]);
    return outcome;
  } finally {
    await fleet.close();
  }
}

/** Every sample of a run, as canonical text (sorted tags and fields, typed values), sorted. */
export async function canonicalSamples(reader: RunReader, runId: string): Promise<string[]> {
  const out: string[] = [];
  for await (const s of reader.readSamples(runId)) out.push(canonical(s));
  return out.sort();
}

export function canonical(s: Sample): string {
  const tags = Object.entries(s.tags).sort(([a], [b]) => (a < b ? -1 : 1));
  const fields = Object.entries(s.fields)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => [k, typeof v, typeof v === 'number' && Object.is(v, -0) ? '-0' : String(v)]);
  return JSON.stringify([s.measurement, tags, fields, String(s.time)]);
}
