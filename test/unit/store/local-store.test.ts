import { existsSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError, RuntimeFailure } from '../../../src/core/errors.js';
import type { Sample } from '../../../src/core/sample.js';
import { LocalStore } from '../../../src/store/local/local-store.js';
import { isRunId, newRunId } from '../../../src/store/run-id.js';
import type { RunRecord } from '../../../src/store/run-record.js';
import type { RunReader } from '../../../src/store/store.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scalpels-local-store-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(id: string, startedAt: string, tags: string[] = []): RunRecord {
  return {
    format: 1,
    id,
    status: 'passed',
    exitCode: 0,
    scenario: {
      name: 'quickstart',
      file: 'quickstart.yaml',
      source: 'steps: []\n',
      rendered: { steps: [] },
      args: {},
    },
    startedAt,
    endedAt: startedAt,
    scalpelsVersion: '0.1.0',
    host: 'test-host',
    agents: [],
    steps: [],
    streams: [],
    data: { produced: 0, written: 0, spooled: 0, lost: 0 },
    tags,
  };
}

function samples(count: number, offset = 0): Sample[] {
  return Array.from({ length: count }, (_, k) => {
    const i = offset + k;
    return {
      measurement: i % 2 === 0 ? 'cpu' : 'iteration',
      tags: { host: `node-${i % 3}`, run: 'r', step: i % 5 === 0 ? 'boot, "first"' : 'list' },
      fields: { value: i / 7, count: BigInt(i), ok: i % 3 !== 0, note: i % 100 === 0 ? `line\n"${i}"` : 'x' },
      time: 1_700_000_000_000_000_000n + BigInt(i),
    };
  });
}

async function collect(reader: RunReader, runId: string, filter?: Parameters<RunReader['readSamples']>[1]) {
  const out: Sample[] = [];
  for await (const s of reader.readSamples(runId, filter)) out.push(s);
  return out;
}

/** Three saved runs, oldest first. */
async function threeRuns(store: LocalStore): Promise<string[]> {
  const ids = [
    newRunId(new Date('2024-06-01T10:00:00Z')),
    newRunId(new Date('2024-06-02T10:00:00Z')),
    newRunId(new Date('2024-06-02T11:30:00Z')),
  ];
  const starts = ['2024-06-01T10:00:00.000Z', '2024-06-02T10:00:00.000Z', '2024-06-02T11:30:00.000Z'];
  // Created out of order: the listing must not depend on creation order.
  for (const k of [2, 0, 1]) {
    const writer = await store.createRun(ids[k]);
    await writer.saveRecord(record(ids[k], starts[k]));
    await writer.close();
  }
  return ids;
}

describe('run ids', () => {
  it('are UTC, time-sortable and recognisable', () => {
    const id = newRunId(new Date('2024-01-02T03:04:05.678Z'));
    expect(id).toMatch(/^20240102-030405-[0-9a-f]{4}$/);
    expect(isRunId(id)).toBe(true);
    expect(isRunId('latest')).toBe(false);
    expect(newRunId(new Date('2023-12-31T23:59:59Z')) < id).toBe(true);
  });
});

