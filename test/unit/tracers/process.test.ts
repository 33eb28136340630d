import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/core/errors.js';
import type { Sample } from '../../../src/core/sample.js';
import { processTracer, processTracker } from '../../../src/tracers/process/index.js';
import {
  countFds,
  parsePidIo,
  parsePidStat,
  parsePidStatus,
  statusBytes,
  statusInteger,
} from '../../../src/tracers/process/parse.js';
import type { TracerContext } from '../../../src/tracers/types.js';
import { fixtureContext, manifestMismatches } from '../../fixtures/proc/fixture-context.js';

const T0_NS = 1795563807274269162n;
const T1_NS = 1795563808369993805n;
const T2_NS = 1795563809375658831n;
const seconds = (from: bigint, to: bigint) => Number(to - from) / 1e9;

const procstat = (samples: Sample[], pid: number) => {
  const found = samples.filter((s) => s.measurement === 'procstat' && s.tags.pid === String(pid));
  expect(found, `procstat of ${pid}`).toHaveLength(1);
  return found[0];
};
const lookup = (samples: Sample[]) => samples.filter((s) => s.measurement === 'procstat_lookup');
const reported = (samples: Sample[]) =>
  samples.filter((s) => s.measurement === 'procstat').map((s) => Number(s.tags.pid));

describe('process parsers', () => {
  it('reads /proc/<pid>/stat, whatever the name holds', () => {
    const stat = parsePidStat(
      '4242 (my (odd) proc 1) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 567 0 0 20 0 7 0 99887 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n',
    );
    expect(stat).toEqual({
      pid: 4242,
      comm: 'my (odd) proc 1',
      state: 'S',
      ppid: 1,
      utime: 1234,
      stime: 567,
      numThreads: 7,
      starttime: 99887,
      vsize: 123456789n,
      rss: 2048n,
    });
    expect(() => parsePidStat('garbage')).toThrow(/malformed/);
  });

  it('reads status values in bytes or as integers, absent for kernel threads', () => {
    const status = parsePidStatus(
      'Name:\tkworker/0:1\nVmRSS:\t    1704 kB\nThreads:\t1\nvoluntary_ctxt_switches:\t12\n',
    );
    expect(status.get('Name')).toBe('kworker/0:1');
    expect(statusBytes(status, 'VmRSS')).toBe(1704n * 1024n);
    expect(statusBytes(status, 'VmSwap')).toBeUndefined();
    expect(statusInteger(status, 'voluntary_ctxt_switches')).toBe(12n);
    expect(statusInteger(status, 'nonvoluntary_ctxt_switches')).toBeUndefined();
  });

  it('reads /proc/<pid>/io and counts descriptors', () => {
    const io = parsePidIo('rchar: 3980\nwchar: 0\nsyscr: 8\nsyscw: 0\nread_bytes: 4096\nwrite_bytes: 0\n');
    expect(io.get('read_bytes')).toBe(4096n);
    expect(io.get('syscr')).toBe(8n);
    expect(countFds(['0', '1', '2', '255'])).toBe(4);
  });
});

