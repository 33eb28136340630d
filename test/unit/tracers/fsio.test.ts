import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/core/logger.js';
import { FileTally, fileSamples } from '../../../src/tracers/fsio/file-tally.js';
import { fsioTracer, procIoCollector } from '../../../src/tracers/fsio/index.js';
import {
  callPath,
  fileOperationOf,
  fileOpOf,
  ioDeltas,
  readQuoted,
} from '../../../src/tracers/fsio/parse.js';
import { parsePidIo } from '../../../src/tracers/process/parse.js';
import { processSelectorSchema } from '../../../src/tracers/process-selector.js';
import {
  parseStraceLine,
  type StraceCall,
  StraceCallAssembler,
} from '../../../src/tracers/syscalls/parse.js';
import { SelectionTracker } from '../../../src/tracers/syscalls/selection.js';
import type { TracerContext } from '../../../src/tracers/types.js';
import { manifestMismatches } from '../../fixtures/proc/fixture-context.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/fsio');
const fixture = (name: string) => readFileSync(join(fixtures, name), 'utf8');

const call = (line: string): StraceCall => {
  const out = new StraceCallAssembler([1]).feed(parseStraceLine(line));
  if (!out || !('call' in out)) throw new Error(`not a call: ${line}`);
  return out.call;
};

describe('/proc/<pid>/io deltas', () => {
  it('gives the growth of every counter between two real readings', () => {
    const before = parsePidIo(fixture('io-before.txt'));
    const after = parsePidIo(fixture('io-after.txt'));
    // Three writes of 8192 bytes, and "done\n" on stdout.
    expect(ioDeltas(before, after)).toEqual({
      rchar: 3n,
      wchar: 3n * 8192n + 5n,
      syscr: 1n,
      syscw: 4n,
      read_bytes: 0n,
      write_bytes: 28672n,
      cancelled_write_bytes: 0n,
    });
  });

  it('counts everything for a new process, and never goes negative', () => {
    const now = parsePidIo(fixture('pid-io.txt'));
    expect(ioDeltas(undefined, now).rchar).toBe(6976n);
    expect(ioDeltas(new Map([['rchar', 10n]]), new Map([['rchar', 4n]]))).toEqual({ rchar: 0n });
  });
});

describe('file operations from strace -y', () => {
  it('reads quoted strings with escapes', () => {
    expect(readQuoted('"a\\"b\\\\c\\n\\x41\\101", 0', 0)).toEqual({ value: 'a"b\\c\nAA', end: 19 });
    expect(readQuoted('AT_FDCWD', 0)).toBeUndefined();
  });

  it('puts each call on its file', () => {
    expect(callPath(call('write(3</tmp/sc/fx/f0.dat>, ""..., 4096) = 4096 <0.000054>'))).toBe(
      '/tmp/sc/fx/f0.dat',
    );
    expect(
      callPath(
        call(
          'openat(AT_FDCWD</tmp/sc/fx>, "./f0.dat", O_RDONLY|O_CLOEXEC) = 3</tmp/sc/fx/f0.dat> <0.000012>',
        ),
      ),
    ).toBe('/tmp/sc/fx/f0.dat');
    // A failed open has no descriptor: its name, against the working directory -y printed.
    expect(
      callPath(call('openat(AT_FDCWD</srv>, "missing", O_RDONLY) = -1 ENOENT (No such file or directory)')),
    ).toBe('/srv/missing');
    expect(
      callPath(call('openat(AT_FDCWD, "rel/x", O_RDONLY) = -1 ENOENT (No such file or directory)')),
    ).toBe('rel/x');
    expect(callPath(call('newfstatat(3</etc>, "", {st_mode=S_IFDIR|0755, ...}, AT_EMPTY_PATH) = 0'))).toBe(
      '/etc',
    );
    expect(callPath(call('unlinkat(5</var/tmp>, "x.lock", 0) = 0'))).toBe('/var/tmp/x.lock');
    expect(callPath(call('unlink("/tmp/a") = 0'))).toBe('/tmp/a');
    expect(callPath(call('write(3</tmp/old (deleted)>, ""..., 5) = 5'))).toBe('/tmp/old');
    expect(fileOperationOf(call('read(0<pipe:[136524]>, ""..., 8192) = 3'))).toBeUndefined();
    expect(fileOperationOf(call('write(4<socket:[99]>, ""..., 10) = 10'))).toBeUndefined();
  });

  it('classifies operations into a small set', () => {
    expect(
      ['pread64', 'writev', 'openat', 'statx', 'renameat2', 'fdatasync', 'mkdir', 'unlinkat'].map(fileOpOf),
    ).toEqual(['read', 'write', 'open', 'stat', 'rename', 'sync', 'other', 'unlink']);
  });

  it('tallies a real trace into fsio_file samples', () => {
    const assembler = new StraceCallAssembler([1]);
    const tally = new FileTally();
    for (const line of fixture('strace-y.txt').split('\n')) {
      const out = line ? assembler.feed(parseStraceLine(line)) : undefined;
      if (!out || !('call' in out)) continue;
      const op = fileOperationOf(out.call);
      if (op) tally.add(out.call.tid, op);
    }
    const samples = fileSamples(tally, () => true, { top: 20, time: 5n, selector: 'x' });
    const row = (path: string, op: string) =>
      samples.find((s) => s.tags.path === path && s.tags.op === op)?.fields;
    expect(row('/tmp/sc/fx/f0.dat', 'open')).toMatchObject({ ops: 2n, bytes: 0n, errors: 0n });
    expect(row('/tmp/sc/fx/f0.dat', 'write')).toMatchObject({ ops: 1n, bytes: 4096n });
    expect(row('/tmp/sc/fx/f1.dat', 'read')).toMatchObject({ ops: 1n, bytes: 4096n });
    expect(row('/nonexistent-scalpels/file', 'stat')).toMatchObject({ ops: 2n, errors: 2n });
    expect(row('/dev/null', 'write')).toMatchObject({ ops: 1n, bytes: 5n });
    expect(samples.some((s) => s.tags.path.startsWith('pipe:'))).toBe(false);
    expect(manifestMismatches(samples, fsioTracer.manifest)).toEqual([]);

    // top: 1 keeps the busiest file and sums the others per op under _other.
    const top1 = fileSamples(tally, () => true, { top: 1, time: 5n, selector: 'x' });
    const paths = new Set(top1.map((s) => s.tags.path));
    expect(paths.size).toBe(2);
    expect(paths.has('_other')).toBe(true);
    const bytes = (list: typeof samples) => list.reduce((n, s) => n + (s.fields.bytes as bigint), 0n);
    expect(bytes(top1)).toBe(bytes(samples));
    // Keys (threads) that are not selected are left out.
    expect(fileSamples(tally, () => false, { top: 20, time: 5n, selector: 'x' })).toEqual([]);
  });
});

