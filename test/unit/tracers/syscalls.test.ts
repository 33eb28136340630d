import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/core/logger.js';
import type { ToolResult } from '../../../src/tracers/child-process.js';
import { processSelectorSchema } from '../../../src/tracers/process-selector.js';
import {
  checkBpftraceSyscalls,
  checkStraceAttach,
  ensureRawSyscallsTracepoints,
  type ProbeDeps,
} from '../../../src/tracers/syscalls/availability.js';
import {
  type BpftraceInterval,
  BpftraceIntervals,
  bpftraceScript,
} from '../../../src/tracers/syscalls/bpftrace-mode.js';
import { syscallsTracer } from '../../../src/tracers/syscalls/index.js';
import {
  cloneChild,
  isError,
  parseAusyscallDump,
  parseBpftraceJsonLine,
  parseStraceLine,
  parseUnistdHeader,
  type StraceCall,
  StraceCallAssembler,
  splitResult,
} from '../../../src/tracers/syscalls/parse.js';
import { pickSelector, SelectionTracker } from '../../../src/tracers/syscalls/selection.js';
import { syscallNames } from '../../../src/tracers/syscalls/syscall-table.js';
import { SyscallTally, tallySamples, topWithRest } from '../../../src/tracers/syscalls/tally.js';
import { manifestMismatches } from '../../fixtures/proc/fixture-context.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/syscalls');
const fixture = (name: string) => readFileSync(join(fixtures, name), 'utf8');
const table = syscallNames(parseUnistdHeader(fixture('unistd_64.h')), 'fixture');

describe('strace line parser', () => {
  it('reads a complete call, prefixed or not, with its time', () => {
    expect(parseStraceLine('[pid 10963] getpid()                    = 10929 <0.000040>')).toEqual({
      kind: 'call',
      tid: 10963,
      name: 'getpid',
      args: ')',
      result: { value: '10929' },
      durationUs: 40,
    });
    const plain = parseStraceLine('getpid()                                = 10929 <0.000013>');
    expect(plain).toMatchObject({ kind: 'call', tid: undefined, name: 'getpid', durationUs: 13 });
  });

  it('reads errors, restarts, hex results, -y paths and notes', () => {
    const enoent = parseStraceLine(
      'newfstatat(AT_FDCWD, "/nonexistent-scalpels/file", 0x7ffcd6d1ef30, 0) = -1 ENOENT (No such file or directory) <0.000153>',
    );
    expect(enoent).toMatchObject({ kind: 'call', result: { value: '-1', errno: 'ENOENT' }, durationUs: 153 });
    expect(isError((enoent as { result: { value: string; errno?: string } }).result)).toBe(true);
    expect(
      splitResult('futex(0x1, FUTEX_WAIT, 0, NULL) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)')
        ?.result,
    ).toEqual({
      value: '?',
      errno: 'ERESTARTSYS',
    });
    expect(
      splitResult('mmap(NULL, 8392704, PROT_NONE, MAP_PRIVATE, -1, 0) = 0x7fd625aad000')?.result,
    ).toEqual({
      value: '0x7fd625aad000',
    });
    expect(splitResult('poll([{fd=3, events=POLLIN}], 1, 0) = 1 ([{fd=3, revents=POLLIN}])')?.result).toEqual(
      {
        value: '1',
      },
    );
    // A -y path holding " = " is not mistaken for the result.
    expect(splitResult('openat(AT_FDCWD, "/a = 5", O_RDONLY) = 3</a = 5>')?.result).toEqual({
      value: '3',
      fdPath: '/a = 5',
    });
    expect(splitResult('exit_group(0)                           = ?')?.result).toEqual({ value: '?' });
  });

  it('classifies starts, resumptions, exits, signals and messages', () => {
    expect(parseStraceLine('[pid 10929] getpid( <unfinished ...>')).toEqual({
      kind: 'unfinished',
      tid: 10929,
      name: 'getpid',
      args: '',
    });
    expect(parseStraceLine('[pid 10929] <... getpid resumed>)       = 10929 <0.000028>')).toMatchObject({
      kind: 'resumed',
      tid: 10929,
      name: 'getpid',
      result: { value: '10929' },
      durationUs: 28,
    });
    // Resumed, then cut short by the thread's exit.
    expect(parseStraceLine('[pid 7] <... futex resumed> <unfinished ...>) = ?')).toMatchObject({
      kind: 'resumed',
      name: 'futex',
      result: { value: '?' },
    });
    expect(parseStraceLine('[pid 10964] +++ exited with 0 +++')).toEqual({
      kind: 'exit',
      tid: 10964,
      text: '+++ exited with 0 +++',
    });
    expect(parseStraceLine('+++ killed by SIGKILL +++')).toMatchObject({ kind: 'exit', tid: undefined });
    expect(parseStraceLine('--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---')).toMatchObject({
      kind: 'signal',
    });
    expect(parseStraceLine('strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted')).toMatchObject(
      {
        kind: 'message',
      },
    );
    expect(parseStraceLine('')).toMatchObject({ kind: 'message' });
  });
});