describe('process collector on recorded /proc snapshots', () => {
  it('reports a process with its memory, threads, descriptors, I/O and context switches', async () => {
    const samples = await processTracker({ name: 'sleep' }, fixtureContext('t0')).sample();
    const s = procstat(samples, 8449);
    expect(s.tags).toEqual({ process_name: 'sleep', pid: '8449', selector: 'sleep' });
    expect(s.time).toBe(T0_NS);
    expect(s.fields).toEqual({
      cpu_time_user: 0,
      cpu_time_system: 0,
      memory_rss: 1852n * 1024n,
      memory_vms: 2990080n,
      memory_swap: 0n,
      num_threads: 1n,
      num_fds: 3n,
      read_bytes: 0n,
      write_bytes: 0n,
      read_count: 10n,
      write_count: 0n,
      voluntary_context_switches: 1n,
      involuntary_context_switches: 0n,
    });
    expect(lookup(samples)).toEqual([
      { measurement: 'procstat_lookup', tags: { selector: 'sleep' }, fields: { pid_count: 1n }, time: T0_NS },
    ]);
  });

  it('gives cpu_usage from the second observation, in percent of one CPU', async () => {
    const ctx = fixtureContext('t0');
    const collect = processTracker({ name: 'sh' }, ctx).sample;
    const first = procstat(await collect(), 8450);
    expect(first.fields.cpu_usage).toBeUndefined();
    expect(first.fields.cpu_time_user).toBe(0.49);

    ctx.use('t1');
    const second = procstat(await collect(), 8450);
    // The busy loop used 109 ticks (1.09 s of CPU) in 1.0957 s of wall clock.
    expect(second.fields.cpu_usage).toBeCloseTo((100 * 1.09) / seconds(T0_NS, T1_NS), 10);
    expect(second.fields.cpu_usage).toBeGreaterThan(99);
    expect(second.fields.cpu_time_user).toBe(1.58);
    expect(second.fields.cpu_time_system).toBe(0);
    expect(second.fields.involuntary_context_switches).toBe(8n);

    ctx.use('t2');
    const third = procstat(await collect(), 8450);
    expect(third.fields.cpu_usage).toBeCloseTo((100 * 1.01) / seconds(T1_NS, T2_NS), 10);
  });

  it('follows processes that exit and start between ticks', async () => {
    const ctx = fixtureContext('t0');
    const collect = processTracker({ systemd_unit: 'nova-api.service' }, ctx).sample;
    const t0 = await collect();
    expect(reported(t0)).toEqual([8449]);
    ctx.use('t1');
    const t1 = await collect();
    expect(reported(t1)).toEqual([8449]);
    // A sleeping process: an observed 0 %, not a missing value.
    expect(procstat(t1, 8449).fields.cpu_usage).toBe(0);

    ctx.use('t2');
    const t2 = await collect();
    // 8449 exited and the service's new process 8455 is seen for the first time. It started
    // after the tracer's first reading, so its usage is measured since it started: a sleep's 0.
    expect(reported(t2)).toEqual([8455]);
    expect(procstat(t2, 8455).fields.cpu_usage).toBe(0);
    expect(procstat(t2, 8455).tags.selector).toBe('nova-api.service');
    expect(lookup(t2)[0].fields.pid_count).toBe(1n);
  });

  it('does not carry a delta over a reused pid', async () => {
    const ctx = fixtureContext('t1');
    // Pretend the new sleep of t2 got the pid of the busy loop: same pid, another start time.
    let reusedBy: string | undefined;
    const reused: TracerContext = {
      ...ctx,
      readdir: (p) => (p === '/proc' ? Promise.resolve(['8450']) : ctx.readdir(p)),
      readFile: async (p) => {
        if (!reusedBy || !p.startsWith('/proc/8450/')) return ctx.readFile(p);
        const s = await ctx.readFile(p.replace('8450', reusedBy));
        return p.endsWith('/stat') ? s.replace(/^\d+ /, '8450 ') : s;
      },
    };
    const collect = processTracker({ pid: 8450 }, reused).sample;
    expect(procstat(await collect(), 8450).tags.process_name).toBe('sh');
    ctx.use('t2');
    reusedBy = '8455';
    const after = procstat(await collect(), 8450);
    expect(after.tags.process_name).toBe('sleep');
    // Measured from its own start (it slept), not from the busy loop's 158 ticks.
    expect(after.fields.cpu_usage).toBe(0);
  });

  it('measures a process started after the first reading from its start, on its first sighting', async () => {
    const ctx = fixtureContext('t0');
    // Make the sleep started between t1 and t2 (at 679.60 s after boot) have used 0.3 s of CPU.
    const busy: TracerContext = {
      ...ctx,
      readFile: async (p) => {
        const s = await ctx.readFile(p);
        return p === '/proc/8455/stat' ? s.replace(/^((?:\S+ ){13})0 /, '$130 ') : s;
      },
    };
    const sample = processTracker({ name: 'sleep' }, busy).sample;
    expect(procstat(await sample(), 8449).fields.cpu_usage).toBeUndefined(); // running before the tracer
    ctx.use('t2');
    const s = procstat(await sample(), 8455);
    expect(s.fields.cpu_time_user).toBe(0.3);
    // Boot is placed by the earliest (now - uptime) of the readings, t0's; the process is
    // 680.6014 - 679.60 s old at t2, so 0.3 s of CPU is 29.96 % of one CPU.
    const age = Number(T2_NS - 1795563128774269162n) / 1e9 - 679.6;
    expect(s.fields.cpu_usage).toBeCloseTo((100 * 0.3) / age, 6);
  });

  it('does not measure from the start over a window too short for 10 ms start times', async () => {
    const ctx = fixtureContext('t1');
    // The sleep of t2, had it started 20 ms before t2 (680.58 s after boot) with 2 ticks of CPU.
    const young: TracerContext = {
      ...ctx,
      readFile: async (p) => {
        const s = await ctx.readFile(p);
        return p === '/proc/8455/stat'
          ? s.replace(/^((?:\S+ ){13})0 /, '$12 ').replace(' 67960 ', ' 68058 ')
          : s;
      },
    };
    const sample = processTracker({ name: 'sleep' }, young).sample;
    await sample();
    ctx.use('t2');
    const s = procstat(await sample(), 8455);
    expect(s.fields.cpu_time_user).toBe(0.02);
    expect(s.fields.cpu_usage).toBeUndefined();
  });

  it("reports a process that exited between ticks once more, from the watch's last reading", async () => {
    const ctx = fixtureContext('t0');
    let gone = false;
    const exiting: TracerContext = {
      ...ctx,
      readdir: async (p) => (await ctx.readdir(p)).filter((e) => !(gone && p === '/proc' && e === '8450')),
      readFile: (p) =>
        gone && p.startsWith('/proc/8450/') ? Promise.reject(new Error('ENOENT')) : ctx.readFile(p),
    };
    const tracker = processTracker({ name: 'sh' }, exiting);
    expect(procstat(await tracker.sample(), 8450).fields.cpu_usage).toBeUndefined();
    ctx.use('t1');
    await tracker.watch(); // the busy loop's CPU time at t1, then it exits
    gone = true;
    ctx.use('t2');
    const samples = await tracker.sample();
    const last = procstat(samples, 8450);
    expect(last.time).toBe(T1_NS);
    expect(last.fields.cpu_time_user).toBe(1.58);
    expect(last.fields.cpu_usage).toBeCloseTo((100 * 1.09) / seconds(T0_NS, T1_NS), 10);
    expect(lookup(samples)[0].fields.pid_count).toBe(0n);
    // Reported once: the next tick does not repeat it.
    expect(reported(await tracker.sample())).toEqual([]);
  });

  it('finds between ticks a process that lives less than an interval', async () => {
    const ctx = fixtureContext('t1');
    let gone = false;
    const brief: TracerContext = {
      ...ctx,
      readdir: async (p) => (await ctx.readdir(p)).filter((e) => !(gone && p === '/proc' && e === '8455')),
      readFile: (p) =>
        gone && p.startsWith('/proc/8455/') ? Promise.reject(new Error('ENOENT')) : ctx.readFile(p),
    };
    const tracker = processTracker({ systemd_unit: 'nova-api.service' }, brief);
    expect(reported(await tracker.sample())).toEqual([8449]);
    ctx.use('t2');
    await tracker.watch(); // 8449 has exited, 8455 is new
    gone = true;
    const samples = await tracker.sample();
    expect(reported(samples)).toEqual([8455]);
    const s = procstat(samples, 8455);
    expect(s.time).toBe(T2_NS);
    expect(s.fields.cpu_usage).toBe(0); // since its start, after the tracer's first reading
    expect(s.fields.memory_rss as bigint).toBeGreaterThan(0n); // the watch read all its files once
    expect(lookup(samples)[0].fields.pid_count).toBe(0n);
  });

  it('takes the CPU time of a single-threaded process from schedstat, finer than clock ticks', async () => {
    const ctx = fixtureContext('t0');
    let threads = '1';
    const schedstat: Record<string, string> = { t0: '495000000 1000 7\n', t1: '1589000000 2000 9\n' };
    let at = 't0';
    const precise: TracerContext = {
      ...ctx,
      readFile: async (p) => {
        if (p === '/proc/8450/schedstat') return schedstat[at];
        const s = await ctx.readFile(p);
        return p === '/proc/8450/stat' ? s.replace(/^((?:\S+ ){19})1 /, `$1${threads} `) : s;
      },
    };
    const sample = processTracker({ pid: 8450 }, precise).sample;
    // 49 ticks of utime, 0 of stime: the whole 495 ms is user time.
    expect(procstat(await sample(), 8450).fields.cpu_time_user).toBe(0.495);
    ctx.use('t1');
    at = 't1';
    const second = procstat(await sample(), 8450);
    expect(second.fields.cpu_time_user).toBe(1.589);
    expect(second.fields.cpu_time_system).toBe(0);
    expect(second.fields.cpu_usage).toBeCloseTo((100 * (1.589 - 0.495)) / seconds(T0_NS, T1_NS), 10);
    // With two threads schedstat counts the main thread only: the ticks count, never going back.
    threads = '2';
    ctx.use('t2');
    at = 't2';
    schedstat.t2 = '1600000000 0 0\n';
    const third = procstat(await sample(), 8450);
    expect(third.fields.cpu_time_user).toBe(2.59);
  });

  it('reports an empty match as pid_count 0 and no procstat', async () => {
    const samples = await processTracker({ name: 'nova-conductor' }, fixtureContext('t0')).sample();
    expect(samples).toEqual([
      {
        measurement: 'procstat_lookup',
        tags: { selector: 'nova-conductor' },
        fields: { pid_count: 0n },
        time: T0_NS,
      },
    ]);
  });

  it('leaves out io and fd fields it may not read, with one warning', async () => {
    const ctx = fixtureContext('t0');
    const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const locked: TracerContext = {
      ...ctx,
      readFile: (p) => (p.endsWith('/io') ? Promise.reject(denied) : ctx.readFile(p)),
      readdir: (p) => (p.endsWith('/fd') ? Promise.reject(denied) : ctx.readdir(p)),
    };
    const collect = processTracker({ cgroup: '/' }, locked).sample;
    const samples = [...(await collect()), ...(await collect())];
    const s = procstat(samples.slice(0, 3), 8450);
    expect(s.fields.memory_rss).toBe(1704n * 1024n);
    for (const f of ['read_bytes', 'write_bytes', 'read_count', 'write_count', 'num_fds']) {
      expect(s.fields[f], f).toBeUndefined();
    }
    expect(ctx.logged.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      expect.stringContaining('/proc/<pid>/io'),
      expect.stringContaining('/proc/<pid>/fd'),
    ]);
  });

  it('skips a process that exits between the lookup and the reading', async () => {
    const ctx = fixtureContext('t0');
    const racing: TracerContext = {
      ...ctx,
      readFile: (p) =>
        p === '/proc/8449/status'
          ? Promise.reject(Object.assign(new Error('ESRCH'), { code: 'ESRCH' }))
          : ctx.readFile(p),
    };
    const samples = await processTracker({ cgroup: '/' }, racing).sample();
    expect(reported(samples)).toEqual([8450]);
    expect(lookup(samples)[0].fields.pid_count).toBe(1n);
    expect(ctx.logged).toEqual([]);
  });

  it('leaves out zombies, which have exited and wait to be reaped', async () => {
    const ctx = fixtureContext('t0');
    const zombie: TracerContext = {
      ...ctx,
      readFile: async (p) => {
        const s = await ctx.readFile(p);
        return p === '/proc/8450/stat' ? s.replace(') R ', ') Z ') : s;
      },
    };
    const samples = await processTracker({ cgroup: '/' }, zombie).sample();
    expect(reported(samples)).toEqual([8449]);
    expect(lookup(samples)[0].fields.pid_count).toBe(1n);
  });

  it('writes only what the manifest declares, with the declared types', async () => {
    const ctx = fixtureContext('t0');
    const collect = processTracker({ cgroup: '/' }, ctx).sample;
    const samples = await collect();
    ctx.use('t1');
    samples.push(...(await collect()));
    expect(manifestMismatches(samples, processTracer.manifest)).toEqual([]);
    const declared = processTracer.manifest.measurements.find((m) => m.name === 'procstat')!;
    const written = new Set(
      samples.flatMap((s) => (s.measurement === 'procstat' ? Object.keys(s.fields) : [])),
    );
    expect(Object.keys(declared.fields).filter((f) => !written.has(f))).toEqual([]);
  });
});

