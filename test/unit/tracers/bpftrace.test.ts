import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import {
  bpftraceTracer,
  resolveScript,
  shippedScriptsDir,
  usesTracepoints,
} from '../../../src/tracers/bpftrace/index.js';
import { entryFields, fieldName, keyTags, MapRound } from '../../../src/tracers/bpftrace/parse.js';
import { type BpftraceMap, parseBpftraceJson } from '../../../src/tracers/bpftrace-runner.js';
import { manifestMismatches } from '../../fixtures/proc/fixture-context.js';

const fixtures = join(import.meta.dirname, '../../fixtures/bpftrace');
const maps = (file: string): BpftraceMap[] =>
  readFileSync(join(fixtures, file), 'utf8')
    .split('\n')
    .map(parseBpftraceJson)
    .flatMap((m) => (m?.type === 'map' ? [m.map] : []));

describe('MapRound', () => {
  it('merges the maps printed together into one sample per key (syscalls.bt)', () => {
    const [calls, errors] = maps('syscalls.jsonl');
    const round = new MapRound({ measurement: 'syscalls_bpf', keys: ['syscall_nr', 'process_name'] }, 7n);
    round.add(calls);
    expect(round.has(calls)).toBe(true);
    expect(round.has(errors)).toBe(false);
    round.add(errors);
    const samples = round.take();
    expect(samples.length).toBeGreaterThan(10);
    for (const s of samples) {
      expect(s.measurement).toBe('syscalls_bpf');
      expect(s.time).toBe(7n);
      expect(Object.keys(s.tags).sort()).toEqual(['process_name', 'syscall_nr']);
      expect(s.tags.syscall_nr).toMatch(/^-?\d+$/);
    }
    // Every key of @calls and @errors is there, with its own value.
    const byKey = (k: string) => {
      const [nr, comm] = k.split(/,(.*)/s);
      return samples.find((s) => s.tags.syscall_nr === nr && s.tags.process_name === comm);
    };
    for (const e of calls.entries) expect(byKey(e.key!)?.fields.calls).toBe(BigInt(e.value as number));
    for (const e of errors.entries) expect(byKey(e.key!)?.fields.errors).toBe(BigInt(e.value as number));
    expect(samples.some((s) => s.fields.calls !== undefined && s.fields.errors !== undefined)).toBe(true);
    expect(
      manifestMismatches(
        samples.map((s) => ({ ...s, measurement: 'bpftrace' })),
        bpftraceTracer.manifest,
      ),
    ).toEqual([]);
  });

  it('turns stats() into count, mean and total fields (runqlat.bt)', () => {
    const [lat] = maps('runqlat.jsonl');
    const round = new MapRound({ measurement: 'bpftrace', keys: ['process_name'] }, 1n);
    round.add(lat);
    const samples = round.take();
    expect(samples.length).toBe(lat.entries.length);
    const s = samples[0];
    expect(typeof s.fields.runq_latency_us_count).toBe('bigint');
    expect(typeof s.fields.runq_latency_us_avg).toBe('number');
    expect(typeof s.fields.runq_latency_us_total).toBe('bigint');
    expect(manifestMismatches(samples, bpftraceTracer.manifest)).toEqual([]);
    const execs = new MapRound({ measurement: 'bpftrace', keys: ['process_name'] }, 1n);
    for (const m of maps('execs.jsonl')) execs.add(m);
    expect(manifestMismatches(execs.take(), bpftraceTracer.manifest)).toEqual([]);
  });

  it('skips histograms, and names fields and tags by default', () => {
    const round = new MapRound({ measurement: 'm' }, 1n);
    for (const m of maps('misc.jsonl').slice(0, 4)) round.add(m);
    expect(round.skipped).toEqual(new Set(['@h']));
    const samples = round.take();
    expect(samples.find((s) => Object.keys(s.tags).length === 0)?.fields).toEqual({ total: 7533n });
    expect(samples.find((s) => s.tags.key === 'python3')?.fields).toEqual({ avg_id: 230 });
    expect(samples.find((s) => s.tags.key === 'node')?.fields).toEqual({ value: 621n });
  });
});

