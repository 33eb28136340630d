/**
 * The workloads' throughput, each next to a peer measured in the same run:
 *
 * - http: Scalpels' http workload (duration runner, fixed concurrency, every iteration
 *   stored in a LocalStore, the live progress line of a terminal drawn to nowhere: what
 *   `scalpels run` does) next to autocannon at the same concurrency, against the same local
 *   server (a separate node process, so neither client shares its event loop with it), the
 *   same workload with its points encoded but not stored, and undici in a bare loop.
 *   autocannon's p99 is computed from its per-response times (see runAutocannon). Every
 *   client is warmed up first, then each runs once per round, for a few seconds, in many
 *   rounds, each round in another order: this VM's speed changes from one spell of seconds
 *   to the next, so only clients run side by side in time can be compared, and the median of
 *   the rounds' ratios is the figure. Targets: rps ratio >= 0.9, p99 within 10 %.
 * - http, by layer: the client's CPU per request from undici alone up to the whole stored
 *   step (see benchHttpLayers), to say which layer to work on.
 * - exec: processes/s of the exec workload next to `xargs -P` running the same command.
 * - runner overhead: iterations/s of an empty `module` workload (constant runner,
 *   concurrency 1) next to a bare loop calling the same function: the cost per iteration of
 *   numbering, timing, recording and progress.
 *
 * Run: npm run bench -- workloads   (SCALPELS_BENCH_SECONDS for each http client's run,
 * SCALPELS_BENCH_ROUNDS for more or fewer rounds of them)
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'undici';
import { tracerSchemas, workloadSchemas } from '../src/cli/catalog.js';
import { createProgress } from '../src/cli/progress.js';
import { silentLogger } from '../src/core/logger.js';
import { executeStep } from '../src/orchestrator/step-executor.js';
import { StepPoints } from '../src/orchestrator/step-points.js';
import { durationStats } from '../src/report/stats.js';
import { loadScenario } from '../src/scenario/load.js';
import { LocalStore } from '../src/store/local/local-store.js';
import type { EncodedSink, SampleSink } from '../src/store/store.js';
import { httpWorkload } from '../src/workloads/http/index.js';

/** The part of autocannon's API used here (it ships no types). */
interface AutocannonResult {
  requests: { total: number };
  duration: number;
}
/** A running autocannon: a promise of its result, and an emitter of each response. */
type AutocannonRun = Promise<AutocannonResult> & {
  on(
    event: 'response',
    listener: (client: unknown, status: number, bytes: number, responseTimeMs: number) => void,
  ): void;
};
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: {
  url: string;
  connections: number;
  duration: number;
  pipelining?: number;
}) => AutocannonRun;

/**
 * autocannon at `connections`, its p99 from every response's own time. Its result's latency
 * percentiles come from an HDR histogram of whole milliseconds (hdr-histogram-js truncates
 * 1.9 ms to 1), which cannot be held against the exact p99 of Scalpels' runner: a p99 of
 * 1.9 ms read as "1" made the http workload look 90 % slower than it was.
 */
async function runAutocannon(
  url: string,
  seconds: number,
): Promise<{ rps: number; p99: number; requests: number }> {
  const times: number[] = [];
  const run = autocannon({ url, connections: CONCURRENCY, duration: seconds, pipelining: 1 });
  run.on('response', (_client, _status, _bytes, ms) => times.push(ms));
  const r = await run;
  return {
    rps: r.requests.total / r.duration,
    p99: durationStats(times)?.p99 ?? Number.NaN,
    requests: r.requests.total,
  };
}

import type { StepRecord } from '../src/store/run-record.js';

const SECONDS = Number(process.env.SCALPELS_BENCH_SECONDS ?? 2);
const CONCURRENCY = Number(process.env.SCALPELS_BENCH_CONCURRENCY ?? 16);
const EXEC_N = Number(process.env.SCALPELS_BENCH_EXEC ?? 1000);
const MODULE_N = Number(process.env.SCALPELS_BENCH_ITERATIONS ?? 100_000);
const ROUNDS = Number(process.env.SCALPELS_BENCH_ROUNDS ?? 10);

