/**
 * Report at scale (issue 7): a comparison of 2 runs, each with 1 M tracer samples and 100 k
 * iterations, must render in under 5 s into under 5 MB. Generates both runs synthetically into a
 * temporary local store, then times what `scalpels report A B` and `scalpels compare A B --gate …`
 * do, phase by phase. Peers measured in the same process: the raw bytes of the samples files
 * (what any read pays at least) and the generic read through readSamples (a Sample per record,
 * as from InfluxDB); the store's record read alone shows what decoding costs without the report.
 *
 *   npm run bench -- report
 *
 * SCALPELS_BENCH_SAMPLES / SCALPELS_BENCH_ITERATIONS scale it down for a quick look;
 * SCALPELS_BENCH_STORE=dir keeps the generated runs for the next measurement.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/core/paths.js';
import type { Sample } from '../src/core/sample.js';
import { compareLoaded, loadStored, renderReport, resolveRecords, writeOutput } from '../src/report/api.js';
import { seededRandom } from '../src/report/stats.js';
import { LocalStore } from '../src/store/local/local-store.js';
import type { RunRecord } from '../src/store/run-record.js';

const TRACER_SAMPLES = Number(process.env.SCALPELS_BENCH_SAMPLES ?? 1_000_000);
const ITERATIONS = Number(process.env.SCALPELS_BENCH_ITERATIONS ?? 100_000);
const HOSTS = ['ctl-1', 'cmp-1', 'cmp-2', 'cmp-3'];
const PROCESSES = ['nova-api', 'nova-conductor', 'keystone', 'mysqld', 'rabbitmq', 'neutron-server'];
const SYSCALLS = [
  'read',
  'write',
  'openat',
  'close',
  'futex',
  'epoll_wait',
  'recvfrom',
  'sendto',
  'poll',
  'mmap',
  'brk',
  'fstat',
  'lseek',
  'clock_gettime',
  'getpid',
  'stat',
  'ioctl',
  'select',
  'accept4',
  'connect',
];
const STEPS = [
  { name: 'list', share: 0.4, median: 40 },
  { name: 'create', share: 0.4, median: 120 },
  { name: 'delete', share: 0.2, median: 60 },
];
const TICK_MS = 100;

/** Samples per host per tick: cpu, mem, system, 2 diskio, 2 net, 6 procstat, and 20 syscalls every 10th tick. */
const PER_HOST_TICK = 1 + 1 + 1 + 2 + 2 + PROCESSES.length + SYSCALLS.length / 10;

