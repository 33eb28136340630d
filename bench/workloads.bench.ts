/**
 * The workloads' throughput, each next to a peer measured in the same run:
 *
 * - http: Scalpels' http workload (duration runner, fixed concurrency, every iteration
 *   stored through the line-protocol encoder) next to autocannon at the same concurrency,
 *   against the same local server (a separate node process, so neither client shares its
 *   event loop with it). Targets: rps ratio >= 0.9, p99 within 10 %.
 * - exec: processes/s of the exec workload next to `xargs -P` running the same command.
 * - runner overhead: iterations/s of an empty `module` workload (constant runner,
 *   concurrency 1) next to a bare loop calling the same function: the cost per iteration of
 *   numbering, timing, recording and progress.
 *
 * Run: npm run bench -- workloads   (SCALPELS_BENCH_SECONDS=5 for a quicker pass)
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { tracerSchemas, workloadSchemas } from '../src/cli/catalog.js';
import { silentLogger } from '../src/core/logger.js';
import { executeStep } from '../src/orchestrator/step-executor.js';
import { loadScenario } from '../src/scenario/load.js';
import { LocalStore } from '../src/store/local/local-store.js';
import type { SampleSink } from '../src/store/store.js';

/** The part of autocannon's API used here (it ships no types). */
interface AutocannonResult {
  requests: { total: number };
  latency: { p99: number };
  duration: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: {
  url: string;
  connections: number;
  duration: number;
  pipelining?: number;
}) => Promise<AutocannonResult>;

import type { StepRecord } from '../src/store/run-record.js';

const SECONDS = Number(process.env.SCALPELS_BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.SCALPELS_BENCH_CONCURRENCY ?? 16);
const EXEC_N = Number(process.env.SCALPELS_BENCH_EXEC ?? 1000);
const MODULE_N = Number(process.env.SCALPELS_BENCH_ITERATIONS ?? 100_000);

/** Runs a one-step scenario as `scalpels run` does, its points written to a LocalStore (as the CLI does) or nowhere. */
async function runStep(
  yaml: string,
  file = join(tmpdir(), 'bench.yaml'),
  store: 'local' | 'none' = 'local',
): Promise<{ record: StepRecord; seconds: number }> {
  const loaded = loadScenario(file, yaml, { tracers: tracerSchemas, workloads: workloadSchemas });
  const sink: SampleSink =
    store === 'local'
      ? await new LocalStore(mkdtempSync(join(tmpdir(), 'scalpels-bench-store-'))).createRun(
          `bench-${Date.now()}`,
        )
      : { write() {}, flush: async () => {} };
  const t0 = performance.now();
  const record = await executeStep(loaded.scenario.steps[0], 0, {
    loaded,
    runId: 'bench',
    sink,
    log: silentLogger,
    observer: {},
    signal: new AbortController().signal,
  });
  const seconds = (performance.now() - t0) / 1000;
  await sink.flush();
  return { record, seconds };
}

/** undici's Pool driven by a bare loop at the same concurrency: the client library's own ceiling. */
async function rawUndici(url: string): Promise<number> {
  const pool = new Pool(new URL(url).origin, { connections: CONCURRENCY });
  let n = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        await new Promise<void>((resolve) =>
          pool.dispatch(
            { method: 'GET', path: '/' },
            {
              onRequestStart() {},
              onResponseData() {},
              onResponseEnd: () => resolve(),
              onResponseError: () => resolve(),
            },
          ),
        );
        n++;
      }
    }),
  );
  await pool.destroy();
  return n / SECONDS;
}