/** Scenarios loaded once (schema compilation is no part of a run's cost per request). */
const loadedScenarios = new Map<string, ReturnType<typeof loadScenario>>();
function load(yaml: string, file: string) {
  const key = `${file}\n${yaml}`;
  let loaded = loadedScenarios.get(key);
  if (!loaded) {
    loaded = loadScenario(file, yaml, { tracers: tracerSchemas, workloads: workloadSchemas });
    loadedScenarios.set(key, loaded);
  }
  return loaded;
}

/** A sink that takes the runner's encoded points, as the local store does, and drops them. */
const droppingSink = (): SampleSink & EncodedSink => ({
  write() {},
  writeEncoded() {},
  flush: async () => {},
});

/**
 * Runs a one-step scenario as `scalpels run` does, its points written to a LocalStore (as the
 * CLI does), encoded and dropped, or to the given sink. `progress`: with the live progress
 * line `scalpels run` draws on a terminal (drawn to nowhere), or without any.
 */
async function runStep(
  yaml: string,
  file = join(tmpdir(), 'bench.yaml'),
  store: 'local' | 'none' | SampleSink = 'local',
  progress = false,
): Promise<{ record: StepRecord; seconds: number }> {
  const loaded = load(yaml, file);
  const sink: SampleSink =
    store === 'local'
      ? await new LocalStore(mkdtempSync(join(tmpdir(), 'scalpels-bench-store-'))).createRun(
          `bench-${Date.now()}`,
        )
      : store === 'none'
        ? droppingSink()
        : store;
  const t0 = performance.now();
  const record = await executeStep(loaded.scenario.steps[0], 0, {
    loaded,
    runId: 'bench',
    sink,
    log: silentLogger,
    observer: progress ? createProgress({ live: true, write: () => {} }) : {},
    signal: new AbortController().signal,
  });
  const seconds = (performance.now() - t0) / 1000;
  await sink.flush();
  return { record, seconds };
}

/**
 * undici driven by a bare loop at the same concurrency, one Client (connection) per loop as
 * the http workload lends them: the client library's own ceiling.
 */
async function rawUndici(url: string, seconds = SECONDS): Promise<{ rps: number; p99: number }> {
  const clients = Array.from({ length: CONCURRENCY }, () => new Client(new URL(url).origin));
  const durations: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    clients.map(async (client) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await new Promise<void>((resolve) =>
          client.dispatch(
            { method: 'GET', path: '/' },
            {
              onRequestStart() {},
              onResponseData() {},
              onResponseEnd: () => resolve(),
              onResponseError: () => resolve(),
            },
          ),
        );
        durations.push(performance.now() - t0);
      }
    }),
  );
  await Promise.all(clients.map((c) => c.destroy()));
  return { rps: durations.length / seconds, p99: durationStats(durations)?.p99 ?? Number.NaN };
}

/** One client's pass: its rate and p99, and the CPU per request it and the server spent. */
interface ClientRun {
  rps: number;
  p99: number;
  /** CPU time of this process (every thread) per request, µs. */
  clientUs: number;
  /** CPU time of the server process per request, µs. */
  serverUs: number;
}

/** CPU time of a process so far, µs (Linux /proc; NaN elsewhere). */
function processCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return Number.NaN;
  }
}

/**
 * Runs one client and measures the CPU it and the server spend per request: on a shared
 * machine the rates swing with the load of others, while CPU per request barely does.
 */
