/**
 * The perf tracer against the real `perf stat`, on a process that burns a known amount of CPU
 * (test/fixtures/syscalls/workload.py --busy).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import { realTracerContext } from '../../../src/tracers/context.js';
import { perfTracer, perfUnavailableReason } from '../../../src/tracers/perf/index.js';
import { manifestMismatches } from '../../fixtures/proc/fixture-context.js';
import { CI, processGone, total, until, Workload } from '../../fixtures/syscalls/workload.js';

const infos: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
const log: Logger = {
  debug() {},
  info: (msg, fields) => infos.push({ msg, fields }),
  warn: (msg, fields) => infos.push({ msg, fields }),
  error() {},
  child: () => log,
};
const ctx = realTracerContext(log);
const reason = await perfTracer.unavailableReason(ctx);
const workloads: Workload[] = [];
const stops: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const stop of stops.splice(0)) await stop().catch(() => {});
  for (const w of workloads.splice(0)) {
    w.kill();
    await w.exited;
  }
});

describe('perf tracer: availability', () => {
  it('is available on a provisioned machine', () => {
    if (CI) expect(reason).toBeUndefined();
  });

  it('names the package when perf is missing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'scalpels-nopath-'));
    const path = process.env.PATH;
    process.env.PATH = empty;
    try {
      expect(await perfUnavailableReason(ctx)).toBe('perf not found: apt-get install linux-perf');
    } finally {
      process.env.PATH = path;
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!CI && reason !== undefined)(`perf tracer${reason ? ` (${reason})` : ''}`, () => {
  it('measures the CPU of a busy process, leaves unsupported events out, and stops perf', async () => {
    const w = await Workload.start(['--busy', '0.6']);
    workloads.push(w);
    const samples: Sample[] = [];
    const tracer = perfTracer.create({ pid: w.pid }, { intervalMs: 250 }, ctx);
    stops.push(() => tracer.stop());
    await tracer.start((s) => samples.push(...s));
    const tools = tracer.toolPids();
    expect(tools).toHaveLength(1);
    await w.go();
    await tracer.stop();
    for (const pid of tools) expect(processGone(pid), `perf ${pid} still running`).toBe(true);
    expect(tracer.toolPids()).toEqual([]);

    const mine = samples.filter((s) => s.tags.pid === String(w.pid));
    expect(mine.length).toBeGreaterThanOrEqual(2);
    // 0.6 s of CPU (process time), plus the interpreter's own work around it.
    const cpuMs = total(mine, 'task_clock');
    expect(cpuMs).toBeGreaterThanOrEqual(550);
    expect(cpuMs).toBeLessThanOrEqual(1500);
    expect(mine[0].tags).toEqual({ process_name: 'python3', pid: String(w.pid), selector: String(w.pid) });
    for (const s of mine) expect(typeof s.fields.context_switches).toBe('bigint');
    // Hardware counters: written where supported, otherwise named once in the log.
    const unsupported = infos.filter(
      (i) => i.msg === 'perf events not supported on this machine are left out',
    );
    if (!mine.some((s) => 'cycles' in s.fields)) {
      expect(unsupported).toHaveLength(1);
      expect(unsupported[0].fields?.events).toContain('cycles');
    }
    expect(manifestMismatches(samples, perfTracer.manifest)).toEqual([]);
  });

  it('follows a process that starts during the step', async () => {
    const token = `scalpels-perf-${randomBytes(4).toString('hex')}`;
    const samples: Sample[] = [];
    const tracer = perfTracer.create(
      { cmdline: token, events: ['task-clock', 'page-faults'] },
      { intervalMs: 200 },
      ctx,
    );
    stops.push(() => tracer.stop());
    await tracer.start((s) => samples.push(...s));
    expect(tracer.toolPids()).toEqual([]);
    const w = await Workload.start(['--busy', '0.3', '--dir', `/tmp/${token}`]);
    workloads.push(w);
    await until(() => tracer.toolPids().length === 1, 10_000, 'perf on the new process');
    await w.go();
    await w.finish();
    // perf ends by itself once its process is gone, after printing the last interval.
    await until(() => tracer.toolPids().length === 0, 10_000, 'perf to end');
    await tracer.stop();
    const mine = samples.filter((s) => s.tags.pid === String(w.pid));
    expect(total(mine, 'task_clock')).toBeGreaterThanOrEqual(250);
    expect(Object.keys(mine[0].fields).sort()).toEqual(['page_faults', 'task_clock']);
  });
});
