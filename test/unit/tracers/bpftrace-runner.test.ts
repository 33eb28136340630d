import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type BpftraceProbeDeps,
  bpftraceFailure,
  bpftraceUnavailableReason,
  capEffAllowsBpf,
  isHarmlessBpftraceStderr,
  parseBpftraceJson,
  READY_MARKER,
  splitMapKey,
  withReadyProbe,
} from '../../../src/tracers/bpftrace-runner.js';
import { spawnLineChild } from '../../../src/tracers/command/process-group.js';
import { isAlive } from '../../helpers/net.js';

const fixtures = join(import.meta.dirname, '../../fixtures');
const jsonl = (file: string) => readFileSync(join(fixtures, file), 'utf8').split('\n');

describe('parseBpftraceJson', () => {
  it('reads every message type bpftrace 0.17 prints with -f json', () => {
    const messages = jsonl('bpftrace/misc.jsonl').map(parseBpftraceJson);
    expect(messages[0]).toEqual({ type: 'attached', probes: 2 });
    expect(messages[1]).toEqual({
      type: 'map',
      map: { kind: 'map', name: '@total', entries: [{ value: 7533 }] },
    });
    expect(messages[2]).toEqual({
      type: 'map',
      map: {
        kind: 'stats',
        name: '@avg_id',
        entries: [
          { key: 'python3', value: 230 },
          { key: '2_scheduler', value: 263 },
          { key: 'bpftrace', value: 363 },
        ],
      },
    });
    const hist = messages[3];
    expect(hist?.type === 'map' && hist.map.kind).toBe('hist');
    expect(hist?.type === 'map' && hist.map.entries[0].key).toBeUndefined();
    expect(messages[4]).toMatchObject({
      type: 'map',
      map: { name: '@', entries: [{ key: 'node', value: 621 }, {}, {}] },
    });
    expect(messages[5]).toEqual({ type: 'printf', text: 'tick\n' });
    // bpftrace prints an empty line for an empty map.
    expect(messages[6]).toBeUndefined();
  });

  it('reads stats() objects, string values and keys with commas and escapes', () => {
    const stats = parseBpftraceJson(jsonl('bpftrace/runqlat.jsonl')[1]);
    expect(stats?.type === 'map' && stats.map.entries.find((e) => e.key === 'python3')?.value).toMatchObject({
      count: expect.any(Number),
      average: expect.any(Number),
      total: expect.any(Number),
    });
    const names = parseBpftraceJson('{"type": "map", "data": {"@name": {"1": "/tmp/we\\"ird\\\\file.py"}}}');
    expect(names).toEqual({
      type: 'map',
      map: { kind: 'map', name: '@name', entries: [{ key: '1', value: '/tmp/we"ird\\file.py' }] },
    });
    expect(
      parseBpftraceJson('{"type": "stats", "data": {"@s": {"count": 2, "average": 3, "total": 6}}}'),
    ).toEqual({
      type: 'map',
      map: { kind: 'stats', name: '@s', entries: [{ value: { count: 2, average: 3, total: 6 } }] },
    });
  });

  it('never throws on lines that are not its JSON', () => {
    expect(parseBpftraceJson('Attaching 3 probes...')).toBeUndefined();
    expect(parseBpftraceJson('{"type": "map", "data": ')).toBeUndefined();
    expect(parseBpftraceJson('{"type": "lost_events", "data": {"events": 12}}')).toEqual({
      type: 'lost',
      events: 12,
    });
    expect(parseBpftraceJson('{"type": "time", "data": "10:00:00"}')).toMatchObject({ type: 'other' });
  });
});

describe('splitMapKey', () => {
  it('splits on commas and keeps extra ones in the last part', () => {
    expect(splitMapKey('1,2')).toEqual(['1', '2']);
    expect(splitMapKey('231,my,proc', 2)).toEqual(['231', 'my,proc']);
    expect(splitMapKey('a', 3)).toEqual(['a']);
  });
});

describe('bpftrace stderr', () => {
  it('ignores the harmless messages of this kind of machine and reports the rest', () => {
    const stderr = readFileSync(join(fixtures, 'python/bpftrace-stderr.txt'), 'utf8').split('\n');
    expect(stderr.every(isHarmlessBpftraceStderr)).toBe(true);
    expect(
      isHarmlessBpftraceStderr(
        'ERROR: failed to detach probe uprobe:/usr/bin/python3.11:_PyEval_EvalFrameDefault: uprobe_events: No such file or directory',
      ),
    ).toBe(true);
    const failure = [
      ...stderr,
      'stdin:1:1-20: ERROR: tracepoint not found: raw_syscalls:sys_enter',
      'uprobe_events: No such file or directory',
    ];
    expect(bpftraceFailure(failure)).toBe(
      'stdin:1:1-20: ERROR: tracepoint not found: raw_syscalls:sys_enter',
    );
    expect(bpftraceFailure(stderr)).toBe('bpftrace exited without saying why');
  });
});

