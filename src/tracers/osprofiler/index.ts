import { errorMessage, RuntimeFailure } from '../../core/errors.js';
import { msToNs, type Sample } from '../../core/sample.js';
import { loadTracerManifest } from '../manifest.js';
import { createSampler } from '../sampler.js';
import { readSecret, type SecretRef } from '../secret.js';
import type { Emit, TracerContext, TracerDefinition, TracerInstance, TracerOptions } from '../types.js';
import { RespClient, type RespValue } from './resp.js';
import { breakdown, buildTrace, type OsprofilerEvent, SPAN_KINDS, type Trace, treeJson } from './spans.js';

/** The `with:` block of the `osprofiler` tracer (see tracers/osprofiler.yaml). */
export interface OsprofilerParams extends SecretRef {
  /** osprofiler's connection_string, redis://host:port[/db]. */
  connection_string?: string;
  /** Prefix of the trace lists (osprofiler's Redis driver: `osprofiler_opt:`). */
  key_prefix?: string;
  /** Keep only traces whose top span's project is this (keystone, nova…). */
  project?: string;
  /** Slowest traces written with their span tree at the end of the step. */
  top?: number;
  /** Longest span tree written, in characters. */
  tree_max_chars?: number;
  /** Delete each trace from Redis once read (default true), so Redis does not grow run after run. */
  delete?: boolean;
}

/** The little of a Redis client the collector uses, so that unit tests can stand in for Redis. */
export interface RedisLike {
  command(...args: (string | number)[]): Promise<RespValue>;
  close(): void;
}

/** host, port and db of a redis:// connection string (osprofiler's own format). */
export function parseRedisUrl(url: string): { host: string; port: number; db: number } {
  const u = new URL(url);
  if (u.protocol !== 'redis:')
    throw new Error(`osprofiler: only redis:// connection strings are supported, not ${u.protocol}`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
  };
}

/**
 * Per-request breakdowns from osprofiler's Redis backend. At the stream's start the trace keys
 * already in Redis are noted and left alone (they belong to earlier runs or other streams);
 * each interval, new traces whose spans are all closed become one `osprofiler_spans` sample
 * each; at the end, unfinished traces are written too (complete=false) and the `top` slowest
 * traces of the stream one `osprofiler_trace` sample each, with their span tree.
 */
export function osprofilerCollector(params: OsprofilerParams, redis: RedisLike, ctx: TracerContext) {
  const prefix = params.key_prefix ?? 'osprofiler_opt:';
  const top = params.top ?? 5;
  const maxChars = params.tree_max_chars ?? 16_384;
  const del = params.delete ?? true;
  const seen = new Set<string>();
  let first = true;
  const slowest: Trace[] = [];

  const scan = async (): Promise<string[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const reply = (await redis.command('SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)) as [
        string,
        string[],
      ];
      cursor = reply[0];
      keys.push(...reply[1]);
    } while (cursor !== '0');
    return keys;
  };

  const spansSample = (t: Trace): Sample => {
    const b = breakdown(t);
    const fields: Sample['fields'] = {
      total_ms: t.totalMs,
      spans: BigInt(t.spans.length),
      complete: t.complete,
      base_id: t.baseId,
    };
    for (const k of SPAN_KINDS) {
      fields[`${k}_ms`] = b[k].ms;
      fields[`${k}_count`] = BigInt(b[k].count);
    }
    if (t.path) fields.path = t.path;
    const tags: Record<string, string> = {};
    if (t.project) tags.project = t.project;
    if (t.service) tags.service = t.service;
    if (t.method) tags.method = t.method;
    return { measurement: 'osprofiler_spans', tags, fields, time: msToNs(t.startMs) };
  };

  const pass = async (final: boolean): Promise<Sample[]> => {
    const keys = await scan();
    if (first) {
      first = false;
      for (const k of keys) seen.add(k);
      return [];
    }
    const out: Sample[] = [];
    for (const key of keys) {
      if (seen.has(key)) continue;
      const raw = (await redis.command('LRANGE', key, 0, -1)) as string[];
      const events: OsprofilerEvent[] = [];
      for (const r of raw) {
        try {
          events.push(JSON.parse(r) as OsprofilerEvent);
        } catch {
          ctx.log.debug('osprofiler: skipped an event that is not JSON', { key });
        }
      }
      const trace = buildTrace(key.slice(prefix.length), events);
      if (!trace.complete && !final) continue;
      seen.add(key);
      if (del) await redis.command('DEL', key);
      if (params.project && trace.project !== params.project) continue;
      if (trace.spans.length === 0) continue;
      out.push(spansSample(trace));
      slowest.push(trace);
      slowest.sort((a, b) => b.totalMs - a.totalMs);
      slowest.length = Math.min(slowest.length, top);
    }
    return out;
  };

  return {
    collect: () => pass(false),
    /** Unfinished traces, then the slowest traces with their trees. */
    async finish(): Promise<Sample[]> {
      const out = first ? [] : await pass(true);
      slowest.forEach((t, i) => {
        const tags: Record<string, string> = { rank: String(i + 1) };
        if (t.project) tags.project = t.project;
        const fields: Sample['fields'] = {
          base_id: t.baseId,
          total_ms: t.totalMs,
          spans: BigInt(t.spans.length),
          tree: treeJson(t, maxChars),
        };
        if (t.path) fields.path = t.path;
        out.push({ measurement: 'osprofiler_trace', tags, fields, time: msToNs(t.startMs) });
      });
      return out;
    },
  };
}

