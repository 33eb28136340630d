/**
 * Nothing lost: InfluxDB stopped in the middle of a run (and restarted 10 s later), or kept
 * down until the run ends and then pushed. Counts are checked with the real `influx` CLI.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxStore } from '../../../src/store/influx/influx-store.js';
import { pushRuns } from '../../../src/store/influx/push.js';
import { LocalStore } from '../../../src/store/local/local-store.js';
import { assertInfluxd, PrivateInfluxd, skipInfluxTests } from '../helpers/private-influxd.js';
import { runScenario, tempDir } from './run-helpers.js';

const scenario = (seconds: number) => `version: 1
name: influx-outage
tracers:
  - use: proc
    interval: 100ms
steps:
  - name: warmup
    workload: { use: sleep, with: { duration: 500ms } }
  - name: work
    workload: { use: sleep, with: { duration: 50ms } }
    runner: { type: duration, duration: ${seconds}s, concurrency: 2 }
`;

let influxd: PrivateInfluxd;
const dirs: string[] = [];

/** Points of a run in InfluxDB, all measurements but the record, via the `influx` CLI. */
function pointsInInflux(database: string, runId: string): number {
  const doc = influxd.influxCli(database, `SELECT * FROM /.*/ WHERE "run" = '${runId}'`);
  return doc.results
    .flatMap((r) => r.series ?? [])
    .filter((s) => s.name !== 'scalpels_run')
    .reduce((n, s) => n + s.values.length, 0);
}

function spooledFiles(dir: string): number {
  const root = join(dir, 'spool');
  if (!existsSync(root)) return 0;
  return readdirSync(root).reduce(
    (n, run) => n + readdirSync(join(root, run)).filter((f) => f.endsWith('.lp')).length,
    0,
  );
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(100);
  }
}

describe.skipIf(skipInfluxTests)('InfluxDB outages', () => {
  beforeAll(async () => {
    assertInfluxd();
    influxd = await PrivateInfluxd.start();
  });

  afterAll(async () => {
    await influxd?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('stopped mid-run and restarted 10 s later: every sample produced ends up in InfluxDB', {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    dirs.push(dir);
    const store = new InfluxStore({ url: influxd.url('outage'), storeDir: dir });
    let spooledDuringOutage = 0;
    const { record } = await runScenario(scenario(18), store, async () => {
      // Let data flow first, then take InfluxDB away for 10 s.
      await sleep(3_000);
      await influxd.stop();
      await sleep(10_000);
      spooledDuringOutage = spooledFiles(dir);
      await influxd.restart();
    });
    expect(spooledDuringOutage, 'batches were spooled during the outage').toBeGreaterThan(0);
    expect(record.status).toBe('passed');
    expect(record.data).toEqual({
      produced: record.data.produced,
      written: record.data.produced,
      spooled: 0,
      lost: 0,
    });
    expect(pointsInInflux('outage', record.id)).toBe(record.data.produced);
    // The spool was replayed during the run, and is gone.
    expect(spooledFiles(dir)).toBe(0);
    // The workload never waited for InfluxDB: 50 ms sleeps stayed 50 ms sleeps.
    const work = record.steps.find((s) => s.name === 'work')!;
    expect(work.duration!.max).toBeLessThan(1_000);
    expect((await store.listRuns()).map((r) => [r.id, r.status])).toEqual([[record.id, 'passed']]);
  });

  it('down until the run ends: the summary counts the spooled samples, and runs push delivers them all', {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    dirs.push(dir);
    const store = new InfluxStore({ url: influxd.url('push'), storeDir: dir });
    const { record } = await runScenario(scenario(6), store, async () => {
      await sleep(2_000);
      await influxd.stop();
    });
    expect(influxd.running).toBe(false);
    // Nothing lost, nothing hidden: what did not reach InfluxDB is on disk, and said so.
    expect(record.status).toBe('passed');
    expect(record.exitCode).toBe(0);
    expect(record.data.spooled).toBeGreaterThan(0);
    expect(record.data.lost).toBe(0);
    expect(record.data.written + record.data.spooled).toBe(record.data.produced);
    expect(spooledFiles(dir)).toBeGreaterThan(0);

    await influxd.restart();
    const pushed = await pushRuns(new LocalStore(dir), store, record.id.slice(0, 15));
    expect(pushed.map((p) => [p.runId, p.drained?.samples])).toEqual([[record.id, record.data.spooled]]);
    await until(() => pointsInInflux('push', record.id) === record.data.produced, 10_000);
    expect(spooledFiles(dir)).toBe(0);
    // The record in InfluxDB arrived with the spool, and now says everything is written.
    const [stored] = await store.listRuns();
    expect(stored.id).toBe(record.id);
    expect(stored.data).toEqual({
      produced: record.data.produced,
      written: record.data.produced,
      spooled: 0,
      lost: 0,
    });
    // Pushing again finds nothing more to do.
    expect(await pushRuns(new LocalStore(dir), store, undefined)).toEqual([]);
  });
});
