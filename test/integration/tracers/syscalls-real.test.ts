/**
 * The syscalls tracer against real strace and bpftrace, on a process whose calls are known
 * (test/fixtures/syscalls/workload.py). Under CI=true a missing tool fails; elsewhere the
 * modes that cannot run here are skipped, with the reason in the test name.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import { realTracerContext } from '../../../src/tracers/context.js';
import {
  bpftraceSyscallsCheck,
  realProbeDeps,
  straceAttachCheck,
} from '../../../src/tracers/syscalls/availability.js';
import { syscallsTracer } from '../../../src/tracers/syscalls/index.js';
import { manifestMismatches } from '../../fixtures/proc/fixture-context.js';
import { CI, processGone, total, tracerPidOf, until, Workload } from '../../fixtures/syscalls/workload.js';

const ctx = realTracerContext(
  process.env.SCALPELS_TEST_LOG
    ? createLogger({ level: 'debug', write: (l) => appendFileSync(process.env.SCALPELS_TEST_LOG!, l + '\n') })
    : silentLogger,
);
const deps = realProbeDeps(silentLogger);
const reasons = {
  bpftrace: await bpftraceSyscallsCheck.get(deps),
  strace: await straceAttachCheck.get(deps),
};
const workloads: Workload[] = [];
const stops: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const stop of stops.splice(0)) await stop().catch(() => {});
  for (const w of workloads.splice(0)) {
    w.kill();
    await w.exited;
  }
});

async function startWorkload(args: string[]): Promise<Workload> {
  const w = await Workload.start(args);
  workloads.push(w);
  return w;
}

const of = (samples: Sample[], pid: number, syscall?: string) =>
  samples.filter((s) => s.tags.pid === String(pid) && (syscall === undefined || s.tags.syscall === syscall));

describe('syscalls tracer: availability here', () => {
  it('can run, in both modes on a provisioned machine', async () => {
    if (CI) expect(reasons).toEqual({ bpftrace: undefined, strace: undefined });
    const reason = await syscallsTracer.unavailableReason(ctx);
    if (reasons.bpftrace && reasons.strace)
      expect(reason).toBe(
        `neither mode can run here: bpftrace: ${reasons.bpftrace}; strace: ${reasons.strace}`,
      );
    else expect(reason).toBeUndefined();
  });
});

for (const mode of ['strace', 'bpftrace'] as const) {
  const reason = reasons[mode];
  describe.skipIf(!CI && reason !== undefined)(
    `syscalls tracer, mode ${mode}${reason ? ` (${reason})` : ''}`,
    () => {
      it('counts calls, errors and time of a known process, and leaves no tool running', async () => {
        const w = await startWorkload(['--getpid', '3000', '--thread-getpid', '1000', '--stat-errors', '5']);
        const samples: Sample[] = [];
        const tracer = syscallsTracer.create({ pid: w.pid, mode, top: 100 }, { intervalMs: 250 }, ctx);
        stops.push(() => tracer.stop());
        await tracer.start((s) => samples.push(...s));
        expect(tracer.mode).toBe(mode);
        const tools = tracer.toolPids();
        expect(tools).toHaveLength(1);
        if (mode === 'strace') expect(tracerPidOf(w.pid)).toBe(tools[0]);

        await w.go();
        await until(() => of(samples, w.pid, 'getpid').length > 0, 15_000, 'getpid samples');
        await sleep(300);
        // Stop while the process still runs: strace must detach and leave it running normally.
        await tracer.stop();
        for (const pid of tools) expect(processGone(pid), `tool ${pid} still running`).toBe(true);
        expect(tracer.toolPids()).toEqual([]);
        if (mode === 'strace') expect(tracerPidOf(w.pid)).toBe(0);
        await w.finish();

        const getpid = total(of(samples, w.pid, 'getpid'), 'calls');
        // The main thread's 3000 and the second thread's 1000; the interpreter may add a few.
        expect(getpid).toBeGreaterThanOrEqual(4000);
        expect(getpid).toBeLessThanOrEqual(4020);
        expect(total(of(samples, w.pid, 'getpid'), 'errors')).toBe(0);
        expect(total(of(samples, w.pid, 'getpid'), 'time_us')).toBeGreaterThan(0);
        expect(total(of(samples, w.pid, 'newfstatat'), 'errors')).toBe(5);
        const first = of(samples, w.pid)[0];
        expect(first.tags).toMatchObject({
          process_name: 'python3',
          pid: String(w.pid),
          selector: String(w.pid),
        });
        expect(manifestMismatches(samples, syscallsTracer.manifest)).toEqual([]);
      });

      it('follows a process that starts during the step, and the children it forks', async () => {
        const token = `scalpels-follow-${randomBytes(4).toString('hex')}`;
        const samples: Sample[] = [];
        const tracer = syscallsTracer.create({ cmdline: token, mode, top: 100 }, { intervalMs: 200 }, ctx);
        stops.push(() => tracer.stop());
        await tracer.start((s) => samples.push(...s));

        const w = await startWorkload(['--getpid', '500', '--fork-getpid', '700', '--dir', `/tmp/${token}`]);
        // strace attaches at the next interval; bpftrace counts every process from the start.
        if (mode === 'strace') await until(() => tracerPidOf(w.pid) !== 0, 15_000, 'strace to attach');
        await w.go();
        // A process must be seen alive once to be selected: let it outlive an interval.
        await sleep(500);
        await w.finish();
        await sleep(300);
        const tools = tracer.toolPids();
        await tracer.stop();
        for (const pid of tools) expect(processGone(pid), `tool ${pid} still running`).toBe(true);

        const main = total(of(samples, w.pid, 'getpid'), 'calls');
        expect(main).toBeGreaterThanOrEqual(500);
        expect(main).toBeLessThanOrEqual(520);
        // The forked child (a copy of the workload, never exec'd) is its own series.
        const children = [...new Set(samples.map((s) => Number(s.tags.pid)))].filter((p) => p !== w.pid);
        expect(children).toHaveLength(1);
        expect(total(of(samples, children[0], 'getpid'), 'calls')).toBe(700);
        expect(of(samples, children[0])[0].tags.process_name).toBe('python3');
      });
    },
  );
}

describe('syscalls tracer where tracefs is missing and may not be mounted', () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const probe = join(here, '../../fixtures/syscalls/probe-availability.ts');
  const canRun = process.getuid?.() === 0 && reasons.strace === undefined;

  // Root is needed to build that machine (a mount namespace, tracefs unmounted, CAP_SYS_ADMIN dropped).
  it.skipIf(!CI && !canRun)('says why bpftrace cannot run, and auto mode falls back to strace', () => {
    const out = execFileSync(
      'unshare',
      [
        '-m',
        'sh',
        '-c',
        `umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null; exec setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin -- "${process.execPath}" --import tsx "${probe}"`,
      ],
      { cwd: join(here, '../../..'), encoding: 'utf8', timeout: 60_000 },
    );
    const result = JSON.parse(out.trim().split('\n').at(-1)!);
    const reason =
      'tracefs is not mounted at /sys/kernel/tracing and mounting it failed (mount: /sys/kernel/tracing: permission denied.); as root: mount -t tracefs nodev /sys/kernel/tracing';
    expect(result).toEqual({
      bpftrace: reason,
      mode: 'strace',
      forced: `mode bpftrace cannot run: ${reason}`,
    });
  });
});
