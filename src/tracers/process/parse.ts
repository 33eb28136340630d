/**
 * Pure parsers of the per-process /proc files the `process` tracer reads. No I/O here, so
 * that every number can be checked against fixtures.
 */

/**
 * Bytes per page for the `rss` column of /proc/<pid>/stat: 4096 on x86_64 and on the usual
 * arm64 kernels (`getconf PAGESIZE`); Node has no sysconf() to ask.
 */
export const PAGE_SIZE = 4096n;

/** The columns of /proc/<pid>/stat the tracer uses. Times are in clock ticks (USER_HZ). */
export interface ProcPidStat {
  pid: number;
  /** The process name as the kernel has it (comm, at most 15 characters). */
  comm: string;
  state: string;
  ppid: number;
  utime: number;
  stime: number;
  numThreads: number;
  /** Start time in clock ticks after boot: tells a reused pid from the process seen before. */
  starttime: number;
  /** Virtual memory size, bytes. */
  vsize: bigint;
  /** Resident set size, pages. */
  rss: bigint;
}

/**
 * Parses /proc/<pid>/stat. The name sits between the first '(' and the *last* ')' because a
 * process may call itself anything, parentheses and spaces included.
 */
export function parsePidStat(text: string): ProcPidStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error('malformed /proc/<pid>/stat');
  // After the name, column 3 (state) is rest[0]; proc(5) numbers columns from 1.
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const col = (n: number) => rest[n - 3];
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: col(3),
    ppid: Number(col(4)),
    utime: Number(col(14)),
    stime: Number(col(15)),
    numThreads: Number(col(20)),
    starttime: Number(col(22)),
    vsize: BigInt(col(23)),
    rss: BigInt(col(24)),
  };
}

/** /proc/<pid>/status as a map from key to the raw value (trimmed). */
export function parsePidStatus(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return out;
}

/** A `kB` value of /proc/<pid>/status in bytes, or undefined when the key is absent (kernel threads). */
export function statusBytes(status: Map<string, string>, key: string): bigint | undefined {
  const m = /^(\d+)\s*kB$/.exec(status.get(key) ?? '');
  return m ? BigInt(m[1]) * 1024n : undefined;
}

/** An integer value of /proc/<pid>/status, or undefined when the key is absent. */
export function statusInteger(status: Map<string, string>, key: string): bigint | undefined {
  const m = /^(\d+)$/.exec(status.get(key) ?? '');
  return m ? BigInt(m[1]) : undefined;
}

/** /proc/<pid>/io: every `key: value` line as an integer (rchar, read_bytes, syscr, ...). */
export function parsePidIo(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)$/.exec(line.trim());
    if (m) out.set(m[1], BigInt(m[2]));
  }
  return out;
}

/** The open descriptors in a /proc/<pid>/fd listing (its entries are the descriptor numbers). */
export function countFds(entries: readonly string[]): number {
  return entries.filter((e) => /^\d+$/.test(e)).length;
}

/**
 * Nanoseconds the task spent on a CPU: the first number of /proc/<pid>/schedstat. It counts
 * the thread-group leader only, so it is the whole process's CPU time only while the process
 * has one thread; unlike utime and stime it is not cut to 10 ms clock ticks.
 */
export function parseSchedstat(text: string): number {
  const ns = Number(text.trim().split(/\s+/)[0]);
  if (!Number.isFinite(ns)) throw new Error('malformed /proc/<pid>/schedstat');
  return ns;
}
