import type { Sample } from '../../core/sample.js';
import { type BpftraceMap, splitMapKey } from '../bpftrace-runner.js';
import { PYTHON_MAPS } from './script.js';

/**
 * Which object of a process carries CPython's USDT probes, from /proc/<pid>/maps: a mapped
 * libpython (an embedder such as uwsgi, or a python3 built with --enable-shared) wins over
 * the executable, because then the interpreter's code runs from the library; otherwise the
 * mapped `python3.N` executable (Debian links libpython into /usr/bin/python3.11 statically).
 * Undefined when neither is mapped: not a CPython 3 process.
 */
export function findProbeObject(mapsText: string): string | undefined {
  let executable: string | undefined;
  for (const line of mapsText.split('\n')) {
    // address perms offset dev inode pathname — the path is everything after the fifth field.
    const m = /^\S+\s+\S+\s+\S+\s+\S+\s+\d+\s+(\/.*)$/.exec(line);
    if (!m) continue;
    const path = m[1].replace(/ \(deleted\)$/, '');
    const base = path.slice(path.lastIndexOf('/') + 1);
    if (/^libpython3\.\d+[a-z]*\.so(\.[\d.]+)?$/.test(base)) return path;
    if (executable === undefined && /^python3\.\d+[a-z]*$/.test(base)) executable = path;
  }
  return executable;
}

/** Pattern of one `modules` entry: a dotted Python package or module name. */
export const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * A function telling which configured module a file belongs to: `keystone` matches any file
 * under a `keystone/` directory (`.../dist-packages/keystone/token/provider.py`) and a
 * `keystone.py` module; `keystone.token` narrows to `keystone/token/`. Returns the module
 * name that matched, or null when the file is excluded. Without modules every file is
 * included, with no module name (undefined).
 */
export function moduleMatcher(
  modules: readonly string[] | undefined,
): (file: string) => string | undefined | null {
  if (!modules || modules.length === 0) return () => undefined;
  const rules = modules.map((m) => {
    const path = m.split('.').join('/');
    return { module: m, dir: `/${path}/`, file: `/${path}.py` };
  });
  return (file) => {
    for (const r of rules) {
      if (file.includes(r.dir) || file.endsWith(r.file)) return r.module;
    }
    // null: excluded, as opposed to undefined: included without a module name.
    return null;
  };
}

/** Totals of one function over an interval. */
interface Totals {
  processName: string;
  file: string;
  func: string;
  module?: string;
  calls: bigint;
  timeNs: number;
  timed: bigint;
}

/** Counts of one process's bpftrace, still keyed by string pointers. */
interface Raw {
  calls: bigint;
  timeNs: number;
  timed: bigint;
  /** Flushes this entry has already waited for its names. */
  waited: number;
}

/** One traced process, as the aggregator knows it. */
interface Source {
  processName: string;
  names: Map<string, string>;
  raw: Map<string, Raw>;
}

/** Options of {@link PythonCallAggregator}. */
export interface AggregatorOptions {
  modules?: readonly string[];
  /** Functions kept per interval: the top N by calls, plus the top N by time. */
  top: number;
}

/**
 * Turns the maps printed by the bpftrace of each traced process into `python_calls` samples:
 * resolves the (file, function) pointers with the names each bpftrace printed, filters by
 * module, sums the processes that share a process name (uwsgi workers: one series per
 * function, not per pid) and keeps the top N functions per interval.
 *
 * Pure: no I/O and no clock; the caller feeds maps with {@link ingest} and takes samples with
 * {@link drain}.
 */
export class PythonCallAggregator {
  private readonly sources = new Map<number, Source>();
  private readonly match: (file: string) => string | undefined | null;

  constructor(private readonly options: AggregatorOptions) {
    this.match = moduleMatcher(options.modules);
  }

  /** Registers a traced process (before its first map arrives). */
  addSource(pid: number, processName: string): void {
    if (!this.sources.has(pid)) this.sources.set(pid, { processName, names: new Map(), raw: new Map() });
  }

