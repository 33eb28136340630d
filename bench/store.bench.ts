/**
 * The stores' throughput, each next to a peer measured in the same run:
 *
 * - encoder: samples/s into line protocol;
 * - InfluxStore into a private influxd (batching, concurrency, retries as in a run) next to
 *   raw `curl --data-binary` of the same line protocol in 5 000-line batches to the same
 *   server: the server's own limit. Target: ratio >= 0.8;
 * - LocalStore: write samples/s, and the time to compute per-step aggregates of a run of
 *   1 M samples (and the same aggregates read back from InfluxDB).
 *
 * Run: npm run bench -- store    (SCALPELS_BENCH_SAMPLES=200000 for a quicker pass)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sample } from '../src/core/sample.js';
import { stepAggregatesOf } from '../src/store/aggregates.js';
import { InfluxStore } from '../src/store/influx/influx-store.js';
import { encodeBatch } from '../src/store/line-protocol.js';
import { LocalStore } from '../src/store/local/local-store.js';
import type { RunRecord } from '../src/store/run-record.js';
import type { Store } from '../src/store/store.js';
import { PrivateInfluxd } from '../test/integration/helpers/private-influxd.js';

const N = Number(process.env.SCALPELS_BENCH_SAMPLES ?? 1_000_000);
const CHUNK = 1_000;
const CURL_BATCH = 5_000;
/** Alternating rounds of curl and the store; the best of each is compared (other load comes and goes). */
const ROUNDS = Number(process.env.SCALPELS_BENCH_ROUNDS ?? 3);
/** The store's batches in flight (its default is 2), to try other settings. */
const CONCURRENCY = Number(process.env.SCALPELS_BENCH_CONCURRENCY ?? 2);
const STEPS = ['boot', 'list', 'delete', 'resize', 'idle'];
const T0 = 1_760_000_000_000_000_000n;

const RUN_ID = 'bench';
/** Distinct samples made before anything is timed; the run cycles through them with new timestamps. */
const POOL_SIZE = Math.min(N, 50_000);

/** A procstat-like sample: 6 tags, a float and four integers; the 5 steps share the pool evenly. */
function poolSample(j: number): Sample {
  return {
    measurement: 'procstat',
    tags: {
      run: RUN_ID,
      scenario: 'bench',
      step: STEPS[Math.floor((j * STEPS.length) / POOL_SIZE)],
      host: `compute-${j % 8}`,
      process_name: 'nova-api',
      pid: String(1000 + (j % 32)),
    },
    fields: {
      cpu_usage: (j % 1000) / 10 + 0.05,
      memory_rss: BigInt(100_000_000 + (j % 4096) * 4096),
      num_threads: BigInt(j % 64),
      read_bytes: BigInt(j) * 512n,
      voluntary_context_switches: BigInt(j * 3),
    },
    time: 0n,
  };
}

/**
 * Producing samples is the tracers' work, not the stores': sample i is a pool sample with its
 * own timestamp (a cheap shallow copy), so the benchmark neither pays for building 1 M
 * samples nor keeps them all alive (a heap of that size would make the garbage collector the
 * thing measured). curl gets exactly the same points, encoded in advance.
 */
const POOL: Sample[] = Array.from({ length: POOL_SIZE }, (_, j) => poolSample(j));

function* chunks(size: number): Generator<Sample[]> {
  for (let i = 0; i < N; i += size) {
    const chunk: Sample[] = [];
    for (let k = i; k < Math.min(N, i + size); k++) {
      const s = POOL[k % POOL_SIZE];
      chunk.push({
        measurement: s.measurement,
        tags: s.tags,
        fields: s.fields,
        time: T0 + BigInt(k) * 1_000n,
      });
    }
    yield chunk;
  }
}

function rate(count: number, ms: number): string {
  return `${Math.round((count / ms) * 1000).toLocaleString('en-US')} samples/s`;
}

function record(runId: string): RunRecord {
  const perStep = BigInt(Math.ceil(N / STEPS.length));
  return {
    format: 1,
    id: runId,
    status: 'passed',
    exitCode: 0,
    scenario: { name: 'bench', file: 'bench', source: '', rendered: {}, args: {} },
    startedAt: new Date(Number(T0 / 1_000_000n)).toISOString(),
    scalpelsVersion: '0',
    host: 'bench',
    agents: [],
    steps: STEPS.map((name, k) => ({
      name,
      startedAt: '',
      startNs: String(T0 + BigInt(k) * perStep * 1_000n),
      endNs: String(T0 + BigInt(k + 1) * perStep * 1_000n - 1n),
      workload: 'bench',
      runner: 'bench',
      iterations: 0,
      failures: 0,
      sla: [],
      errors: [],
    })),
    streams: [],
    data: { produced: N, written: N, spooled: 0, lost: 0 },
    tags: [],
  };
}