describe('LocalStore: samples', () => {
  it('writes 10k samples in batches, flushes, and reads them back equal', async () => {
    const store = new LocalStore(dir);
    const writer = await store.createRun('run-a');
    const all = samples(10_000);
    for (let i = 0; i < all.length; i += 250) writer.write(all.slice(i, i + 250));
    await writer.flush();
    const back = await collect(store, 'run-a');
    expect(back).toHaveLength(10_000);
    expect(back).toEqual(all);
    expect(writer.samplesWritten).toBe(10_000);
    await writer.close();
    expect(existsSync(join(dir, 'runs', 'run-a', 'samples.lp'))).toBe(true);
  });

  it('reads records across read chunks and decoder pieces as the generic read does', async () => {
    // ~3 MB: several 512 KiB reads, each handed on in 64 KiB pieces, with records (and the
    // multi-line strings of every 100th) cut at both kinds of boundary somewhere.
    const store = new LocalStore(dir);
    const writer = await store.createRun('run-big');
    const all = samples(30_000);
    for (let i = 0; i < all.length; i += 1000) writer.write(all.slice(i, i + 1000));
    await writer.close();
    const seen: string[] = [];
    const count = await store.readRecords('run-big', (r) => {
      const fields = r.names
        .slice(0, r.fieldCount)
        .map((n, k) => `${n}=${r.kinds[k] === 3 ? r.strings[k] : r.numbers[k]}`);
      seen.push(`${r.series.measurement} ${JSON.stringify(r.series.tags)} ${fields.join(',')} ${r.time}`);
    });
    expect(count).toBe(30_000);
    const kinds = (v: unknown) =>
      typeof v === 'boolean' ? Number(v) : typeof v === 'bigint' ? Number(v) : v;
    const expected = (await collect(store, 'run-big')).map(
      (x) =>
        `${x.measurement} ${JSON.stringify(x.tags)} ${Object.entries(x.fields)
          .map(([n, v]) => `${n}=${kinds(v)}`)
          .join(',')} ${Number(x.time)}`,
    );
    expect(seen).toEqual(expected);
    expect(seen[100]).toContain('note=line\n"100"');
    // Several reads, not one.
    expect((await stat(join(dir, 'runs', 'run-big', 'samples.lp'))).size).toBeGreaterThan(2 * 512 * 1024);
  });

  it('writes gzip when asked, readable after a flush and after close', async () => {
    const store = new LocalStore(dir, { gzip: true });
    const writer = await store.createRun('run-gz');
    const all = samples(10_000);
    for (let i = 0; i < 5_000; i += 500) writer.write(all.slice(i, i + 500));
    await writer.flush();
    expect(await collect(store, 'run-gz')).toEqual(all.slice(0, 5_000));
    for (let i = 5_000; i < all.length; i += 500) writer.write(all.slice(i, i + 500));
    await writer.close();
    expect(await readdir(join(dir, 'runs', 'run-gz'))).toEqual(['samples.lp.gz']);
    expect(await collect(store, 'run-gz')).toEqual(all);
    // A plain store reads gzip runs too.
    expect(await collect(new LocalStore(dir), 'run-gz')).toHaveLength(10_000);
  });

  it('filters by measurement, tags and inclusive time range', async () => {
    const store = new LocalStore(dir);
    const writer = await store.createRun('run-f');
    writer.write(samples(100));
    await writer.close();
    const t0 = 1_700_000_000_000_000_000n;
    expect(await collect(store, 'run-f', { measurement: 'cpu' })).toHaveLength(50);
    expect(await collect(store, 'run-f', { tags: { host: 'node-1' } })).toHaveLength(33);
    expect(await collect(store, 'run-f', { measurement: 'cpu', tags: { host: 'node-0' } })).toHaveLength(17);
    expect(await collect(store, 'run-f', { tags: { step: 'boot, "first"' } })).toHaveLength(20);
    const range = await collect(store, 'run-f', { from: t0 + 10n, to: t0 + 19n });
    expect(range.map((s) => s.fields.count)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(10 + i)));
    expect(await collect(store, 'run-f', { tags: { nope: 'x' } })).toEqual([]);
  });

  it('drops samples whose fields are all NaN, and counts them', async () => {
    const store = new LocalStore(dir);
    const writer = await store.createRun('run-nan');
    writer.write([
      { measurement: 'm', tags: {}, fields: { v: Number.NaN }, time: 1n },
      { measurement: 'm', tags: {}, fields: { v: 1, w: Number.NaN }, time: 2n },
    ]);
    await writer.close();
    expect(writer.samplesDropped).toBe(1);
    expect(await collect(store, 'run-nan')).toEqual([
      { measurement: 'm', tags: {}, fields: { v: 1 }, time: 2n },
    ]);
  });

  it('reads an empty run as no samples, and refuses an unknown run', async () => {
    const store = new LocalStore(dir);
    const writer = await store.createRun('empty');
    await writer.close();
    expect(await collect(store, 'empty')).toEqual([]);
    await expect(collect(store, 'missing')).rejects.toThrow(InputError);
    await expect(collect(store, '../etc')).rejects.toThrow(/not a valid run id/);
  });

  it('skips a last record torn by a crash', async () => {
    const store = new LocalStore(dir);
    const writer = await store.createRun('torn');
    writer.write(samples(3));
    await writer.close();
    await appendFile(join(dir, 'runs', 'torn', 'samples.lp'), 'cpu,host=a value=1,note="half');
    expect(await collect(store, 'torn')).toHaveLength(3);
  });

  it('remembers a write error and throws it from flush and close as RuntimeFailure', async () => {
    const store = new LocalStore(dir);
    const writer = await store.createRun('doomed');
    await rm(join(dir, 'runs', 'doomed'), { recursive: true });
    writer.write(samples(10));
    await expect(writer.flush()).rejects.toThrow(RuntimeFailure);
    await expect(writer.close()).rejects.toThrow(/cannot write the samples of run doomed/);
  });

  it('refuses writes after close and a second run with the same id', async () => {
    const store = new LocalStore(dir);
    const writer = await store.createRun('once');
    await writer.close();
    expect(() => writer.write(samples(1))).toThrow(/closed/);
    await expect(store.createRun('once')).rejects.toThrow(/already exists/);
  });

  it('throws at once for a sample that cannot be encoded', async () => {
    const writer = await new LocalStore(dir).createRun('bad');
    expect(() =>
      writer.write([{ measurement: 'm', tags: { t: 'a\nb' }, fields: { v: 1 }, time: 1n }]),
    ).toThrow(/newline/);
    await writer.close();
  });
});