describe('map naming', () => {
  it('names fields after maps and tags after keys', () => {
    expect(fieldName('@calls')).toBe('calls');
    expect(fieldName('@')).toBe('value');
    expect(keyTags(undefined)).toEqual({});
    expect(keyTags('bash')).toEqual({ key: 'bash' });
    expect(keyTags('1,bash')).toEqual({ key1: '1', key2: 'bash' });
    expect(keyTags('1,my,proc', ['nr', 'comm'])).toEqual({ nr: '1', comm: 'my,proc' });
    expect(keyTags('1', ['nr', 'comm'])).toEqual({ nr: '1' });
    const m: BpftraceMap = { kind: 'map', name: '@s', entries: [] };
    expect(entryFields(m, 'text')).toEqual({ s: 'text' });
    expect(entryFields(m, 2.4)).toEqual({ s: 2n });
    expect(entryFields({ ...m, kind: 'stats' }, 2.4)).toEqual({ s: 2.4 });
    expect(entryFields({ ...m, kind: 'hist' }, [{ count: 1 }])).toBeUndefined();
  });
});

describe('scripts', () => {
  it('resolves shipped names and absolute paths only', () => {
    expect(resolveScript({ script: 'syscalls' })).toBe(join(shippedScriptsDir, 'syscalls.bt'));
    expect(resolveScript({ path: '/opt/probes/x.bt' })).toBe('/opt/probes/x.bt');
    expect(() => resolveScript({})).toThrow(/exactly one of script/);
    expect(() => resolveScript({ script: 'a', path: '/b' })).toThrow(/exactly one of script/);
    expect(() => resolveScript({ script: '../../etc/passwd' })).toThrow(/invalid script name/);
    expect(() => resolveScript({ path: 'relative.bt' })).toThrow(/must be absolute/);
  });

  it('ships the scripts the manifest names, each printing its maps every $1 ms and at END', () => {
    for (const name of ['syscalls', 'runqlat', 'execs']) {
      const file = join(shippedScriptsDir, `${name}.bt`);
      expect(existsSync(file), file).toBe(true);
      const text = readFileSync(file, 'utf8');
      expect(text).toMatch(/interval:ms:\$1 \{/);
      expect(text).toMatch(/^END \{/m);
      expect(usesTracepoints(text)).toBe(true);
      expect(bpftraceTracer.manifest.description).toContain(`\`${name}\``);
    }
    expect(
      readdirSync(shippedScriptsDir)
        .filter((f) => f.endsWith('.bt'))
        .sort(),
    ).toEqual(['execs.bt', 'runqlat.bt', 'syscalls.bt']);
  });

  it('tells tracepoint scripts from the others', () => {
    expect(usesTracepoints('tracepoint:sched:sched_switch { }')).toBe(true);
    expect(usesTracepoints('t:syscalls:sys_enter_read { }')).toBe(true);
    expect(usesTracepoints('// tracepoint:x:y in a comment\nusdt:/bin/x:p:q { }')).toBe(false);
    expect(usesTracepoints('uprobe:/bin/bash:readline { }')).toBe(false);
  });
});

describe('bpftraceTracer manifest', () => {
  it('compiles strictly, accepts its example and needs a script or a path', () => {
    const m = bpftraceTracer.manifest;
    const validate = new Ajv({ strict: true, allErrors: true }).compile(m.params);
    expect(validate(m.example.with), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ path: '/opt/x.bt', args: ['a', 2] })).toBe(true);
    expect(validate({})).toBe(false);
    expect(validate({ measurement: 'x' })).toBe(false);
    expect(validate({ script: 'BEGIN { printf("hi") }' })).toBe(false);
    expect(validate({ path: 'relative.bt' })).toBe(false);
    expect(validate({ script: 'x', text: 'BEGIN {}' })).toBe(false);
  });
});
