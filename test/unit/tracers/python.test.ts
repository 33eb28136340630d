import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/core/logger.js';
import type { Sample } from '../../../src/core/sample.js';
import {
  type BpftraceMessage,
  type BpftraceOptions,
  type BpftraceRun,
  parseBpftraceJson,
} from '../../../src/tracers/bpftrace-runner.js';
import type { ToolExit } from '../../../src/tracers/child-process.js';
import { PythonTracerInstance, pythonTracer, selectorOf } from '../../../src/tracers/python/index.js';
import { findProbeObject, moduleMatcher, PythonCallAggregator } from '../../../src/tracers/python/parse.js';
import { pythonProbeScript } from '../../../src/tracers/python/script.js';
import type { TracerContext } from '../../../src/tracers/types.js';
import { fixtureContext, manifestMismatches } from '../../fixtures/proc/fixture-context.js';

const fixtures = join(import.meta.dirname, '../../fixtures/python');
const read = (file: string) => readFileSync(join(fixtures, file), 'utf8');
const messages = (file: string): BpftraceMessage[] =>
  read(file)
    .split('\n')
    .map(parseBpftraceJson)
    .filter((m): m is BpftraceMessage => m !== undefined);

describe('findProbeObject', () => {
  it('picks libpython for an embedder and the python3.N executable for a plain interpreter', () => {
    expect(findProbeObject(read('uwsgi-worker.maps'))).toBe('/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0');
    expect(findProbeObject(read('python3.maps'))).toBe('/usr/bin/python3.11');
    // A pyenv build with --enable-shared maps its own libpython (which has no probes: bpftrace says so).
    expect(findProbeObject(read('pyenv-python.maps'))).toBe(
      '/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0',
    );
    expect(findProbeObject(read('node.maps'))).toBeUndefined();
    expect(findProbeObject('7f00-7f01 r-xp 00000000 fd:01 12 /usr/bin/python3.11 (deleted)\n')).toBe(
      '/usr/bin/python3.11',
    );
  });
});

describe('moduleMatcher', () => {
  it('matches files under a package directory, or the module file', () => {
    const match = moduleMatcher(['keystone', 'oslo_messaging.rpc']);
    expect(match('/usr/lib/python3/dist-packages/keystone/token/provider.py')).toBe('keystone');
    expect(match('/opt/keystone.py')).toBe('keystone');
    expect(match('/usr/lib/python3/dist-packages/oslo_messaging/rpc/client.py')).toBe('oslo_messaging.rpc');
    expect(match('/usr/lib/python3/dist-packages/oslo_messaging/transport.py')).toBeNull();
    expect(match('/usr/lib/python3/dist-packages/keystoneauth1/session.py')).toBeNull();
    expect(match('<frozen importlib._bootstrap>')).toBeNull();
    expect(moduleMatcher(undefined)('/x.py')).toBeUndefined();
  });
});

