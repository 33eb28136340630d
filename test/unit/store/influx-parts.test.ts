import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/core/errors.js';
import type { Sample } from '../../../src/core/sample.js';
import { fieldAggregate } from '../../../src/store/aggregates.js';
import { parseInfluxUrl, redactSecrets, redactUrl } from '../../../src/store/influx/config.js';
import { ident, literal, qualifier, whereClause } from '../../../src/store/influx/influxql.js';
import { fieldTypesOf, parseQueryResponse, seriesSamples } from '../../../src/store/influx/query-result.js';
import { recordPoint, recordTime } from '../../../src/store/influx/record-point.js';

describe('parseInfluxUrl', () => {
  it('reads host, port, database and retention policy', () => {
    expect(parseInfluxUrl('http://influx:8086/scalpels')).toMatchObject({
      protocol: 'http:',
      hostname: 'influx',
      port: 8086,
      prefix: '',
      database: 'scalpels',
      retentionPolicy: undefined,
    });
    expect(parseInfluxUrl('https://proxy.example/influx/db%20x?rp=week')).toMatchObject({
      protocol: 'https:',
      port: 443,
      prefix: '/influx',
      database: 'db x',
      retentionPolicy: 'week',
    });
  });

  it('refuses what would go wrong later, in one sentence', () => {
    expect(() => parseInfluxUrl('influx:8086')).toThrow(InputError);
    expect(() => parseInfluxUrl('http://influx:8086')).toThrow(/names no database/);
    expect(() => parseInfluxUrl('http://influx:8086/db?precision=s')).toThrow(
      /unknown URL parameter "precision"/,
    );
    expect(() => parseInfluxUrl('ftp://influx/db')).toThrow(/http:\/\/ or https:\/\//);
  });

  it('refuses credentials in the URL without repeating them', () => {
    let message = '';
    try {
      parseInfluxUrl('http://admin:s3cret@influx:8086/db');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/--influx-password-file/);
    expect(message).not.toContain('s3cret');
    expect(message).toContain('http://***@influx:8086/db');
  });

  it('redacts secrets and their basic-auth encoding from any text', () => {
    expect(redactUrl('http://u:p@h/db')).toBe('http://***@h/db');
    const basic = Buffer.from('me:hunter22').toString('base64');
    expect(redactSecrets(`token hunter22 and Basic ${basic}`, { username: 'me', password: 'hunter22' })).toBe(
      'token *** and Basic ***',
    );
  });
});

describe('InfluxQL quoting', () => {
  it('quotes identifiers and literals the way InfluxQL unquotes them', () => {
    expect(ident('cpu')).toBe('"cpu"');
    expect(ident('a "b" \\c')).toBe('"a \\"b\\" \\\\c"');
    expect(literal("it's \\ here\n")).toBe("'it\\'s \\\\ here\\n'");
    expect(qualifier('db', undefined)).toBe('"db"..');
    expect(qualifier('db', 'week')).toBe('"db"."week".');
  });

  it('builds the run, tag and time conditions, and knows when nothing can match', () => {
    expect(whereClause('r1', { tags: { host: "a'b" }, from: 5n, to: 9n })).toBe(
      `"run" = 'r1' AND "host" = 'a\\'b' AND time >= 5 AND time <= 9`,
    );
    expect(whereClause('r1', { tags: { host: '' } })).toBeUndefined();
    expect(whereClause('r1', { tags: { run: 'r2' } })).toBeUndefined();
    expect(whereClause('r1', { tags: { run: 'r1' } })).toBe(`"run" = 'r1'`);
  });
});

describe('query results', () => {
  it('keeps nanosecond timestamps and 64-bit integers exact, and floats floats', () => {
    const text =
      '{"results":[{"statement_id":0,"series":[{"name":"m","tags":{"host":"a b","k":"","run":"r"},' +
      '"columns":["time","f","i","s","b","big"],"values":[[1700000000000000001,1,9007199254740993,"x \\"1234567890123456789\\"",true,0.3333333333333333],' +
      '[-1700000000000000001,null,-9223372036854775808,null,null,12345678901234567890]]}]}]}';
    const parsed = parseQueryResponse(text);
    const types = fieldTypesOf({
      series: [
        {
          name: 'm',
          columns: ['fieldKey', 'fieldType'],
          values: [
            ['f', 'float'],
            ['i', 'integer'],
            ['s', 'string'],
            ['b', 'boolean'],
            ['big', 'float'],
          ],
        },
      ],
    });
    const samples = [...seriesSamples(parsed.results![0].series![0], types)];
    expect(samples).toEqual<Sample[]>([
      {
        measurement: 'm',
        tags: { host: 'a b', run: 'r' },
        fields: {
          f: 1,
          i: 9007199254740993n,
          s: 'x "1234567890123456789"',
          b: true,
          big: 0.3333333333333333,
        },
        time: 1700000000000000001n,
      },
      {
        measurement: 'm',
        tags: { host: 'a b', run: 'r' },
        fields: { i: -9223372036854775808n, big: Number('12345678901234567890') },
        time: -1700000000000000001n,
      },
    ]);
  });

  it('reads a field with two types across shards as a float', () => {
    const types = fieldTypesOf({
      series: [
        {
          name: 'm',
          columns: ['fieldKey', 'fieldType'],
          values: [
            ['v', 'integer'],
            ['v', 'float'],
          ],
        },
      ],
    });
    expect(types.get('m')?.get('v')).toBe('float');
  });
});

describe('run records as points', () => {
  it('keeps the series and timestamp of a run fixed, whatever changes in the record', () => {
    const record = {
      id: 'r1',
      startedAt: '2026-11-24T15:30:12.345Z',
      status: 'running',
      exitCode: 0,
      scenario: { name: 'boot' },
      steps: [],
      tags: [],
    } as never;
    const first = recordPoint(record);
    const later = recordPoint({ ...(record as object), status: 'passed', tags: ['baseline'] } as never);
    expect(first.tags).toEqual(later.tags);
    expect(first.time).toBe(later.time);
    expect(first.time).toBe(recordTime(record));
    expect(first.time).toBe(BigInt(Date.UTC(2026, 10, 24, 15, 30, 12, 345)) * 1_000_000n);
    expect(later.fields.status).toBe('passed');
    expect(later.fields.run_tags).toBe('baseline');
  });
});

describe('fieldAggregate', () => {
  it('does not depend on the order of the values', () => {
    const values = Array.from({ length: 1001 }, (_, i) => Math.sin(i) * 1e3 + 0.1 * i);
    const shuffled = [...values].reverse();
    expect(fieldAggregate(shuffled)).toEqual(fieldAggregate(values));
    const agg = fieldAggregate([1, 2, 3, 4])!;
    expect(agg).toMatchObject({ count: 4, sum: 10, mean: 2.5, min: 1, max: 4, p50: 2.5 });
    expect(agg.p90).toBeCloseTo(3.7, 12);
  });

  it('reads counter rates per series, across resets, whatever the point order', () => {
    const s = 1e9;
    const series: [string, { t: number[]; v: number[] }][] = [
      ['b', { t: [3 * s, 0], v: [130, 100] }],
      ['a', { t: [0, s, 2 * s, 3 * s], v: [0, 10, 20, 5] }],
    ];
    const agg = fieldAggregate([0, 10, 20, 5, 100, 130], series);
    // a: +10 +10 then a reset to 5 (counts as +5) over 3 s; b: +30 over 3 s.
    expect(agg!.rate).toBeCloseTo(25 / 3 + 10, 12);
  });
});
