import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { COMMANDS_NOT_ALLOWED, commandTracer, resolveCommand } from '../../../src/tracers/command/index.js';
import {
  LineParseError,
  lineParserFor,
  parseJsonLine,
  parseKvLine,
  parseLineProtocol,
  parseRegexLine,
  scalarField,
} from '../../../src/tracers/command/parse.js';
import { type OperatorCommand, operatorCatalogOf } from '../../../src/tracers/operator-catalog.js';
import { fixtureContext } from '../../fixtures/proc/fixture-context.js';

const fixtures = join(import.meta.dirname, '../../fixtures/command');
const lines = (file: string) => readFileSync(join(fixtures, file), 'utf8').split('\n');

describe('parseLineProtocol', () => {
  it('parses the fixture: tags, typed fields, escapes, timestamps, comments', () => {
    const parsed = lines('output.lp').map(parseLineProtocol);
    expect(parsed.filter((p) => p !== undefined)).toEqual([
      {
        measurement: 'api_probe',
        tags: { endpoint: '/v3/auth/tokens', method: 'POST' },
        fields: { latency_ms: 512.5, status: 201n, ok: true },
        time: 1700000000000000000n,
      },
      {
        measurement: 'api_probe',
        tags: { endpoint: '/v3/users' },
        fields: { latency_ms: 12, status: 200n, ok: true, note: 'said "hi", then left' },
        time: undefined,
      },
      {
        measurement: 'weird name',
        tags: { 'tag,key': 'va lue=x' },
        fields: { 'f=ield': 1n },
        time: undefined,
      },
    ]);
    expect(parseLineProtocol('   ')).toBeUndefined();
    expect(parseLineProtocol('# x=1')).toBeUndefined();
  });

  it('says what is wrong with a malformed line', () => {
    expect(() => parseLineProtocol('m')).toThrow(/expected a space, then fields/);
    expect(() => parseLineProtocol('m,t x=1')).toThrow(/tag "t" has no value/);
    expect(() => parseLineProtocol('m x=abc')).toThrow(/invalid value "abc" \(strings need double quotes\)/);
    expect(() => parseLineProtocol('m x="open')).toThrow(/not closed/);
    expect(() => parseLineProtocol('m x=1 soon')).toThrow(/not a timestamp/);
    expect(() => parseLineProtocol(',t=1 x=1')).toThrow(LineParseError);
  });
});

describe('parseJsonLine', () => {
  it('flattens objects, keeps types, drops arrays and nulls, and splits tags', () => {
    const [first, blank, second] = lines('output.jsonl');
    expect(parseJsonLine(first, { measurement: 'api', tags: ['endpoint'] })).toEqual({
      measurement: 'api',
      tags: { endpoint: '/v3/users' },
      fields: { latency_ms: 12.5, ok: true, mem_rss: 1024, mem_vms: 4096, state: 'up' },
    });
    expect(parseJsonLine(blank, { measurement: 'api' })).toBeUndefined();
    // Numbers stay floats even when integral: a field's type must not change between lines.
    expect(parseJsonLine(second, { measurement: 'api', tags: ['endpoint'] })?.fields).toEqual({
      latency_ms: 3,
    });
  });

  it('refuses what is not one object per line', () => {
    expect(() => parseJsonLine('[1,2]', { measurement: 'm' })).toThrow(/expected one object per line/);
    expect(() => parseJsonLine('{"a":', { measurement: 'm' })).toThrow(/^json:/);
    expect(() => parseJsonLine('{"t": "x"}', { measurement: 'm', tags: ['t'] })).toThrow(/no field/);
  });
});

describe('parseKvLine', () => {
  it('parses pairs with line-protocol-like types and quoted strings', () => {
    const parsed = lines('output.kv').map((l) =>
      parseKvLine(l, { measurement: 'node', tags: ['host_role'] }),
    );
    expect(parsed.filter((p) => p !== undefined)).toEqual([
      {
        measurement: 'node',
        tags: { host_role: 'api' },
        fields: { rss: 1024n, load: 0.5, state: 'running', msg: 'disk is full', healthy: true },
      },
      { measurement: 'node', tags: { host_role: 'db' }, fields: { rss: 2048n, load: 10 } },
    ]);
  });

  it('refuses text that is not key=value', () => {
    expect(() => parseKvLine('just words', { measurement: 'm' })).toThrow(/expected key=value/);
    expect(() => parseKvLine('a="x"b=1', { measurement: 'm' })).toThrow(/expected a space/);
  });
});

