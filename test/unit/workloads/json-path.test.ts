import { describe, expect, it } from 'vitest';
import { jsonEqual, parseJsonPath, selectJsonPath } from '../../../src/workloads/http/json-path.js';

describe('JSON path subset', () => {
  const doc = { a: { 'b-c': [1, { d: true }] }, list: [{ id: 1 }, { id: 2 }] };
  it('selects keys, quoted keys and indexes (negative from the end)', () => {
    expect(selectJsonPath(doc, parseJsonPath('$'))).toBe(doc);
    expect(selectJsonPath(doc, parseJsonPath("$.a['b-c'][1].d"))).toBe(true);
    expect(selectJsonPath(doc, parseJsonPath('$.a.b-c[0]'))).toBe(1);
    expect(selectJsonPath(doc, parseJsonPath('$.list[-1].id'))).toBe(2);
    expect(selectJsonPath(doc, parseJsonPath('$.nope.deeper'))).toBeUndefined();
    expect(selectJsonPath(doc, parseJsonPath('$.list.id'))).toBeUndefined();
  });
  it('refuses what it does not support, saying where', () => {
    expect(() => parseJsonPath('a.b')).toThrow('invalid JSON path "a.b": expected it to start with $');
    expect(() => parseJsonPath('$.list[*].id')).toThrow(/at "\[\*\]\.id"/);
  });
  it('compares JSON values structurally', () => {
    expect(jsonEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toBe(true);
    expect(jsonEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(jsonEqual([1], { 0: 1 })).toBe(false);
  });
});
