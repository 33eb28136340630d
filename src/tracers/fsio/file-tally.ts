import type { Sample } from '../../core/sample.js';
import type { FileOp, FileOperation } from './parse.js';

/** The tag value that gathers the files beyond the top N, so that totals stay exact. */
export const OTHER_FILES = '_other';

/** What is counted per file and operation over one interval. */
export interface FileCounts {
  ops: number;
  bytes: number;
  errors: number;
  timeUs: number;
}

/** Per key (a thread id while counting) → path → op → counts. */
export class FileTally {
  readonly byKey = new Map<number, Map<string, Map<FileOp, FileCounts>>>();

  add(key: number, op: FileOperation): void {
    this.addCounts(key, op.path, op.op, {
      ops: 1,
      bytes: op.bytes,
      errors: op.error ? 1 : 0,
      timeUs: op.durationUs,
    });
  }

  addCounts(key: number, path: string, op: FileOp, c: FileCounts): void {
    let paths = this.byKey.get(key);
    if (!paths) {
      paths = new Map();
      this.byKey.set(key, paths);
    }
    let ops = paths.get(path);
    if (!ops) {
      ops = new Map();
      paths.set(path, ops);
    }
    const have = ops.get(op);
    if (have) {
      have.ops += c.ops;
      have.bytes += c.bytes;
      have.errors += c.errors;
      have.timeUs += c.timeUs;
    } else {
      ops.set(op, { ...c });
    }
  }

  get empty(): boolean {
    return this.byKey.size === 0;
  }
}

/**
 * `fsio_file` samples over the keys `keep` accepts: the `top` paths by operations (all ops
 * together), one sample per (path, op), and the rest summed per op under path=_other.
 */
export function fileSamples(
  tally: FileTally,
  keep: (key: number) => boolean,
  options: { top: number; time: bigint; selector: string },
): Sample[] {
  const perPath = new Map<string, Map<FileOp, FileCounts>>();
  for (const [key, paths] of tally.byKey) {
    if (!keep(key)) continue;
    for (const [path, ops] of paths) {
      let into = perPath.get(path);
      if (!into) {
        into = new Map();
        perPath.set(path, into);
      }
      for (const [op, c] of ops) {
        const have = into.get(op);
        if (have) {
          have.ops += c.ops;
          have.bytes += c.bytes;
          have.errors += c.errors;
          have.timeUs += c.timeUs;
        } else {
          into.set(op, { ...c });
        }
      }
    }
  }
  const total = (ops: Map<FileOp, FileCounts>) => [...ops.values()].reduce((n, c) => n + c.ops, 0);
  const ranked = [...perPath].sort(
    ([ap, a], [bp, b]) => total(b) - total(a) || (ap < bp ? -1 : ap > bp ? 1 : 0),
  );
  const rest = new Map<FileOp, FileCounts>();
  for (const [, ops] of ranked.slice(options.top)) {
    for (const [op, c] of ops) {
      const have = rest.get(op) ?? { ops: 0, bytes: 0, errors: 0, timeUs: 0 };
      have.ops += c.ops;
      have.bytes += c.bytes;
      have.errors += c.errors;
      have.timeUs += c.timeUs;
      rest.set(op, have);
    }
  }
  const kept: Array<[string, Map<FileOp, FileCounts>]> = ranked.slice(0, options.top);
  if (rest.size > 0) kept.push([OTHER_FILES, rest]);
  const samples: Sample[] = [];
  for (const [path, ops] of kept) {
    for (const [op, c] of [...ops].sort(([a], [b]) => (a < b ? -1 : 1))) {
      samples.push({
        measurement: 'fsio_file',
        tags: { path, op, selector: options.selector },
        fields: { ops: BigInt(c.ops), bytes: BigInt(c.bytes), errors: BigInt(c.errors), time_us: c.timeUs },
        time: options.time,
      });
    }
  }
  return samples;
}