/** A /proc made of strings, where each tick can change. */
function memoryProc(files: Record<string, string>): TracerContext & { files: Record<string, string> } {
  return {
    files,
    log: silentLogger,
    now: () => 1000n,
    async readFile(path) {
      const v = files[path];
      if (v === undefined) throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
      return v;
    },
    async readdir(path) {
      if (path !== '/proc') throw new Error('only /proc');
      return [...new Set(Object.keys(files).map((p) => p.split('/')[2]))].filter((e) => /^\d+$/.test(e));
    },
  };
}

const stat = (pid: number, starttime: number) =>
  `${pid} (worker) S 1 1 1 0 -1 0 0 0 0 0 10 5 0 0 20 0 1 0 ${starttime} 1000 100 0`;
const io = (wchar: number) =>
  `rchar: 100\nwchar: ${wchar}\nsyscr: 1\nsyscw: ${wchar / 10}\nread_bytes: 0\nwrite_bytes: ${wchar}\ncancelled_write_bytes: 0\n`;
const proc = (pid: number, starttime: number, wchar: number) => ({
  [`/proc/${pid}/comm`]: 'worker\n',
  [`/proc/${pid}/cmdline`]: 'worker\0',
  [`/proc/${pid}/stat`]: stat(pid, starttime),
  [`/proc/${pid}/io`]: io(wchar),
});

describe('fsio /proc collector', () => {
  it('sets baselines, then writes deltas; a process started since counts from zero', async () => {
    // Uptime 50 s; the worker started at 10 s (starttime 1000 ticks).
    const ctx = memoryProc({ '/proc/uptime': '50.00 90.00\n', ...proc(100, 1000, 500) });
    const collect = procIoCollector(new SelectionTracker({ name: 'worker' }, ctx), ctx);
    expect(await collect()).toEqual([]);

    // One interval later: the worker wrote 200 bytes more, a new worker (started at 50.5 s) 40.
    Object.assign(ctx.files, {
      '/proc/uptime': '51.00 91.00\n',
      ...proc(100, 1000, 700),
      ...proc(200, 5050, 40),
    });
    const second = await collect();
    expect(second.map((s) => [s.tags.pid, s.fields.wchar, s.fields.syscw])).toEqual([
      ['100', 200n, 20n],
      ['200', 40n, 4n],
    ]);
    expect(second[0].tags).toEqual({ process_name: 'worker', pid: '100', selector: 'worker' });
    expect(manifestMismatches(second, fsioTracer.manifest)).toEqual([]);

    // pid 100 is reused by a process started long ago (before the previous reading): baseline only.
    Object.assign(ctx.files, {
      '/proc/uptime': '52.00 92.00\n',
      ...proc(100, 4000, 9999),
      ...proc(200, 5050, 40),
    });
    const third = await collect();
    expect(third.map((s) => [s.tags.pid, s.fields.wchar])).toEqual([['200', 0n]]);
  });
});

describe('fsio manifest', () => {
  const validate = new Ajv({ strict: false, useDefaults: true }).compile(fsioTracer.manifest.params);

  it('repeats the shared process selector and validates its example', () => {
    const props = fsioTracer.manifest.params.properties as Record<string, unknown>;
    for (const [key, schema] of Object.entries(processSelectorSchema.properties))
      expect(props[key]).toEqual(schema);
    expect(validate(structuredClone(fsioTracer.manifest.example.with))).toBe(true);
    const filled: Record<string, unknown> = { name: 'x' };
    expect(validate(filled)).toBe(true);
    expect(filled).toEqual({ name: 'x', paths: false, top: 20 });
    expect(validate({ paths: true })).toBe(false);
  });
});