/** A small node HTTP server in its own process; resolves with its port. */
async function startServer(): Promise<{ port: number; child: ChildProcess }> {
  const code = `
    const http = require('node:http');
    const body = Buffer.from('hello world');
    const server = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }); res.end(body); });
    server.keepAliveTimeout = 60000;
    server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) =>
    child.stdout!.once('data', (d) => resolve(Number(String(d).trim()))),
  );
  return { port, child };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function benchHttp(): Promise<void> {
  const { port, child } = await startServer();
  const url = `http://127.0.0.1:${port}/`;
  try {
    // Warm both clients' connections and the server's JIT, unmeasured.
    await autocannon({ url, connections: CONCURRENCY, duration: 2 });
    const ac = await autocannon({ url, connections: CONCURRENCY, duration: SECONDS, pipelining: 1 });
    const acRps = ac.requests.total / (ac.duration as number);
    const acP99 = ac.latency.p99;

    const scenario = `version: 1
name: bench
steps:
  - name: http
    workload: { use: http, with: { url: "${url}" } }
    runner: { type: duration, duration: ${SECONDS}s, concurrency: ${CONCURRENCY}, warmup: ${CONCURRENCY * 50} }
`;
    const ours = await runStep(scenario);
    const bare = await runStep(scenario, undefined, 'none');
    const raw = await rawUndici(url);
    const r = ours.record;
    const rps = r.throughput ?? 0;
    const p99 = r.duration?.p99 ?? Number.NaN;
    console.log(`http, concurrency ${CONCURRENCY}, ${SECONDS} s against a local node server (own process):`);
    console.log(`  autocannon              ${fmt(acRps)} req/s   p99 ${fmt(acP99, 2)} ms`);
    console.log(
      `  scalpels http           ${fmt(rps)} req/s   p99 ${fmt(p99, 2)} ms   (${r.iterations} iterations, ${r.failures} failed; points to a LocalStore)`,
    );
    console.log(
      `  scalpels http, no store ${fmt(bare.record.throughput ?? 0)} req/s   p99 ${fmt(bare.record.duration?.p99 ?? Number.NaN, 2)} ms`,
    );
    console.log(`  undici, bare loop       ${fmt(raw)} req/s`);
    console.log(
      `  ratio to autocannon     rps ${fmt(rps / acRps, 2)} (target >= 0.9)   p99 ${fmt(p99 / acP99, 2)} (target <= 1.10)`,
    );
  } finally {
    child.kill();
  }
}

async function benchExec(): Promise<void> {
  const concurrency = 4;
  const t0 = performance.now();
  const xargs = spawnSync('/bin/sh', ['-c', `seq ${EXEC_N} | xargs -P ${concurrency} -I{} /bin/sh -c true`]);
  const xargsSeconds = (performance.now() - t0) / 1000;
  if (xargs.status !== 0) throw new Error(`xargs failed: ${xargs.stderr}`);
  const ours = await runStep(`version: 1
name: bench
steps:
  - name: exec
    workload: { use: exec, with: { command: "true" } }
    runner: { type: constant, times: ${EXEC_N}, concurrency: ${concurrency} }
`);
  const xargsRate = EXEC_N / xargsSeconds;
  const oursRate = ours.record.iterations / ours.seconds;
  console.log(`exec, ${EXEC_N} × /bin/sh -c true, ${concurrency} at a time:`);
  console.log(`  xargs -P ${concurrency}        ${fmt(xargsRate)} processes/s`);
  console.log(`  scalpels exec     ${fmt(oursRate)} processes/s   (${ours.record.failures} failed)`);
  console.log(`  ratio             ${fmt(oursRate / xargsRate, 2)}`);
}

async function benchRunnerOverhead(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'scalpels-bench-'));
  writeFileSync(join(dir, 'empty.mjs'), 'export default async function empty() {}\n');
  const fn = async (_ctx: unknown) => {};
  // The bare loop: what it costs to call and await the function, nothing else.
  const t0 = performance.now();
  for (let i = 0; i < MODULE_N; i++) await fn({ iteration: i });
  const bare = (performance.now() - t0) / 1000;
  const ours = await runStep(
    `version: 1
name: bench
steps:
  - name: empty
    workload: { use: module, with: { path: ./empty.mjs } }
    runner: { type: constant, times: ${MODULE_N}, concurrency: 1 }
`,
    join(dir, 'bench.yaml'),
  );
  const perIterationUs = ((ours.seconds - bare) / MODULE_N) * 1e6;
  console.log(`runner overhead, empty module workload, ${fmt(MODULE_N)} iterations, concurrency 1:`);
  console.log(`  bare loop         ${fmt(MODULE_N / bare)} calls/s`);
  console.log(
    `  scalpels module   ${fmt(MODULE_N / ours.seconds)} iterations/s   (${fmt(perIterationUs, 1)} µs overhead per iteration, stored as points)`,
  );
}

await benchHttp();
await benchExec();
await benchRunnerOverhead();
