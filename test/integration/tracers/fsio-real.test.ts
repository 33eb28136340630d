/**
 * The fsio tracer on the real /proc and strace, with a process that writes N files of K bytes
 * and reads them back (test/fixtures/syscalls/workload.py).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import { realTracerContext } from '../../../src/tracers/context.js';
import { fsioTracer } from '../../../src/tracers/fsio/index.js';
import { realProbeDeps, straceAttachCheck } from '../../../src/tracers/syscalls/availability.js';
import { manifestMismatches } from '../../fixtures/proc/fixture-context.js';
import { CI, processGone, total, until, Workload } from '../../fixtures/syscalls/workload.js';

const ctx = realTracerContext(silentLogger);
const straceReason = await straceAttachCheck.get(realProbeDeps(silentLogger));
const dir = mkdtempSync(join(tmpdir(), 'scalpels-fsio-'));
/** tmpfs keeps no storage accounting: read_bytes and write_bytes stay 0 there. */
const onTmpfs = (() => {
  try {
    return (
      execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '--target', dir], { encoding: 'utf8' }).trim() ===
      'tmpfs'
    );
  } catch {
    return true;
  }
})();
const N = 20;
const K = 8192;
const workloads: Workload[] = [];
const stops: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const stop of stops.splice(0)) await stop().catch(() => {});
  for (const w of workloads.splice(0)) {
    w.kill();
    await w.exited;
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mine = (samples: Sample[], measurement: string, pid?: number) =>
  samples.filter((s) => s.measurement === measurement && (pid === undefined || s.tags.pid === String(pid)));

describe('fsio tracer on /proc/<pid>/io', () => {
  it('is available', async () => {
    expect(await fsioTracer.unavailableReason(ctx)).toBeUndefined();
  });

  it('counts the bytes and writes of N files of K bytes, with no child process', async () => {
    const w = await Workload.start(['--files', String(N), '--size', String(K), '--dir', dir]);
    workloads.push(w);
    const samples: Sample[] = [];
    const tracer = fsioTracer.create({ pid: w.pid }, { intervalMs: 200 }, ctx) as ReturnType<
      typeof fsioTracer.create
    > & {
      toolPids(): number[];
    };
    stops.push(() => tracer.stop());
    await tracer.start((s) => samples.push(...s));
    expect(tracer.toolPids()).toEqual([]);
    await w.go();
    await until(() => total(mine(samples, 'fsio', w.pid), 'wchar') >= N * K, 10_000, 'the writes');
    await tracer.stop();
    await w.finish();

    const io = mine(samples, 'fsio', w.pid);
    // N files, and "done\n" on stdout.
    expect(total(io, 'wchar')).toBe(N * K + 5);
    expect(total(io, 'syscw')).toBe(N + 1);
    if (!onTmpfs) expect(total(io, 'write_bytes')).toBeGreaterThanOrEqual(N * K);
    expect(io[0].tags).toEqual({ process_name: 'python3', pid: String(w.pid), selector: String(w.pid) });
    expect(manifestMismatches(samples, fsioTracer.manifest)).toEqual([]);
  });

  it('counts a process that starts during the step from zero', async () => {
    const token = `scalpels-fsio-${randomBytes(4).toString('hex')}`;
    const sub = join(dir, token);
    execFileSync('mkdir', ['-p', sub]);
    const samples: Sample[] = [];
    const tracer = fsioTracer.create({ cmdline: token }, { intervalMs: 200 }, ctx);
    stops.push(() => tracer.stop());
    await tracer.start((s) => samples.push(...s));
    // Started and done before the tracer looks at it: its whole I/O falls in one interval.
    const w = await Workload.start(['--files', '5', '--size', '4096', '--dir', sub]);
    workloads.push(w);
    await w.go();
    await until(() => mine(samples, 'fsio', w.pid).length > 0, 10_000, 'a sample of the new process');
    await sleep(250);
    await tracer.stop();
    // "ready\n", 5 files, "done\n", and whatever the interpreter wrote while starting.
    const wchar = total(mine(samples, 'fsio', w.pid), 'wchar');
    expect(wchar).toBeGreaterThanOrEqual(6 + 5 * 4096 + 5);
    expect(wchar).toBeLessThanOrEqual(6 + 5 * 4096 + 5 + 64);
  });
});

describe.skipIf(!CI && straceReason !== undefined)(
  `fsio tracer with paths${straceReason ? ` (${straceReason})` : ''}`,
  () => {
    it('names the files written, read and stat-ed, and stops strace', async () => {
      const sub = join(dir, 'paths');
      execFileSync('mkdir', ['-p', sub]);
      const w = await Workload.start([
        '--files',
        String(N),
        '--size',
        String(K),
        '--read-back',
        '--stat-errors',
        '3',
        '--dir',
        sub,
      ]);
      workloads.push(w);
      const samples: Sample[] = [];
      const tracer = fsioTracer.create({ pid: w.pid, paths: true, top: 100 }, { intervalMs: 200 }, ctx);
      stops.push(() => tracer.stop());
      await tracer.start((s) => samples.push(...s));
      const tools = tracer.toolPids();
      expect(tools).toHaveLength(1);
      await w.go();
      await until(
        () =>
          mine(samples, 'fsio_file').some(
            (s) => s.tags.path === join(sub, `f${N - 1}.dat`) && s.tags.op === 'read',
          ),
        15_000,
        'the reads',
      );
      await tracer.stop();
      for (const pid of tools) expect(processGone(pid), `strace ${pid} still running`).toBe(true);
      await w.finish();

      const files = mine(samples, 'fsio_file');
      const sum = (path: string, op: string, field: string) =>
        total(
          files.filter((s) => s.tags.path === path && s.tags.op === op),
          field,
        );
      for (let i = 0; i < N; i++) {
        const path = join(sub, `f${i}.dat`);
        expect(sum(path, 'write', 'ops'), path).toBe(1);
        expect(sum(path, 'write', 'bytes'), path).toBe(K);
        expect(sum(path, 'read', 'ops'), path).toBe(1);
        expect(sum(path, 'read', 'bytes'), path).toBe(K);
        expect(sum(path, 'open', 'ops'), path).toBe(2);
      }
      expect(sum('/nonexistent-scalpels/file', 'stat', 'errors')).toBe(3);
      expect(files.some((s) => /^(pipe|socket):/.test(s.tags.path))).toBe(false);
      // /proc/<pid>/io agrees with what strace saw.
      expect(total(mine(samples, 'fsio', w.pid), 'wchar')).toBe(N * K + 5);
      expect(manifestMismatches(samples, fsioTracer.manifest)).toEqual([]);
    });

    it('keeps the top files and sums the rest as _other', async () => {
      const sub = join(dir, 'top');
      execFileSync('mkdir', ['-p', sub]);
      const w = await Workload.start(['--files', String(N), '--size', '100', '--dir', sub]);
      workloads.push(w);
      const samples: Sample[] = [];
      const tracer = fsioTracer.create({ pid: w.pid, paths: true, top: 3 }, { intervalMs: 5000 }, ctx);
      stops.push(() => tracer.stop());
      await tracer.start((s) => samples.push(...s));
      await w.go();
      await tracer.stop();
      const files = mine(samples, 'fsio_file');
      // One interval: three files, then _other with the rest.
      expect(new Set(files.map((s) => s.tags.path)).size).toBe(4);
      // "done\n" goes to a pipe, which is not a file.
      expect(
        total(
          files.filter((s) => s.tags.op === 'write'),
          'bytes',
        ),
      ).toBe(N * 100);
      expect(
        total(
          files.filter((s) => s.tags.path === '_other' && s.tags.op === 'write'),
          'ops',
        ),
      ).toBeGreaterThanOrEqual(N - 3);
    });
  },
);
