/** Trends refuse a metric the user asked for that matches nothing, naming what exists. */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/core/errors.js';
import { renderTrends } from '../../../src/report/api.js';
import { MemoryStore } from '../../../src/store/memory-store.js';
import { writeRun } from './synthetic.js';

async function twoRuns() {
  const store = new MemoryStore();
  const records = [];
  for (const [i, id] of ['t-a', 't-b'].entries()) {
    records.push(
      await writeRun(store, {
        id,
        startMs: Date.UTC(2026, 0, 1 + i),
        steps: [{ name: 's', iterations: 10, medianMs: 10 }],
        cpu: { h1: 30 },
        procstat: true,
      }),
    );
  }
  return { store, records };
}

async function trendsError(metric: string): Promise<Error> {
  const { store, records } = await twoRuns();
  const err = await renderTrends(store, 'synthetic', records, { metrics: [metric] }).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  return err!;
}

describe('trends metrics', () => {
  it('refuse an unknown measurement, field or action, with what exists (exit 2)', async () => {
    expect((await trendsError('nosuch.field:avg')).message).toBe(
      'trend metric "nosuch.field:avg" matches nothing in the 2 runs: no measurement "nosuch"; measurements: cpu, net, procstat',
    );
    expect((await trendsError('cpu.usage_activ:avg')).message).toMatch(
      /measurement cpu has no field "usage_activ" \(did you mean "usage_active"\?\); its fields: usage_active, usage_idle$/,
    );
    expect((await trendsError('procstat.cpu_usage{process_name=nope}:avg')).message).toMatch(
      /no procstat\.cpu_usage sample matches its tags \{process_name=nope\} in any step$/,
    );
    expect((await trendsError('action.boot:avg')).message).toMatch(/no action "boot"; actions: none$/);
  });

  it('keep a metric that has data, and the defaults even where runs lack them', async () => {
    const { store, records } = await twoRuns();
    const { model } = await renderTrends(store, 'synthetic', records, {
      metrics: ['procstat.cpu_usage{process_name=api}:avg'],
    });
    expect(model.columns[0].metrics).toEqual(['procstat.cpu_usage{process_name=api}:avg']);
    // Two pids at 10 % each: the process group's total.
    expect(model.rows[0].point.metrics.s['procstat.cpu_usage{process_name=api}:avg']).toBeCloseTo(20, 6);
    // The default metrics: mem.used_percent is in no run, and that is not an error.
    const byDefault = await renderTrends(store, 'synthetic', records, {});
    expect(byDefault.model.columns[0].metrics).toEqual(['cpu.usage_active{cpu=cpu-total}:avg']);
  });
});
