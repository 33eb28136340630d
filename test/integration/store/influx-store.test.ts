/**
 * The InfluxDB store against a real, private InfluxDB 1.x: counts checked with the real
 * `influx` CLI, both stores agreeing exactly, escaping through the server, and the run
 * commands' store operations (tag, export/import, rm).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nowNs, type Sample } from '../../../src/core/sample.js';
import { type AggregateQuery, stepAggregates } from '../../../src/store/aggregates.js';
import { InfluxStore } from '../../../src/store/influx/influx-store.js';
import { pushRuns } from '../../../src/store/influx/push.js';
import { encodeLine } from '../../../src/store/line-protocol.js';
import { adoptRun, exportRun, unpackRun } from '../../../src/store/local/archive.js';
import { LocalStore } from '../../../src/store/local/local-store.js';
import type { RunRecord } from '../../../src/store/run-record.js';
import { assertInfluxd, PrivateInfluxd, skipInfluxTests } from '../helpers/private-influxd.js';
import { canonical, canonicalSamples, runScenario, tempDir } from './run-helpers.js';

const SCENARIO = `version: 1
name: influx-store-test
tracers:
  - use: proc
    interval: 200ms
steps:
  - name: idle
    workload: { use: sleep, with: { duration: 1s } }
  - name: busy
    workload: { use: exec, with: { command: "i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done" } }
    runner: { type: constant, times: 30, concurrency: 3 }
    tracers:
      - use: process
        interval: 100ms
        with: { name: sh }
`;

let influxd: PrivateInfluxd;
const dirs: string[] = [];

function influxStore(database: string): InfluxStore {
  const dir = tempDir();
  dirs.push(dir);
  return new InfluxStore({ url: influxd.url(database), storeDir: dir });
}

/** Points of a run per measurement, counted by the `influx` CLI (rows of SELECT *). */
function cliPointCounts(database: string, runId: string): Map<string, number> {
  const doc = influxd.influxCli(database, `SELECT * FROM /.*/ WHERE "run" = '${runId}'`);
  const counts = new Map<string, number>();
  // The CLI asks in chunks: one statement's series come in several results.
  for (const series of doc.results.flatMap((r) => r.series ?? [])) {
    counts.set(series.name, (counts.get(series.name) ?? 0) + series.values.length);
  }
  return counts;
}

