/**
 * Overhead of the `syscalls` (strace and bpftrace modes), `fsio` (/proc only, and with
 * paths) and `perf` tracers (issue 4), measured in one run:
 *
 *  1. slowdown of a traced process: one python3 process runs the same job again and again,
 *     alternately untraced and traced (the tracer started just before and stopped just after
 *     the traced run, so both runs of a pair see the same machine; every other pair runs the
 *     traced one first), R pairs per tracer; the
 *     figure is the geometric mean of traced/untraced with a 95 % confidence interval
 *     (t-distribution on the log ratios). Two jobs: syscall-bound (getpid in a loop with a
 *     little Python work around each call) and CPU-bound (arithmetic, almost no calls);
 *  2. the tracer's cost during the syscall-bound run: CPU of its tool children (from
 *     /proc/<pid>/stat) and of this process (the agent's side: parsing, aggregation), as a
 *     share of one core over the traced run;
 *  3. the cost at the default interval (1 s) on an idle process: the same two CPU figures over
 *     5 s. bpftrace counts node-wide, so this depends on what else the node does.
 *
 * The agent's CPU is net of this process's own CPU with no tracer (3 s, measured first). The
 * peer of fsio's /proc part, `pidstat -d -p PID 1`, is measured over 5 s at the end.
 *
 * Run: npm run bench -- tracers-syscalls   (about 2 minutes on a 2-CPU VM).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger } from '../src/core/logger.js';
import type { ToolBackedInstance } from '../src/tracers/child-process.js';
import { realTracerContext } from '../src/tracers/context.js';
import { fsioTracer } from '../src/tracers/fsio/index.js';
import { perfTracer } from '../src/tracers/perf/index.js';
import {
  bpftraceSyscallsCheck,
  realProbeDeps,
  straceAttachCheck,
} from '../src/tracers/syscalls/availability.js';
import { syscallsTracer } from '../src/tracers/syscalls/index.js';

const ctx = realTracerContext(silentLogger);
/** Pairs per tracer; bpftrace takes seconds to start, so it gets fewer. */
const PAIRS = { strace: 8, bpftrace: 5, fsio: 8, 'fsio-paths': 8, perf: 6 } as const;
/** Syscall-bound job: iterations of getpid plus a little Python work. */
const SYSCALL_JOB = 'sys 20000';
/** CPU-bound job: iterations of pure arithmetic. */
const CPU_JOB = 'cpu 1500000';

const JOB_SERVER = `
import os, sys, time
for line in sys.stdin:
    kind, n = line.split()
    n = int(n)
    t = time.perf_counter()
    x = 0
    if kind == 'sys':
        for i in range(n):
            os.getpid()
            for j in range(20): x += j
    else:
        for i in range(n): x += i * i
    os.write(1, ('%.9f\\n' % (time.perf_counter() - t)).encode())
`;

/** A python3 process that runs jobs on request and answers with their duration in seconds. */
class JobServer {
  private readonly child: ChildProcess;
  private pending: ((s: number) => void) | undefined;