  /** Forgets a process once its last maps were drained. */
  removeSource(pid: number): void {
    const s = this.sources.get(pid);
    if (s && s.raw.size === 0) this.sources.delete(pid);
  }

  /** Feeds one printed map of process `pid`. Maps other than the tracer's own are ignored. */
  ingest(pid: number, map: BpftraceMap): void {
    const source = this.sources.get(pid);
    if (!source) return;
    if (map.name === PYTHON_MAPS.name) {
      for (const e of map.entries) if (e.key !== undefined) source.names.set(e.key, String(e.value));
      return;
    }
    // The script double-buffers its counted maps (`@calls_0`, `@calls_1`): both are one map here.
    const name = map.name.replace(/_[01]$/, '');
    const field =
      name === PYTHON_MAPS.calls
        ? 'calls'
        : name === PYTHON_MAPS.timeNs
          ? 'timeNs'
          : name === PYTHON_MAPS.timed
            ? 'timed'
            : undefined;
    if (!field) return;
    for (const e of map.entries) {
      if (e.key === undefined || typeof e.value !== 'number') continue;
      let r = source.raw.get(e.key);
      if (!r) {
        r = { calls: 0n, timeNs: 0, timed: 0n, waited: 0 };
        source.raw.set(e.key, r);
      }
      if (field === 'timeNs') r.timeNs += e.value;
      else r[field] += BigInt(Math.round(e.value));
    }
  }

  /**
   * Returns the samples of the interval that ends now, and starts the next one. An entry whose
   * names have not been printed yet (bpftrace prints a count and the name copied by the same
   * probe in two steps) waits one more interval, unless `final`; then its unknown part is
   * written as `<unknown>`.
   */
  drain(time: bigint, final = false): Sample[] {
    const totals = new Map<string, Totals>();
    for (const source of this.sources.values()) {
      for (const [key, r] of source.raw) {
        const [filePtr, funcPtr] = splitMapKey(key, 2);
        let file = source.names.get(filePtr);
        let func = source.names.get(funcPtr);
        if ((file === undefined || func === undefined) && !final && r.waited === 0) {
          r.waited = 1;
          continue;
        }
        source.raw.delete(key);
        file ??= '<unknown>';
        func ??= '<unknown>';
        const module = this.match(file);
        if (module === null) continue;
        const id = `${source.processName}\0${file}\0${func}`;
        let t = totals.get(id);
        if (!t) {
          t = { processName: source.processName, file, func, module, calls: 0n, timeNs: 0, timed: 0n };
          totals.set(id, t);
        }
        t.calls += r.calls;
        t.timeNs += r.timeNs;
        t.timed += r.timed;
      }
    }
    return this.rank([...totals.values()]).map((t) => {
      const tags: Record<string, string> = { process_name: t.processName, file: t.file, function: t.func };
      if (t.module !== undefined) tags.module = t.module;
      const fields: Sample['fields'] = { calls: t.calls };
      if (t.timed > 0n) {
        fields.time_us = t.timeNs / 1000;
        fields.timed_calls = t.timed;
      }
      return { measurement: 'python_calls', tags, fields, time };
    });
  }

  /** The top N by calls, plus the top N by time among timed functions, most called first. */
  private rank(all: Totals[]): Totals[] {
    const top = Math.max(1, this.options.top);
    const byCalls = [...all].sort((a, b) => cmpBig(b.calls, a.calls) || b.timeNs - a.timeNs).slice(0, top);
    const byTime = all
      .filter((t) => t.timed > 0n)
      .sort((a, b) => b.timeNs - a.timeNs)
      .slice(0, top);
    const kept = new Set([...byCalls, ...byTime]);
    return [...kept].sort((a, b) => cmpBig(b.calls, a.calls) || b.timeNs - a.timeNs);
  }
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