describe.skipIf(skipInfluxTests)('InfluxStore with a private influxd', () => {
  beforeAll(async () => {
    assertInfluxd();
    influxd = await PrivateInfluxd.start();
  });

  afterAll(async () => {
    await influxd?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('stores a run whose counts, read with the influx CLI, are exactly those of the run summary', {
    timeout: 120_000,
  }, async () => {
    const store = influxStore('counts');
    const { record, location } = await runScenario(SCENARIO, store);
    expect(record.status).toBe('passed');
    expect(location).toBe(`${influxd.url('counts')} (run ${record.id})`);
    expect(record.data.lost).toBe(0);
    expect(record.data.spooled).toBe(0);
    expect(record.data.written).toBe(record.data.produced);

    const counts = cliPointCounts('counts', record.id);
    const record_ = counts.get('scalpels_run');
    counts.delete('scalpels_run');
    expect(record_).toBe(1);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(record.data.written);
    // Iterations: one point each, with the `iteration` field the CLI counts.
    const iterations = record.steps.reduce((n, s) => n + s.iterations, 0);
    expect(influxd.count('counts', 'iteration', 'iteration', `"run" = '${record.id}'`)).toBe(iterations);
    expect(influxd.count('counts', 'step', 'index', `"run" = '${record.id}'`)).toBe(2 * record.steps.length);
    // Tracer samples: what the streams say they delivered.
    const fromStreams = record.streams.reduce((n, s) => n + s.samples, 0);
    expect(total - iterations - 2 * record.steps.length).toBe(fromStreams);

    // The record is in InfluxDB: listing and resolving need nothing else.
    const listed = await store.listRuns();
    expect(listed.map((r) => [r.id, r.status, r.data.written])).toEqual([
      [record.id, 'passed', record.data.written],
    ]);
    expect((await store.resolveRun('latest')).id).toBe(record.id);
    expect((await store.resolveRun(record.id.slice(0, 17))).id).toBe(record.id);
  });

  it('gives identical samples and per-step aggregates from the local store and from InfluxDB after a push', {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    dirs.push(dir);
    const local = new LocalStore(dir);
    const { record } = await runScenario(SCENARIO, local);
    expect(record.status).toBe('passed');
    const influx = new InfluxStore({ url: influxd.url('twins'), storeDir: dir });
    const [pushed] = await pushRuns(local, influx, 'latest');
    expect(pushed.runId).toBe(record.id);
    expect(pushed.uploaded?.samples).toBe(record.data.written);

    // Every sample, with its types and nanosecond time.
    const fromLocal = await canonicalSamples(local, record.id);
    const fromInflux = await canonicalSamples(influx, record.id);
    expect(fromInflux.length).toBe(fromLocal.length);
    expect(fromInflux).toEqual(fromLocal);

    const queries: AggregateQuery[] = [
      { measurement: 'iteration', field: 'duration' },
      { measurement: 'cpu', field: 'usage_user', tags: { cpu: 'cpu-total' } },
      { measurement: 'mem', field: 'used' },
      { measurement: 'procstat', field: 'memory_rss' },
      { measurement: 'procstat', field: 'voluntary_context_switches' },
    ];
    for (const q of queries) {
      const a = await stepAggregates(local, record, q);
      const b = await stepAggregates(influx, record, q);
      expect(a.size, `${q.measurement}.${q.field} has values`).toBeGreaterThan(0);
      expect(b, `${q.measurement}.${q.field}`).toEqual(a);
    }

    // runs list shows the same run from both.
    const strip = (r: RunRecord) => [r.id, r.status, r.scenario.name, r.startedAt, r.steps.length];
    expect((await influx.listRuns()).map(strip)).toEqual((await local.listRuns()).map(strip));
    // A second push changes nothing: same series and timestamps.
    await pushRuns(local, influx, record.id);
    expect(await canonicalSamples(influx, record.id)).toEqual(fromLocal);
  });

  it('round-trips awkward names and values through InfluxDB: spaces, commas, equals, quotes, newlines, unicode', {
    timeout: 120_000,
  }, async () => {
    const store = influxStore('escaping');
    const runId = 'escape-1';
    const writer = await store.createRun(runId);
    const t = nowNs();
    const tricky: Sample[] = [
      {
        measurement: 'm e,a=s "q"',
        tags: { run: runId, 't k,=': 'v a,l=u"e', ключ: 'значение ✓', emoji: '🚀 x' },
        fields: {
          'f k,=': 'str "with" \\ back\nnew\nlines, commas, = signs',
          n: -0,
          big: 9223372036854775807n,
          small: -9223372036854775808n,
          b: false,
          '✓': 1.5e-300,
        },
        time: t,
      },
      {
        measurement: 'iteration',
        tags: { run: runId, step: 'step with spaces, commas=and "quotes"', worker: '0' },
        fields: { duration: 0.1 + 0.2, ok: true, iteration: 0n, error: 'say "hi"\n\\o/ 日本' },
        time: t + 1n,
      },
    ];
    writer.write(tricky);
    await writer.close();
    expect(writer.stats()).toEqual({ written: 2, spooled: 0 });
    const back = await canonicalSamples(store, runId);
    expect(back).toEqual(tricky.map(canonical).sort());

    // Selection by an awkward tag value finds exactly that point.
    const selected: Sample[] = [];
    for await (const s of store.readSamples(runId, { tags: { 't k,=': 'v a,l=u"e' } })) selected.push(s);
    expect(selected.map((s) => s.measurement)).toEqual(['m e,a=s "q"']);
    // And the real CLI sees the literal values, not their escapes.
    const doc = influxd.influxCli('escaping', `SHOW TAG VALUES FROM "iteration" WITH KEY = "step"`);
    expect(doc.results[0].series?.[0].values).toEqual([['step', 'step with spaces, commas=and "quotes"']]);
  });

  it('round-trips random awkward strings through InfluxDB exactly as through the local store', {
    timeout: 120_000,
  }, async () => {
    // Every string the encoder accepts must come back unchanged from both stores.
    const alphabet = [
      ' ',
      ',',
      '=',
      '"',
      "'",
      '\\',
      '\n',
      '\t',
      'a',
      'Z',
      '0',
      'é',
      '日',
      '🚀',
      '#',
      '/',
      '*',
      '\u00a0',
    ];
    const text = fc
      .array(fc.constantFrom(...alphabet), { minLength: 1, maxLength: 10 })
      .map((a) => a.join(''));
    const candidates = fc.sample(
      fc.record({ measurement: text, tagKey: text, tagValue: text, fieldKey: text, value: text }),
      {
        numRuns: 2000,
        seed: 42,
      },
    );
    const t0 = 1_760_000_000_000_000_000n;
    const samples: Sample[] = [];
    const seen = new Set<string>();
    for (const [i, c] of candidates.entries()) {
      const sample: Sample = {
        measurement: `m${c.measurement}`,
        tags: { run: 'random-1', [`k${c.tagKey}`]: c.tagValue },
        fields: { [`f${c.fieldKey}`]: c.value, n: BigInt(i) },
        time: t0 + BigInt(i),
      };
      try {
        encodeLine(sample);
      } catch {
        continue; // refused by the encoder (documented): never reaches a store
      }
      // A tag key or field key may not be "time" in InfluxDB; avoid the same key as tag and field too.
      const key = `${sample.measurement}|${Object.keys(sample.fields)[0]}`;
      if (seen.has(key)) continue;
      seen.add(key);
      samples.push(sample);
    }
    expect(samples.length).toBeGreaterThan(300);
    const dir = tempDir();
    dirs.push(dir);
    const local = new LocalStore(dir);
    const influx = new InfluxStore({ url: influxd.url('random'), storeDir: dir });
    for (const store of [local, influx]) {
      const w = await store.createRun('random-1');
      w.write(samples);
      await w.close();
    }
    const expected = samples.map(canonical).sort();
    expect(await canonicalSamples(local, 'random-1')).toEqual(expected);
    expect(await canonicalSamples(influx, 'random-1')).toEqual(expected);
  });

  it('selects by measurement, tags and time range, as the local store does', {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    dirs.push(dir);
    const local = new LocalStore(dir);
    const influx = new InfluxStore({ url: influxd.url('filters'), storeDir: dir });
    const base = 1_750_000_000_000_000_000n;
    const samples: Sample[] = Array.from({ length: 400 }, (_, i) => ({
      measurement: i % 2 ? 'cpu' : 'mem',
      tags: { run: 'f1', host: `h${i % 3}` },
      fields: { v: i % 5 === 0 ? BigInt(i) * 10n ** 12n : i / 3 },
      time: base + BigInt(i) * 1000n,
    }));
    // Field types must not conflict within a measurement: split v into two keys by type.
    for (const s of samples) {
      if (typeof s.fields.v === 'bigint') s.fields = { count: s.fields.v };
    }
    for (const store of [local, influx]) {
      const w = await store.createRun('f1');
      w.write(samples);
      await w.close();
    }
    const filters = [
      {},
      { measurement: 'cpu' },
      { tags: { host: 'h1' } },
      { measurement: 'mem', tags: { host: 'h2' }, from: base + 50_000n, to: base + 250_000n },
      { from: base + 399_000n },
      { tags: { host: 'nope' } },
    ];
    for (const filter of filters) {
      const a: string[] = [];
      const b: string[] = [];
      for await (const s of local.readSamples('f1', filter)) a.push(canonical(s));
      for await (const s of influx.readSamples('f1', filter)) b.push(canonical(s));
      expect(
        b.sort(),
        JSON.stringify(filter, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
      ).toEqual(a.sort());
    }
    await expect(async () => {
      for await (const _ of influx.readSamples('no-such-run')) {
        // nothing
      }
    }).rejects.toThrow(/no run no-such-run/);
  });

  it('tags, exports, imports and removes runs in InfluxDB', { timeout: 120_000 }, async () => {
    const store = influxStore('admin');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = `2026112${i}-120000-abc${i}`;
      ids.push(id);
      const w = await store.createRun(id);
      w.write([
        {
          measurement: 'iteration',
          tags: { step: 's', worker: '0' },
          fields: { duration: i, ok: true, iteration: 0n },
          time: BigInt(i + 1),
        },
      ]);
      await w.saveRecord(recordOf(id, `2026-11-2${i}T12:00:00.000Z`));
      await w.close();
    }
    expect((await store.listRuns()).map((r) => r.id)).toEqual(ids);
    await store.tagRun(ids[0], 'baseline');
    await store.tagRun(ids[1], 'baseline');
    expect((await store.resolveRun('baseline')).id).toBe(ids[1]);
    expect((await store.listRuns()).map((r) => r.tags)).toEqual([[], ['baseline'], []]);
    expect((await store.resolveRun('latest~2')).id).toBe(ids[0]);

    // Export from InfluxDB, import into a local store: the same samples.
    const dir = tempDir();
    dirs.push(dir);
    const archive = join(dir, 'run.tar.gz');
    await exportRun(store, await store.resolveRun('baseline'), archive);
    const local = new LocalStore(join(dir, 'store'));
    const unpacked = await unpackRun(archive, local.dir);
    await adoptRun(unpacked, local);
    await unpacked.cleanup();
    expect(await canonicalSamples(local, ids[1])).toEqual(await canonicalSamples(store, ids[1]));
    expect((await local.listRuns()).map((r) => [r.id, r.tags])).toEqual([[ids[1], []]]);

    await store.removeRun(ids[1]);
    expect((await store.listRuns()).map((r) => r.id)).toEqual([ids[0], ids[2]]);
    expect(influxd.count('admin', 'iteration', 'duration', `"run" = '${ids[1]}'`)).toBe(0);
    await expect(store.removeRun(ids[1])).rejects.toThrow(/no run/);
  });
});

function recordOf(id: string, startedAt: string): RunRecord {
  return {
    format: 1,
    id,
    status: 'passed',
    exitCode: 0,
    scenario: { name: 'admin', file: 'a.yaml', source: '', rendered: {}, args: {} },
    startedAt,
    endedAt: startedAt,
    scalpelsVersion: '0.1.0',
    host: 'h',
    agents: [],
    steps: [],
    streams: [],
    data: { produced: 1, written: 1, spooled: 0, lost: 0 },
    tags: [],
  };
}
