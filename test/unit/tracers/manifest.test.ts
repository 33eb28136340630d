/**
 * Tracer manifests as a whole: each loads (which checks its fields' counter kinds), and the
 * counter kinds agree with what the tracers that compute deltas treat as counters.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderManifest } from '../../../src/cli/manifest-text.js';
import { tracerManifestDir } from '../../../src/core/paths.js';
import { loadTracerManifest, type TracerManifest } from '../../../src/tracers/manifest.js';
import { STATUS_COUNTERS, STATUS_GAUGES } from '../../../src/tracers/mysql/parse.js';
import {
  DATABASE_COUNTERS,
  DATABASE_GAUGES,
  DATABASE_TIME_COUNTERS,
} from '../../../src/tracers/postgres/parse.js';
import { EXCHANGE_COUNTERS, QUEUE_COUNTERS, QUEUE_GAUGES } from '../../../src/tracers/rabbitmq/parse.js';

const names = readdirSync(tracerManifestDir)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.slice(0, -'.yaml'.length));

/** Field → counter kind ('level' when absent) of one measurement. */
function kinds(m: TracerManifest, measurement: string): Record<string, string> {
  const spec = m.measurements.find((x) => x.name === measurement)!;
  return Object.fromEntries(Object.entries(spec.fields).map(([f, s]) => [f, s.counter ?? 'level']));
}

describe('tracer manifests', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scalpels-manifest-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const withField = (name: string, field: string) => {
    const text = readFileSync(join(tracerManifestDir, 'syscalls.yaml'), 'utf8').replace(
      /^name: syscalls$/m,
      `name: ${name}`,
    );
    writeFileSync(
      join(dir, `${name}.yaml`),
      text.replace(/^ {6}calls:\n {8}type: integer\n {8}counter: interval\n/m, field),
    );
  };

  it('every one loads, its counter kinds checked', () => {
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) expect(loadTracerManifest(name).name).toBe(name);
  });

  it('refuses a counter kind that does not exist, or a counter on a non-numeric field', () => {
    withField('bad1', '      calls:\n        type: integer\n        counter: monotonic\n');
    expect(() => loadTracerManifest('bad1', dir)).toThrow(
      /bad1\.yaml: field syscalls\.calls: counter "monotonic" is not one of cumulative, interval \(leave it out for a level\)/,
    );
    withField('bad2', '      calls:\n        type: string\n        counter: interval\n');
    expect(() => loadTracerManifest('bad2', dir)).toThrow(
      /field syscalls\.calls: a string field cannot be a counter/,
    );
  });

  it('a tracer with a counters: parameter defaults to cumulative and declares cumulative fields', () => {
    const withParam = names
      .map((n) => loadTracerManifest(n))
      .filter((m) => 'counters' in (m.params.properties as object));
    expect(withParam.map((m) => m.name).sort()).toEqual(['mysql', 'postgres', 'rabbitmq']);
    for (const m of withParam) {
      expect((m.params.properties as Record<string, unknown>).counters).toMatchObject({
        enum: ['cumulative', 'delta'],
        default: 'cumulative',
      });
      expect(
        m.measurements.some((x) => Object.values(x.fields).some((f) => f.counter === 'cumulative')),
      ).toBe(true);
    }
  });

  it('mysql, postgres and rabbitmq: the fields their code differences are the cumulative ones', () => {
    const level = (list: readonly string[]) => Object.fromEntries(list.map((f) => [f, 'level']));
    const cumulative = (list: readonly string[]) => Object.fromEntries(list.map((f) => [f, 'cumulative']));
    expect(kinds(loadTracerManifest('mysql'), 'mysql')).toEqual({
      ...cumulative(STATUS_COUNTERS.map((c) => c.toLowerCase())),
      ...level(STATUS_GAUGES.map((c) => c.toLowerCase())),
    });
    expect(kinds(loadTracerManifest('postgres'), 'postgresql')).toEqual({
      ...cumulative([...DATABASE_COUNTERS, ...DATABASE_TIME_COUNTERS]),
      ...level(DATABASE_GAUGES),
    });
    const queue = kinds(loadTracerManifest('rabbitmq'), 'rabbitmq_queue');
    for (const f of Object.values(QUEUE_COUNTERS)) expect(queue[f], f).toBe('cumulative');
    for (const f of Object.values(QUEUE_GAUGES)) expect(queue[f], f).toBe('level');
    const exchange = kinds(loadTracerManifest('rabbitmq'), 'rabbitmq_exchange');
    for (const f of Object.values(EXCHANGE_COUNTERS)) expect(exchange[f], f).toBe('cumulative');
    // The broker's own rates are levels, and everything else there is too.
    expect(
      Object.entries(queue)
        .filter(([, k]) => k === 'cumulative')
        .map(([f]) => f)
        .sort(),
    ).toEqual(Object.values(QUEUE_COUNTERS).sort());
  });

  it("scalpels tracers show prints each field's counter kind, blank for a level", () => {
    const lines = renderManifest(loadTracerManifest('mysql')).split('\n');
    const row = (field: string) =>
      lines
        .find((l) => l.trim().startsWith(`${field} `))!
        .trim()
        .split(/\s{2,}/);
    expect(lines.some((l) => /^\s+Field\s+Type\s+Unit\s+Counter\s+Description$/.test(l))).toBe(true);
    expect(row('com_select').slice(0, 4)).toEqual(['com_select', 'integer', 'count', 'cumulative']);
    expect(row('total_latency_ms').slice(0, 4)).toEqual(['total_latency_ms', 'float', 'ms', 'interval']);
    // A level: nothing in the column, the description follows the unit.
    expect(row('threads_connected').slice(0, 3)).toEqual(['threads_connected', 'integer', 'threads']);
    expect(row('threads_connected')[3]).toMatch(/^Threads_connected, a gauge/);
  });
});
