import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import { bpftraceUnavailableReason } from '../../../src/tracers/bpftrace-runner.js';
import { findExecutable } from '../../../src/tracers/child-process.js';
import { realTracerContext } from '../../../src/tracers/context.js';
import {
  type PythonParams,
  type PythonTracerInstance,
  pythonTracer,
} from '../../../src/tracers/python/index.js';
import { freePort, isAlive } from '../../helpers/net.js';

/**
 * The python tracer against real CPython processes: Debian's /usr/bin/python3 (not the
 * python3 first on PATH, which may be a pyenv build without probes) and uwsgi, which embeds
 * libpython. Under CI=true a missing bpftrace or uwsgi fails these tests; elsewhere they skip.
 */
const ci = process.env.CI === 'true';
const bpftraceMissing = await bpftraceUnavailableReason();
const uwsgiMissing = (await findExecutable('uwsgi_python3'))
  ? undefined
  : 'uwsgi_python3 is not installed (Debian package uwsgi-plugin-python3)';
const fixtures = join(import.meta.dirname, '../../fixtures/python');
const PYTHON = '/usr/bin/python3';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function startTracer(params: PythonParams, intervalMs: number) {
  const ctx = realTracerContext(createLogger({ level: 'warn' }));
  const instance = pythonTracer.create(params, { intervalMs }, ctx) as PythonTracerInstance;
  const samples: Sample[] = [];
  let stopped = false;
  const bpftraces = new Set<number>();
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const p of instance.toolPids()) bpftraces.add(p);
    await instance.stop();
  };
  cleanups.push(stop);
  return { instance, samples, emit: (s: Sample[]) => samples.push(...s), stop, bpftraces };
}

/** Sums a field over the samples of one function. */
function total(samples: Sample[], fn: string, field: string, file?: string): number {
  return samples
    .filter((s) => s.tags.function === fn && (file === undefined || s.tags.file === file))
    .reduce((sum, s) => sum + Number(s.fields[field] ?? 0), 0);
}

function spawnPython(args: string[]): { child: ChildProcessWithoutNullStreams; lines: string[] } {
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
  cleanups.push(() => {
    child.kill('SIGKILL');
  });
  return { child, lines };
}

const describeIf = (missing: string | undefined) => (missing && !ci ? describe.skip : describe);

describeIf(bpftraceMissing)('python tracer on /usr/bin/python3', () => {
  it('can run bpftrace here', () => {
    expect(bpftraceMissing).toBeUndefined();
  });

  it('attaches to a process that starts after it, counts every call and times a known sleep', async () => {
    const N = 1000;
    const marker = `known_calls.py ${N} scalpels-${process.pid}`;
    const tracer = startTracer({ cmdline: marker.replace(/\./g, '\\.'), modules: ['known_calls'] }, 500);
    // Nothing matches yet: the tracer starts and waits for the process.
    await tracer.instance.start(tracer.emit);
    expect(tracer.instance.tracedPids()).toEqual([]);

    const { child, lines } = spawnPython([
      join(fixtures, 'known_calls.py'),
      String(N),
      `scalpels-${process.pid}`,
    ]);
    await until('the python process to be ready', () => lines.includes('ready'));
    await until('the tracer to attach to the new process', () =>
      tracer.instance.tracedPids().includes(child.pid!),
    );
    child.stdin.write('go\n');
    await until('the calls to be made', () => lines.includes('done'));
    for (const p of tracer.instance.toolPids()) tracer.bpftraces.add(p);
    await tracer.stop();
    child.stdin.write('exit\n');

    const file = join(fixtures, 'known_calls.py');
    const known = tracer.samples.filter((s) => s.tags.function === 'known_function');
    expect(known.length).toBeGreaterThan(0);
    expect(known[0].tags).toEqual({
      process_name: 'python3',
      module: 'known_calls',
      file,
      function: 'known_function',
    });
    expect(total(tracer.samples, 'known_function', 'calls', file)).toBeGreaterThanOrEqual(N);
    // A Python-to-Python call fires no entry probe on 3.11: counted, never timed.
    expect(total(tracer.samples, 'known_function', 'timed_calls')).toBe(0);
    expect(total(tracer.samples, 'nap_inline', 'calls')).toBe(3);
    expect(total(tracer.samples, 'nap_inline', 'time_us')).toBe(0);
    // nap_from_c sleeps 30 ms and is called from C (map()): its 5 calls are timed.
    expect(total(tracer.samples, 'nap_from_c', 'calls')).toBe(5);
    expect(total(tracer.samples, 'nap_from_c', 'timed_calls')).toBe(5);
    const meanUs = total(tracer.samples, 'nap_from_c', 'time_us') / 5;
    // At least the sleep; the bound above leaves room for a loaded machine's late wakeups but
    // not for a wrong pairing, which would lump two or more calls (60 ms and up) together.
    expect(meanUs).toBeGreaterThanOrEqual(30_000);
    expect(meanUs).toBeLessThan(58_000);
    // modules: [known_calls] kept nothing from the standard library.
    expect(tracer.samples.every((s) => s.tags.file === file)).toBe(true);

    expect(tracer.bpftraces.size).toBe(1);
    for (const pid of tracer.bpftraces) expect(isAlive(pid), `bpftrace ${pid} is still running`).toBe(false);
  });

  it('counts without timing when timing is off', async () => {
    const { child, lines } = spawnPython([join(fixtures, 'known_calls.py'), '200', `untimed-${process.pid}`]);
    await until('the python process to be ready', () => lines.includes('ready'));
    const tracer = startTracer({ pid: child.pid!, timing: false, modules: ['known_calls'] }, 500);
    await tracer.instance.start(tracer.emit);
    child.stdin.write('go\n');
    await until('the calls to be made', () => lines.includes('done'));
    await tracer.stop();
    expect(total(tracer.samples, 'known_function', 'calls')).toBe(200);
    expect(total(tracer.samples, 'nap_from_c', 'calls')).toBe(5);
    expect(tracer.samples.some((s) => 'time_us' in s.fields || 'timed_calls' in s.fields)).toBe(false);
  });

  it('refuses to start when the only matched interpreter has no probes', async () => {
    const { child, lines } = spawnPython([join(fixtures, 'known_calls.py'), '1', `noprobes-${process.pid}`]);
    await until('the python process to be ready', () => lines.includes('ready'));
    const tracer = startTracer({ pid: process.pid }, 1000);
    // The test runner is node, not CPython: nothing to attach to, and the tracer says why.
    await expect(tracer.instance.start(tracer.emit)).rejects.toThrow(
      `pid ${process.pid}: no python3.N executable or libpython3.N.so is mapped`,
    );
    child.kill();
  });
});

