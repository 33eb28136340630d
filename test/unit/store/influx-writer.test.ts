/**
 * The InfluxDB writer's batching, spooling and replay against a scripted stand-in for
 * InfluxDB's HTTP API (fast and deterministic); test/integration/store has the real server.
 */

import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Logger, silentLogger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import { InfluxStore } from '../../../src/store/influx/influx-store.js';
import { decodeLines } from '../../../src/store/line-protocol.js';
import type { RunRecord } from '../../../src/store/run-record.js';

type Mode = 'up' | 'down' | 'unauthorized' | 'hang';

/** Answers like InfluxDB 1.x: /ping 204, /write 204 (keeping the lines), /query an empty result. */
class FakeInflux {
  mode: Mode = 'up';
  /** Bodies of accepted writes, in arrival order. */
  writes: string[] = [];
  /** Answer the next N writes with a partial write dropping `dropNext.dropped` points. */
  dropNext?: { times: number; dropped: number };
  private server!: Server;
  private hung: ServerResponse[] = [];
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Drops the connections of requests left hanging. */
  release(): void {
    for (const res of this.hung.splice(0)) res.destroy();
  }

  get lines(): Sample[] {
    return this.writes.flatMap((w) => decodeLines(w));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0];
      if (this.mode === 'hang') {
        this.hung.push(res);
        return;
      }
      if (this.mode === 'down') {
        res.writeHead(503).end();
        return;
      }
      if (path === '/ping') {
        res.writeHead(204).end();
        return;
      }
      if (this.mode === 'unauthorized') {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"authorization failed"}');
        return;
      }
      if (path === '/write') {
        if (this.dropNext && this.dropNext.times > 0) {
          this.dropNext.times--;
          this.writes.push(body);
          res
            .writeHead(400, { 'content-type': 'application/json' })
            .end(`{"error":"partial write: field type conflict dropped=${this.dropNext.dropped}"}`);
          return;
        }
        this.writes.push(body);
        res.writeHead(204).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[{"statement_id":0}]}\n');
    });
  }
}

let fake: FakeInflux;
let dir: string;

beforeEach(async () => {
  fake = new FakeInflux();
  await fake.start();
  dir = await mkdtemp(join(tmpdir(), 'scalpels-influx-writer-'));
});

afterEach(async () => {
  await fake.stop();
  await rm(dir, { recursive: true, force: true });
});

function store(log: Logger = silentLogger, writer = {}) {
  return new InfluxStore({
    url: `http://127.0.0.1:${fake.port}/db`,
    storeDir: dir,
    log,
    requestTimeoutMs: 2_000,
    writer: {
      flushIntervalMs: 50,
      probeIntervalMs: 50,
      retry: { retries: 1, baseDelayMs: 10, maxDelayMs: 20 },
      ...writer,
    },
  });
}

function samples(n: number, from = 0): Sample[] {
  return Array.from({ length: n }, (_, k) => ({
    measurement: 'iteration',
    tags: { run: 'r1', step: 'boot', worker: String((from + k) % 3) },
    fields: { duration: (from + k) / 7, ok: true, iteration: BigInt(from + k) },
    time: 1_700_000_000_000_000_000n + BigInt(from + k),
  }));
}

function record(status: RunRecord['status'] = 'running'): RunRecord {
  return {
    format: 1,
    id: 'r1',
    status,
    exitCode: 0,
    scenario: { name: 'sc', file: 'sc.yaml', source: '', rendered: {}, args: {} },
    startedAt: '2026-11-24T15:30:12.000Z',
    scalpelsVersion: '0.1.0',
    host: 'h',
    agents: [],
    steps: [],
    streams: [],
    data: { produced: 0, written: 0, spooled: 0, lost: 0 },
    tags: [],
  };
}

