import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import {
  type BpftraceParams,
  type BpftraceTracerInstance,
  bpftraceTracer,
} from '../../../src/tracers/bpftrace/index.js';
import { bpftraceUnavailableReason } from '../../../src/tracers/bpftrace-runner.js';
import { realTracerContext } from '../../../src/tracers/context.js';
import { isAlive } from '../../helpers/net.js';

/**
 * The bpftrace tracer running the shipped scripts and a script given by path, against a
 * child process whose system calls are known. Under CI=true a missing bpftrace fails.
 */
const ci = process.env.CI === 'true';
const missing = await bpftraceUnavailableReason();
const tmp = mkdtempSync(join(tmpdir(), 'scalpels-bpftrace-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function run(params: BpftraceParams, during: () => Promise<void>, intervalMs = 300): Promise<Sample[]> {
  const ctx = realTracerContext(createLogger({ level: 'warn' }));
  const instance = bpftraceTracer.create(params, { intervalMs }, ctx) as BpftraceTracerInstance;
  const samples: Sample[] = [];
  cleanups.push(() => instance.stop());
  await instance.start((s) => samples.push(...s));
  const [pid] = instance.toolPids();
  expect(isAlive(pid)).toBe(true);
  await during();
  await instance.stop();
  expect(instance.toolPids()).toEqual([]);
  expect(isAlive(pid), `bpftrace ${pid} is still running`).toBe(false);
  return samples;
}

/**
 * A python3 that renames itself (comm), then makes N getpid() calls and M failing close(-1)
 * calls when told to, and exits.
 */
function syscallChild(comm: string, n: number, m: number) {
  const code = `
import ctypes, os, sys
ctypes.CDLL(None).prctl(15, b"${comm}", 0, 0, 0)
print("ready", flush=True)
sys.stdin.readline()
for _ in range(${n}): os.getpid()
for _ in range(${m}):
    try: os.close(-1)
    except OSError: pass
print("done", flush=True)
`;
  const child = spawn('/usr/bin/python3', ['-c', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  cleanups.push(() => child.kill('SIGKILL'));
  const waitFor = async (word: string) => {
    const end = Date.now() + 20_000;
    while (!out.includes(word)) {
      if (Date.now() > end) throw new Error(`the child never printed ${word}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, waitFor };
}

const sum = (samples: Sample[], field: string, tags: Record<string, string>) =>
  samples
    .filter((s) => Object.entries(tags).every(([k, v]) => s.tags[k] === v))
    .reduce((total, s) => total + Number(s.fields[field] ?? 0), 0);

(missing && !ci ? describe.skip : describe)('bpftrace tracer with real scripts', () => {
  it('can run bpftrace here', () => {
    expect(missing).toBeUndefined();
  });

  it('counts the known system calls of a child with the shipped syscalls script', async () => {
    const comm = `scalp-${process.pid % 100000}`;
    const N = 5000;
    const M = 300;
    const { child, waitFor } = syscallChild(comm, N, M);
    await waitFor('ready');
    const samples = await run(
      { script: 'syscalls', measurement: 'syscalls_bpf', keys: ['syscall_nr', 'process_name'] },
      async () => {
        child.stdin.write('go\n');
        await waitFor('done');
      },
    );
    expect(samples.every((s) => s.measurement === 'syscalls_bpf')).toBe(true);
    // x86_64: getpid is 39, close is 3.
    expect(sum(samples, 'calls', { syscall_nr: '39', process_name: comm })).toBeGreaterThanOrEqual(N);
    expect(sum(samples, 'calls', { syscall_nr: '39', process_name: comm })).toBeLessThan(N + 50);
    expect(sum(samples, 'errors', { syscall_nr: '3', process_name: comm })).toBeGreaterThanOrEqual(M);
    // Printed together, calls and errors of one key share a sample.
    const close = samples.find(
      (s) => s.tags.syscall_nr === '3' && s.tags.process_name === comm && s.fields.errors,
    );
    expect(typeof close?.fields.calls).toBe('bigint');
  });

  it('runs a script given by path with positional args, after the interval', async () => {
    const comm = `scalq-${process.pid % 100000}`;
    const file = join(tmp, 'one-comm.bt');
    writeFileSync(
      file,
      [
        '// Counts the system calls of one process name, given as $2.',
        'tracepoint:raw_syscalls:sys_enter /comm == str($2)/ { @n = count(); }',
        'interval:ms:$1 { print(@n); clear(@n); }',
        'END { print(@n); clear(@n); }',
      ].join('\n'),
    );
    const { child, waitFor } = syscallChild(comm, 2000, 0);
    await waitFor('ready');
    const samples = await run({ path: file, args: [comm] }, async () => {
      child.stdin.write('go\n');
      await waitFor('done');
    });
    expect(samples.every((s) => s.measurement === 'bpftrace' && Object.keys(s.tags).length === 0)).toBe(true);
    expect(sum(samples, 'n', {})).toBeGreaterThanOrEqual(2000);
  });

  it('writes run-queue latency stats and exec counts with the other shipped scripts', async () => {
    const busy = () =>
      new Promise<void>((resolve) => {
        const sh = spawn('/bin/sh', ['-c', 'for i in 1 2 3 4 5; do /bin/true; done'], { stdio: 'ignore' });
        sh.on('exit', () => resolve());
      });
    const runq = await run({ script: 'runqlat', keys: ['process_name'] }, async () => {
      await busy();
      await new Promise((r) => setTimeout(r, 400));
    });
    const s = runq.find((x) => x.fields.runq_latency_us_count !== undefined);
    expect(s?.tags.process_name).toBeDefined();
    expect(typeof s?.fields.runq_latency_us_avg).toBe('number');
    const execs = await run({ script: 'execs', keys: ['process_name'] }, busy);
    expect(sum(execs, 'execs', { process_name: 'true' })).toBeGreaterThanOrEqual(5);
  });

  it("fails to start with bpftrace's own words when the script is wrong", async () => {
    const file = join(tmp, 'broken.bt');
    writeFileSync(file, 'tracepoint:raw_syscalls:sys_enter { @n = count( }\n');
    const ctx = realTracerContext(createLogger({ level: 'error' }));
    const instance = bpftraceTracer.create({ path: file }, { intervalMs: 500 }, ctx);
    await expect(instance.start(() => {})).rejects.toThrow(
      /bpftrace exited \(1\) before its probes were live: .*stdin:1/,
    );
    await expect(
      bpftraceTracer.create({ path: join(tmp, 'absent.bt') }, { intervalMs: 500 }, ctx).start(() => {}),
    ).rejects.toThrow(/cannot read the bpftrace script .*absent\.bt/);
  });
});
