import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes, runStep, scenarioOf, startServer, type TestServer } from './helpers.js';

let server: TestServer;
beforeAll(async () => {
  server = await startServer(routes);
});
afterAll(() => server.close());

const step = (withBlock: string, runner = '{ type: constant, times: 4, concurrency: 2 }', extra = '') =>
  scenarioOf(`version: 1
name: http-test
steps:
  - name: s
    workload: { use: http, with: ${withBlock} }
    runner: ${runner}
${extra}`);

/** A port with nothing listening: bind one, note it, close it. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('http workload against a real local server', () => {
  it('records duration, status and bytes of each request', async () => {
    const { record, sink } = await runStep(step(`{ url: "${server.url}/ok" }`));
    expect(record.iterations).toBe(4);
    expect(record.failures).toBe(0);
    const points = sink.of('iteration');
    expect(points).toHaveLength(4);
    for (const p of points) {
      expect(p.fields.status).toBe(200n);
      expect(p.fields.bytes).toBe(BigInt('hello world'.length));
      expect(p.fields.duration).toBeGreaterThan(0);
      expect(p.fields.ok).toBe(true);
    }
  });

  it('fails on a 5xx with the status in the error', async () => {
    const { record, sink } = await runStep(step(`{ url: "${server.url}/status/503" }`));
    expect(record.failures).toBe(4);
    expect(record.errors[0].message).toMatch(/status 503 \(expected 200-399\)/);
    expect(sink.of('iteration')[0].fields.status).toBe(503n);
  });

  it('accepts the statuses listed in expect.status', async () => {
    const { record } = await runStep(
      step(`{ url: "${server.url}/status/404", expect: { status: [404, 2xx] } }`),
    );
    expect(record.failures).toBe(0);
  });

  it('times out a slow response', async () => {
    const { record, sink } = await runStep(
      step(`{ url: "${server.url}/slow/3000", timeout: 300ms }`, '{ type: serial, times: 1 }'),
    );
    expect(record.failures).toBe(1);
    expect(record.errors[0].message).toMatch(/timed out after 300ms/);
    const duration = sink.of('iteration')[0].fields.duration as number;
    expect(duration).toBeGreaterThanOrEqual(299);
    expect(duration).toBeLessThan(800);
  });

  it('times out each request at its own deadline, on a connection that carried others before it', async () => {
    // One connection: five 100 ms requests, then one that would take 3 s. The connection's
    // timer was set for the first request; the last must still time out 300 ms after it started.
    const { record, sink } = await runStep(
      step(
        `{ requests: [${[1, 2, 3, 4, 5].map((i) => `{ name: r${i}, url: "${server.url}/slow/100" }`).join(', ')}, { name: last, url: "${server.url}/slow/3000" }], timeout: 300ms }`,
        '{ type: serial, times: 1 }',
      ),
    );
    expect(record.errors[0].message).toMatch(/^last: .* timed out after 300ms/);
    const actions = sink.of('action');
    expect(actions.map((a) => a.fields.ok)).toEqual([true, true, true, true, true, false]);
    const last = actions[5].fields.duration as number;
    expect(last).toBeGreaterThanOrEqual(299);
    expect(last).toBeLessThan(600);
  });

  it('times out a request with a shorter timeout than the one before it on the same connection', async () => {
    const { record, sink } = await runStep(
      step(
        `{ requests: [{ name: long, url: "${server.url}/slow/50", timeout: 5s }, { name: short, url: "${server.url}/slow/3000", timeout: 200ms }] }`,
        '{ type: serial, times: 1 }',
      ),
    );
    expect(record.errors[0].message).toMatch(/^short: .* timed out after 200ms/);
    const short = sink.of('action')[1].fields.duration as number;
    expect(short).toBeGreaterThanOrEqual(199);
    expect(short).toBeLessThan(600);
  });

  it('takes a timeout longer than the longest Node timer (24.8 days) without firing it at once', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const { record } = await runStep(
        step(`{ url: "${server.url}/slow/50", timeout: 1000h }`, '{ type: serial, times: 3 }'),
      );
      expect(record.failures).toBe(0);
      expect(record.iterations).toBe(3);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('TimeoutOverflowWarning');
  });

  it('recovers the connection of a timed-out request for the next one', async () => {
    let n = 0;
    const once = await startServer(async (_req, res) => {
      if (n++ === 0) await new Promise((r) => setTimeout(r, 1000));
      res.end('ok');
    });
    try {
      const { record } = await runStep(
        step(`{ url: "${once.url}/", timeout: 200ms }`, '{ type: serial, times: 3 }'),
      );
      expect(record.iterations).toBe(3);
      expect(record.failures).toBe(1);
      expect(record.errors[0].message).toMatch(/timed out after 200ms/);
      // The aborted request's socket is closed; the next two share a new one.
      expect(once.requests).toBe(3);
      expect(once.connections).toBe(2);
    } finally {
      await once.close();
    }
  });

  it('reports a refused connection', async () => {
    const port = await closedPort();
    const { record } = await runStep(
      step(`{ url: "http://127.0.0.1:${port}/" }`, '{ type: serial, times: 1 }'),
    );
    expect(record.failures).toBe(1);
    expect(record.errors[0].message).toMatch(/ECONNREFUSED/);
  });

  it('checks JSON paths and bodies', async () => {
    const good = await runStep(
      step(
        `{ url: "${server.url}/json", expect: { json: { "$.status": ok, "$.items[1].name": b, "$.items[-1].id": 2 }, body_contains: items, body_matches: "\\"id\\":\\\\s*1" } }`,
      ),
    );
    expect(good.record.errors).toEqual([]);
    const bad = await runStep(
      step(`{ url: "${server.url}/json", expect: { json: { "$.items[0].id": 7 } } }`, '{ type: serial }'),
    );
    expect(bad.record.errors[0].message).toBe('$.items[0].id is 1 (expected 7)');
    const notJson = await runStep(
      step(`{ url: "${server.url}/ok", expect: { json: { "$.a": 1 } } }`, '{ type: serial }'),
    );
    expect(notJson.record.errors[0].message).toBe('body is not JSON');
  });

  it('sends headers and JSON bodies', async () => {
    const { record } = await runStep(
      step(
        `{ url: "${server.url}/echo", method: PUT, headers: { X-Test: yes }, json: { a: 1 }, expect: { json: { "$.method": PUT, "$.headers.x-test": "yes", "$.headers.content-type": application/json, "$.body": "{\\"a\\":1}" } } }`,
      ),
    );
    expect(record.errors).toEqual([]);
  });

  it('runs a flow: each request an atomic action, stored and summarised per action', async () => {
    const { record, sink } = await runStep(
      step(
        `{ base_url: "${server.url}", requests: [ { name: login, url: /ok }, { name: list, url: /json }, { name: fail, url: /status/500 }, { name: never, url: /ok } ] }`,
      ),
    );
    expect(record.failures).toBe(4);
    expect(record.errors[0].message).toBe('fail: status 500 (expected 200-399)');
    expect(Object.keys(record.actions!).sort()).toEqual(['fail', 'list', 'login']);
    expect(record.actions!.login.count).toBe(4);
    expect(record.actions!.fail.failures).toBe(4);
    const actions = sink.of('action');
    expect(actions).toHaveLength(12);
    expect(actions[0].tags).toMatchObject({ run: 'r1', scenario: 'http-test', step: 's', action: 'login' });
    expect(actions[0].fields).toMatchObject({ ok: true, status: 200n });
    // Actions are timed in order within their iteration.
    const it0 = actions.filter((a) => a.fields.iteration === 0n);
    expect(it0.map((a) => a.tags.action)).toEqual(['login', 'list', 'fail']);
    expect(it0[0].time < it0[1].time && it0[1].time < it0[2].time).toBe(true);
  });

  it('constant: never more requests in flight than its concurrency', async () => {
    const slow = await startServer(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 20));
      res.end('ok');
    });
    try {
      const { record } = await runStep(
        step(`{ url: "${slow.url}/" }`, '{ type: constant, times: 60, concurrency: 3 }'),
      );
      expect(record.iterations).toBe(60);
      expect(slow.requests).toBe(60);
      expect(slow.maxInFlight).toBe(3);
      // Keep-alive: each of the 3 in flight at a time holds one connection, reused 20 times.
      expect(slow.connections).toBe(3);
    } finally {
      await slow.close();
    }
  });

  it('duration: stops on time', async () => {
    const t0 = performance.now();
    const { record } = await runStep(
      step(`{ url: "${server.url}/slow/50" }`, '{ type: duration, duration: 1500ms, concurrency: 2 }'),
    );
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThan(1750);
    // 2 workers × 1.5 s / ~50 ms.
    expect(record.iterations).toBeGreaterThan(40);
    expect(record.iterations).toBeLessThanOrEqual(62);
    expect(record.failures).toBe(0);
  });

  it('rate: keeps 200/s within ±5 % over 10 s', async () => {
    // The server in its own process, as a real one: it does not share the runner's event loop.
    const code = `const http = require('node:http'); let n = 0;
      const s = http.createServer((q, r) => { n++; r.end('ok'); });
      s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));
      process.on('message', () => process.send(n));`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    try {
      const port = await new Promise<number>((r) =>
        child.stdout!.once('data', (d) => r(Number(String(d).trim()))),
      );
      const { record, sink } = await runStep(
        step(`{ url: "http://127.0.0.1:${port}/" }`, '{ type: rate, rps: 200, duration: 10s }'),
      );
      const served = await new Promise<number>((r) => {
        child.once('message', (m) => r(m as number));
        child.send('count');
      });
      // Missed starts only if the machine stalls the event loop (a busy CI box): a few at most.
      expect(record.missed!).toBeLessThan(40);
      expect(served).toBe(record.iterations);
      // Achieved rate of starts over the step: from the iteration points' start times.
      const times = sink.of('iteration').map((p) => Number(p.time / 1000n) / 1000);
      const span = (Math.max(...times) - Math.min(...times)) / 1000;
      const achieved = (times.length - 1 + record.missed!) / span;
      expect(Math.abs(achieved - 200) / 200).toBeLessThan(0.05);
      expect(Math.abs(record.iterations + record.missed! - 2000) / 2000).toBeLessThan(0.05);
      expect(Math.abs(record.throughput! - 200) / 200).toBeLessThan(0.05);
    } finally {
      child.kill();
    }
  }, 30_000);

  it('rate: counts missed starts when max_concurrency is in flight (open model)', async () => {
    const { record } = await runStep(
      step(`{ url: "${server.url}/slow/300" }`, '{ type: rate, rps: 50, times: 40, max_concurrency: 5 }'),
    );
    // Each request holds its slot for 300 ms: at 50/s, 5 slots take ~16/s, the rest are missed.
    expect(record.missed).toBeGreaterThan(15);
    expect(record.iterations + record.missed!).toBe(40);
  });
});