async function generateRun(
  store: LocalStore,
  id: string,
  startMs: number,
  slowdown: number,
  seed: number,
): Promise<RunRecord> {
  const rng = seededRandom(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const ticks = Math.ceil(TRACER_SAMPLES / (HOSTS.length * PER_HOST_TICK));
  const durationMs = ticks * TICK_MS;
  const writer = await store.createRun(id);
  const ns = (ms: number) => BigInt(Math.round(ms * 1000)) * 1000n;
  const base = { run: id, scenario: 'bench' };
  const steps: RunRecord['steps'] = [];
  let t = startMs + 500;
  let written = 0;
  // Iterations: each step's share of the run, 16 workers back to back.
  for (const step of STEPS) {
    const count = Math.round(ITERATIONS * step.share);
    const span = (durationMs - 1000) * step.share;
    const start = t;
    const batch: Sample[] = [];
    const durations: number[] = [];
    for (let i = 0; i < count; i++) {
      const d = step.median * (step.name === 'create' ? slowdown : 1) * Math.exp(0.25 * normal());
      const ok = rng() > 0.002;
      durations.push(d);
      batch.push({
        measurement: 'iteration',
        tags: { ...base, step: step.name, worker: String(i % 16) },
        fields: ok
          ? { duration: d, ok: true, iteration: BigInt(i) }
          : {
              duration: d,
              ok: false,
              iteration: BigInt(i),
              error: rng() > 0.5 ? 'HTTP 503' : 'timeout after 30s',
            },
        time: ns(start + (i / count) * (span - step.median * 3)),
      });
    }
    writer.write(batch);
    written += batch.length;
    steps.push({
      name: step.name,
      startedAt: new Date(start).toISOString(),
      endedAt: new Date(start + span).toISOString(),
      startNs: ns(start).toString(),
      endNs: ns(start + span).toString(),
      workload: 'exec',
      runner: 'constant ×' + count + ', concurrency 16',
      iterations: count,
      failures: 0,
      sla: [],
      errors: [],
    });
    t += span;
  }
  // Tracer samples: counters grow, gauges wander.
  const counters = new Map<string, number>();
  const bump = (key: string, by: number) => {
    const v = (counters.get(key) ?? 0) + Math.max(0, Math.round(by));
    counters.set(key, v);
    return BigInt(v);
  };
  let pid = 1000;
  const pids = new Map(HOSTS.flatMap((h) => PROCESSES.map((p) => [`${h}/${p}`, pid++] as const)));
  let batch: Sample[] = [];
  for (let k = 0; k < ticks; k++) {
    const time = ns(startMs + k * TICK_MS);
    const push = (x: Omit<Sample, 'time'>) => batch.push({ ...x, time });
    for (const host of HOSTS) {
      const h = { ...base, host, tracer: 'proc' };
      const busy = 30 + 20 * Math.sin(k / 300) + 5 * normal();
      push({
        measurement: 'cpu',
        tags: { ...h, cpu: 'cpu-total' },
        fields: {
          usage_user: busy * 0.7,
          usage_system: busy * 0.25,
          usage_idle: 100 - busy,
          usage_nice: 0,
          usage_iowait: rng(),
          usage_irq: 0,
          usage_softirq: 0.2,
          usage_steal: 0,
          usage_guest: 0,
          usage_guest_nice: 0,
          usage_active: busy,
        },
      });
      push({
        measurement: 'mem',
        tags: h,
        fields: {
          total: 16_000_000_000n,
          available: BigInt(8e9 + Math.round(1e8 * normal())),
          used: BigInt(7e9 + Math.round(1e8 * normal())),
          free: 1_000_000_000n,
          cached: 3_000_000_000n,
          buffered: 200_000_000n,
          used_percent: 45 + normal(),
          available_percent: 50 + normal(),
          active: 5_000_000_000n,
          inactive: 2_000_000_000n,
        },
      });
      push({ measurement: 'system', tags: h, fields: { load1: 2 + rng(), load5: 2, load15: 2, n_cpus: 8n } });
      for (const dev of ['vda', 'vdb']) {
        push({
          measurement: 'diskio',
          tags: { ...h, name: dev },
          fields: {
            reads: bump(`${host}${dev}r`, 10 * rng()),
            writes: bump(`${host}${dev}w`, 20 * rng()),
            read_bytes: bump(`${host}${dev}rb`, 40960 * rng()),
            write_bytes: bump(`${host}${dev}wb`, 81920 * rng()),
            read_time: bump(`${host}${dev}rt`, 5 * rng()),
            write_time: bump(`${host}${dev}wt`, 5 * rng()),
            io_time: bump(`${host}${dev}it`, 10 * rng()),
            weighted_io_time: bump(`${host}${dev}wit`, 10 * rng()),
            iops_in_progress: 0n,
            merged_reads: 0n,
            merged_writes: 0n,
          },
        });
      }
      for (const iface of ['eth0', 'eth1']) {
        push({
          measurement: 'net',
          tags: { ...h, interface: iface },
          fields: {
            bytes_sent: bump(`${host}${iface}s`, 1e5 * rng()),
            bytes_recv: bump(`${host}${iface}r`, 2e5 * rng()),
            packets_sent: bump(`${host}${iface}ps`, 100 * rng()),
            packets_recv: bump(`${host}${iface}pr`, 150 * rng()),
            err_in: 0n,
            err_out: 0n,
            drop_in: 0n,
            drop_out: 0n,
          },
        });
      }
      for (const p of PROCESSES) {
        push({
          measurement: 'procstat',
          tags: {
            ...base,
            host,
            tracer: 'process',
            process_name: p,
            selector: p,
            pid: String(pids.get(`${host}/${p}`)),
          },
          fields: {
            cpu_usage: 5 + 5 * rng(),
            cpu_time_user: k * 0.01,
            cpu_time_system: k * 0.004,
            memory_rss: BigInt(2e8 + Math.round(1e6 * rng())),
            memory_vms: 800_000_000n,
            num_threads: 8n,
            memory_swap: 0n,
            voluntary_context_switches: bump(`${host}${p}v`, 50 * rng()),
            involuntary_context_switches: bump(`${host}${p}i`, 5 * rng()),
            num_fds: 40n,
            read_bytes: bump(`${host}${p}rb`, 4096 * rng()),
            write_bytes: bump(`${host}${p}wb`, 4096 * rng()),
            read_count: bump(`${host}${p}rc`, 10 * rng()),
            write_count: bump(`${host}${p}wc`, 10 * rng()),
          },
        });
      }
      if (k % 10 === 0) {
        for (const sc of SYSCALLS) {
          push({
            measurement: 'syscalls',
            tags: { ...base, host, tracer: 'syscalls', process_name: 'nova-api', syscall: sc },
            fields: { count: bump(`${host}${sc}c`, 1000 * rng()), time: bump(`${host}${sc}t`, 1e5 * rng()) },
          });
        }
      }
    }
    if (batch.length >= 20_000) {
      writer.write(batch);
      written += batch.length;
      batch = [];
      await writer.flush();
    }
  }
  writer.write(batch);
  written += batch.length;
  await writer.close();
  const record: RunRecord = {
    format: 1,
    id,
    status: 'passed',
    exitCode: 0,
    scenario: {
      name: 'bench',
      file: 'bench.yaml',
      source: 'name: bench\n',
      rendered: { name: 'bench' },
      args: {},
    },
    startedAt: new Date(startMs).toISOString(),
    endedAt: new Date(startMs + durationMs).toISOString(),
    scalpelsVersion: '0.1.0',
    host: 'bench',
    agents: HOSTS.map((h, i) => ({ name: h, host: h, labels: {}, version: '0.1.0', clockOffsetMs: i * 0.7 })),
    steps,
    streams: [],
    data: { produced: written, written, spooled: 0, lost: 0 },
    tags: [],
  };
  await writer.saveRecord(record);
  return record;
}

function cpuMs(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1000;
}

async function main(): Promise<void> {
  // SCALPELS_BENCH_STORE=dir keeps the generated runs there and reuses them on the next run.
  const kept = process.env.SCALPELS_BENCH_STORE;
  const dir = kept ?? mkdtempSync(join(tmpdir(), 'scalpels-report-bench-'));
  try {
    const store = new LocalStore(join(dir, 'store'));
    if ((await store.listRuns()).length < 2) {
      console.log(
        `generating 2 runs × (${TRACER_SAMPLES} tracer samples + ${ITERATIONS} iterations) in ${dir}…`,
      );
      const g0 = performance.now();
      await generateRun(store, 'bench-a', Date.UTC(2026, 10, 1, 10), 1, 1);
      await generateRun(store, 'bench-b', Date.UTC(2026, 10, 1, 11), 1.08, 2);
      console.log(`generated in ${((performance.now() - g0) / 1000).toFixed(1)} s`);
    } else console.log(`reusing the runs in ${dir}`);

    // Peers, in the same process. The floor: the bytes of both samples files, read in chunks as
    // any read must. The generic read: a Sample object per record through readSamples (what the
    // report paid before the record read, and still pays from InfluxDB). And the store's record
    // read alone, each record decoded into the reused view and dropped.
    const ids = ['bench-a', 'bench-b'];
    let t = performance.now();
    let c = process.cpuUsage();
    let rawBytes = 0;
    for (const id of ids) {
      for await (const chunk of createReadStream(join(store.runDir(id), 'samples.lp')))
        rawBytes += chunk.length;
    }
    const bytesMs = performance.now() - t;
    const bytesCpu = cpuMs(c);
    t = performance.now();
    c = process.cpuUsage();
    let n = 0;
    for (const id of ids) for await (const _ of store.readSamples(id)) n++;
    const bareMs = performance.now() - t;
    const bareCpu = cpuMs(c);
    t = performance.now();
    c = process.cpuUsage();
    let records = 0;
    for (const id of ids) records += await store.readRecords(id, () => {});
    const recordsMs = performance.now() - t;
    const recordsCpu = cpuMs(c);
    const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    console.log(
      `load average: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (${availableParallelism()} cores)`,
    );
    console.log(
      `peer: raw bytes of both files (${(rawBytes / 1e6).toFixed(0)} MB): ${seconds(bytesMs)} wall, ${seconds(bytesCpu)} CPU`,
    );
    console.log(`peer: readSamples, ${n} samples: ${seconds(bareMs)} wall, ${seconds(bareCpu)} CPU`);
    console.log(
      `store's record read, ${records} records: ${seconds(recordsMs)} wall, ${seconds(recordsCpu)} CPU`,
    );

    // The report, as `scalpels report bench-a bench-b -o …` does it.
    t = performance.now();
    c = process.cpuUsage();
    const runs = await loadStored(store, await resolveRecords(store, ids));
    const loadMs = performance.now() - t;
    const t1 = performance.now();
    const { html, model } = renderReport(runs);
    const renderMs = performance.now() - t1;
    const file = await writeOutput(join(dir, 'report.html'), html);
    const totalMs = performance.now() - t;
    const totalCpu = cpuMs(c);
    const bytes = Buffer.byteLength(html);

    // The gate check on the loaded runs.
    const t2 = performance.now();
    const result = compareLoaded(runs, { gates: ['duration:p(95):+5%', 'cpu.usage_active:avg:+20%'] });
    const compareMs = performance.now() - t2;

    console.log(
      `report: load ${(loadMs / 1000).toFixed(2)} s + model and render ${(renderMs / 1000).toFixed(2)} s = ${(totalMs / 1000).toFixed(2)} s wall (${(totalCpu / 1000).toFixed(2)} s CPU)`,
    );
    console.log(
      `report: ${(bytes / 1e6).toFixed(2)} MB, ${model.charts.length} charts (${model.eagerCharts} drawn at load) -> ${file}`,
    );
    console.log(
      `compare (gates on loaded runs): ${(compareMs / 1000).toFixed(2)} s, ${result.failed} of ${result.gates.length} gate checks failed`,
    );
    console.log(
      `ratio: report / readSamples = ${(totalMs / bareMs).toFixed(2)}× wall; report / raw bytes = ${(totalMs / bytesMs).toFixed(1)}× wall`,
    );
    // What a user waits for: the compiled CLI in a process of its own, start-up and worker
    // threads included, three times (the median counts).
    const cliMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t3 = performance.now();
      const r = spawnSync(
        process.execPath,
        [
          join(packageRoot, 'bin/run.js'),
          'report',
          ...ids,
          '--store-dir',
          join(dir, 'store'),
          '-o',
          join(dir, 'cli.html'),
        ],
        { encoding: 'utf8' },
      );
      if (r.status !== 0) throw new Error(`scalpels report exited ${r.status}: ${r.stderr}`);
      cliMs.push(performance.now() - t3);
    }
    const cliMedian = [...cliMs].sort((a, b) => a - b)[1];
    console.log(
      `scalpels report ${ids.join(' ')} (CLI process): ${cliMs.map((ms) => seconds(ms)).join(', ')} wall; median ${seconds(cliMedian)}`,
    );
    const ok = cliMedian < 5000 && bytes < 5e6;
    console.log(
      `target (CLI < 5 s, < 5 MB): ${ok ? 'met' : 'NOT met'}; load average now ${loadavg()[0].toFixed(2)}`,
    );
  } finally {
    if (!kept) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
