import { describe, expect, it } from 'vitest';
import { loadRunData } from '../../../src/report/run-data.js';
import { fieldAggregate, isCounter } from '../../../src/report/series.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
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
    expect(fieldAggregate(procstat[0], 'cpu_usage')!.mean).toBe(20);
    // bytes_recv grows as an integer: a counter, with its rate per second.
    const net = data.series.find((g) => g.measurement === 'net')!;
    expect(isCounter(net, 'bytes_recv')).toBe(true);
    expect(isCounter(cpu, 'usage_active')).toBe(false);
    expect(fieldAggregate(net, 'bytes_recv', 0)!.rate).toBeCloseTo(100_000, 6);
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
