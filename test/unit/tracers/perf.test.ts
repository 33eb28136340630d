import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { perfTracer } from '../../../src/tracers/perf/index.js';
import {
  eventField,
  PerfIntervals,
  type PerfStatLine,
  parsePerfStatLine,
  sumPerProcess,
} from '../../../src/tracers/perf/parse.js';
import { processSelectorSchema } from '../../../src/tracers/process-selector.js';
import { manifestMismatches } from '../../fixtures/proc/fixture-context.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/perf');
const fixture = (name: string) => readFileSync(join(fixtures, name), 'utf8');

/** Every interval of a fixture, as PerfIntervals hands them over. */
function intervalsOf(text: string): PerfStatLine[][] {
  const out: PerfStatLine[][] = [];
  const acc = new PerfIntervals((lines) => out.push(lines));
  for (const line of text.split('\n')) {
    const parsed = parsePerfStatLine(line);
    if (parsed) acc.feed(parsed);
  }
  acc.flush();
  return out;
}

describe('perf stat -x, --per-thread parser', () => {
  it('reads values, units, threads and the two kinds of missing values', () => {
    expect(
      parsePerfStatLine(
        '     1.008876976,python3-12195,578.84,msec,task-clock,578844120,100.00,0.579,CPUs utilized',
      ),
    ).toEqual({
      time: 1.008876976,
      comm: 'python3',
      tid: 12195,
      value: { kind: 'value', value: 578.84 },
      unit: 'msec',
      event: 'task-clock',
    });
    expect(
      parsePerfStatLine('     0.500708890,python3-11943,<not counted>,,context-switches,0,100.00,,')?.value,
    ).toEqual({
      kind: 'not-counted',
    });
    expect(parsePerfStatLine('     1.0,python3-12197,<not supported>,,cycles,0,100.00,,')?.value).toEqual({
      kind: 'not-supported',
    });
    // Names with dashes, and with commas, keep the tid after the last dash.
    expect(
      parsePerfStatLine('1.0,tokio-rt-worker-68,1,,context-switches,411212,100.00,2.432,K/sec'),
    ).toMatchObject({
      comm: 'tokio-rt-worker',
      tid: 68,
    });
    expect(parsePerfStatLine('1.0,a,b-7,3,,page-faults,1,100.00,1.0,/sec')).toMatchObject({
      comm: 'a,b',
      tid: 7,
    });
  });

  it('ignores what is not a counter line', () => {
    for (const line of [
      '',
      'Problems finding threads of monitor',
      ' Usage: perf stat [<options>] [<command>]',
      "event syntax error: '..clock,bogus-event'",
    ]) {
      expect(parsePerfStatLine(line)).toBeUndefined();
    }
  });

  it('names fields after events', () => {
    expect(
      ['task-clock', 'context-switches', 'L1-dcache-loads', 'syscalls:sys_enter_read'].map(eventField),
    ).toEqual(['task_clock', 'context_switches', 'l1_dcache_loads', 'syscalls_sys_enter_read']);
  });
});

describe('perf intervals', () => {
  it('groups a real run into intervals and sums threads into their process', () => {
    const intervals = intervalsOf(fixture('two-threads.txt'));
    expect(intervals).toHaveLength(3);
    const pid = Number(fixture('two-threads.pid').trim());
    const threads = new Map([
      [pid, pid],
      [12197, pid],
    ]);
    const first = sumPerProcess(intervals[0], (tid) => threads.get(tid));
    expect([...first.unsupported]).toEqual(['cycles']);
    const fields = first.perProcess.get(pid)!;
    expect(fields.task_clock as number).toBeCloseTo(578.84 + 49.56, 6);
    expect(fields.context_switches).toBe(438n + 430n);
    expect(fields.page_faults).toBe(0n);
    expect(fields.cycles).toBeUndefined();
    // A thread nobody can place is left out.
    expect(sumPerProcess(intervals[0], () => undefined).perProcess.size).toBe(0);
  });

  it('writes zeros for an idle interval and leaves unsupported events out', () => {
    const intervals = intervalsOf(fixture('per-thread.txt'));
    expect(intervals).toHaveLength(11);
    const pid = Number(fixture('per-thread.pid').trim());
    const idle = sumPerProcess(intervals[0], () => pid);
    expect(idle.perProcess.get(pid)).toEqual({
      task_clock: 0,
      context_switches: 0n,
      cpu_migrations: 0n,
      page_faults: 0n,
    });
    expect([...idle.unsupported].sort()).toEqual(['cycles', 'instructions']);
    const busy = intervals.map((i) => sumPerProcess(i, () => pid).perProcess.get(pid)!.task_clock as number);
    expect(busy.reduce((a, b) => a + b, 0)).toBeCloseTo(
      107.37 + 146.85 + 171.22 + 139.32 + 151.96 + 113.87 + 47.55,
      6,
    );
    const samples = intervals.map((lines) => ({
      measurement: 'perf',
      tags: { process_name: 'python3', pid: String(pid), selector: 'x' },
      fields: sumPerProcess(lines, () => pid).perProcess.get(pid)!,
      time: 1n,
    }));
    expect(manifestMismatches(samples, perfTracer.manifest)).toEqual([]);
  });
});

describe('perf manifest', () => {
  const validate = new Ajv({ strict: false, useDefaults: true }).compile(perfTracer.manifest.params);

  it('repeats the shared process selector and validates its example', () => {
    const props = perfTracer.manifest.params.properties as Record<string, unknown>;
    for (const [key, schema] of Object.entries(processSelectorSchema.properties))
      expect(props[key]).toEqual(schema);
    expect(validate(structuredClone(perfTracer.manifest.example.with))).toBe(true);
    expect(validate({ pid: 1, events: ['task-clock;rm -rf /'] })).toBe(false);
    expect(validate({ pid: 1, events: ['cpu-clock', 'syscalls:sys_enter_read'] })).toBe(true);
    expect(validate({ events: ['cpu-clock'] })).toBe(false);
  });
});