describe('LocalStore: records', () => {
  it('round-trips run.json as pretty JSON, replaced atomically', async () => {
    const store = new LocalStore(dir);
    const writer = await store.createRun('20240601-100000-abcd');
    const rec = record('20240601-100000-abcd', '2024-06-01T10:00:00.000Z', ['nightly']);
    await writer.saveRecord({ ...rec, status: 'running' });
    await writer.saveRecord(rec);
    await writer.close();
    const text = await readFile(join(dir, 'runs', rec.id, 'run.json'), 'utf8');
    expect(text).toContain('\n  "status": "passed",\n');
    expect(JSON.parse(text)).toEqual(rec);
    expect(await store.listRuns()).toEqual([rec]);
    expect(await readdir(join(dir, 'runs', rec.id))).toEqual(['run.json']);
    expect(writer.location).toBe(join(dir, 'runs', rec.id));
  });

  it('lists runs oldest first and skips directories without a readable run.json', async () => {
    const store = new LocalStore(dir);
    const ids = await threeRuns(store);
    await mkdir(join(dir, 'runs', 'no-record'));
    await mkdir(join(dir, 'runs', 'broken'));
    await writeFile(join(dir, 'runs', 'broken', 'run.json'), '{ not json');
    expect((await store.listRuns()).map((r) => r.id)).toEqual(ids);
    expect(await new LocalStore(join(dir, 'nowhere')).listRuns()).toEqual([]);
  });

  it('orders runs started in the same second by startedAt', async () => {
    const store = new LocalStore(dir);
    for (const [id, at] of [
      ['20240601-100000-ffff', '2024-06-01T10:00:00.100Z'],
      ['20240601-100000-0000', '2024-06-01T10:00:00.900Z'],
    ]) {
      const w = await store.createRun(id);
      await w.saveRecord(record(id, at));
      await w.close();
    }
    expect((await store.resolveRun('latest')).id).toBe('20240601-100000-0000');
  });
});

describe('LocalStore: resolveRun and tagRun', () => {
  it('resolves an exact id, latest, latest~N and a unique prefix', async () => {
    const store = new LocalStore(dir);
    const [a, b, c] = await threeRuns(store);
    expect((await store.resolveRun(b)).id).toBe(b);
    expect((await store.resolveRun('latest')).id).toBe(c);
    expect((await store.resolveRun('latest~0')).id).toBe(c);
    expect((await store.resolveRun('latest~1')).id).toBe(b);
    expect((await store.resolveRun('latest~2')).id).toBe(a);
    expect((await store.resolveRun('20240601')).id).toBe(a);
    expect((await store.resolveRun('20240602-11')).id).toBe(c);
  });

  it('explains what went wrong', async () => {
    const store = new LocalStore(dir);
    const [, b, c] = await threeRuns(store);
    await expect(store.resolveRun('latest~3')).rejects.toThrow(
      `run reference "latest~3" goes back further than the 3 runs in ${dir}`,
    );
    await expect(store.resolveRun('latest~x')).rejects.toThrow(/expected latest~N with N a whole number/);
    await expect(store.resolveRun('20240602')).rejects.toThrow(
      `run reference "20240602" is ambiguous in ${dir}: it prefixes 2 runs (${b}, ${c}); give more of the id`,
    );
    const unknown = store.resolveRun('nope');
    await expect(unknown).rejects.toBeInstanceOf(InputError);
    await expect(store.resolveRun('nope')).rejects.toThrow(`no run matches "nope" in ${dir}`);
    await expect(new LocalStore(join(dir, 'empty')).resolveRun('latest')).rejects.toThrow(
      /no runs in .*empty yet/,
    );
  });

  it('resolves a tag to the newest run carrying it, and tagRun moves a tag', async () => {
    const store = new LocalStore(dir);
    const [a, b, c] = await threeRuns(store);
    const tagged = await store.tagRun(a, 'baseline');
    expect(tagged.tags).toEqual(['baseline']);
    expect((await store.resolveRun('baseline')).id).toBe(a);

    await store.tagRun('latest~1', 'baseline');
    expect((await store.resolveRun('baseline')).id).toBe(b);
    const byId = new Map((await store.listRuns()).map((r) => [r.id, r.tags]));
    expect(byId.get(a)).toEqual([]);
    expect(byId.get(b)).toEqual(['baseline']);
    expect(byId.get(c)).toEqual([]);

    // Tagging twice changes nothing; other tags are kept.
    await store.tagRun(b, 'good');
    await store.tagRun(b, 'baseline');
    expect((await store.resolveRun(b)).tags).toEqual(['baseline', 'good']);
  });

  it('prefers the newest run when a tag was set by hand on several', async () => {
    const store = new LocalStore(dir);
    const ids = await threeRuns(store);
    for (const id of [ids[0], ids[1]]) {
      const path = join(dir, 'runs', id, 'run.json');
      const rec = JSON.parse(await readFile(path, 'utf8')) as RunRecord;
      await writeFile(path, JSON.stringify({ ...rec, tags: ['release'] }));
    }
    expect((await store.resolveRun('release')).id).toBe(ids[1]);
  });

  it('refuses tags that would be read as something else', async () => {
    const store = new LocalStore(dir);
    await threeRuns(store);
    await expect(store.tagRun('latest', 'latest')).rejects.toThrow(/latest\/latest~N/);
    await expect(store.tagRun('latest', '20240101-000000-abcd')).rejects.toThrow(/looks like a run id/);
    await expect(store.tagRun('latest', 'two words')).rejects.toThrow(/whitespace/);
    await expect(store.tagRun('nope', 'baseline')).rejects.toThrow(/no run matches "nope"/);
  });
});
