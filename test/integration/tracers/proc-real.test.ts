import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/core/logger.js';
import { nowNs, type Sample } from '../../../src/core/sample.js';
import { realTracerContext } from '../../../src/tracers/context.js';
import { procTracer } from '../../../src/tracers/proc/index.js';
import { processTracer } from '../../../src/tracers/process/index.js';

const ctx = realTracerContext(silentLogger);
const children: ChildProcess[] = [];

function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: 'ignore' });
  children.push(child);
  return child;
}

/** Resolves with the wall clock once Node has reaped the child, so /proc no longer lists it. */
function exited(child: ChildProcess): Promise<bigint> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(nowNs());
    else child.once('exit', () => resolve(nowNs()));
  });
}

/** Polls `condition`: fixed sleeps are flaky when other test files load the machine. */
async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for samples');
    await sleep(20);
  }
}

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await exited(c);
    }
  }
});

describe('proc tracer on the real /proc', () => {
  it('is available', async () => {
    expect(await procTracer.unavailableReason(ctx)).toBeUndefined();
  });

  it('writes cpu, mem, system, diskio and net with sane values', async () => {
    const samples: Sample[] = [];
    const instance = procTracer.create({ percpu: true }, { intervalMs: 100 }, ctx);
    await instance.start((s) => samples.push(...s));
    await sleep(350);
    // On a loaded machine the timer may lag: make sure one tick happened, stop() adds the next.
    await until(() => samples.some((s) => s.measurement === 'cpu'));
    await instance.stop();

    const cpu = samples.filter((s) => s.measurement === 'cpu');
    const totals = cpu.filter((s) => s.tags.cpu === 'cpu-total');
    // A tick every 100 ms over 350 ms, plus the reading at stop.
    expect(totals.length).toBeGreaterThanOrEqual(2);
    for (const s of cpu) {
      for (const [name, v] of Object.entries(s.fields)) {
        expect(typeof v, name).toBe('number');
        expect(v as number, name).toBeGreaterThanOrEqual(0);
        expect(v as number, name).toBeLessThanOrEqual(100 + 1e-9);
      }
      const f = s.fields as Record<string, number>;
      expect(f.usage_active + f.usage_idle).toBeCloseTo(100, 9);
    }

    const mem = samples.filter((s) => s.measurement === 'mem');
    expect(mem.length).toBeGreaterThanOrEqual(2);
    const m = mem[0].fields;
    expect(m.total as bigint).toBeGreaterThan(0n);
    expect(m.available as bigint).toBeLessThanOrEqual(m.total as bigint);
    expect(m.used_percent as number).toBeGreaterThan(0);
    expect(m.used_percent as number).toBeLessThan(100);

    const system = samples.filter((s) => s.measurement === 'system');
    expect(system.length).toBeGreaterThanOrEqual(2);
    const nCpus = system[0].fields.n_cpus as bigint;
    expect(nCpus).toBeGreaterThan(0n);
    expect(new Set(cpu.map((s) => s.tags.cpu)).size).toBe(Number(nCpus) + 1);
    expect(system[0].fields.uptime as bigint).toBeGreaterThan(0n);
    expect(system[0].fields.load1 as number).toBeGreaterThanOrEqual(0);

    // Every sample carries only the tracer's own tags, timestamps from the wall clock, in order.
    const times = samples.map((s) => s.time);
    expect([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(times);
    expect(Number(nowNs() - times[0]) / 1e6).toBeLessThan(5_000);
    expect(samples.some((s) => s.measurement === 'net' && s.tags.interface === 'lo')).toBe(false);
  });
});

describe('process tracer on the real /proc', () => {
  it('is available', async () => {
    expect(await processTracer.unavailableReason(ctx)).toBeUndefined();
  });

  it('finds a child process by pid and by name, then stops reporting it once it exited', async () => {
    const child = start('sleep', ['30']);
    const pid = String(child.pid);
    // Wait for the exec, so that the child is `sleep` and not yet a copy of node.
    for (let i = 0; i < 100; i++) {
      if ((await ctx.readFile(`/proc/${pid}/comm`).catch(() => '')).trim() === 'sleep') break;
      await sleep(10);
    }
    const byPid: Sample[] = [];
    const byName: Sample[] = [];
    const pidTracer = processTracer.create({ pid: child.pid! }, { intervalMs: 100 }, ctx);
    const nameTracer = processTracer.create({ name: 'sleep' }, { intervalMs: 100 }, ctx);
    await Promise.all([pidTracer.start((s) => byPid.push(...s)), nameTracer.start((s) => byName.push(...s))]);
    const mine = (samples: Sample[]) =>
      samples.filter((s) => s.measurement === 'procstat' && s.tags.pid === pid);
    await until(() => mine(byPid).length >= 2 && mine(byName).length >= 2);
    const first = mine(byPid)[0];
    expect(first.tags).toEqual({ process_name: 'sleep', pid, selector: pid });
    expect(first.fields.memory_rss as bigint).toBeGreaterThan(0n);
    expect(first.fields.memory_vms as bigint).toBeGreaterThan(first.fields.memory_rss as bigint);
    expect(first.fields.num_threads).toBe(1n);
    expect(first.fields.num_fds as bigint).toBeGreaterThanOrEqual(3n);
    expect(mine(byPid)[1].fields.cpu_usage).toBeGreaterThanOrEqual(0);
    expect(mine(byName)[0].tags.selector).toBe('sleep');

    child.kill('SIGTERM');
    const exitedAt = await exited(child);
    const lookups = () => byPid.filter((s) => s.measurement === 'procstat_lookup');
    await until(() => lookups().filter((s) => s.time >= exitedAt).length >= 2);
    await Promise.all([pidTracer.stop(), nameTracer.stop()]);

    for (const samples of [byPid, byName]) {
      expect(mine(samples).filter((s) => s.time >= exitedAt)).toEqual([]);
    }
    expect(lookups()[0].fields.pid_count).toBe(1n);
    expect(lookups().at(-1)!.fields.pid_count).toBe(0n);
  });

  it('measures the CPU a busy process uses, in percent of one CPU', async () => {
    const child = start('sh', ['-c', 'while :; do :; done']);
    const samples: Sample[] = [];
    const tracer = processTracer.create({ pid: child.pid! }, { intervalMs: 100 }, ctx);
    await tracer.start((s) => samples.push(...s));
    // A process younger than 50 ms at its first sighting has no usage yet (its age is known only
    // to a 10 ms tick), so wait for four measured values, not four samples.
    const measured = () =>
      samples.filter((s) => s.measurement === 'procstat' && s.fields.cpu_usage !== undefined).length;
    await until(() => measured() >= 4);
    await tracer.stop();
    const procstat = samples.filter((s) => s.measurement === 'procstat');
    const usage = procstat.map((s) => s.fields.cpu_usage).filter((v): v is number => v !== undefined);
    expect(usage.length).toBeGreaterThanOrEqual(4);
    expect(Math.min(...usage)).toBeGreaterThanOrEqual(0);
    // Per interval the value is only as precise as a 10 ms clock tick, so judge the whole span.
    // Single-threaded: at most one CPU, give or take a tick at each end. Busy: it did run, though
    // on a loaded machine (other test files run in parallel) it may get a small share of a CPU.
    const cpuSeconds = (s: Sample) =>
      (s.fields.cpu_time_user as number) + (s.fields.cpu_time_system as number);
    const first = procstat[0];
    const last = procstat.at(-1)!;
    const span = Number(last.time - first.time) / 1e9;
    const overall = (100 * (cpuSeconds(last) - cpuSeconds(first))) / span;
    expect(overall).toBeLessThanOrEqual(100 + (100 * 0.02) / span);
    expect(overall).toBeGreaterThan(0);
  });
});