describe('PythonCallAggregator', () => {
  const feed = (agg: PythonCallAggregator, pid: number, file: string) => {
    for (const m of messages(file)) if (m.type === 'map') agg.ingest(pid, m.map);
  };

  it('resolves names, counts every call and times only the calls entered from C (uwsgi)', () => {
    const agg = new PythonCallAggregator({ top: 50 });
    agg.addSource(11, 'uwsgi_python3');
    feed(agg, 11, 'uwsgi-bpftrace.jsonl');
    const samples = agg.drain(5n);
    expect(samples).toEqual([
      {
        measurement: 'python_calls',
        tags: { process_name: 'uwsgi_python3', file: '/tmp/uw/app.py', function: 'application' },
        fields: { calls: 8n, time_us: (575973 + 350778) / 1000, timed_calls: 7n },
        time: 5n,
      },
      {
        measurement: 'python_calls',
        tags: { process_name: 'uwsgi_python3', file: '/tmp/uw/app.py', function: 'handle_request' },
        // Called by application(), a Python-to-Python call: counted, not timed.
        fields: { calls: 8n },
        time: 5n,
      },
    ]);
    expect(agg.drain(6n)).toEqual([]);
    expect(manifestMismatches(samples, pythonTracer.manifest)).toEqual([]);
  });

  it('sums the processes of one name and filters by module', () => {
    const agg = new PythonCallAggregator({ top: 50, modules: ['uw'] });
    agg.addSource(11, 'uwsgi_python3');
    agg.addSource(12, 'uwsgi_python3');
    feed(agg, 11, 'uwsgi-bpftrace.jsonl');
    feed(agg, 12, 'uwsgi-bpftrace.jsonl');
    const samples = agg.drain(1n);
    expect(samples.map((s) => [s.tags.function, s.tags.module, s.fields.calls])).toEqual([
      ['application', 'uw', 16n],
      ['handle_request', 'uw', 16n],
    ]);
    const none = new PythonCallAggregator({ top: 50, modules: ['keystone'] });
    none.addSource(11, 'uwsgi_python3');
    feed(none, 11, 'uwsgi-bpftrace.jsonl');
    expect(none.drain(1n)).toEqual([]);
  });

  it('keeps the top N by calls plus the top N by time', () => {
    const agg = new PythonCallAggregator({ top: 1 });
    agg.addSource(7, 'python3');
    feed(agg, 7, 'python3-bpftrace.jsonl');
    const samples = agg.drain(1n);
    // gen is the most called; sleepy has the most time: both kept, most called first.
    expect(samples.map((s) => s.tags.function)).toEqual(['gen', 'sleepy']);
    const sleepy = samples[1].fields;
    // sleepy() sleeps 50 ms; the timed calls (those made through map()) average about that.
    expect(Number(sleepy.time_us) / Number(sleepy.timed_calls)).toBeGreaterThan(50_000);
    expect(Number(sleepy.time_us) / Number(sleepy.timed_calls)).toBeLessThan(60_000);
    expect(Number(sleepy.calls)).toBeGreaterThan(Number(sleepy.timed_calls));
  });

  it('waits one interval for names printed late, then writes <unknown>', () => {
    const agg = new PythonCallAggregator({ top: 50 });
    agg.addSource(1, 'python3');
    agg.ingest(1, { kind: 'map', name: '@calls', entries: [{ key: '10,20', value: 3 }] });
    expect(agg.drain(1n)).toEqual([]);
    agg.ingest(1, {
      kind: 'map',
      name: '@name',
      entries: [
        { key: '10', value: '/a.py' },
        { key: '20', value: 'f' },
      ],
    });
    expect(agg.drain(2n).map((s) => [s.tags.file, s.tags.function, s.fields.calls])).toEqual([
      ['/a.py', 'f', 3n],
    ]);
    agg.ingest(1, { kind: 'map', name: '@calls', entries: [{ key: '10,30', value: 1 }] });
    expect(agg.drain(3n, true).map((s) => s.tags.function)).toEqual(['<unknown>']);
    agg.removeSource(1);
    agg.ingest(1, { kind: 'map', name: '@calls', entries: [{ key: '10,20', value: 3 }] });
    expect(agg.drain(4n, true)).toEqual([]);
  });
});

describe('pythonProbeScript', () => {
  it('counts on return, and times C-entered frames only when asked', () => {
    const timed = pythonProbeScript({
      object: '/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0',
      printMs: 1000,
      timing: true,
    });
    expect(timed).toContain('usdt:/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0:python:function__return {');
    expect(timed).toContain(
      'uprobe:/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0:_PyEval_EvalFrameDefault {',
    );
    expect(timed).toContain(
      'uretprobe:/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0:_PyEval_EvalFrameDefault {',
    );
    expect(timed).toContain('interval:ms:1000 {');
    expect(timed).not.toContain('function__entry');
    const plain = pythonProbeScript({ object: '/usr/bin/python3.11', printMs: 250, timing: false });
    expect(plain).not.toContain('uprobe');
    expect(plain).toContain('interval:ms:250 {');
    expect(() => pythonProbeScript({ object: 'python3 } BEGIN { x', printMs: 1, timing: false })).toThrow(
      /not a usable object/,
    );
  });
});

/** A context over fake python3 processes (4242 by default) whose maps are the fixture's. */
function fakeProcessContext(maps: string | undefined, pids = [4242], log = silentLogger): TracerContext {
  const files: Record<string, string> = {};
  for (const pid of pids) {
    files[`/proc/${pid}/comm`] = 'python3\n';
    files[`/proc/${pid}/cmdline`] = '/usr/bin/python3\0app.py\0';
    if (maps !== undefined) files[`/proc/${pid}/maps`] = maps;
  }
  return {
    readFile: async (p) => {
      if (p in files) return files[p];
      throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    },
    readdir: async () => pids.map(String),
    now: () => 99n,
    log,
  };
}

/** A stand-in for bpftrace that prints a recorded output, then its END on stop. */
function fakeBpftrace(file: string, started: BpftraceOptions[]) {
  return async (options: BpftraceOptions): Promise<BpftraceRun> => {
    started.push(options);
    let exit!: (e: ToolExit) => void;
    const exited = new Promise<ToolExit>((r) => {
      exit = r;
    });
    const all = messages(file);
    return {
      pid: 999_999,
      attached: Promise.resolve(7),
      exited,
      failure: () => '',
      stop: async () => {
        for (const m of all) options.onMessage(m);
        const e = { code: 0, signal: null };
        exit(e);
        return e;
      },
    };
  };
}