  constructor() {
    this.child = spawn('/usr/bin/python3', ['-c', JOB_SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
    let partial = '';
    this.child.stdout!.on('data', (c: Buffer) => {
      partial += c.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) this.pending?.(Number(l));
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  run(job: string): Promise<number> {
    return new Promise((resolve) => {
      this.pending = resolve;
      this.child.stdin!.write(`${job}\n`);
    });
  }

  close(): void {
    this.child.stdin!.end();
  }
}

/** CPU seconds used so far by a process, from /proc (10 ms clock ticks); 0 once it is gone. */
function procCpu(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}
const selfCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const toolsCpu = (pids: number[]) => pids.reduce((n, p) => n + procCpu(p), 0);
/** This process's own CPU share with no tracer: the floor the agent figures are net of. */
let idleSelf = 0;

/** Two-sided 97.5 % quantiles of Student's t, by degrees of freedom. */
const T975: Record<number, number> = {
  1: 12.71,
  2: 4.303,
  3: 3.182,
  4: 2.776,
  5: 2.571,
  6: 2.447,
  7: 2.365,
  8: 2.306,
  9: 2.262,
};

/** Geometric mean of ratios and its 95 % confidence interval. */
function ratioCi(ratios: number[]): { mean: number; low: number; high: number } {
  const logs = ratios.map(Math.log);
  const n = logs.length;
  const m = logs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(logs.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1));
  const half = (T975[n - 1] ?? 1.96) * (sd / Math.sqrt(n));
  return { mean: Math.exp(m), low: Math.exp(m - half), high: Math.exp(m + half) };
}
const fmtRatio = (r: { mean: number; low: number; high: number }) =>
  `${r.mean.toFixed(2)}x [${r.low.toFixed(2)}, ${r.high.toFixed(2)}]`;
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

type Config = keyof typeof PAIRS;
function make(config: Config, pid: number): ToolBackedInstance {
  const opts = { intervalMs: 1000 };
  switch (config) {
    case 'strace':
    case 'bpftrace':
      return syscallsTracer.create({ pid, mode: config }, opts, ctx);
    case 'fsio':
      return fsioTracer.create({ pid }, opts, ctx);
    case 'fsio-paths':
      return fsioTracer.create({ pid, paths: true }, opts, ctx);
    case 'perf':
      return perfTracer.create({ pid }, opts, ctx);
  }
}

interface Result {
  config: Config;
  sys: number[];
  cpu: number[];
  baseSys: number[];
  baseCpu: number[];
  /** Seconds the tracer added to one syscall-bound run. */
  added: number[];
  toolShare: number[];
  agentShare: number[];
  idleTool?: number;
  idleAgent?: number;
}

async function measure(config: Config, server: JobServer): Promise<Result> {
  const r: Result = {
    config,
    sys: [],
    cpu: [],
    baseSys: [],
    baseCpu: [],
    added: [],
    toolShare: [],
    agentShare: [],
  };
  for (let i = 0; i < PAIRS[config]; i++) {
    // Every other pair runs traced first, so that an order effect (caches, a neighbour's load
    // that comes and goes) weighs on both sides alike.
    const tracedFirst = i % 2 === 1;
    let baseSys = 0;
    let baseCpu = 0;
    const untraced = async () => {
      baseSys = await server.run(SYSCALL_JOB);
      baseCpu = await server.run(CPU_JOB);
    };
    if (!tracedFirst) await untraced();
    const tracer = make(config, server.pid);
    await tracer.start(() => {});
    const tools = tracer.toolPids();
    const tool0 = toolsCpu(tools);
    const self0 = selfCpu();
    const t0 = performance.now();
    const sys = await server.run(SYSCALL_JOB);
    const wall = (performance.now() - t0) / 1000;
    r.toolShare.push((toolsCpu(tools) - tool0) / wall);
    r.agentShare.push(Math.max(0, (selfCpu() - self0) / wall - idleSelf));
    const cpu = await server.run(CPU_JOB);
    await tracer.stop();
    if (tracedFirst) await untraced();
    r.sys.push(sys / baseSys);
    r.cpu.push(cpu / baseCpu);
    r.baseSys.push(baseSys);
    r.baseCpu.push(baseCpu);
    r.added.push(sys - baseSys);
  }
  // The cost at the default interval on an idle process.
  const tracer = make(config, server.pid);
  await tracer.start(() => {});
  const tools = tracer.toolPids();
  const tool0 = toolsCpu(tools);
  const self0 = selfCpu();
  const t0 = performance.now();
  await sleep(5000);
  const wall = (performance.now() - t0) / 1000;
  r.idleTool = (toolsCpu(tools) - tool0) / wall;
  r.idleAgent = Math.max(0, (selfCpu() - self0) / wall - idleSelf);
  await tracer.stop();
  return r;
}

async function main(): Promise<void> {
  const deps = realProbeDeps(silentLogger);
  const skip: Partial<Record<Config, string>> = {};
  const strace = await straceAttachCheck.get(deps);
  const bpftrace = await bpftraceSyscallsCheck.get(deps);
  if (strace) skip.strace = skip['fsio-paths'] = strace;
  if (bpftrace) skip.bpftrace = bpftrace;
  const perf = await perfTracer.unavailableReason(ctx);
  if (perf) skip.perf = perf;
  const server = new JobServer();
  // Warm up: the first runs pay for imports and page faults.
  for (let i = 0; i < 3; i++) {
    await server.run(SYSCALL_JOB);
    await server.run(CPU_JOB);
  }
  const self0 = selfCpu();
  const t0 = performance.now();
  await sleep(3000);
  idleSelf = (selfCpu() - self0) / ((performance.now() - t0) / 1000);
  const started = Date.now();
  const results: Result[] = [];
  for (const config of Object.keys(PAIRS) as Config[]) {
    if (skip[config]) {
      console.log(`${config}: skipped (${skip[config]})`);
      continue;
    }
    results.push(await measure(config, server));
  }
  // The peer of fsio's /proc part: pidstat reading the same /proc/<pid>/io every second.
  const pidstat = spawn('pidstat', ['-d', '-p', String(server.pid), '1'], { stdio: 'ignore' });
  const peer = await new Promise<number | undefined>((resolve) => {
    pidstat.once('error', () => resolve(undefined));
    pidstat.once('spawn', async () => {
      await sleep(500);
      const c0 = procCpu(pidstat.pid!);
      const t0 = performance.now();
      await sleep(5000);
      resolve((procCpu(pidstat.pid!) - c0) / ((performance.now() - t0) / 1000));
    });
  });
  pidstat.kill();
  server.close();

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const baseline = median(results.flatMap((r) => r.baseSys));
  const baseCpu = median(results.flatMap((r) => r.baseCpu));
  console.log(
    `untraced: syscall-bound job ${(baseline * 1000).toFixed(0)} ms (20 000 iterations, ${((baseline / 20000) * 1e6).toFixed(1)} µs each); CPU-bound job ${(baseCpu * 1000).toFixed(0)} ms (medians)`,
  );
  console.log('');
  const header = [
    'tracer'.padEnd(10),
    'pairs',
    'syscall-bound slowdown [95% CI]'.padStart(32),
    'added per call'.padStart(14),
    'CPU-bound slowdown [95% CI]'.padStart(28),
    'tool CPU (busy)'.padStart(16),
    'agent CPU (busy)'.padStart(17),
    'tool CPU (idle, 1 s)'.padStart(21),
    'agent CPU (idle, 1 s)'.padStart(22),
  ];
  console.log(header.join('  '));
  for (const r of results) {
    console.log(
      [
        r.config.padEnd(10),
        String(r.sys.length).padStart(5),
        fmtRatio(ratioCi(r.sys)).padStart(32),
        `${((median(r.added) / 20000) * 1e6).toFixed(1)} µs`.padStart(14),
        fmtRatio(ratioCi(r.cpu)).padStart(28),
        pct(median(r.toolShare)).padStart(16),
        pct(median(r.agentShare)).padStart(17),
        pct(r.idleTool ?? 0).padStart(21),
        pct(r.idleAgent ?? 0).padStart(22),
      ].join('  '),
    );
  }
  if (peer !== undefined)
    console.log(
      `\npeer: pidstat -d -p PID 1 (the same /proc/<pid>/io, every second): ${pct(peer)} of a core`,
    );
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(
    `\n(${((Date.now() - started) / 1000).toFixed(0)} s; load average ${load}; CPU shares are of one core)`,
  );
}

await main();
