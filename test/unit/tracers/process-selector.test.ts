import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/core/logger.js';
import { processTracer } from '../../../src/tracers/process/index.js';
import {
  cgroupPaths,
  describeSelector,
  findProcesses,
  joinCmdline,
  processSelectorSchema,
  validateProcessSelector,
} from '../../../src/tracers/process-selector.js';
import type { TracerContext } from '../../../src/tracers/types.js';
import { fixtureContext } from '../../fixtures/proc/fixture-context.js';

interface FakeProcess {
  comm: string;
  cmdline: string[];
  cgroup?: string;
}

/**
 * An in-memory /proc. `vanishing` pids are listed but gone by the time their files are read,
 * the race every lookup on a busy node meets.
 */
function fakeProc(
  procs: Record<number, FakeProcess>,
  extra: Record<string, string> = {},
  vanishing: number[] = [],
): TracerContext & { reads: string[] } {
  const files = new Map<string, string>(Object.entries(extra));
  for (const [pid, p] of Object.entries(procs)) {
    files.set(`/proc/${pid}/comm`, `${p.comm}\n`);
    files.set(`/proc/${pid}/cmdline`, p.cmdline.length ? `${p.cmdline.join('\0')}\0` : '');
    files.set(`/proc/${pid}/cgroup`, p.cgroup ?? '0::/\n');
  }
  const reads: string[] = [];
  return {
    reads,
    log: silentLogger,
    now: () => 0n,
    async readFile(path) {
      reads.push(path);
      const v = files.get(path);
      if (v === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return v;
    },
    async readdir(path) {
      if (path !== '/proc') throw new Error(`ENOTDIR: ${path}`);
      return ['self', 'stat', 'sys', ...Object.keys(procs), ...vanishing.map(String)];
    },
  };
}

const PROCS: Record<number, FakeProcess> = {
  2: { comm: 'kthreadd', cmdline: [] },
  // comm is cut at 15 characters; argv[0] keeps the full name.
  100: {
    comm: 'nova-api-metada',
    cmdline: ['/usr/bin/python3', '/usr/bin/nova-api-metadata', '--config-file', '/etc/nova/nova.conf'],
    cgroup:
      '1:name=systemd:/system.slice/nova-api-metadata.service\n0::/system.slice/nova-api-metadata.service\n',
  },
  101: {
    comm: 'nova-api',
    cmdline: ['/usr/bin/python3', '/usr/bin/nova-api'],
    cgroup: '0::/system.slice/nova-api.service\n',
  },
  102: {
    comm: 'nova-api',
    cmdline: ['/usr/bin/python3', '/usr/bin/nova-api'],
    cgroup: '0::/system.slice/nova-api.service/worker-1\n',
  },
  200: {
    comm: 'uwsgi',
    cmdline: ['/usr/local/bin/uwsgi', '--ini', '/etc/keystone/keystone uwsgi.ini'],
    cgroup: '0::/docker/4f1c2a/keystone\n',
  },
  300: { comm: 'bash', cmdline: ['/opt/my tools/bin/agent run', '--flag'] },
};

const pids = async (sel: Parameters<typeof findProcesses>[0], ctx = fakeProc(PROCS), selfPid = 1) =>
  (await findProcesses(sel, ctx, { selfPid })).map((p) => p.pid);

describe('findProcesses', () => {
  it('matches name on comm exactly, or on the basename of argv[0]', async () => {
    expect(await pids({ name: 'nova-api' })).toEqual([101, 102]);
    expect(await pids({ name: 'nova-api-metadata' })).toEqual([]);
    expect(await pids({ name: 'nova-api-metada' })).toEqual([100]);
    expect(await pids({ name: 'uwsgi' })).toEqual([200]);
    expect(await pids({ name: 'agent run' })).toEqual([300]);
    expect(await pids({ name: 'python3' })).toEqual([100, 101, 102]);
    expect(await pids({ name: 'kthreadd' })).toEqual([2]);
    expect(await pids({ name: 'nova' })).toEqual([]);
  });

  it('searches cmdline as a regular expression over arguments joined by spaces', async () => {
    expect(await pids({ cmdline: 'nova-api-metadata' })).toEqual([100]);
    expect(await pids({ cmdline: 'nova-api$' })).toEqual([101, 102]);
    expect(await pids({ cmdline: 'keystone uwsgi\\.ini' })).toEqual([200]);
    expect(await pids({ cmdline: '--config-file /etc/nova' })).toEqual([100]);
    // Kernel threads have no command line, so even `.*` leaves them out.
    expect(await pids({ cmdline: '.*' })).toEqual([100, 101, 102, 200, 300]);
  });

  it('excludes the calling process from cmdline matches only', async () => {
    expect(await pids({ cmdline: 'uwsgi' }, fakeProc(PROCS), 200)).toEqual([]);
    expect(await pids({ name: 'uwsgi' }, fakeProc(PROCS), 200)).toEqual([200]);
    const ctx = fakeProc({
      ...PROCS,
      [process.pid]: { comm: 'node', cmdline: ['node', 'scalpels', 'nova-api'] },
    });
    expect((await findProcesses({ cmdline: 'nova-api' }, ctx)).map((p) => p.pid)).toEqual([100, 101, 102]);
  });

  it('selects by pid and pidfile, and finds nothing when the process or the file is gone', async () => {
    const ctx = fakeProc(PROCS, { '/run/nova/api.pid': '101\n', '/run/empty.pid': '' });
    expect(await pids({ pid: 200 }, ctx)).toEqual([200]);
    expect(await pids({ pid: 999 }, ctx)).toEqual([]);
    expect(await pids({ pidfile: '/run/nova/api.pid' }, ctx)).toEqual([101]);
    expect(await pids({ pidfile: '/run/missing.pid' }, ctx)).toEqual([]);
    expect(await pids({ pidfile: '/run/empty.pid' }, ctx)).toEqual([]);
    expect(await pids({ pid: 101, pidfile: '/run/nova/api.pid' }, ctx)).toEqual([101]);
    expect(await pids({ pid: 102, pidfile: '/run/nova/api.pid' }, ctx)).toEqual([]);
    // A pid lookup never lists /proc.
    ctx.reads.length = 0;
    await pids({ pid: 200 }, ctx);
    expect(ctx.reads.every((r) => r.startsWith('/proc/200/'))).toBe(true);
  });

  it('selects a systemd unit by cgroup path component, its sub-cgroups included', async () => {
    expect(await pids({ systemd_unit: 'nova-api.service' })).toEqual([101, 102]);
    expect(await pids({ systemd_unit: 'nova-api' })).toEqual([101, 102]);
    expect(await pids({ systemd_unit: 'nova-api-metadata.service' })).toEqual([100]);
    expect(await pids({ systemd_unit: 'nova' })).toEqual([]);
  });

  it('selects by cgroup substring', async () => {
    expect(await pids({ cgroup: '/docker/4f1c2a' })).toEqual([200]);
    expect(await pids({ cgroup: 'system.slice/nova-api' })).toEqual([100, 101, 102]);
  });

  it('ANDs the criteria', async () => {
    expect(await pids({ name: 'python3', cmdline: 'metadata' })).toEqual([100]);
    expect(await pids({ name: 'nova-api', cgroup: 'worker' })).toEqual([102]);
    expect(await pids({ name: 'uwsgi', pid: 101 })).toEqual([]);
  });

  it('skips processes that exit while being read', async () => {
    const ctx = fakeProc(PROCS, {}, [555, 556]);
    expect(await pids({ cmdline: '.' }, ctx)).toEqual([100, 101, 102, 200, 300]);
  });

  it('returns name and joined command line', async () => {
    const [p] = await findProcesses({ pid: 100 }, fakeProc(PROCS));
    expect(p).toEqual({
      pid: 100,
      name: 'nova-api-metada',
      cmdline: '/usr/bin/python3 /usr/bin/nova-api-metadata --config-file /etc/nova/nova.conf',
    });
  });

  it('works on the recorded /proc snapshots', async () => {
    const ctx = fixtureContext('t1');
    const found = await findProcesses({ systemd_unit: 'nova-api.service' }, ctx, { selfPid: 1 });
    expect(found).toEqual([{ pid: 8449, name: 'sleep', cmdline: '/bin/sleep 1000' }]);
    ctx.use('t2');
    // The service was restarted between t1 and t2: the unit now holds the new pid.
    expect(
      (await findProcesses({ systemd_unit: 'nova-api' }, ctx, { selfPid: 1 })).map((p) => p.pid),
    ).toEqual([8455]);
    expect((await findProcesses({ cmdline: 'while :' }, ctx, { selfPid: 1 })).map((p) => p.pid)).toEqual([
      8450,
    ]);
  });

  it('throws on an invalid regular expression or an empty selector', async () => {
    await expect(findProcesses({ cmdline: '(' }, fakeProc(PROCS))).rejects.toThrow(
      /invalid cmdline regular expression/,
    );
    expect(() => validateProcessSelector({})).toThrow(/needs one of name, cmdline/);
    expect(() => validateProcessSelector({ name: 'x' })).not.toThrow();
  });
});

describe('process selector helpers', () => {
  it('labels a selector by its value, or by key:value pairs when there are several', () => {
    expect(describeSelector({ name: 'nova-api' })).toBe('nova-api');
    expect(describeSelector({ pid: 42 })).toBe('42');
    expect(describeSelector({ cmdline: 'nova', name: 'python3' })).toBe('name:python3 cmdline:nova');
  });

  it('joins NUL-separated arguments and reads cgroup paths', () => {
    expect(joinCmdline('a\0b c\0d\0')).toBe('a b c d');
    expect(joinCmdline('')).toBe('');
    expect(cgroupPaths('12:cpu,cpuacct:/system.slice/a.service\n0::/x:y\n')).toEqual([
      '/system.slice/a.service',
      '/x:y',
    ]);
  });

  it('has a strict JSON Schema that needs at least one criterion, equal to the process manifest', () => {
    const validate = new Ajv({ strict: true, allErrors: true }).compile(processSelectorSchema);
    expect(validate({ name: 'nova-api' })).toBe(true);
    expect(validate({ cmdline: 'nova', cgroup: 'x' })).toBe(true);
    expect(validate({ pid: 12 })).toBe(true);
    expect(validate({})).toBe(false);
    expect(validate({ pid: 0 })).toBe(false);
    expect(validate({ pid: 1.5 })).toBe(false);
    expect(validate({ name: '' })).toBe(false);
    expect(validate({ name: 'x', interval: '1s' })).toBe(false);
    expect(processTracer.manifest.params).toEqual(JSON.parse(JSON.stringify(processSelectorSchema)));
  });
});
