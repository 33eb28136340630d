/**
 * The cost of the `python` tracer to the process it traces: the slowdown of CPU-bound Python
 * workloads with the tracer attached, against the same workloads in the same process with no
 * tracer, measured in alternating blocks so that drift of the machine hits both alike.
 *
 * - calls: recursive fib — nothing but Python-to-Python calls, the worst case: every return
 *   traps into the kernel (the USDT probe is a uprobe).
 * - mixed: JSON encode/decode of 2 000 records and a sort with a Python key function —
 *   mostly C code, with Python frames entered from C (timed too: a uprobe and a uretprobe).
 * - mixed, timing off: the same with `timing: false`.
 *
 * Prints, per workload, the mean time per run without and with the tracer, the slowdown
 * ratio with a 95 % confidence interval over the blocks, the cost per traced call, and the
 * CPU the bpftrace child used. Under two minutes on a 2-CPU VM.
 *
 * Run: npm run bench -- tracers-python   (SCALPELS_BENCH_BLOCKS=3 for a quicker pass)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createLogger } from '../src/core/logger.js';
import { bpftraceUnavailableReason } from '../src/tracers/bpftrace-runner.js';
import { realTracerContext } from '../src/tracers/context.js';
import { type PythonParams, type PythonTracerInstance, pythonTracer } from '../src/tracers/python/index.js';

const BLOCKS = Number(process.env.SCALPELS_BENCH_BLOCKS ?? 5);
const REPS = Number(process.env.SCALPELS_BENCH_REPS ?? 5);

/** The worker: runs a named workload once per stdin line and prints its wall time in seconds. */
const WORKER = `
import json, sys, time
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
def calls():
    for _ in range(10):
        fib(16)
RECORDS = [{"id": i, "name": "user%05d" % ((i * 7919) % 2000), "tags": ["a", "b"], "score": i * 0.5} for i in range(2000)]
def mixed():
    for _ in range(5):
        text = json.dumps(RECORDS)
        back = json.loads(text)
        back.sort(key=lambda r: r["name"])
WORK = {"calls": calls, "mixed": mixed}
for w in WORK.values():
    w()
print("ready", flush=True)
for line in sys.stdin:
    t = time.perf_counter()
    WORK[line.strip()]()
    print("%.6f" % (time.perf_counter() - t), flush=True)
`;
/** Python calls per run of each workload (fib(16) makes 3 193 calls), for the cost per call. */
const CALLS_PER_RUN: Record<string, number> = { calls: 10 * 3193 + 1, mixed: 5 * 2000 + 1 };

interface Case {
  label: string;
  workload: 'calls' | 'mixed';
  timing: boolean;
}
const CASES: Case[] = [
  { label: 'calls (fib), timing on', workload: 'calls', timing: true },
  { label: 'calls (fib), timing off', workload: 'calls', timing: false },
  { label: 'mixed (json + sort), timing on', workload: 'mixed', timing: true },
  { label: 'mixed (json + sort), timing off', workload: 'mixed', timing: false },
];

function startWorker() {
  const child = spawn('/usr/bin/python3', ['-c', WORKER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: ((line: string) => void)[] = [];
  let rest = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    rest += d;
    for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      waiting.shift()?.(line);
    }
  });
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  return {
    pid: child.pid!,
    ready: next(),
    async run(workload: string): Promise<number> {
      const answer = next();
      child.stdin.write(`${workload}\n`);
      return Number(await answer);
    },
    stop: () => child.kill(),
  };
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Two-sided 95 % Student t quantiles by degrees of freedom. */
const T95 = [Number.NaN, 12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];
function ci95(xs: number[]): [number, number] {
  const m = mean(xs);
  if (xs.length < 2) return [m, m];
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
  const half = (T95[Math.min(xs.length - 1, 10)] ?? 1.96) * (sd / Math.sqrt(xs.length));
  return [m - half, m + half];
}

async function measure(worker: ReturnType<typeof startWorker>, c: Case) {
  const ratios: number[] = [];
  const base: number[] = [];
  const traced: number[] = [];
  let bpftraceCpu = 0;
  let tracedSeconds = 0;
  for (let b = 0; b < BLOCKS; b++) {
    const plain: number[] = [];
    for (let i = 0; i < REPS; i++) plain.push(await worker.run(c.workload));
    const ctx = realTracerContext(createLogger({ level: 'error' }));
    const params: PythonParams = { pid: worker.pid, timing: c.timing, top: 50 };
    const tracer = pythonTracer.create(params, { intervalMs: 1000 }, ctx) as PythonTracerInstance;
    await tracer.start(() => {});
    const [bpftrace] = tracer.toolPids();
    const cpu0 = cpuSeconds(bpftrace);
    const t0 = performance.now();
    const withTracer: number[] = [];
    for (let i = 0; i < REPS; i++) withTracer.push(await worker.run(c.workload));
    tracedSeconds += (performance.now() - t0) / 1000;
    bpftraceCpu += cpuSeconds(bpftrace) - cpu0;
    await tracer.stop();
    base.push(...plain);
    traced.push(...withTracer);
    ratios.push(mean(withTracer) / mean(plain));
  }
  return { ratios, base: mean(base), traced: mean(traced), bpftraceCpu, tracedSeconds };
}

async function main(): Promise<void> {
  const missing = await bpftraceUnavailableReason();
  if (missing) {
    console.log(`python tracer: cannot run here: ${missing}`);
    process.exit(process.env.CI === 'true' ? 1 : 0);
  }
  const worker = startWorker();
  await worker.ready;
  console.log(
    `python tracer cost: ${BLOCKS} blocks of ${REPS} runs without, then ${REPS} with the tracer (/usr/bin/python3)`,
  );
  console.log(
    'workload                          without     with   slowdown (95% CI)        per call   bpftrace CPU',
  );
  try {
    for (const c of CASES) {
      const r = await measure(worker, c);
      const [lo, hi] = ci95(r.ratios);
      const perCallUs = ((r.traced - r.base) / CALLS_PER_RUN[c.workload]) * 1e6;
      console.log(
        `${c.label.padEnd(32)} ${(r.base * 1000).toFixed(1).padStart(7)} ms ${(r.traced * 1000).toFixed(1).padStart(7)} ms` +
          `   ${mean(r.ratios).toFixed(2).padStart(6)}x [${lo.toFixed(2)}, ${hi.toFixed(2)}]` +
          `   ${perCallUs.toFixed(2).padStart(6)} µs   ${((100 * r.bpftraceCpu) / r.tracedSeconds).toFixed(1)} % of a core`,
      );
    }
  } finally {
    worker.stop();
  }
}

await main();