describe('strace call assembler on a real trace (threads, fork, unprefixed lines)', () => {
  const root = Number(fixture('strace-threads-fork.pid').trim());
  const calls: StraceCall[] = [];
  const exited: number[] = [];
  const assembler = new StraceCallAssembler([root]);
  for (const line of fixture('strace-threads-fork.txt').split('\n')) {
    if (line === '') continue;
    const out = assembler.feed(parseStraceLine(line));
    if (out && 'call' in out) calls.push(out.call);
    else if (out) exited.push(out.exitedTid);
  }
  const count = (tid: number, name: string) => calls.filter((c) => c.tid === tid && c.name === name).length;

  it('puts every getpid on the thread that made it', () => {
    expect(count(root, 'getpid')).toBe(5);
    expect(count(10963, 'getpid')).toBe(3);
    expect(count(10964, 'getpid')).toBe(2);
  });

  it('names unprefixed lines after the last other thread exited', () => {
    expect(exited).toEqual([10963, 10964, root]);
    // The resumed wait4 after the child's exit, and the final exit_group, are the root's.
    expect(calls.filter((c) => c.name === 'wait4').map((c) => c.tid)).toEqual([root]);
    expect(calls.filter((c) => c.name === 'exit_group').map((c) => c.tid)).toEqual([10964, root]);
  });

  it('joins the arguments of split calls and tells threads from processes', () => {
    const clones = calls.map(cloneChild).filter((c) => c !== undefined);
    expect(clones).toEqual([
      { tid: 10963, thread: true },
      { tid: 10964, thread: false },
    ]);
    const rt = calls.find((c) => c.tid === 10963 && c.name === 'rt_sigprocmask' && c.args.includes('RT_1'));
    expect(rt?.args).toBe('SIG_BLOCK, ~[RT_1], NULL, 8)');
  });

  it('counts the errors', () => {
    const failed = calls.filter((c) => isError(c.result)).map((c) => `${c.name}:${c.result.errno}`);
    expect(failed).toEqual(['futex:EAGAIN', 'newfstatat:ENOENT', 'newfstatat:ENOENT']);
  });
});

describe('syscall tables', () => {
  it('reads the kernel header', () => {
    expect(table.size).toBeGreaterThan(300);
    expect(table.name(0)).toBe('read');
    expect(table.name(39)).toBe('getpid');
    expect(table.number('exit_group')).toBe(231);
    expect(table.name(99999)).toBe('sys_99999');
    expect(table.name(-1)).toBe('unknown');
  });

  it("reads ausyscall's dump", () => {
    const dump = parseAusyscallDump(fixture('ausyscall-dump.txt'));
    expect(dump.get(39)).toBe('getpid');
    expect(dump.size).toBe(6);
  });
});