const until = async (cond: () => boolean, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('InfluxRunWriter', () => {
  it('batches by size and by time, and counts what InfluxDB took', async () => {
    const writer = await store(silentLogger, { batchSize: 1000 }).createRun('r1');
    writer.write(samples(2500));
    // Two full batches go at once; the rest waits for the flush interval.
    await until(() => fake.writes.length >= 2);
    expect(fake.writes.slice(0, 2).map((w) => decodeLines(w).length)).toEqual([1000, 1000]);
    await until(() => fake.writes.length === 3);
    expect(decodeLines(fake.writes[2])).toHaveLength(500);
    await writer.close();
    expect(writer.stats()).toEqual({ written: 2500, spooled: 0 });
  });

  it('adds the run tag to samples that lack it', async () => {
    const writer = await store().createRun('r1');
    writer.write([{ measurement: 'cpu', tags: { host: 'h' }, fields: { usage_user: 1 }, time: 1n }]);
    await writer.close();
    expect(fake.lines[0].tags).toEqual({ host: 'h', run: 'r1' });
  });

  it('never makes write() wait, even when InfluxDB hangs', async () => {
    fake.mode = 'hang';
    const writer = await store(silentLogger, { batchSize: 1000 }).createRun('r1');
    const batch = samples(20_000);
    let slowest = 0;
    let loop = 0;
    try {
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        writer.write(batch.slice(i * 1000, (i + 1) * 1000));
        slowest = Math.max(slowest, performance.now() - t0);
      }
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 10));
      loop = performance.now() - t0;
    } finally {
      // Cut the hanging requests: the writer retries them (or spools and replays) and everything arrives.
      fake.mode = 'up';
      fake.release();
      await writer.close();
    }
    // Each call only encodes 1 000 samples (milliseconds, more on a busy machine); waiting for
    // the hanging request would take the 2 s request timeout at least. The event loop is free too.
    expect(slowest).toBeLessThan(1_500);
    expect(loop).toBeLessThan(1_500);
    expect(writer.stats()).toEqual({ written: 20_000, spooled: 0 });
  });

  it('spools in order while InfluxDB is down and replays during the run when it is back', async () => {
    const writer = await store(silentLogger, { batchSize: 100 }).createRun('r1');
    await writer.saveRecord(record());
    writer.write(samples(300));
    await until(() => fake.lines.length === 301);
    fake.mode = 'down';
    writer.write(samples(500, 300));
    await writer.flush();
    expect(writer.stats().spooled).toBe(500);
    const files = (await readdir(join(dir, 'spool', 'r1'))).sort();
    expect(files.length).toBe(5);
    expect(files.every((f) => /^\d{6}\.lp$/.test(f))).toBe(true);
    // Still down: more batches follow the first ones to disk.
    writer.write(samples(200, 800));
    await until(() => writer.stats().spooled === 700);
    fake.mode = 'up';
    await until(() => writer.stats().spooled === 0);
    expect(writer.stats().written).toBe(1000);
    const iterations = fake.lines
      .filter((s) => s.measurement === 'iteration')
      .map((s) => Number(s.fields.iteration));
    expect(iterations).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    await writer.close();
    await expect(readdir(join(dir, 'spool'))).resolves.toEqual([]);
  });

  it('keeps the spool on disk when InfluxDB is down at the end; the push replays it and fixes the record', async () => {
    const s = store(silentLogger, { batchSize: 100 });
    const writer = await s.createRun('r1');
    await writer.saveRecord(record());
    fake.mode = 'down';
    writer.write(samples(250));
    await writer.flush();
    expect(writer.stats()).toEqual({ written: 0, spooled: 250 });
    const final = { ...record('passed'), data: { produced: 250, written: 0, spooled: 250, lost: 0 } };
    await writer.saveRecord(final);
    await writer.close();
    expect((await s.spooledRuns()).map((r) => [r.runId, r.samples, r.record?.status])).toEqual([
      ['r1', 250, 'passed'],
    ]);

    fake.mode = 'up';
    fake.writes = [];
    const pushed = await s.drainSpool('r1');
    expect(pushed).toMatchObject({ samples: 250, dropped: 0 });
    expect(fake.lines.filter((x) => x.measurement === 'iteration')).toHaveLength(250);
    const last = fake.lines.filter((x) => x.measurement === 'scalpels_run').pop()!;
    expect(JSON.parse(String(last.fields.record)).data).toEqual({
      produced: 250,
      written: 250,
      spooled: 0,
      lost: 0,
    });
    expect(await s.spooledRuns()).toEqual([]);
  });

  it('spools everything, and says why once, when InfluxDB refuses the credentials', async () => {
    const messages: string[] = [];
    const log: Logger = {
      ...silentLogger,
      error: (m) => messages.push(m),
      warn: (m) => messages.push(m),
      child: () => log,
    };
    const writer = await store(log, { batchSize: 100 }).createRun('r1');
    fake.mode = 'unauthorized';
    writer.write(samples(300));
    await writer.flush();
    expect(writer.stats()).toEqual({ written: 0, spooled: 300 });
    expect(messages.filter((m) => /refused the credentials/.test(m))).toHaveLength(1);
    await writer.close();
  });

  it('counts points InfluxDB drops in a partial write as lost, not written', async () => {
    const writer = await store(silentLogger, { batchSize: 100 }).createRun('r1');
    fake.dropNext = { times: 1, dropped: 3 };
    writer.write(samples(100));
    await writer.close();
    expect(writer.stats()).toEqual({ written: 97, spooled: 0 });
    expect(writer.lost).toBe(3);
  });

  it('refuses a run id that is spooled already', async () => {
    const writer = await store().createRun('r1');
    fake.mode = 'down';
    writer.write(samples(10));
    await writer.close();
    await expect(store().createRun('r1')).rejects.toThrow(/already exists in the spool/);
  });
});