describe('parseRegexLine', () => {
  it('turns named groups into tags and fields and skips lines that do not match', () => {
    const re = /^(?<method>[A-Z]+) (?<path>\S+) status=(?<status>\d+) latency=(?<latency_ms>[\d.]+)ms$/;
    const parsed = lines('output.regex.txt').map((l) =>
      parseRegexLine(l, re, { measurement: 'http', tags: ['method', 'path', 'status'] }),
    );
    expect(parsed).toEqual([
      {
        measurement: 'http',
        tags: { method: 'GET', path: '/v3/users', status: '200' },
        fields: { latency_ms: 12.5 },
      },
      undefined,
      {
        measurement: 'http',
        tags: { method: 'POST', path: '/v3/auth/tokens', status: '201' },
        fields: { latency_ms: 512 },
      },
      undefined,
    ]);
  });
});

describe('scalarField', () => {
  it('follows line protocol conventions', () => {
    expect(scalarField('12i')).toBe(12n);
    expect(scalarField('-3u')).toBe(-3n);
    expect(scalarField('1.5')).toBe(1.5);
    expect(scalarField('-2e3')).toBe(-2000);
    expect(scalarField('TRUE')).toBe(true);
    expect(scalarField('false')).toBe(false);
    expect(scalarField('12ms')).toBe('12ms');
    expect(scalarField('')).toBe('');
  });
});

describe('lineParserFor', () => {
  const base: OperatorCommand = {
    name: 'probe',
    argv: ['/bin/true'],
    format: 'json',
    mode: 'stream',
    source: 'x.yaml',
  };
  it('names json, kv and regex samples after the entry unless it sets a measurement', () => {
    expect(lineParserFor(base)('{"a": 1}')?.measurement).toBe('probe');
    expect(lineParserFor({ ...base, measurement: 'm' })('{"a": 1}')?.measurement).toBe('m');
    expect(lineParserFor({ ...base, format: 'kv' })('a=1')?.fields).toEqual({ a: 1 });
    expect(lineParserFor({ ...base, format: 'regex', regex: 'n=(?<n>\\d+)' })('n=4')?.fields).toEqual({
      n: 4,
    });
    expect(lineParserFor({ ...base, format: 'line-protocol' })('x v=1i')?.measurement).toBe('x');
  });
});

describe('commandTracer', () => {
  const entry: OperatorCommand = {
    name: 'probe',
    argv: ['/bin/true'],
    format: 'json',
    mode: 'stream',
    source: '/etc/x.yaml',
  };

  it('is unavailable, with the exact reason, on an agent without --allow-commands', async () => {
    const ctx = fixtureContext('t0');
    expect(await commandTracer.unavailableReason(ctx)).toBe('agent was not started with --allow-commands');
    expect(COMMANDS_NOT_ALLOWED).toBe('agent was not started with --allow-commands');
    expect(() => commandTracer.create({ name: 'probe' }, { intervalMs: 1000 }, ctx)).toThrow(
      'command "probe" refused: agent was not started with --allow-commands',
    );
    const allowed = { ...ctx, operatorCatalog: operatorCatalogOf([entry], ['/etc/scalpels/commands.d']) };
    expect(await commandTracer.unavailableReason(allowed)).toBeUndefined();
  });

  it('refuses a name that is not in the catalog, naming what it has', () => {
    const catalog = operatorCatalogOf([entry], ['/etc/scalpels/commands.d']);
    expect(resolveCommand('probe', catalog)).toBe(entry);
    expect(() => resolveCommand('rm-rf', catalog)).toThrow(
      'no command "rm-rf" in this agent\'s catalog (read from /etc/scalpels/commands.d); it has probe',
    );
    expect(() => resolveCommand('x', operatorCatalogOf([]))).toThrow(/it is empty/);
  });

  it('has a manifest whose params schema compiles strictly and accepts only a name', () => {
    const m = commandTracer.manifest;
    const validate = new Ajv({ strict: true, allErrors: true }).compile(m.params);
    expect(validate(m.example.with), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({})).toBe(false);
    expect(validate({ name: 'x', argv: ['/bin/sh'] })).toBe(false);
    expect(validate({ name: 'rm -rf /' })).toBe(false);
    expect(m.example.use).toBe('command');
  });
});