describe('bpftrace mode', () => {
  const pid = Number(fixture('bpftrace-json.pid').trim());

  it('parses bpftrace JSON lines', () => {
    expect(parseBpftraceJsonLine('{"type": "attached_probes", "data": {"probes": 5}}')).toEqual({
      kind: 'attached',
      probes: 5,
    });
    expect(parseBpftraceJsonLine('{"type": "printf", "data": "scalpels-tick\\n"}')).toEqual({
      kind: 'printf',
      text: 'scalpels-tick\n',
    });
    expect(
      parseBpftraceJsonLine(
        '{"type": "stats", "data": {"@s": {"1,39": {"count": 2, "average": 5, "total": 10}}}}',
      ),
    ).toEqual({ kind: 'stats', map: '@s', entries: [{ key: [1, 39], count: 2, total: 10 }] });
    expect(parseBpftraceJsonLine('{"type": "map", "data": {"@e": {"1,-1": 3}}}')).toEqual({
      kind: 'map',
      map: '@e',
      entries: [{ key: [1, -1], value: 3 }],
    });
    expect(parseBpftraceJsonLine('')).toBeUndefined();
    expect(parseBpftraceJsonLine('{not json')).toBeUndefined();
  });

  it('turns a real run into intervals with the workload counts', () => {
    const intervals: Array<{ interval: BpftraceInterval; last: boolean }> = [];
    const acc = new BpftraceIntervals(table, (interval, last) => intervals.push({ interval, last }));
    for (const line of fixture('bpftrace-json.txt').split('\n')) {
      const msg = parseBpftraceJsonLine(line);
      if (msg && msg.kind !== 'attached') acc.feed(msg);
    }
    expect(intervals.map((i) => i.last)).toEqual([false, false, false, false, true]);
    const sum = (p: number, name: string, field: 'calls' | 'errors' | 'timeUs') =>
      intervals.reduce((n, i) => n + (i.interval.tally.byKey.get(p)?.get(name)?.[field] ?? 0), 0);
    // workload.py --getpid 3000 --thread-getpid 3000 --fork-getpid 3000 --stat-errors 7
    expect(sum(pid, 'getpid', 'calls')).toBe(6000);
    expect(sum(pid, 'getpid', 'timeUs')).toBeCloseTo(3368.996, 3);
    expect(sum(pid, 'newfstatat', 'errors')).toBe(7);
    expect(sum(pid, 'exit_group', 'calls')).toBe(1);
    const forks = intervals.flatMap((i) => i.interval.forks).filter(([, parent]) => parent === pid);
    const child = forks.map(([c]) => c).find((c) => sum(c, 'getpid', 'calls') > 0)!;
    expect(sum(child, 'getpid', 'calls')).toBe(3000);
  });

  it('selects forked copies of a selected process, not what they exec', () => {
    const selection = new SelectionTracker({ pid: 1 }, {} as never);
    selection.names.set(100, 'uwsgi');
    selection.noteFork(101, 100);
    selection.noteFork(102, 101);
    selection.noteFork(103, 100);
    selection.noteExec(103);
    selection.noteFork(104, 999);
    expect([101, 102, 103, 104].map((p) => selection.knownSelected(p))).toEqual([true, true, false, false]);
    expect(selection.names.get(102)).toBe('uwsgi');
  });

  it('writes a script that counts exit and exit_group on entry', () => {
    const script = bpftraceScript(1000, table);
    expect(script).toContain('args->id == 60 || args->id == 231');
    expect(script).toContain('@g = 1 - @g;');
    expect(script).toContain('BEGIN { printf("scalpels-ready\\n"); }');
    expect(script).toContain('interval:ms:1000');
    expect(script).toContain('END {');
    expect(bpftraceScript(1000, syscallNames(new Map(), 'none'))).not.toContain('args->id ==');
  });
});

describe('syscalls samples', () => {
  it('keeps the top N per process and sums the rest as _other', () => {
    const counts = new Map([
      ['read', { calls: 10, errors: 1, timeUs: 5 }],
      ['write', { calls: 30, errors: 0, timeUs: 9 }],
      ['close', { calls: 2, errors: 0, timeUs: 1 }],
      ['openat', { calls: 2, errors: 2, timeUs: 3 }],
    ]);
    expect(topWithRest(counts, 2)).toEqual([
      ['write', { calls: 30, errors: 0, timeUs: 9 }],
      ['read', { calls: 10, errors: 1, timeUs: 5 }],
      ['_other', { calls: 4, errors: 2, timeUs: 4 }],
    ]);
    expect(topWithRest(counts, 4).map(([n]) => n)).toEqual(['write', 'read', 'openat', 'close']);
  });

  it('writes one series per pid, or per name when per_pid is false', () => {
    const tally = new SyscallTally();
    tally.add(10, 'read', 3, 0, 30);
    tally.add(11, 'read', 2, 1, 20);
    tally.add(11, 'write', 1, 0, 5);
    const names = new Map([
      [10, 'uwsgi'],
      [11, 'uwsgi'],
    ]);
    const base = { top: 20, time: 1n, processNames: names, selector: 'uwsgi', timed: true };
    const perPid = tallySamples(tally, { ...base, perPid: true });
    expect(perPid).toHaveLength(3);
    expect(perPid[0]).toEqual({
      measurement: 'syscalls',
      tags: { process_name: 'uwsgi', selector: 'uwsgi', pid: '10', syscall: 'read' },
      fields: { calls: 3n, errors: 0n, time_us: 30 },
      time: 1n,
    });
    const perName = tallySamples(tally, { ...base, perPid: false, timed: false });
    expect(perName.map((s) => [s.tags, s.fields])).toEqual([
      [
        { process_name: 'uwsgi', selector: 'uwsgi', syscall: 'read' },
        { calls: 5n, errors: 1n },
      ],
      [
        { process_name: 'uwsgi', selector: 'uwsgi', syscall: 'write' },
        { calls: 1n, errors: 0n },
      ],
    ]);
    expect(manifestMismatches([...perPid, ...perName], syscallsTracer.manifest)).toEqual([]);
  });
});