async function measured(
  server: ChildProcess,
  run: () => Promise<{ rps: number; p99: number; requests: number }>,
): Promise<ClientRun> {
  const server0 = processCpuUs(server.pid!);
  const cpu0 = process.cpuUsage();
  const r = await run();
  const cpu = process.cpuUsage(cpu0);
  const serverUs = processCpuUs(server.pid!) - server0;
  return {
    rps: r.rps,
    p99: r.p99,
    clientUs: (cpu.user + cpu.system) / r.requests,
    serverUs: serverUs / r.requests,
  };
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
    const scenario = (seconds: number) => `version: 1
name: bench
steps:
  - name: http
    workload: { use: http, with: { url: "${url}" } }
    runner: { type: duration, duration: ${seconds}s, concurrency: ${CONCURRENCY} }
`;
    // No warmup iterations: the step's rate then counts from its first request, connections
    // opened, as autocannon's does. Each client's JIT, and the server's, is warmed here instead.
    await runAutocannon(url, 2);
    await runStep(scenario(2));
    await runStep(scenario(2), undefined, 'none');
    load(scenario(SECONDS), join(tmpdir(), 'bench.yaml'));
    await rawUndici(url, 2);

    console.log(
      `http, concurrency ${CONCURRENCY}, against a local node server (own process), ${ROUNDS} rounds of ${SECONDS} s per client:`,
    );
    // Rounds, each client once per round (in an order that rotates): on a shared machine the
    // load changes within seconds, so one round's ratios say more than one client's best.
    const ratios: Record<string, number[]> = {};
    const keep = (name: string, value: number) => {
      ratios[name] ??= [];
      ratios[name].push(value);
    };
    const stepRun = async (store: 'local' | 'none') => {
      const { record } = await runStep(scenario(SECONDS), undefined, store, true);
      return {
        rps: record.throughput ?? 0,
        p99: record.duration?.p99 ?? Number.NaN,
        requests: record.iterations + (record.warmup ?? 0),
      };
    };
    const clients: [string, () => Promise<{ rps: number; p99: number; requests: number }>][] = [
      ['autocannon', () => runAutocannon(url, SECONDS)],
      ['stored', () => stepRun('local')],
      ['not stored', () => stepRun('none')],
      [
        'bare undici',
        async () => {
          const r = await rawUndici(url);
          return { ...r, requests: r.rps * SECONDS };
        },
      ],
    ];
    console.log(
      '  per round, req/s and p99 of: autocannon | scalpels http, points stored | the same, points encoded and dropped | undici in a bare loop',
    );
    for (let round = 1; round <= ROUNDS; round++) {
      // Each round in another order, so no client always runs just after the same one.
      const order = clients.map((_, i) => clients[(i + round) % clients.length]);
      const runs = new Map<string, ClientRun>();
      for (const [name, run] of order) runs.set(name, await measured(child, run));
      const ac = runs.get('autocannon')!;
      const ours = runs.get('stored')!;
      const bare = runs.get('not stored')!;
      const raw = runs.get('bare undici')!;
      const cell = (m: ClientRun) => `${fmt(m.rps).padStart(6)} ${fmt(m.p99, 2).padStart(5)} ms`;
      console.log(
        `  round ${String(round).padStart(2)} (load ${loadavg()[0].toFixed(1)}): ${[ac, ours, bare, raw].map(cell).join(' | ')}   stored ÷ autocannon: rps ${fmt(ours.rps / ac.rps, 2)}, p99 ${fmt(ours.p99 / ac.p99, 2)}`,
      );
      keep('scalpels http ÷ autocannon, rps (target >= 0.9)', ours.rps / ac.rps);
      keep('scalpels http ÷ autocannon, p99 (target <= 1.1)', ours.p99 / ac.p99);
      keep('scalpels http ÷ bare undici, rps', ours.rps / raw.rps);
      keep('scalpels http, no store ÷ bare undici, rps', bare.rps / raw.rps);
      keep('stored ÷ not stored, rps', ours.rps / bare.rps);
      keep('bare undici ÷ autocannon, rps', raw.rps / ac.rps);
      keep('client CPU per request, autocannon, µs', ac.clientUs);
      keep('client CPU per request, scalpels http, µs', ours.clientUs);
      keep('client CPU per request, no store, µs', bare.clientUs);
      keep('client CPU per request, bare undici, µs', raw.clientUs);
      keep('server CPU per request, µs', ours.serverUs);
    }
    console.log(`median (range) of ${ROUNDS} rounds:`);
    for (const [name, values] of Object.entries(ratios)) {
      const stats = durationStats(values);
      console.log(
        `  ${name.padEnd(50)} ${fmt(stats?.median ?? Number.NaN, 2)} (${fmt(stats?.min ?? Number.NaN, 2)}–${fmt(stats?.max ?? Number.NaN, 2)})`,
      );
    }
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

/**
 * Where the http workload's client CPU goes, layer by layer, each measured as CPU per request
 * against the same server: undici alone (one Client per loop); the http workload's iterate()
 * in a bare loop; the runner (executeStep) with its iteration points not recorded; with them
 * encoded into a sink that drops them; and written to a LocalStore. Interleaved, in rounds,
 * medians: the differences are a few µs, less than the swings of a shared VM between runs.
 */
async function benchHttpLayers(): Promise<void> {
  const { port, child } = await startServer();
  const url = `http://127.0.0.1:${port}/`;
  const seconds = SECONDS;
  const cpuPerRequest = async (run: () => Promise<number>) => {
    const c0 = process.cpuUsage();
    const requests = await run();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / requests;
  };
  const loops = async (each: (slot: number) => Promise<void>) => {
    let n = 0;
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, slot) => {
        while (performance.now() < end) {
          await each(slot);
          n++;
        }
      }),
    );
    return n;
  };
  const stepYaml = `version: 1
name: bench
steps:
  - name: http
    workload: { use: http, with: { url: "${url}" } }
    runner: { type: duration, duration: ${seconds}s, concurrency: ${CONCURRENCY} }
`;
  const step = async (sink: 'local' | SampleSink) => {
    const { record } = await runStep(stepYaml, join(tmpdir(), 'bench-layers.yaml'), sink);
    return record.iterations;
  };
  const layers: [string, () => Promise<number>][] = [
    [
      'undici, bare loop',
      async () => {
        const r = await rawUndici(url, seconds);
        return r.rps * seconds;
      },
    ],
    [
      '+ http workload',
      async () => {
        const workload = httpWorkload.create(
          { url },
          { log: silentLogger, args: {}, baseDir: tmpdir(), concurrency: CONCURRENCY },
        );
        const signal = new AbortController().signal;
        let iteration = 0;
        const n = await loops(async (worker) => {
          await workload.iterate({ iteration: iteration++, worker, signal });
        });
        await workload.close?.();
        return n;
      },
    ],
    [
      '+ runner, points not kept',
      async () => {
        const keep = StepPoints.prototype.iteration;
        StepPoints.prototype.iteration = () => {};
        try {
          return await step(droppingSink());
        } finally {
          StepPoints.prototype.iteration = keep;
        }
      },
    ],
    ['+ points encoded', () => step(droppingSink())],
    ['+ points in a LocalStore', () => step('local')],
  ];
  try {
    for (const [, run] of layers) await run(); // warm-up
    const results = new Map<string, number[]>(layers.map(([name]) => [name, []]));
    for (let round = 0; round < ROUNDS; round++)
      for (const [name, run] of layers) results.get(name)!.push(await cpuPerRequest(run));
    console.log(
      `http client CPU per request by layer (median of ${ROUNDS} interleaved rounds of ${seconds} s):`,
    );
    let previous: number | undefined;
    for (const [name] of layers) {
      const median = durationStats(results.get(name)!)?.median ?? Number.NaN;
      const step =
        previous === undefined ? '' : `   (${median >= previous ? '+' : ''}${fmt(median - previous, 1)})`;
      console.log(`  ${name.padEnd(28)} ${fmt(median, 1).padStart(5)} µs${step}`);
      previous = median;
    }
  } finally {
    child.kill();
  }
}

await benchHttp();
await benchHttpLayers();
await benchExec();
await benchRunnerOverhead();
