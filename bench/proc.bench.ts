/**
 * Cost of the `proc` tracer (issue 2): CPU seconds of the sampler per minute at 1 s and
 * 100 ms intervals, next to `sar` collecting the same data (CPU states, memory, load, disk
 * and network counters) at 1 s in the same run — sar's shortest interval. sar's collector
 * (sadc) is a child of sar, so both are counted.
 *
 * Run: npm run bench -- proc      (needs sysstat: scripts/provision.sh)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { silentLogger } from '../src/core/logger.js';
import { realTracerContext } from '../src/tracers/context.js';
import { procTracer } from '../src/tracers/proc/index.js';

const SECONDS = Number(process.env.SECONDS_PER_CASE ?? 30);

/** CPU seconds of the sampler alone: this process's CPU time while only the tracer runs. */
async function samplerCost(intervalMs: number): Promise<{ cpuPerMin: number; samples: number }> {
  let samples = 0;
  const instance = procTracer.create({}, { intervalMs }, realTracerContext(silentLogger));
  const idleBefore = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 2000));
  const idle = process.cpuUsage(idleBefore);
  const before = process.cpuUsage();
  await instance.start((s) => {
    samples += s.length;
  });
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  await instance.stop();
  const used = process.cpuUsage(before);
  // Subtract this process's idle baseline (timers, GC) measured just before.
  const idlePerSec = (idle.user + idle.system) / 2e6;
  const cpu = (used.user + used.system) / 1e6 - idlePerSec * SECONDS;
  return { cpuPerMin: (cpu / SECONDS) * 60, samples };
}

function treeCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

async function sarCost(): Promise<number> {
  const sar = spawn('sar', ['-u', '-r', '-q', '-d', '-n', 'DEV', '1'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1500));
  const c0 = treeCpuSeconds(sar.pid!);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  // sadc is sar's child: read both (the child's time only reaches cutime when it exits).
  const children = readFileSync(`/proc/${sar.pid}/task/${sar.pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  const c1 = treeCpuSeconds(sar.pid!) + children.reduce((n, c) => n + treeCpuSeconds(c), 0);
  sar.kill('SIGINT');
  return ((c1 - c0) / SECONDS) * 60;
}

const slow = await samplerCost(1000);
const fast = await samplerCost(100);
const sar = await sarCost();
console.log(`proc @1s:    ${slow.cpuPerMin.toFixed(3)} CPU-s/min (${slow.samples} samples in ${SECONDS}s)`);
console.log(`proc @100ms: ${fast.cpuPerMin.toFixed(3)} CPU-s/min (${fast.samples} samples in ${SECONDS}s)`);
console.log(`sar @1s (same data: -u -r -q -d -n DEV): ${sar.toFixed(3)} CPU-s/min`);
console.log(
  `ratio proc@1s / sar@1s: ${(slow.cpuPerMin / Math.max(sar, 1e-3)).toFixed(1)}×; share of one core at 1s: ${((slow.cpuPerMin / 60) * 100).toFixed(2)}%`,
);
