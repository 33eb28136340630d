import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../../src/core/sample.js';
import { renderReport } from '../../../src/report/api.js';
import { loadRunData } from '../../../src/report/run-data.js';
import { counterShape, fieldAggregate } from '../../../src/report/series.js';
import { LocalStore } from '../../../src/store/local/local-store.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import type { RunReader } from '../../../src/store/store.js';
import { writeRun } from './synthetic.js';

describe('loadRunData', () => {
  it('reads iterations per step, failures grouped with their first occurrence', async () => {
    const store = new MemoryStore();
    const record = await writeRun(store, {
      id: 'r1',
      startMs: Date.UTC(2026, 0, 1),
      steps: [
        { name: 'a', iterations: 10, medianMs: 10, failures: { 3: 'boom', 7: 'boom', 8: 'other' } },
        { name: 'b', iterations: 5, medianMs: 20 },
      ],
    });
    const data = await loadRunData(store, record);
    const a = data.iterations.get('a')!;
    expect(a.count).toBe(10);
    expect(a.failures).toBe(3);
    expect(a.okSorted).toHaveLength(7);
    expect([...a.okSorted]).toEqual([...a.okSorted].sort((x, y) => x - y));
    expect(a.failureGroups.map((g) => [g.message, g.count, g.firstIteration])).toEqual([
      ['boom', 2, 3],
      ['other', 1, 8],
    ]);
    // Starts are relative to the step's start, and within it.
    expect(Math.min(...a.start)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a.start)).toBeLessThan(1000);
    expect(data.iterations.get('b')!.count).toBe(5);
  });

  it('assigns run-level samples to steps by time, and sums pids of one process', async () => {
    const store = new MemoryStore();
    const record = await writeRun(store, {
      id: 'r2',
      startMs: Date.UTC(2026, 0, 1),
      steps: [
        { name: 'a', iterations: 2, medianMs: 10 },
        { name: 'b', iterations: 2, medianMs: 10 },
      ],
      cpu: { h1: 40 },
      procstat: true,
    });
    const data = await loadRunData(store, record);
    const cpu = data.series.find((g) => g.measurement === 'cpu')!;
    expect(cpu.tags).toEqual({ cpu: 'cpu-total', host: 'h1' });
    const rowsInA = [...cpu.step].filter((s) => s === 0).length;
    const rowsInB = [...cpu.step].filter((s) => s === 1).length;
    expect(rowsInA).toBe(11); // [100, 1100] ms: both ends of the window included
    expect(rowsInB).toBe(10); // [1150, 2150] ms
    expect([...cpu.step].some((s) => s === -1)).toBe(true); // before the first step
    // Two pids, one series: their values summed per timestamp; pid is not an identity tag.
    const procstat = data.series.filter((g) => g.measurement === 'procstat');
    expect(procstat).toHaveLength(1);
    expect(procstat[0].tags).toEqual({ host: 'h1', process_name: 'api' });
    expect(fieldAggregate(procstat[0], 'cpu_usage', undefined, undefined)!.mean).toBe(20);
    // bytes_recv grows as an integer: a counter, with its rate per second.
    const net = data.series.find((g) => g.measurement === 'net')!;
    expect(counterShape(net, 'bytes_recv')).toEqual({ monotonic: true, moving: true });
    expect(counterShape(cpu, 'usage_active').monotonic).toBe(false);
    expect(fieldAggregate(net, 'bytes_recv', 0, 'cumulative')!.rate).toBeCloseTo(100_000, 6);
  });

  it('keeps string fields as labels and tracer notices as notices', async () => {
    const store = new MemoryStore();
    const record = await writeRun(store, {
      id: 'r3',
      startMs: Date.UTC(2026, 0, 1),
      steps: [{ name: 'a', iterations: 2, medianMs: 10 }],
    });
    const w = await store.createRun('r3-extra');
    const t = BigInt(Date.UTC(2026, 0, 1) + 500) * 1_000_000n;
    w.write([
      {
        measurement: 'mysql_statements',
        tags: { run: 'r3', server: 's1', digest: 'd1' },
        fields: { calls: 3n, digest_text: 'SELECT * FROM t WHERE id = ?' },
        time: t,
      },
      {
        measurement: 'tracer_notice',
        tags: { run: 'r3', server: 's1', code: 'no-perf-schema' },
        fields: { message: 'performance_schema is off' },
        time: t,
      },
    ]);
    await w.saveRecord({ ...record, id: 'r3-extra' });
    const data = await loadRunData(store, { ...record, id: 'r3-extra' });
    const stmt = data.series.find((g) => g.measurement === 'mysql_statements')!;
    expect(stmt.texts).toEqual({ digest_text: 'SELECT * FROM t WHERE id = ?' });
    expect([...stmt.fields.keys()]).toEqual(['calls']);
    expect(data.notices).toEqual([
      { atMs: 500, tags: { server: 's1', code: 'no-perf-schema' }, message: 'performance_schema is off' },
    ]);
  });

  it('leaves warmup and interrupted iterations out of the statistics, and counts them', async () => {
    const store = new MemoryStore();
    const record = await writeRun(store, {
      id: 'r4',
      startMs: Date.UTC(2026, 0, 1),
      steps: [{ name: 'a', iterations: 3, medianMs: 10 }],
    });
    const w = await store.createRun('r4-warm');
    const t = BigInt(Date.UTC(2026, 0, 1) + 200) * 1_000_000n;
    const tags = { run: 'r4', scenario: 's', step: 'a', worker: '0' };
    w.write([
      {
        measurement: 'iteration',
        tags,
        fields: { duration: 500, ok: true, iteration: 0n, warmup: true },
        time: t,
      },
      { measurement: 'iteration', tags, fields: { duration: 10, ok: true, iteration: 1n }, time: t + 1n },
      {
        measurement: 'iteration',
        tags,
        fields: { duration: 3, ok: false, iteration: 2n, error: 'interrupted', interrupted: true },
        time: t + 2n,
      },
    ]);
    await w.saveRecord({ ...record, id: 'r4-warm' });
    const a = (await loadRunData(store, { ...record, id: 'r4-warm' })).iterations.get('a')!;
    expect([a.count, a.failures, a.excluded, [...a.okSorted]]).toEqual([1, 0, 2, [10]]);
  });
});