describe('bpftraceUnavailableReason', () => {
  const root = 'Name:\tnode\nCapEff:\t000001ffffffffff\n';
  const deps = (over: Partial<BpftraceProbeDeps> = {}): BpftraceProbeDeps => ({
    findExecutable: async () => '/usr/bin/bpftrace',
    readFile: async () => root,
    trialRun: async () => undefined,
    ...over,
  });

  it('checks the binary, the privileges, then a real program', async () => {
    expect(await bpftraceUnavailableReason(deps())).toBeUndefined();
    expect(await bpftraceUnavailableReason(deps({ findExecutable: async () => undefined }))).toBe(
      'bpftrace is not installed (Debian package bpftrace)',
    );
    expect(
      await bpftraceUnavailableReason(deps({ readFile: async () => 'CapEff:\t0000000000000000\n' })),
    ).toMatch(/needs root \(or CAP_BPF and CAP_PERFMON\)/);
    expect(
      await bpftraceUnavailableReason(
        deps({ trialRun: async () => 'bpftrace cannot load a BPF program here: EPERM' }),
      ),
    ).toBe('bpftrace cannot load a BPF program here: EPERM');
  });

  it('reads capability masks', () => {
    expect(capEffAllowsBpf(root)).toBe(true);
    expect(capEffAllowsBpf('CapEff:\t0000000000200000\n')).toBe(true); // CAP_SYS_ADMIN alone
    expect(capEffAllowsBpf('CapEff:\t000000c000000000\n')).toBe(true); // CAP_BPF + CAP_PERFMON
    expect(capEffAllowsBpf('CapEff:\t0000008000000000\n')).toBe(false); // CAP_BPF alone
    expect(capEffAllowsBpf('Name: x\n')).toBe(false);
  });
});

describe('withReadyProbe', () => {
  const ready = `printf("${READY_MARKER}\\n");`;
  it('adds a BEGIN probe, or the printf to the one there is, without moving lines', () => {
    expect(withReadyProbe('tracepoint:a:b { @n = count(); }\n')).toBe(
      `BEGIN { ${ready} } tracepoint:a:b { @n = count(); }\n`,
    );
    const withBegin = '// BEGIN { in a comment }\nBEGIN { @x = 1; }\ni:s:1 { print(@x); }';
    expect(withReadyProbe(withBegin)).toBe(
      `// BEGIN { in a comment }\nBEGIN { ${ready} @x = 1; }\ni:s:1 { print(@x); }`,
    );
    expect(withReadyProbe('END{ } BEGIN{ }').split('\n')).toHaveLength(1);
  });
});

describe('spawnLineChild (command process groups)', () => {
  it('reads lines, including a last one without a newline, and reports the exit', async () => {
    const out: string[] = [];
    const child = spawnLineChild({
      argv: ['/bin/sh', '-c', 'printf "a\\nb\\r\\nc"; echo oops >&2; exit 3'],
      onStdoutLine: (l) => out.push(l),
    });
    const exit = await child.exited;
    expect(out).toEqual(['a', 'b', 'c']);
    expect(exit).toMatchObject({ code: 3, signal: null });
    expect(child.stderrTail()).toEqual(['oops']);
  });

  it('kills the whole process group on stop, escalating to SIGKILL', async () => {
    const child = spawnLineChild({
      argv: ['/bin/sh', '-c', 'trap "" TERM; sleep 30 & echo $!; wait'],
      onStdoutLine: (l) => grandchild.push(Number(l)),
      stopGraceMs: 300,
    });
    const grandchild: number[] = [];
    while (grandchild.length === 0) await new Promise((r) => setTimeout(r, 20));
    const exit = await child.stop();
    expect(exit.signal).toBe('SIGKILL');
    expect(isAlive(child.pid!)).toBe(false);
    // `sleep` inherited the ignored SIGTERM too: only the group's SIGKILL could end it.
    await new Promise((r) => setTimeout(r, 50));
    expect(isAlive(grandchild[0])).toBe(false);
  });

  it('reports a program that cannot be started', async () => {
    const child = spawnLineChild({ argv: ['/nonexistent/program'], onStdoutLine: () => {} });
    const exit = await child.exited;
    expect(exit.error?.message).toMatch(/ENOENT/);
    expect(await child.stop()).toBe(exit);
  });
});
