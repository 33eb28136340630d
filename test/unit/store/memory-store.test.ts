import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../../src/core/errors.js';
import type { Sample } from '../../../src/core/sample.js';
import { LocalStore } from '../../../src/store/local/local-store.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import type { RunRecord } from '../../../src/store/run-record.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scalpels-memory-store-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(id: string, startedAt: string): RunRecord {
  return {
    format: 1,
    id,
    status: 'passed',
    exitCode: 0,
    scenario: { name: 's', file: 's.yaml', source: '', rendered: {}, args: {} },
    startedAt,
    scalpelsVersion: '0.1.0',
    host: 'h',
    agents: [],
    steps: [],
    streams: [],
    data: { produced: 0, written: 0, spooled: 0, lost: 0 },
    tags: [],
  };
}

type TaggingStore = (LocalStore | MemoryStore) & { tagRun(ref: string, tag: string): Promise<RunRecord> };

const RUNS: [string, string][] = [
  ['20240601-100000-aaaa', '2024-06-01T10:00:00.000Z'],
  ['20240601-100000-bbbb', '2024-06-01T10:00:00.500Z'],
  ['20240602-080000-c0de', '2024-06-02T08:00:00.000Z'],
  ['20240603-120000-d00d', '2024-06-03T12:00:00.000Z'],
];

/** The same history in any store: four runs (saved out of order), one unsaved run and two tags. */
async function populate(store: TaggingStore): Promise<void> {
  for (const k of [3, 1, 0, 2]) {
    const [id, at] = RUNS[k];
    const writer = await store.createRun(id);
    await writer.saveRecord(record(id, at));
    await writer.close();
  }
  await store.createRun('never-saved');
  await store.tagRun('20240601-100000-aaaa', 'baseline');
  await store.tagRun('latest~1', 'candidate');
}

const REFS = [
  '20240602-080000-c0de',
  'latest',
  'latest~1',
  'latest~3',
  'latest~4',
  'latest~',
  'latest~-1',
  '20240601',
  '20240601-100000-b',
  '202406',
  '2024060',
  'baseline',
  'candidate',
  'never-saved',
  'nope',
  '',
];

/** The outcome of a reference: the id it resolves to, or the error with the store's name taken out. */
async function outcome(store: TaggingStore, ref: string, where: string): Promise<string> {
  try {
    return `ok ${(await store.resolveRun(ref)).id}`;
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return `error ${(err as Error).message.replaceAll(where, '<store>')}`;
  }
}

describe('MemoryStore', () => {
  it('resolves every kind of reference exactly as LocalStore does', async () => {
    const local = new LocalStore(dir);
    const memory = new MemoryStore();
    await populate(local);
    await populate(memory);
    for (const ref of REFS) {
      expect(await outcome(memory, ref, 'the in-memory store'), ref).toBe(await outcome(local, ref, dir));
    }
    expect(await outcome(memory, 'latest~1', '')).toBe('ok 20240602-080000-c0de');
    expect(await outcome(memory, 'baseline', '')).toBe('ok 20240601-100000-aaaa');
    expect(await outcome(memory, '202406', 'the in-memory store')).toMatch(
      /^error .* is ambiguous in <store>/,
    );
  });

  it('lists the same records, oldest first, and moves tags the same way', async () => {
    const local = new LocalStore(dir);
    const memory = new MemoryStore();
    await populate(local);
    await populate(memory);
    await local.tagRun('latest', 'baseline');
    await memory.tagRun('latest', 'baseline');
    expect(await memory.listRuns()).toEqual(await local.listRuns());
    expect((await memory.listRuns()).map((r) => r.id)).toEqual(RUNS.map(([id]) => id));
    expect((await memory.resolveRun('baseline')).id).toBe('20240603-120000-d00d');
  });

  it('stores copies, so callers cannot change a saved record by accident', async () => {
    const memory = new MemoryStore();
    const writer = await memory.createRun('r1');
    const rec = record('r1', '2024-01-01T00:00:00.000Z');
    await writer.saveRecord(rec);
    rec.status = 'failed';
    const listed = await memory.listRuns();
    listed[0].tags.push('mutated');
    expect(await memory.resolveRun('r1')).toMatchObject({ status: 'passed', tags: [] });
  });

  it('reads back samples through the same codec and filter as LocalStore', async () => {
    const all: Sample[] = [
      { measurement: 'cpu', tags: { host: 'a' }, fields: { v: 1, n: 2n, s: 'x\ny' }, time: 10n },
      { measurement: 'cpu', tags: { host: 'b', empty: '' }, fields: { v: Number.NaN, w: true }, time: 20n },
      { measurement: 'mem', tags: { host: 'a' }, fields: { v: Number.NaN }, time: 30n },
    ];
    const local = new LocalStore(dir);
    const memory = new MemoryStore();
    for (const store of [local, memory]) {
      const writer = await store.createRun('run');
      writer.write(all);
      await writer.close();
      expect(writer.samplesDropped).toBe(1);
      expect(() => writer.write(all)).toThrow(/closed/);
    }
    const read = async (
      store: LocalStore | MemoryStore,
      filter?: { tags?: Record<string, string>; to?: bigint },
    ) => {
      const out: Sample[] = [];
      for await (const s of store.readSamples('run', filter)) out.push(s);
      return out;
    };
    expect(await read(memory)).toEqual(await read(local));
    expect(await read(memory)).toEqual([
      all[0],
      { measurement: 'cpu', tags: { host: 'b' }, fields: { w: true }, time: 20n },
    ]);
    expect(await read(memory, { tags: { host: 'a' } })).toEqual([all[0]]);
    expect(await read(memory, { to: 15n })).toEqual([all[0]]);
    await expect(read(memory, {}).then(() => memory.readSamples('missing').next())).rejects.toThrow(
      InputError,
    );
  });

  it('refuses a second run with the same id, and ids LocalStore refuses', async () => {
    const memory = new MemoryStore();
    await memory.createRun('r');
    await expect(memory.createRun('r')).rejects.toThrow(/already exists in the in-memory store/);
    // The same ids are refused as by LocalStore, whose ids are directory names.
    await expect(memory.createRun('../r')).rejects.toThrow(/not a valid run id/);
    await expect(memory.createRun('')).rejects.toThrow(/not a valid run id/);
  });
});