describe('PythonTracerInstance', () => {
  it('starts one bpftrace per matched process on the right object, and emits on stop', async () => {
    const started: BpftraceOptions[] = [];
    const inst = new PythonTracerInstance(
      { pid: 4242 },
      { intervalMs: 60_000 },
      fakeProcessContext(read('python3.maps')),
      {
        startBpftrace: fakeBpftrace('python3-bpftrace.jsonl', started),
      },
    );
    const out: Sample[] = [];
    await inst.start((s) => out.push(...s));
    expect(started).toHaveLength(1);
    expect(started[0].pid).toBe(4242);
    expect('text' in started[0].program && started[0].program.text).toContain(
      'usdt:/usr/bin/python3.11:python:function__return',
    );
    expect(started[0].env?.BPFTRACE_STRLEN).toBe('200');
    await inst.stop();
    expect(out.map((s) => s.tags.function).sort()).toEqual(['__init__', 'boom', 'gen', 'sleepy']);
    expect(out.every((s) => s.tags.process_name === 'python3' && s.time === 99n)).toBe(true);
  });

  it('fails to start, with the reason, when no matched process can be traced', async () => {
    const started: BpftraceOptions[] = [];
    const deps = { startBpftrace: fakeBpftrace('python3-bpftrace.jsonl', started) };
    const notPython = new PythonTracerInstance(
      { pid: 4242 },
      { intervalMs: 1000 },
      fakeProcessContext(read('node.maps')),
      deps,
    );
    await expect(notPython.start(() => {})).rejects.toThrow(
      'the python tracer could not attach to any matched process: pid 4242: no python3.N executable or libpython3.N.so is mapped',
    );
    const noMaps = new PythonTracerInstance(
      { pid: 4242 },
      { intervalMs: 1000 },
      fakeProcessContext(undefined),
      deps,
    );
    await expect(noMaps.start(() => {})).rejects.toThrow(/cannot read \/proc\/4242\/maps/);
    expect(started).toHaveLength(0);
  });

  it('traces at most max_processes processes, and says so', async () => {
    const started: BpftraceOptions[] = [];
    const warnings: string[] = [];
    const log = { ...silentLogger, warn: (msg: string) => warnings.push(msg), child: () => log };
    const ctx = fakeProcessContext(read('python3.maps'), [4242, 4243, 4244], log);
    const inst = new PythonTracerInstance(
      { name: 'python3', max_processes: 2 },
      { intervalMs: 60_000 },
      ctx,
      {
        startBpftrace: fakeBpftrace('python3-bpftrace.jsonl', started),
      },
    );
    await inst.start(() => {});
    expect(started.map((o) => o.pid)).toEqual([4242, 4243]);
    expect(inst.tracedPids()).toEqual([4242, 4243]);
    expect(warnings).toEqual([
      'python tracer: more matching processes than max_processes; the others are not traced',
    ]);
    await inst.stop();
  });

  it('starts with a warning when nothing matches yet', async () => {
    const ctx = fixtureContext('t0');
    const inst = new PythonTracerInstance({ name: 'no-such-process' }, { intervalMs: 1000 }, ctx);
    await inst.start(() => {});
    await inst.stop();
    expect(
      ctx.logged.some((l) => l.level === 'warn' && /no process matches the python tracer yet/.test(l.msg)),
    ).toBe(true);
  });
});

describe('pythonTracer', () => {
  it('has a manifest whose schema compiles strictly, accepts its example and needs a process criterion', () => {
    const m = pythonTracer.manifest;
    const validate = new Ajv({ strict: true, allErrors: true }).compile(m.params);
    expect(validate(m.example.with), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ cmdline: 'keystone', modules: ['keystone.token'], top: 5, timing: false })).toBe(true);
    expect(validate({ modules: ['keystone'] })).toBe(false);
    expect(validate({ name: 'x', modules: ['keystone/token'] })).toBe(false);
    expect(validate({ name: 'x', top: 0 })).toBe(false);
    expect(validate({ name: 'x', interval: '1s' })).toBe(false);
  });

  it('takes the process selector out of its params', () => {
    expect(selectorOf({ name: 'uwsgi', cmdline: 'keystone', modules: ['keystone'], top: 3 })).toEqual({
      name: 'uwsgi',
      cmdline: 'keystone',
    });
    expect(() => pythonTracer.create({ modules: ['x'] }, { intervalMs: 1000 }, fixtureContext('t0'))).toThrow(
      /a process selector needs one of/,
    );
  });
});