describeIf(bpftraceMissing ?? uwsgiMissing)('python tracer on uwsgi (libpython)', () => {
  it('has uwsgi and bpftrace', () => {
    expect(uwsgiMissing).toBeUndefined();
    expect(bpftraceMissing).toBeUndefined();
  });

  it('counts the requests of every worker, times the application, and follows a respawned worker', async () => {
    const port = await freePort();
    const app = join(fixtures, 'wsgi_app.py');
    const uwsgi = spawn(
      'uwsgi_python3',
      [
        '--http-socket',
        `127.0.0.1:${port}`,
        '--wsgi-file',
        app,
        '--master',
        '--processes',
        '2',
        '--threads',
        '1',
        '--die-on-term',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    uwsgi.stderr.setEncoding('utf8').on('data', (d: string) => {
      log += d;
    });
    cleanups.push(async () => {
      uwsgi.kill('SIGTERM');
      await new Promise((r) => uwsgi.once('exit', r).once('error', r));
    });
    const url = `http://127.0.0.1:${port}`;
    await until('uwsgi to answer', () =>
      fetch(`${url}/ping`).then(
        (r) => r.ok,
        () => false,
      ),
    );
    const workers = () => childrenOf(uwsgi.pid!);
    await until('two uwsgi workers', () => workers().length === 2);

    const tracer = startTracer(
      { cmdline: `--http-socket 127\\.0\\.0\\.1:${port} `, modules: ['wsgi_app'] },
      500,
    );
    await tracer.instance.start(tracer.emit);
    // The master and both workers map libpython.
    expect(tracer.instance.tracedPids().sort()).toEqual([uwsgi.pid!, ...workers()].sort());

    const N = 40;
    for (let i = 0; i < N; i++) expect((await fetch(`${url}/r${i}`)).ok).toBe(true);

    // A worker that dies is respawned by the master; the tracer attaches to the new one.
    const [victim] = workers();
    process.kill(victim, 'SIGKILL');
    await until('uwsgi to respawn the worker', () => workers().length === 2 && !workers().includes(victim));
    const respawned = workers().find((p) => !tracer.instance.tracedPids().includes(p))!;
    await until('the tracer to attach to the respawned worker', () =>
      tracer.instance.tracedPids().includes(respawned),
    );
    for (let i = 0; i < N; i++) expect((await fetch(`${url}/s${i}`)).ok).toBe(true);

    for (const p of tracer.instance.toolPids()) tracer.bpftraces.add(p);
    await tracer.stop();

    expect(total(tracer.samples, 'handle_request', 'calls', app), log).toBeGreaterThanOrEqual(2 * N);
    // uwsgi (C) calls the application: every request's application() is timed.
    expect(total(tracer.samples, 'application', 'timed_calls')).toBeGreaterThanOrEqual(2 * N - 2);
    expect(total(tracer.samples, 'application', 'time_us')).toBeGreaterThan(0);
    expect(new Set(tracer.samples.map((s) => s.tags.process_name))).toEqual(new Set(['uwsgi_python3']));
    for (const pid of tracer.bpftraces) expect(isAlive(pid), `bpftrace ${pid} is still running`).toBe(false);
  });
});

function childrenOf(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(/\s+/).map(Number).filter(isAlive);
  } catch {
    return [];
  }
}