async function connectRedis(params: OsprofilerParams): Promise<RedisLike> {
  const url = params.connection_string ?? 'redis://127.0.0.1:6379';
  const { host, port, db } = parseRedisUrl(url);
  let client: RespClient;
  try {
    client = await RespClient.open(host, port);
  } catch (err) {
    throw new RuntimeFailure(`osprofiler: cannot connect to Redis at ${host}:${port}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const password = await readSecret(params, `osprofiler redis ${host}:${port}`);
  try {
    if (password !== undefined) await client.command('AUTH', password);
    if (db) await client.command('SELECT', db);
    await client.command('PING');
  } catch (err) {
    client.close();
    // The reply never holds the password; the message names the server only.
    throw new RuntimeFailure(
      `osprofiler: Redis at ${host}:${port} refused the connection: ${errorMessage(err)}`,
    );
  }
  return client;
}

/**
 * OpenStack's own cross-service profiler, read back from its Redis driver: per request, the
 * time and number of wsgi, db, rpc and other spans; per step, the slowest traces' span trees.
 * Requests are traced when they carry osprofiler's signed headers (the `openstack` workload's
 * `osprofiler.hmac_key_file`) and the services have `[profiler] enabled = true`.
 */
export const osprofilerTracer: TracerDefinition<OsprofilerParams> = {
  name: 'osprofiler',
  manifest: loadTracerManifest('osprofiler'),

  async unavailableReason(): Promise<string | undefined> {
    // Only a TCP connection to Redis is needed; whether it answers is the stream's to say.
    return undefined;
  },

  create(params: OsprofilerParams, options: TracerOptions, ctx: TracerContext): TracerInstance {
    let redis: RedisLike | undefined;
    let collector: ReturnType<typeof osprofilerCollector> | undefined;
    let emit: Emit | undefined;
    const sampler = createSampler(async () => (collector ? collector.collect() : []), options, ctx);
    return {
      async start(onSamples) {
        emit = onSamples;
        redis = await connectRedis(params);
        collector = osprofilerCollector(params, redis, ctx);
        try {
          await sampler.start(onSamples);
        } catch (err) {
          redis.close();
          throw err;
        }
      },
      async stop() {
        try {
          await sampler.stop();
          if (collector) {
            const last = await collector.finish().catch((err) => {
              ctx.log.warn('osprofiler: final read failed', { error: errorMessage(err) });
              return [];
            });
            if (last.length) emit?.(last);
          }
        } finally {
          redis?.close();
        }
      },
    };
  },
};
