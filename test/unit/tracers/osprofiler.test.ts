import { describe, expect, it } from 'vitest';
import { osprofilerCollector, parseRedisUrl, type RedisLike } from '../../../src/tracers/osprofiler/index.js';
import { parseReply, type RespValue } from '../../../src/tracers/osprofiler/resp.js';
import {
  breakdown,
  buildTrace,
  type OsprofilerEvent,
  parseTimestamp,
  treeJson,
} from '../../../src/tracers/osprofiler/spans.js';

const log = { debug() {}, info() {}, warn() {}, error() {} } as never;
const ctx = { log, readFile: async () => '', readdir: async () => [], now: () => 0n } as never;

/** A Keystone-like request: one wsgi span holding `db` statements of 2 ms each, newest first as Redis keeps them. */
function keystoneEvents(base: string, db: number, open = false): string[] {
  const ev = (
    name: string,
    id: string,
    parent: string,
    ms: number,
    info: Record<string, unknown> = {},
  ): OsprofilerEvent => ({
    name,
    base_id: base,
    trace_id: id,
    parent_id: parent,
    timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, 0) + ms)
      .toISOString()
      .replace('Z', '')
      .replace(/(\.\d{3})$/, '$1000'),
    project: 'keystone',
    service: 'public',
    info,
  });
  const out = [ev('wsgi-start', 'w', base, 0, { request: { method: 'POST', path: '/v3/auth/tokens' } })];
  for (let i = 0; i < db; i++) {
    out.push(
      ev('db-start', `d${i}`, 'w', 10 + i * 5, {
        db: { statement: `SELECT ${i} FROM user`, params: { password: 'secret' } },
      }),
    );
    out.push(ev('db-stop', `d${i}`, 'w', 12 + i * 5));
  }
  if (!open) out.push(ev('wsgi-stop', 'w', base, 500));
  return out.reverse().map((e) => JSON.stringify(e));
}

class FakeRedis implements RedisLike {
  lists = new Map<string, string[]>();
  deleted: string[] = [];
  async command(...args: (string | number)[]): Promise<RespValue> {
    const [cmd, a] = args;
    if (cmd === 'SCAN') return ['0', [...this.lists.keys()]];
    if (cmd === 'LRANGE') return this.lists.get(String(a)) ?? [];
    if (cmd === 'DEL') {
      this.deleted.push(String(a));
      this.lists.delete(String(a));
      return 1;
    }
    throw new Error(`unexpected ${cmd}`);
  }
  close() {}
}

describe('osprofiler spans', () => {
  it('parses osprofiler timestamps to the microsecond, as UTC', () => {
    expect(parseTimestamp('2026-11-25T00:57:12.213475')).toBeCloseTo(
      Date.UTC(2026, 10, 25, 0, 57, 12) + 213.475,
      3,
    );
  });

  it('builds the tree and the per-kind breakdown of a request', () => {
    const t = buildTrace(
      'b',
      keystoneEvents('b', 3).map((e) => JSON.parse(e)),
    );
    expect(t.complete).toBe(true);
    expect(t.roots).toHaveLength(1);
    expect(t.roots[0].children).toHaveLength(3);
    expect(t.method).toBe('POST');
    expect(t.path).toBe('/v3/auth/tokens');
    expect(t.totalMs).toBeCloseTo(500, 3);
    const b = breakdown(t);
    expect(b.db).toEqual({ ms: expect.closeTo(6, 3), count: 3 });
    expect(b.wsgi.count).toBe(1);
    expect(b.rpc.count).toBe(0);
  });

  it('keeps the tree within its bound and never writes SQL parameters', () => {
    const t = buildTrace(
      'b',
      keystoneEvents('b', 200).map((e) => JSON.parse(e)),
    );
    const full = treeJson(t, 1_000_000);
    expect(full).not.toContain('secret');
    const small = treeJson(t, 2000);
    expect(small.length).toBeLessThanOrEqual(2000);
    expect(JSON.parse(small).spans[0].more).toBeGreaterThan(0);
  });
});

describe('osprofiler collector', () => {
  it('ignores traces present at start, writes complete ones, then the slowest with trees', async () => {
    const redis = new FakeRedis();
    redis.lists.set('osprofiler_opt:old', keystoneEvents('old', 1));
    const c = osprofilerCollector({ top: 1 }, redis, ctx);
    expect(await c.collect()).toEqual([]);
    redis.lists.set('osprofiler_opt:a', keystoneEvents('a', 4));
    redis.lists.set('osprofiler_opt:b', keystoneEvents('b', 2, true));
    const s = await c.collect();
    expect(s).toHaveLength(1);
    expect(s[0].measurement).toBe('osprofiler_spans');
    expect(s[0].tags).toEqual({ project: 'keystone', service: 'public', method: 'POST' });
    expect(s[0].fields.db_count).toBe(4n);
    expect(redis.deleted).toEqual(['osprofiler_opt:a']);
    const last = await c.finish();
    expect(last.map((x) => x.measurement)).toEqual(['osprofiler_spans', 'osprofiler_trace']);
    expect(last[0].fields.complete).toBe(false);
    expect(last[1].tags.rank).toBe('1');
    expect(JSON.parse(String(last[1].fields.tree)).base_id).toBeDefined();
    expect(redis.lists.has('osprofiler_opt:old')).toBe(true);
  });
});

describe('RESP', () => {
  it('parses nested arrays, bulk strings and partial buffers', () => {
    const buf = Buffer.from('*2\r\n$1\r\n0\r\n*2\r\n$3\r\nabc\r\n$-1\r\n');
    expect(parseReply(buf, 0)?.value).toEqual(['0', ['abc', null]]);
    expect(parseReply(buf.subarray(0, 12), 0)).toBeUndefined();
    expect(parseReply(Buffer.from('-ERR no\r\n'), 0)?.error).toBe('ERR no');
  });
  it('reads osprofiler connection strings', () => {
    expect(parseRedisUrl('redis://10.0.0.5:6380/2')).toEqual({ host: '10.0.0.5', port: 6380, db: 2 });
    expect(() => parseRedisUrl('mongodb://x')).toThrow(/only redis/);
  });
});
