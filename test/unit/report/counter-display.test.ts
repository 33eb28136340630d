import { describe, expect, it } from 'vitest';
import type { Sample } from '../../../src/core/sample.js';
import { buildReportModel } from '../../../src/report/model.js';
import { loadRuns } from '../../../src/report/run-data.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import { writeRun } from './synthetic.js';

const startMs = Date.UTC(2026, 0, 1);
const ns = (ms: number) => BigInt(startMs + ms) * 1_000_000n;

/**
 * A disk counter that restarts (the host rebooted, a hook restarted a service) and a process
 * whose memory only grows (a leak): their shapes say the opposite of what they are.
 */
function misleadingShapes(run: string): Sample[] {
  const out: Sample[] = [];
  const reads = [100_000, 200_000, 300_000, 5_000, 105_000, 205_000];
  for (const [i, v] of reads.entries())
    out.push({
      measurement: 'diskio',
      tags: { run, host: 'h1', tracer: 'proc', name: 'vda' },
      fields: { read_bytes: BigInt(v) },
      time: ns(200 + i * 200),
    });
  // Per-interval calls every 200 ms, then every 400 ms: the rate, not the value, is comparable.
  for (const [i, at] of [200, 400, 600, 800, 1200].entries())
    out.push({
      measurement: 'syscalls',
      tags: { run, host: 'h1', tracer: 'syscalls', process_name: 'api', syscall: 'read' },
      fields: { calls: BigInt(i < 4 ? 100 : 200), time_us: 50 },
      time: ns(at),
    });
  for (let i = 0; i < 6; i++)
    out.push({
      measurement: 'procstat',
      tags: { run, host: 'h1', tracer: 'process', process_name: 'leaky', pid: '13' },
      fields: { cpu_usage: 5, memory_rss: BigInt(1_000_000 * (i + 1)) },
      time: ns(200 + i * 200),
    });
  return out;
}

async function model(declared: boolean) {
  const store = new MemoryStore();
  const record = await writeRun(store, {
    id: 'r-a',
    startMs,
    steps: [{ name: 'only', iterations: 10, medianMs: 10, lengthMs: 1400 }],
    cpu: { h1: 30 },
    procstat: true,
    extra: misleadingShapes('r-a'),
  });
  // Without its tracers in the scenario, nothing is declared: the report guesses by shape.
  const rendered = record.scenario.rendered as { tracers: unknown[] };
  rendered.tracers = declared ? [...rendered.tracers, { use: 'syscalls' }] : [];
  return buildReportModel(await loadRuns(store, [record]));
}

const titles = (m: Awaited<ReturnType<typeof model>>) => m.charts.map((c) => c.title);

describe('counters in the report follow the tracers’ manifests', () => {
  it('draws a restarted running total as a rate, and a growing level as it is', async () => {
    const declared = titles(await model(true));
    expect(declared).toContain('diskio.read_bytes (per second)');
    expect(declared).toContain('procstat.memory_rss');
    expect(declared).not.toContain('procstat.memory_rss (per second)');
  });

  it('draws a per-interval counter per second of its interval', async () => {
    const m = await model(true);
    const chart = m.charts.find((c) => c.title === 'syscalls.calls (per second)')!;
    // 100 calls per 200 ms, then 200 calls per 400 ms: 500/s throughout, not a jump to 200.
    expect(chart.series[0].y).toEqual([500, 500, 500, 500]);
  });

  it('guesses by shape only when no attached tracer declares the measurement', async () => {
    const m = await model(false);
    const guessed = titles(m);
    expect(guessed).toContain('diskio.read_bytes');
    expect(guessed).toContain('procstat.memory_rss (per second)');
    // Per-interval calls that never fall look like a running total: the wrong reading, which
    // only the manifest can correct.
    const calls = m.charts.find((c) => c.title === 'syscalls.calls (per second)')!;
    expect(calls.series[0].y).toEqual([0, 0, 0, 250]);
  });

  it('counts a restart from zero in the rates it draws', async () => {
    const m = await model(true);
    const chart = m.charts.find((c) => c.title === 'diskio.read_bytes (per second)')!;
    // 100 000 bytes per 200 ms is 500 000/s; the restart's 5 000 bytes are 25 000/s, not −1 475 000/s.
    expect(chart.series[0].y).toEqual([500_000, 500_000, 25_000, 500_000, 500_000]);
  });
});