async function writeRun(store: Store, runId: string): Promise<number> {
  const writer = await store.createRun(runId);
  const t = performance.now();
  for (const chunk of chunks(CHUNK)) {
    writer.write(chunk);
    // Samples reach a store over time (MQTT messages): let its I/O run between chunks.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await writer.flush();
  const ms = performance.now() - t;
  await writer.saveRecord(record(runId));
  await writer.close();
  return ms;
}

async function aggregatesMs(store: Store, runId: string): Promise<number> {
  const t = performance.now();
  const fields = ['cpu_usage', 'memory_rss', 'voluntary_context_switches'];
  const aggs = await stepAggregatesOf(store, record(runId), 'procstat', fields);
  for (const field of fields) {
    const steps = aggs.get(field)!;
    if (steps.size !== STEPS.length)
      throw new Error(`expected ${STEPS.length} steps of ${field}, got ${steps.size}`);
  }
  return performance.now() - t;
}

const dir = mkdtempSync(join(tmpdir(), 'scalpels-bench-store-'));
/** Prints a result line (the load average says how busy the machine was). */
function say(line: string): void {
  console.log(line);
}
try {
  console.log(
    `${N.toLocaleString('en-US')} samples (procstat: 6 tags, 5 fields); load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} CPUs`,
  );

  // 1. Encoder.
  {
    // Batches of 5 000, as the stores encode them; 100 000 samples, encoded 5 times.
    const batches: Sample[][] = [];
    for (const chunk of chunks(CURL_BATCH)) {
      batches.push(chunk);
      if (batches.length === 20) break;
    }
    for (const b of batches) encodeBatch(b); // warm up
    const t = performance.now();
    let n = 0;
    for (let rep = 0; rep < 5; rep++) for (const b of batches) n += encodeBatch(b).lines;
    const ms = performance.now() - t;
    say(`encoder: ${rate(n, ms)}`);
  }

  // 2. Local store: write, then per-step aggregates of the 1 M-sample run.
  const local = new LocalStore(join(dir, 'local'));
  {
    const ms = await writeRun(local, RUN_ID);
    say(`local store write: ${rate(N, ms)} (${(ms / 1000).toFixed(2)} s)`);
    const agg = await aggregatesMs(local, RUN_ID);
    say(
      `local store per-step aggregates (3 fields x 5 steps, one pass over ${N.toLocaleString('en-US')} samples): ${(agg / 1000).toFixed(2)} s`,
    );
  }

  // 3. InfluxDB: raw curl batches, then the store, alternating, same server, best of ROUNDS each.
  const influxd = await PrivateInfluxd.start();
  try {
    const files: string[] = [];
    let batch: Sample[] = [];
    let k = 0;
    for (const chunk of chunks(CHUNK)) {
      batch.push(...chunk);
      if (batch.length >= CURL_BATCH) {
        const file = join(dir, `batch-${k++}.lp`);
        writeFileSync(file, encodeBatch(batch).text);
        files.push(file);
        batch = [];
      }
    }
    if (batch.length) {
      const file = join(dir, `batch-${k++}.lp`);
      writeFileSync(file, encodeBatch(batch).text);
      files.push(file);
    }
    const curlRun = (db: string): number => {
      spawnSync('curl', [
        '-s',
        '-XPOST',
        `${influxd.base}/query`,
        '--data-urlencode',
        `q=CREATE DATABASE "${db}"`,
      ]);
      // One curl, one kept-alive connection, batches one after another (curl --next).
      const config = files
        .map(
          (f, i) =>
            `${i ? 'next\n' : ''}url = "${influxd.base}/write?db=${db}&precision=ns"\ndata-binary = "@${f}"\nsilent\noutput = "/dev/null"\nwrite-out = "%{http_code}\\n"\n`,
        )
        .join('');
      const cfg = join(dir, `curl-${db}.cfg`);
      writeFileSync(cfg, config);
      const t = performance.now();
      const r = spawnSync('curl', ['-K', cfg], { encoding: 'utf8', maxBuffer: 1 << 26 });
      const ms = performance.now() - t;
      const codes = r.stdout.trim().split('\n');
      if (codes.some((c) => c !== '204'))
        throw new Error(`curl: unexpected status ${codes.find((c) => c !== '204')}`);
      return ms;
    };
    const storeRun = async (db: string): Promise<number> => {
      const store = new InfluxStore({
        url: influxd.url(db),
        storeDir: join(dir, `spool-${db}`),
        writer: { concurrency: CONCURRENCY, batchSize: CURL_BATCH },
      });
      return writeRun(store, RUN_ID);
    };
    const curlMs: number[] = [];
    const storeMs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      curlMs.push(curlRun(`curl${round}`));
      storeMs.push(await storeRun(`store${round}`));
    }
    const bestCurl = Math.min(...curlMs);
    const bestStore = Math.min(...storeMs);
    say(
      `raw curl --data-binary, ${CURL_BATCH}-line batches: ${rate(N, bestCurl)} (runs: ${curlMs.map((m) => (m / 1000).toFixed(2)).join(', ')} s)`,
    );
    say(
      `InfluxStore (encode + batch + send, ${CONCURRENCY} in flight): ${rate(N, bestStore)} (runs: ${storeMs.map((m) => (m / 1000).toFixed(2)).join(', ')} s)`,
    );
    say(`ratio InfluxStore / raw curl: ${(bestCurl / bestStore).toFixed(2)} (target >= 0.8)`);

    const influx = new InfluxStore({ url: influxd.url('store0'), storeDir: join(dir, 'spool-read') });
    const agg = await aggregatesMs(influx, RUN_ID);
    say(`InfluxStore per-step aggregates (same run, read back from InfluxDB): ${(agg / 1000).toFixed(2)} s`);
  } finally {
    await influxd.destroy();
  }
  say(`load average at the end: ${loadavg()[0].toFixed(1)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