describe('loadRunData from the local store: records straight from line protocol', () => {
  const startMs = Date.UTC(2026, 0, 1);
  const ns = (ms: number) => BigInt(startMs + ms) * 1_000_000n;
  /** Every kind of field, escapes in tags and strings, and the odd keys a fields object reorders. */
  const extra = (run: string): Sample[] => [
    {
      measurement: 'mysql_statements',
      tags: { run, server: 'db 1,a=b', digest: 'd"1\\x' },
      fields: {
        calls: 3n,
        rows_examined: 2n ** 60n + 1n, // beyond 2^53: rounded to the nearest double, as Number(bigint)
        latency: 0.125,
        digest_text: 'SELECT "a" FROM t\nWHERE s = \'\\\'\n  AND x = ?',
      },
      time: ns(300),
    },
    {
      measurement: 'mysql_statements',
      tags: { run, server: 'db 1,a=b', digest: 'd"1\\x' },
      fields: { calls: 5n, rows_examined: -(2n ** 62n), latency: 1e-7, digest_text: 'other' },
      time: ns(1300),
    },
    {
      measurement: 'service',
      tags: { run, host: 'h1', tracer: 'proc', unit: 'nova api' },
      fields: { running: true, '1': 7, restarts: 0n, state: 'active (running)', '0': -0.5 },
      time: ns(400),
    },
    {
      measurement: 'service',
      tags: { run, host: 'h1', tracer: 'proc', unit: 'nova api' },
      fields: { running: false, '1': 8, restarts: 1n, '0': 3 },
      time: ns(1500),
    },
    {
      measurement: 'hook',
      tags: { run, hook: 'flush caches', phase: 'before', step: 'a' },
      fields: { duration: 12.5, ok: true },
      time: ns(90),
    },
    {
      measurement: 'tracer_notice',
      tags: { run, scenario: 'synthetic', host: 'h1', code: 'no-perf-schema' },
      fields: { message: 'performance_schema is off: "quoted", back\\slash' },
      time: ns(50),
    },
    {
      measurement: 'action',
      tags: { run, step: 'b', action: 'boot server', worker: '1' },
      fields: { duration: 8.25, ok: false, iteration: 1n, error: 'HTTP 503 "busy"' },
      time: ns(1400),
    },
  ];
  /**
   * Written by hand, as no Sample encodes: array-index keys after others and a key twice (a
   * fields object puts index keys first and keeps a repeated key's first place and last value),
   * then what a writer killed in the middle of a record leaves behind.
   */
  const tail = (run: string) =>
    `queue,host=h1,run=${run},name=q\\ 1 depth=4i,1=7,0=-0.5,1=9i,depth=5i ${ns(600)}\n` +
    `queue,host=h1,run=${run},name=q\\ 1 depth=6i,1=8,0=1 ${ns(700)}\n` +
    'cpu,cpu=cpu-total,host=h1,run=x usage_active=99,note="half';

  /** The same store seen through RunReader alone: the generic read, a Sample per record. */
  const generic = (store: LocalStore): RunReader => ({
    listRuns: () => store.listRuns(),
    resolveRun: (ref) => store.resolveRun(ref),
    readSamples: (runId, filter) => store.readSamples(runId, filter),
    location: (runId) => store.location(runId),
  });

  it('gives the report data and the report the generic read gives, from plain and gzipped files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scalpels-run-data-'));
    try {
      const plain = new LocalStore(dir);
      const gzipped = new LocalStore(dir, { gzip: true });
      const plan = (id: string) => ({
        id,
        startMs,
        steps: [
          { name: 'a', iterations: 40, medianMs: 10, failures: { 3: 'boom', 9: 'timeout "30s"' } },
          { name: 'b', iterations: 25, medianMs: 20 },
        ],
        cpu: { h1: 40, 'h 2,x=y': 55 },
        procstat: true,
        extra: extra(id),
      });
      const a = await writeRun(plain, plan('run-a'));
      const b = await writeRun(gzipped, { ...plan('run-b'), seed: 2 });
      await appendFile(join(dir, 'runs', 'run-a', 'samples.lp'), tail('run-a'));
      const gz = join(dir, 'runs', 'run-b', 'samples.lp.gz');
      await writeFile(
        gz,
        gzipSync(Buffer.concat([gunzipSync(await readFile(gz)), Buffer.from(tail('run-b'))])),
      );

      const fast = [await loadRunData(plain, a), await loadRunData(plain, b)];
      const slow = [await loadRunData(generic(plain), a), await loadRunData(generic(plain), b)];
      expect(fast).toEqual(slow);
      // What the fixture holds came through: counts, escapes, integers, strings, odd keys, the torn record skipped.
      // Steps (start and end, iterations), 23 ticks of cpu and net on 2 hosts and 2 pids, the extras, the hand-written two.
      const written = 2 + 40 + 2 + 25 + (2 * 2 + 2) * 23 + extra('').length + 2;
      expect(fast.map((d) => d.samples)).toEqual([written, written]);
      expect(fast[0].iterations.get('a')!.count).toBe(40);
      expect(fast[0].iterations.get('a')!.failureGroups.map((g) => g.message)).toEqual([
        'boom',
        'timeout "30s"',
      ]);
      const stmt = fast[0].series.find((g) => g.measurement === 'mysql_statements')!;
      expect(stmt.tags).toEqual({ digest: 'd"1\\x', server: 'db 1,a=b' });
      expect([...stmt.fields.get('rows_examined')!]).toEqual([Number(2n ** 60n + 1n), -(2 ** 62)]);
      expect(stmt.texts.digest_text).toBe('SELECT "a" FROM t\nWHERE s = \'\\\'\n  AND x = ?');
      const service = fast[0].series.find((g) => g.measurement === 'service')!;
      expect([...service.fields.keys()]).toEqual(['0', '1', 'running', 'restarts']);
      expect([...service.fields.get('running')!]).toEqual([1, 0]);
      expect(Object.is(service.fields.get('0')![0], -0.5)).toBe(true);
      expect(fast[0].series.some((g) => g.tags.host === 'h 2,x=y')).toBe(true);
      const queue = fast[1].series.find((g) => g.measurement === 'queue')!;
      expect(queue.tags).toEqual({ host: 'h1', name: 'q 1' });
      expect([...queue.fields.keys()]).toEqual(['0', '1', 'depth']);
      expect([...queue.fields.get('1')!, ...queue.fields.get('depth')!]).toEqual([9, 8, 5, 6]);
      expect(fast[1].notices[0].message).toBe('performance_schema is off: "quoted", back\\slash');
      expect(fast[1].actions.get('b')!.get('boot server')!.failureGroups[0].message).toBe('HTTP 503 "busy"');
      expect(fast[1].marks[0]).toMatchObject({ name: 'flush caches', durationMs: 12.5, ok: true });
      expect(fast[0].series.find((g) => g.measurement === 'cpu')!.fields.get('usage_active')).not.toContain(
        99,
      );

      // Same statistics, same series after downsampling: the same report, byte for byte.
      const now = new Date(Date.UTC(2026, 0, 2));
      expect(renderReport(fast, { now }).html).toBe(renderReport(slow, { now }).html);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