describe('syscalls manifest', () => {
  const ajv = new Ajv({ strict: false, useDefaults: true });
  const validate = ajv.compile(syscallsTracer.manifest.params);

  it('repeats the shared process selector', () => {
    const props = syscallsTracer.manifest.params.properties as Record<string, unknown>;
    for (const [key, schema] of Object.entries(processSelectorSchema.properties))
      expect(props[key]).toEqual(schema);
  });

  it('accepts its example, fills defaults, and wants a selector', () => {
    const example = structuredClone(syscallsTracer.manifest.example.with) as Record<string, unknown>;
    expect(validate(example)).toBe(true);
    const filled: Record<string, unknown> = { pid: 1 };
    expect(validate(filled)).toBe(true);
    expect(filled).toEqual({ pid: 1, mode: 'auto', top: 20, per_pid: true });
    expect(validate({ mode: 'strace' })).toBe(false);
    expect(validate({ pid: 1, mode: 'ptrace' })).toBe(false);
    expect(pickSelector({ pid: 1, mode: 'auto', top: 3 } as never)).toEqual({ pid: 1 });
  });
});

/** Probe dependencies that play a machine; records what was run. */
function fakeDeps(machine: {
  existing: string[];
  tools: string[];
  run?: (tool: string, args: string[]) => Partial<ToolResult>;
}): ProbeDeps & { ran: string[]; infos: string[] } {
  const ran: string[] = [];
  const infos: string[] = [];
  const existing = new Set(machine.existing);
  const log: Logger = {
    debug() {},
    info: (msg) => infos.push(msg),
    warn() {},
    error() {},
    child: () => log,
  };
  return {
    ran,
    infos,
    log,
    exists: async (p) => existing.has(p),
    readFile: async () => '0',
    which: async (t) => (machine.tools.includes(t) ? `/usr/bin/${t}` : undefined),
    run: async (tool, args) => {
      ran.push([tool, ...args].join(' '));
      const r = machine.run?.(tool, args) ?? {};
      if (tool === 'mount' && r.code === 0) existing.add('/sys/kernel/tracing/events/raw_syscalls');
      return { code: 0, signal: null, stdout: '', stderr: '', timedOut: false, ...r };
    },
  };
}

describe('availability checks', () => {
  it('names the package of a missing tool', async () => {
    expect(await checkBpftraceSyscalls(fakeDeps({ existing: [], tools: [] }))).toBe(
      'bpftrace not found: apt-get install bpftrace',
    );
    expect(await checkStraceAttach(fakeDeps({ existing: [], tools: [] }))).toBe(
      'strace not found: apt-get install strace',
    );
  });

  it('mounts tracefs when it is missing, and says so', async () => {
    const deps = fakeDeps({ existing: [], tools: ['bpftrace', 'mount'], run: () => ({ code: 0 }) });
    expect(await ensureRawSyscallsTracepoints(deps)).toBeUndefined();
    expect(deps.ran).toEqual(['mount -t tracefs nodev /sys/kernel/tracing']);
    expect(deps.infos).toEqual(["mounted tracefs on /sys/kernel/tracing: bpftrace's tracepoints need it"]);
  });

  it('does not mount what is mounted', async () => {
    const deps = fakeDeps({ existing: ['/sys/kernel/tracing/events/raw_syscalls'], tools: ['bpftrace'] });
    expect(await checkBpftraceSyscalls(deps)).toBeUndefined();
    expect(deps.ran).toEqual(['bpftrace -e tracepoint:raw_syscalls:sys_enter { exit(); }']);
  });

  it('says why when mounting is refused', async () => {
    const deps = fakeDeps({
      existing: [],
      tools: ['bpftrace'],
      run: (tool) =>
        tool === 'mount'
          ? { code: 32, stderr: 'mount: /sys/kernel/tracing: permission denied.' }
          : { code: 0 },
    });
    expect(await checkBpftraceSyscalls(deps)).toBe(
      'tracefs is not mounted at /sys/kernel/tracing and mounting it failed (mount: /sys/kernel/tracing: permission denied.); as root: mount -t tracefs nodev /sys/kernel/tracing',
    );
  });

  it("reports bpftrace's own error without its harmless noise", async () => {
    const deps = fakeDeps({
      existing: ['/sys/kernel/tracing/events/raw_syscalls'],
      tools: ['bpftrace'],
      run: () => ({ code: 1, stderr: fixture('bpftrace-no-tracefs.txt') }),
    });
    const reason = await checkBpftraceSyscalls(deps);
    expect(reason).toMatch(
      /^bpftrace cannot attach to tracepoint:raw_syscalls:sys_enter: stdin:1:1-34: ERROR: tracepoint not found: raw_syscalls:sys_enter/,
    );
    expect(reason).not.toContain('RLIMIT_MEMLOCK');
  });

  it('knows a kernel without syscall tracepoints', async () => {
    const deps = fakeDeps({ existing: ['/sys/kernel/tracing/events'], tools: ['bpftrace'] });
    expect(await checkBpftraceSyscalls(deps)).toMatch(/no raw_syscalls tracepoints/);
    expect(deps.ran).toEqual([]);
  });
});