describe('processTracer', () => {
  it('has a manifest whose example validates against its params schema', () => {
    const m = processTracer.manifest;
    expect(m.name).toBe('process');
    const validate = new Ajv({ strict: true }).compile(m.params);
    expect(validate(m.example.with), JSON.stringify(validate.errors)).toBe(true);
    expect(m.example.use).toBe('process');
  });

  it('is available when /proc can be listed, and says why not otherwise', async () => {
    const ctx = fixtureContext('t0');
    expect(await processTracer.unavailableReason(ctx)).toBeUndefined();
    const broken: TracerContext = { ...ctx, readdir: () => Promise.reject(new Error('ENOENT: no /proc')) };
    expect(await processTracer.unavailableReason(broken)).toBe('cannot list /proc: ENOENT: no /proc');
  });

  it('refuses an invalid selector when created', () => {
    const ctx = fixtureContext('t0');
    expect(() => processTracer.create({ cmdline: '[' }, { intervalMs: 1000 }, ctx)).toThrow(InputError);
    expect(() => processTracer.create({}, { intervalMs: 1000 }, ctx)).toThrow(InputError);
  });

  it('runs as a tracer instance: start emits the first reading, stop a final one with cpu_usage', async () => {
    const ctx = fixtureContext('t0');
    const instance = processTracer.create({ pid: 8450 }, { intervalMs: 60_000 }, ctx);
    const emitted: Sample[][] = [];
    await instance.start((s) => emitted.push(s));
    ctx.use('t1');
    await instance.stop();
    expect(emitted).toHaveLength(2);
    expect(procstat(emitted[1], 8450).fields.cpu_usage).toBeCloseTo((100 * 1.09) / seconds(T0_NS, T1_NS), 10);
  });
});
