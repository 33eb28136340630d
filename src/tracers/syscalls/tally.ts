import type { FieldValue, Sample } from '../../core/sample.js';

/** What is counted per (process, system call) over one interval. */
export interface SyscallCounts {
  calls: number;
  errors: number;
  /** Total time in the call, in microseconds (0 when the mode gives no time). */
  timeUs: number;
}

/** The tag value that gathers the system calls beyond the top N, so that totals stay exact. */
export const OTHER = '_other';

/** Counts per key (a pid or a tid) and system call name, over one interval. */
export class SyscallTally {
  readonly byKey = new Map<number, Map<string, SyscallCounts>>();

  add(key: number, name: string, calls: number, errors: number, timeUs: number): void {
    let perName = this.byKey.get(key);
    if (!perName) {
      perName = new Map();
      this.byKey.set(key, perName);
    }
    const c = perName.get(name);
    if (c) {
      c.calls += calls;
      c.errors += errors;
      c.timeUs += timeUs;
    } else {
      perName.set(name, { calls, errors, timeUs });
    }
  }

  /** Adds every count of `perName` under `key`. */
  addAll(key: number, perName: Map<string, SyscallCounts>): void {
    for (const [name, c] of perName) this.add(key, name, c.calls, c.errors, c.timeUs);
  }

  get empty(): boolean {
    return this.byKey.size === 0;
  }
}

/** How a tally becomes samples. */
export interface TallySampleOptions {
  /** System calls kept per process (by calls); the rest is summed under `_other`. */
  top: number;
  time: bigint;
  /** The process name of each pid (comm). */
  processNames: ReadonlyMap<number, string>;
  /** The `selector` tag. */
  selector: string;
  /** One series per pid (true), or summed over the processes of one name (false). */
  perPid: boolean;
  /** Whether the mode measured time (strace -T, bpftrace): otherwise time_us is left out. */
  timed: boolean;
}

/**
 * Turns a per-pid tally into `syscalls` samples: per process (or process name), the `top`
 * system calls by number of calls, and one `_other` sample with the rest.
 */
export function tallySamples(tally: SyscallTally, options: TallySampleOptions): Sample[] {
  const groups = new Map<string, { tags: Record<string, string>; counts: Map<string, SyscallCounts> }>();
  for (const [pid, perName] of tally.byKey) {
    const name = options.processNames.get(pid) ?? String(pid);
    const key = options.perPid ? String(pid) : name;
    let group = groups.get(key);
    if (!group) {
      const tags: Record<string, string> = { process_name: name, selector: options.selector };
      if (options.perPid) tags.pid = String(pid);
      group = { tags, counts: new Map() };
      groups.set(key, group);
    }
    for (const [syscall, c] of perName) {
      const g = group.counts.get(syscall);
      if (g) {
        g.calls += c.calls;
        g.errors += c.errors;
        g.timeUs += c.timeUs;
      } else {
        group.counts.set(syscall, { ...c });
      }
    }
  }
  const samples: Sample[] = [];
  for (const { tags, counts } of groups.values()) {
    for (const [syscall, c] of topWithRest(counts, options.top)) {
      const fields: Record<string, FieldValue> = { calls: BigInt(c.calls), errors: BigInt(c.errors) };
      if (options.timed) fields.time_us = c.timeUs;
      samples.push({ measurement: 'syscalls', tags: { ...tags, syscall }, fields, time: options.time });
    }
  }
  return samples;
}

/**
 * The `top` entries by calls (then time, then name, so the order is stable), plus `_other`
 * with the sum of the rest when there is a rest.
 */
export function topWithRest(counts: Map<string, SyscallCounts>, top: number): Array<[string, SyscallCounts]> {
  const sorted = [...counts].sort(
    ([an, a], [bn, b]) => b.calls - a.calls || b.timeUs - a.timeUs || (an < bn ? -1 : an > bn ? 1 : 0),
  );
  if (sorted.length <= top) return sorted;
  const rest: SyscallCounts = { calls: 0, errors: 0, timeUs: 0 };
  for (const [, c] of sorted.slice(top)) {
    rest.calls += c.calls;
    rest.errors += c.errors;
    rest.timeUs += c.timeUs;
  }
  return [...sorted.slice(0, top), [OTHER, rest]];
}
